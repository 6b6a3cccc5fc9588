/**
 * Encode-only throughput (eval mode, no grad), BERT-mini, md2pr vs the PyTorch peer's encode task: 256 passages
 * with real lengths uniform in 32..128 (seeded), in batches of 32 each padded to 128 tokens, CLS vectors.
 *
 *   node --import tsx bench/encode.ts [--repeats 5] [--warmup 2] [--json] [--no-peer] [--no-bf16] [--packed true|false]
 *                                     [--config models/base-scifact/config.json]
 *
 * --config runs another architecture (a HF BERT config.json, e.g. the shipped model's) with random weights: the
 * time depends on the shapes only. Default: BERT-mini.
 *
 * md2pr runs in a child process (its own peak RSS): each timed repeat encodes all 256 passages. The peer is run
 * once per batch of 32 (median per batch); its time for all passages is the sum of the batch medians.
 * --packed (default true) runs md2pr padding-free; false runs it padded like PyTorch.
 */
import { fileURLToPath } from "node:url";
import { noGrad } from "../src/engine/autograd.ts";
import { kernelsInfo } from "../src/engine/kernels/index.ts";
import { Rng } from "../src/engine/rng.ts";
import { readBertConfig, type BertConfig } from "../src/models/config.ts";
import { DualEncoder } from "../src/models/dual-encoder.ts";
import {
  bertMiniConfig, fmt, formatTable, loadAverage, median, parseArgs, peakRssMb, peerInputs, randomPaddedBatch,
  realTokens, runChild, runPeer, sliceBatch, timeRuns, type PeerResult,
  printChildResult,
} from "./common.ts";

const PASSAGES = 256;
const BATCH = 32;
const SEQ = 128;
const MIN_LEN = 32;
const MAX_LEN = 128;
const SEED = 0;

function makeInputs(configFile: string | undefined) {
  const config: BertConfig = configFile ? readBertConfig(configFile) : bertMiniConfig();
  const all = randomPaddedBatch(new Rng(SEED + 4321), PASSAGES, SEQ, MIN_LEN, MAX_LEN, config.vocabSize);
  const batches = [];
  for (let s = 0; s < PASSAGES; s += BATCH) batches.push(sliceBatch(all, s, Math.min(PASSAGES, s + BATCH)));
  return { config, all, batches };
}

function child(repeats: number, warmup: number, packed: boolean, configFile: string | undefined): void {
  const { config, batches } = makeInputs(configFile);
  const model = DualEncoder.random(config, { shared: true, pooling: "cls", similarity: "dot" }, SEED);
  const pass = (): number => noGrad(() => {
    let check = 0;
    for (const b of batches) check += model.encode(b, "passage", { training: false, packed }).embeddings.data[0]!;
    return check;
  });
  const { times, last } = timeRuns(pass, repeats, warmup);
  printChildResult(times, last);
}

interface PeerTotal {
  total_ms: number;
  peak_rss_mb: number;
  torch_version: string;
  threads: number;
  per_batch: PeerResult[];
}

function runPeerAll(batches: ReturnType<typeof makeInputs>["batches"], config: ReturnType<typeof bertMiniConfig>, repeats: number, warmup: number, bf16: boolean): PeerTotal {
  const per = batches.map((b) => runPeer("encode", peerInputs(config, null, b, { seed: SEED }), repeats, warmup, bf16));
  return {
    total_ms: per.reduce((s, r) => s + r.median_ms, 0),
    peak_rss_mb: Math.max(...per.map((r) => r.peak_rss_mb)),
    torch_version: per[0]!.torch_version,
    threads: per[0]!.threads,
    per_batch: per,
  };
}

function main(): void {
  const args = parseArgs(process.argv.slice(2), { repeats: 5, warmup: 2 });
  const packed = args.rest.get("packed") !== "false";
  const configFile = args.rest.get("config");
  if (args.child) {
    child(args.repeats, args.warmup, packed, configFile);
    return;
  }
  const { config, all, batches } = makeInputs(configFile);
  const modelName = configFile
    ? `${configFile} (L${config.numHiddenLayers} H${config.hiddenSize} A${config.numAttentionHeads} FFN${config.intermediateSize})`
    : "BERT-mini (L4 H256 A4 FFN1024)";
  const loadBefore = loadAverage();
  const md = runChild(fileURLToPath(import.meta.url), [
    "--repeats", String(args.repeats), "--warmup", String(args.warmup), "--packed", String(packed), ...(configFile ? ["--config", configFile] : []),
  ]);
  const fp32 = args.noPeer ? null : runPeerAll(batches, config, args.repeats, args.warmup, false);
  const bf16 = args.noPeer || args.noBf16 ? null : runPeerAll(batches, config, Math.min(args.repeats, 3), 1, true);
  const loadAfter = loadAverage();
  const rate = (ms: number): number => (PASSAGES * 1000) / ms;

  if (args.json) {
    console.log(JSON.stringify({
      task: "encode",
      model: modelName,
      passages: PASSAGES, batch: BATCH, seq: SEQ, realTokens: realTokens(all),
      packed,
      md2pr: { ...md, passages_per_s: rate(md.median_ms) },
      torch_fp32: fp32 ? { ...fp32, passages_per_s: rate(fp32.total_ms) } : null,
      torch_bf16: bf16 ? { ...bf16, passages_per_s: rate(bf16.total_ms) } : null,
      ratio_fp32: fp32 ? md.median_ms / fp32.total_ms : null,
      ratio_bf16: bf16 ? md.median_ms / bf16.total_ms : null,
      load: { before: loadBefore, after: loadAfter },
    }));
    return;
  }
  const rows: string[][] = [["md2pr", fmt(md.median_ms), fmt(rate(md.median_ms), 0), "1.00", fmt(md.peak_rss_mb, 0), md.kernels + (packed ? ", packed" : ", padded")]];
  if (fp32) rows.push(["PyTorch fp32", fmt(fp32.total_ms), fmt(rate(fp32.total_ms), 0), fmt(md.median_ms / fp32.total_ms, 2), fmt(fp32.peak_rss_mb, 0), `torch ${fp32.torch_version}, ${fp32.threads} threads`]);
  if (bf16) rows.push(["PyTorch bf16 autocast", fmt(bf16.total_ms), fmt(rate(bf16.total_ms), 0), fmt(md.median_ms / bf16.total_ms, 2), fmt(bf16.peak_rss_mb, 0), `torch ${bf16.torch_version}, ${bf16.threads} threads`]);
  console.log(`encode: ${modelName}, ${PASSAGES} passages (${realTokens(all)} real tokens), batches of ${BATCH} padded to ${SEQ}, eval, no grad, CLS`);
  console.log(`median of ${args.repeats} runs after ${args.warmup} warm-up; load average before ${loadBefore}, after ${loadAfter}`);
  console.log(formatTable(["", "ms / 256 passages", "passages/s", "md2pr / this", "peak RSS MiB", "backend"], rows));
  console.log(`md2pr times: ${md.times_ms.map((t) => t.toFixed(1)).join(" ")}`);
}

main();
