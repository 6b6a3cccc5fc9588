/**
 * Shared pieces of the md2pr benchmarks (bench/train-step.ts, bench/encode.ts): the BERT-mini config, seeded
 * padded batches, the PyTorch peer (bench/torch_peer.py) runner, a child-process runner that measures the
 * md2pr side alone (so its peak RSS is not mixed with the peer's), medians and the result table.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { kernelsInfo } from "../src/engine/kernels/index.ts";
import { Rng } from "../src/engine/rng.ts";
import type { BertInput } from "../src/models/bert.ts";
import { bertConfigToJson, makeBertConfig, type BertConfig } from "../src/models/config.ts";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const PEER_SCRIPT = join(REPO_ROOT, "bench", "torch_peer.py");
export const PEER_PYTHON = "/usr/bin/python3";

/** BERT-mini (google/bert_uncased_L-4_H-256_A-4): HF defaults otherwise (vocab 30522, 512 positions, dropout 0.1). */
export function bertMiniConfig(): BertConfig {
  return makeBertConfig({ hiddenSize: 256, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 1024 });
}

export const CLS_ID = 101;
export const SEP_ID = 102;

/**
 * `count` sequences padded to `seq` whose real lengths are uniform in [minLen, maxLen] (seeded): [CLS] random
 * word ids [SEP], then pad id 0 with attention mask 0. Token types are zeros.
 */
export function randomPaddedBatch(rng: Rng, count: number, seq: number, minLen: number, maxLen: number, vocab: number): BertInput {
  const inputIds = new Int32Array(count * seq);
  const attentionMask = new Float32Array(count * seq);
  for (let b = 0; b < count; b++) {
    const len = minLen + rng.int(maxLen - minLen + 1);
    for (let t = 0; t < len; t++) {
      inputIds[b * seq + t] = t === 0 ? CLS_ID : t === len - 1 ? SEP_ID : 1000 + rng.int(vocab - 1000);
      attentionMask[b * seq + t] = 1;
    }
  }
  return { inputIds, tokenTypeIds: new Int32Array(count * seq), attentionMask, batch: count, seq };
}

/** Sequences [from, to) of a padded batch. */
export function sliceBatch(input: BertInput, from: number, to: number): BertInput {
  const s = input.seq;
  return {
    inputIds: input.inputIds.subarray(from * s, to * s),
    tokenTypeIds: input.tokenTypeIds.subarray(from * s, to * s),
    attentionMask: input.attentionMask.subarray(from * s, to * s),
    batch: to - from,
    seq: s,
  };
}

/** Real token count of a padded batch. */
export function realTokens(input: BertInput): number {
  let n = 0;
  for (let i = 0; i < input.attentionMask.length; i++) n += input.attentionMask[i]!;
  return n;
}

function toRows(input: BertInput): { input_ids: number[][]; attention_mask: number[][] } {
  const ids: number[][] = [];
  const mask: number[][] = [];
  for (let b = 0; b < input.batch; b++) {
    ids.push(Array.from(input.inputIds.subarray(b * input.seq, (b + 1) * input.seq)));
    mask.push(Array.from(input.attentionMask.subarray(b * input.seq, (b + 1) * input.seq), (v) => (v ? 1 : 0)));
  }
  return { input_ids: ids, attention_mask: mask };
}

/** The peer's inputs JSON (format in bench/torch_peer.py). */
export function peerInputs(config: BertConfig, query: BertInput | null, passage: BertInput, extra: { lr?: number; weightDecay?: number; seed?: number } = {}): unknown {
  return {
    config: bertConfigToJson(config),
    ...(query ? { query: toRows(query) } : {}),
    passage: toRows(passage),
    lr: extra.lr ?? 1e-4,
    weight_decay: extra.weightDecay ?? 0.01,
    seed: extra.seed ?? 0,
  };
}

export interface PeerResult {
  task: string;
  median_ms: number;
  times_ms: number[];
  peak_rss_mb: number;
  threads: number;
  torch_version: string;
  bf16: boolean;
}

/** Runs bench/torch_peer.py on an inputs object (written to a temp file); throws with its stderr on failure. */
export function runPeer(task: "train-step" | "encode", inputs: unknown, repeats: number, warmup: number, bf16: boolean): PeerResult {
  const dir = mkdtempSync(join(tmpdir(), "md2pr-bench-"));
  try {
    const file = join(dir, "inputs.json");
    writeFileSync(file, JSON.stringify(inputs));
    const args = [PEER_SCRIPT, "--task", task, "--inputs", file, "--repeats", String(repeats), "--warmup", String(warmup)];
    if (bf16) args.push("--bf16");
    // MD2PR_NUM_THREADS, when set, also sets the peer's intra-op threads, so both sides use the same cores
    if (process.env.MD2PR_NUM_THREADS) args.push("--threads", process.env.MD2PR_NUM_THREADS);
    const r = spawnSync(PEER_PYTHON, args, { env: { ...process.env, OMP_WAIT_POLICY: "PASSIVE" }, encoding: "utf8", maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`torch_peer.py ${task}${bf16 ? " --bf16" : ""} failed (${r.status ?? r.signal}): ${r.stderr.trim().split("\n").slice(-5).join("\n")}`);
    const line = r.stdout.trim().split("\n").pop() ?? "";
    return JSON.parse(line) as PeerResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What a `--child` md2pr run prints (one JSON line). */
export interface ChildResult {
  times_ms: number[];
  median_ms: number;
  peak_rss_mb: number;
  kernels: string;
  last_value: number;
  [k: string]: unknown;
}

/**
 * Re-runs the calling bench script in a child node process with `--child` plus args, and parses its last stdout
 * line. The child runs only the md2pr side, so process.resourceUsage().maxRSS is md2pr's own peak.
 */
export function runChild(script: string, args: readonly string[]): ChildResult {
  const r = spawnSync(process.execPath, [...process.execArgv, script, "--child", ...args], { encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "inherit"] });
  if (r.status !== 0) throw new Error(`md2pr child ${script} failed (${r.status ?? r.signal})`);
  const line = r.stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(line) as ChildResult;
}

/** Peak RSS of this process in MiB (resourceUsage().maxRSS is in KiB). */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Times fn: `warmup` untimed calls, then `repeats` timed ones (ms). Returns the times and the last value. */
/** The child process's one JSON line (times, median, its own peak RSS, the kernel backend) read by the parent. */
export function printChildResult(times: readonly number[], last: unknown): void {
  console.log(JSON.stringify({
    times_ms: times.map((t) => Math.round(t * 1000) / 1000),
    median_ms: median(times),
    peak_rss_mb: peakRssMb(),
    kernels: kernelsInfo(),
    last_value: last,
  }));
}

export function timeRuns<T>(fn: () => T, repeats: number, warmup: number): { times: number[]; last: T | undefined } {
  let last: T | undefined;
  for (let i = 0; i < warmup; i++) last = fn();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    last = fn();
    times.push(performance.now() - t0);
  }
  return { times, last };
}

export interface BenchArgs {
  repeats: number;
  warmup: number;
  json: boolean;
  child: boolean;
  noPeer: boolean;
  noBf16: boolean;
  rest: Map<string, string>;
}

/** --repeats N --warmup W --json --child --no-peer --no-bf16, and any other --key value pairs. */
export function parseArgs(argv: readonly string[], defaults: { repeats: number; warmup: number }): BenchArgs {
  const out: BenchArgs = { repeats: defaults.repeats, warmup: defaults.warmup, json: false, child: false, noPeer: false, noBf16: false, rest: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--repeats") out.repeats = positiveInt(a, next());
    else if (a === "--warmup") out.warmup = nonNegativeInt(a, next());
    else if (a === "--json") out.json = true;
    else if (a === "--child") out.child = true;
    else if (a === "--no-peer") out.noPeer = true;
    else if (a === "--no-bf16") out.noBf16 = true;
    else if (a.startsWith("--")) {
      const v = argv[i + 1];
      if (v !== undefined && !v.startsWith("--")) out.rest.set(a.slice(2), next());
      else out.rest.set(a.slice(2), "true");
    } else throw new Error(`unexpected argument ${a}`);
  }
  return out;
}

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive integer, got ${v}`);
  return n;
}

function nonNegativeInt(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: expected a non-negative integer, got ${v}`);
  return n;
}

/** Plain-text table with right-aligned numeric columns. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function fmt(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(digits);
}

/** The 1-minute load average, to flag noisy numbers. */
export function loadAverage(): string {
  return loadavg().map((x) => x.toFixed(2)).join(" ");
}
