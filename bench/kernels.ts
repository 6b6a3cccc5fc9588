/**
 * Kernel benchmarks at BERT-mini shapes (hidden 256, 4 heads of 64, FFN 1024, sequences of 128).
 * Run: node --import tsx bench/kernels.ts [--quick] [--no-ts]
 * Prints: kernel, size, native ms (pool/BLAS threads = default), native ms with 1 thread, TypeScript ms,
 * and native GFLOP/s for GEMMs. Times are the median of several runs after a warm-up.
 */
import { loadNativeKernels } from "../src/engine/kernels/native.ts";
import { referenceKernels as R } from "../src/engine/kernels/reference.ts";
import type { Kernels } from "../src/engine/kernels/types.ts";

const quick = process.argv.includes("--quick");
const noTs = process.argv.includes("--no-ts");
const loaded = loadNativeKernels();
if (!loaded.ok) console.warn(`native addon unavailable (${loaded.reason}); only TypeScript timings`);
const N = loaded.ok ? loaded.kernels : null;

function rand(n: number, seed = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

/** Median wall time in ms of fn, repeated until ~minMs total (at least minReps, at most maxReps). */
function time(fn: () => void, minMs = quick ? 150 : 400, minReps = 3, maxReps = 200): number {
  fn(); // warm-up
  const ts: number[] = [];
  const start = performance.now();
  while (ts.length < minReps || (performance.now() - start < minMs && ts.length < maxReps)) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)]!;
}

type Row = { kernel: string; size: string; native?: number; native1?: number; ts?: number; flops?: number };
const rows: Row[] = [];

function bench(kernel: string, size: string, run: (k: Kernels) => void, opts: { flops?: number; ts?: boolean } = {}): void {
  const row: Row = { kernel, size, flops: opts.flops };
  if (N) {
    row.native = time(() => run(N));
    const prev = N.native.setNumThreads(1);
    try {
      row.native1 = time(() => run(N));
    } finally {
      N.native.setNumThreads(prev);
    }
  }
  if (opts.ts !== false && !noTs) row.ts = time(() => run(R), quick ? 1 : 300, 1, 5);
  rows.push(row);
  print(row);
}

const fmt = (v: number | undefined) => (v === undefined ? "-" : v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0));
function print(r: Row): void {
  const gf = r.flops && r.native ? (r.flops / (r.native * 1e6)).toFixed(1) : "";
  console.log(
    `| ${r.kernel.padEnd(34)} | ${r.size.padEnd(26)} | ${fmt(r.native).padStart(8)} | ${fmt(r.native1).padStart(8)} | ${fmt(r.ts).padStart(9)} | ${gf.padStart(7)} |`,
  );
}

console.log(N ? `native: ${N.native.buildInfo()}` : "native: unavailable");
console.log(`| ${"kernel".padEnd(34)} | ${"size".padEnd(26)} | ${"native".padStart(8)} | ${"native1T".padStart(8)} | ${"TS".padStart(9)} | ${"GFLOP/s".padStart(7)} |`);
console.log(`|${"-".repeat(36)}|${"-".repeat(28)}|${"-".repeat(10)}|${"-".repeat(10)}|${"-".repeat(11)}|${"-".repeat(9)}|`);

// ---- dense GEMMs: tokens M = 2048, hidden 256, FFN 1024 (y = x W^T, torch Linear layout W [out, in]) ----
{
  const M = 2048, H = 256, F = 1024;
  const x = rand(M * H), w = rand(F * H, 2), y = new Float32Array(M * F), dy = rand(M * F, 3), dx = new Float32Array(M * H);
  const dw = new Float32Array(F * H);
  const fl = 2 * M * H * F;
  bench("sgemm fwd x W^T (NT)", `[${M}x${H}]x[${H}x${F}]`, (k) => k.sgemm(false, true, M, F, H, 1, x, 0, H, w, 0, H, 0, y, 0, F), { flops: fl });
  bench("sgemm bwd dX = dY W (NN)", `[${M}x${F}]x[${F}x${H}]`, (k) => k.sgemm(false, false, M, H, F, 1, dy, 0, F, w, 0, H, 0, dx, 0, H), { flops: fl });
  bench("sgemm bwd dW += dY^T X (TN)", `[${F}x${M}]x[${M}x${H}]`, (k) => k.sgemm(true, false, F, H, M, 1, dy, 0, F, x, 0, H, 1, dw, 0, H), { flops: fl });
  const wq = rand(H * H, 4), q = new Float32Array(M * H);
  bench("sgemm QKV-sized (NT)", `[${M}x${H}]x[${H}x${H}]`, (k) => k.sgemm(false, true, M, H, H, 1, x, 0, H, wq, 0, H, 0, q, 0, H), { flops: 2 * M * H * H });
  if (N) {
    const P = N.native.sgemmPortable;
    bench("sgemmPortable fwd (NT)", `[${M}x${H}]x[${H}x${F}]`, () => P(false, true, M, F, H, 1, x, 0, H, w, 0, H, 0, y, 0, F), { flops: fl, ts: false });
    bench("sgemmPortable bwd dX (NN)", `[${M}x${F}]x[${F}x${H}]`, () => P(false, false, M, H, F, 1, dy, 0, F, w, 0, H, 0, dx, 0, H), { flops: fl, ts: false });
    bench("sgemmPortable bwd dW (TN)", `[${F}x${M}]x[${M}x${H}]`, () => P(true, false, F, H, M, 1, dy, 0, F, x, 0, H, 1, dw, 0, H), { flops: fl, ts: false });
  }
}

// ---- attention: batch 32, 4 heads, T = 128, d = 64, hidden 256 ----
{
  const B = 32, NH = 4, T = 128, D = 64, H = NH * D;
  const n = B * NH;
  const qkv = new Int32Array(n), sc = new Int32Array(n);
  for (let b = 0; b < B; b++) for (let h = 0; h < NH; h++) {
    qkv[b * NH + h] = b * T * H + h * D;
    sc[b * NH + h] = (b * NH + h) * T * T;
  }
  const q = rand(B * T * H, 5), kk = rand(B * T * H, 6), v = rand(B * T * H, 7), dctx = rand(B * T * H, 8);
  const s = new Float32Array(n * T * T), p = rand(n * T * T, 9), ctx = new Float32Array(B * T * H);
  const fl = 2 * n * T * T * D;
  const shape = `${n} x [${T}x${D}] (T=${T}, d=${D})`;
  const cases: [string, (k: Kernels) => void][] = [
    ["batched QK^T (NT)", (k) => k.sgemmBatched(false, true, T, T, D, 0.125, q, qkv, H, kk, qkv, H, 0, s, sc, T)],
    ["batched PV (NN)", (k) => k.sgemmBatched(false, false, T, D, T, 1, p, sc, T, v, qkv, H, 0, ctx, qkv, H)],
    ["batched bwd dP = dCtx V^T (NT)", (k) => k.sgemmBatched(false, true, T, T, D, 1, dctx, qkv, H, v, qkv, H, 0, s, sc, T)],
    ["batched bwd dV = P^T dCtx (TN)", (k) => k.sgemmBatched(true, false, T, D, T, 1, p, sc, T, dctx, qkv, H, 0, ctx, qkv, H)],
    ["batched bwd dQ = dS K (NN)", (k) => k.sgemmBatched(false, false, T, D, T, 0.125, p, sc, T, kk, qkv, H, 0, ctx, qkv, H)],
    ["batched bwd dK = dS^T Q (TN)", (k) => k.sgemmBatched(true, false, T, D, T, 0.125, p, sc, T, q, qkv, H, 0, ctx, qkv, H)],
  ];
  for (const [name, run] of cases) {
    bench(name, shape, run, { flops: fl });
    if (N) {
      for (const [strategy, label] of [[1, "loop of BLAS calls"], [2, "2 threads x 1-thread BLAS"], [3, "2 threads x portable"]] as const) {
        if (strategy !== 3 && !N.blas) continue;
        const prev = N.native.setBatchedStrategy(strategy);
        try {
          bench(`  ${label}`, "", run, { flops: fl, ts: false });
        } finally {
          N.native.setBatchedStrategy(prev);
        }
      }
    }
  }
  // softmax over scores with the per-sequence padding mask broadcast over heads and query rows
  const rowsS = n * T;
  const mask = new Float32Array(B * T);
  for (let b = 0; b < B; b++) for (let j = 100 + (b % 28); j < T; j++) mask[b * T + j] = -10000;
  const out = new Float32Array(rowsS * T), g = rand(rowsS * T, 10), dS = new Float32Array(rowsS * T);
  bench("softmaxForward (masked)", `[${rowsS}x${T}]`, (k) => k.softmaxForward(s, out, rowsS, T, 0.125, mask, NH * T));
  bench("softmaxBackward", `[${rowsS}x${T}]`, (k) => k.softmaxBackward(out, g, dS, rowsS, T, 0.125));
}

// ---- layer norm, GELU, dropout, elementwise, AdamW ----
{
  const rowsL = 4096, H = 256;
  const x = rand(rowsL * H, 11), gamma = rand(H, 12), beta = rand(H, 13), out = new Float32Array(rowsL * H);
  const mean = new Float32Array(rowsL), rstd = new Float32Array(rowsL), g = rand(rowsL * H, 14), dx = new Float32Array(rowsL * H);
  const dg = new Float32Array(H), db = new Float32Array(H);
  bench("layerNormForward", `[${rowsL}x${H}]`, (k) => k.layerNormForward(x, gamma, beta, out, mean, rstd, rowsL, H, 1e-12));
  bench("layerNormBackward", `[${rowsL}x${H}]`, (k) => k.layerNormBackward(g, x, gamma, mean, rstd, dx, dg, db, rowsL, H));

  const n = 4096 * 1024;
  const a = rand(n, 15), o = new Float32Array(n), go = rand(n, 16), d = new Float32Array(n);
  bench("geluForward exact", `[${n}]`, (k) => k.geluForward(a, o, n, false));
  bench("geluBackward exact", `[${n}]`, (k) => k.geluBackward(a, go, d, n, false));
  bench("geluForward tanh", `[${n}]`, (k) => k.geluForward(a, o, n, true));
  bench("geluBackward tanh", `[${n}]`, (k) => k.geluBackward(a, go, d, n, true));

  const nd = 4096 * 256;
  const mask = new Uint8Array(nd);
  bench("dropoutForward p=0.1", `[${nd}]`, (k) => k.dropoutForward(x, out, mask, nd, 0.1, 1234));
  bench("dropoutBackward", `[${nd}]`, (k) => k.dropoutBackward(g, mask, dx, nd, 0.1));
  const bias = rand(1024, 17);
  bench("addBias", `[4096x1024]`, (k) => k.addBias(a, bias, o, 4096, 1024));
  const dbias = new Float32Array(1024);
  bench("sumRows", `[4096x1024]`, (k) => k.sumRows(a, dbias, 4096, 1024));
  bench("add", `[${nd}]`, (k) => k.add(x, g, out, nd));
  bench("axpy", `[${nd}]`, (k) => k.axpy(0.5, x, out, nd));
  bench("scale", `[${nd}]`, (k) => k.scale(x, 0.5, out, nd));
  bench("sumSquares", `[${n}]`, (k) => { k.sumSquares(a, n); });

  const table = rand(30522 * H, 18), ids = Int32Array.from({ length: 4096 }, (_, i) => (i * 7919) % 30522);
  const eo = new Float32Array(4096 * H), dTable = new Float32Array(30522 * H);
  bench("embeddingForward", `4096 ids x ${H}`, (k) => k.embeddingForward(table, ids, eo, 4096, H));
  bench("embeddingBackward", `4096 ids x ${H}`, (k) => k.embeddingBackward(g, ids, dTable, 4096, H));

  const np = 11_200_000; // ~BERT-mini parameter count
  const p = rand(np, 19), pg = rand(np, 20), m = new Float32Array(np), v = new Float32Array(np);
  bench("adamwStep", `[${np}]`, (k) => k.adamwStep(p, pg, m, v, np, 1e-4, 0.9, 0.999, 1e-8, 0.01, 0.1, 0.001));
}
