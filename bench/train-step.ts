/**
 * One BERT-mini dual-encoder training step, md2pr vs the PyTorch peer (bench/torch_peer.py), on the same inputs:
 * 16 queries + 16 passages padded to 128 tokens (real lengths uniform in 32..128, seeded), shared encoder,
 * CLS pooling, in-batch contrastive loss (scores q p^T, cross-entropy with the diagonal), backward, AdamW
 * (lr 1e-4, wd 0.01), zero grad. Train mode (dropout 0.1).
 *
 *   node --import tsx bench/train-step.ts [--repeats 5] [--warmup 2] [--json] [--no-peer] [--no-bf16] [--bf16-repeats 1]
 *       [--packed true|false]  (default true: the padding-free md2pr step; false: padded like PyTorch)
 *
 * The md2pr step runs in a child process (its peak RSS is md2pr's alone); then the peer runs in fp32 and in
 * bf16 autocast (reference). Prints a table (or one JSON object with --json).
 */
import { fileURLToPath } from "node:url";
import { backward } from "../src/engine/autograd.ts";
import { kernelsInfo } from "../src/engine/kernels/index.ts";
import { Rng } from "../src/engine/rng.ts";
import { DualEncoder } from "../src/models/dual-encoder.ts";
import { AdamW } from "../src/nn/optim.ts";
import { contrastiveLoss, scoreMatrix } from "../src/training/losses/contrastive.ts";
import {
  bertMiniConfig, fmt, formatTable, loadAverage, median, parseArgs, peakRssMb, peerInputs, randomPaddedBatch,
  realTokens, runChild, runPeer, timeRuns, type PeerResult,
  printChildResult,
} from "./common.ts";

const BATCH = 16;
const SEQ = 128;
const MIN_LEN = 32;
const MAX_LEN = 128;
const SEED = 0;
const LR = 1e-4;
const WEIGHT_DECAY = 0.01;

function makeInputs() {
  const config = bertMiniConfig();
  const rng = new Rng(SEED + 1234);
  const query = randomPaddedBatch(rng, BATCH, SEQ, MIN_LEN, MAX_LEN, config.vocabSize);
  const passage = randomPaddedBatch(rng, BATCH, SEQ, MIN_LEN, MAX_LEN, config.vocabSize);
  return { config, query, passage };
}

function child(repeats: number, warmup: number, packed: boolean): void {
  const { config, query, passage } = makeInputs();
  const model = DualEncoder.random(config, { shared: true, pooling: "cls", similarity: "dot" }, SEED);
  const params = model.parameters();
  const opt = new AdamW(params, { lr: LR, weightDecay: WEIGHT_DECAY });
  const dropoutRng = new Rng(SEED + 99);
  const step = (): number => {
    const q = model.encode(query, "query", { training: true, rng: dropoutRng, packed }).embeddings;
    const p = model.encode(passage, "passage", { training: true, rng: dropoutRng, packed }).embeddings;
    const loss = contrastiveLoss(scoreMatrix(q, p), 1, null);
    const value = loss.item();
    backward(loss);
    opt.step();
    opt.zeroGrad();
    return value;
  };
  const { times, last } = timeRuns(step, repeats, warmup);
  printChildResult(times, last);
}

function main(): void {
  const args = parseArgs(process.argv.slice(2), { repeats: 5, warmup: 2 });
  const packedArg = args.rest.get("packed");
  const packed = packedArg !== "false";
  if (args.child) {
    child(args.repeats, args.warmup, packed);
    return;
  }
  const { config, query, passage } = makeInputs();
  const loadBefore = loadAverage();
  const childArgs = ["--repeats", String(args.repeats), "--warmup", String(args.warmup)];
  childArgs.push("--packed", String(packed));
  const md = runChild(fileURLToPath(import.meta.url), childArgs);
  const inputs = peerInputs(config, query, passage, { lr: LR, weightDecay: WEIGHT_DECAY, seed: SEED });
  const fp32: PeerResult | null = args.noPeer ? null : runPeer("train-step", inputs, args.repeats, args.warmup, false);
  // bf16 autocast is very slow on CPUs without bf16 instructions: a reference only, 1 timed run by default.
  const bf16Repeats = Number(args.rest.get("bf16-repeats") ?? 1);
  const bf16: PeerResult | null = args.noPeer || args.noBf16 ? null : runPeer("train-step", inputs, bf16Repeats, 1, true);
  const loadAfter = loadAverage();
  const tokens = realTokens(query) + realTokens(passage);

  if (args.json) {
    console.log(JSON.stringify({
      task: "train-step",
      model: "bert-mini L4 H256 A4 FFN1024",
      batch: { queries: BATCH, passages: BATCH, seq: SEQ, realTokens: tokens, paddedTokens: 2 * BATCH * SEQ },
      md2pr: md,
      torch_fp32: fp32,
      torch_bf16: bf16,
      ratio_fp32: fp32 ? md.median_ms / fp32.median_ms : null,
      ratio_bf16: bf16 ? md.median_ms / bf16.median_ms : null,
      load: { before: loadBefore, after: loadAfter },
    }));
    return;
  }
  const rows: string[][] = [
    ["md2pr", fmt(md.median_ms), "1.00", fmt(md.peak_rss_mb, 0), md.kernels + (packed ? ", packed" : ", padded")],
  ];
  if (fp32) rows.push(["PyTorch fp32", fmt(fp32.median_ms), fmt(md.median_ms / fp32.median_ms, 2), fmt(fp32.peak_rss_mb, 0), `torch ${fp32.torch_version}, ${fp32.threads} threads`]);
  if (bf16) rows.push(["PyTorch bf16 autocast", fmt(bf16.median_ms), fmt(md.median_ms / bf16.median_ms, 2), fmt(bf16.peak_rss_mb, 0), `torch ${bf16.torch_version}, ${bf16.threads} threads`]);
  console.log(`train step: BERT-mini (L4 H256 A4 FFN1024), ${BATCH} queries + ${BATCH} passages padded to ${SEQ} (${tokens} real tokens of ${2 * BATCH * SEQ}), contrastive + AdamW`);
  console.log(`median of ${args.repeats} runs after ${args.warmup} warm-up; load average before ${loadBefore}, after ${loadAfter}`);
  if (bf16) console.log(`(bf16: ${bf16.times_ms.length} timed run after 1 warm-up)`);
  console.log(formatTable(["", "median ms", "md2pr / this", "peak RSS MiB", "backend"], rows));
  console.log(`md2pr times: ${md.times_ms.map((t) => t.toFixed(1)).join(" ")}`);
  if (fp32) console.log(`torch fp32 times: ${fp32.times_ms.map((t) => t.toFixed(1)).join(" ")}`);
}

main();
