/**
 * Dense search benchmark: exact blocked-GEMM top-k and HNSW (hnswlib-node).
 *
 *   node --import tsx bench/search.ts [--big 1000000] [--big-queries 64] [--hnsw 100000] [--ef-construction 100]
 *                                     [--skip-big] [--skip-hnsw] [--dim 256]
 *
 * 1. SciFact size: exact top-100 for 300 queries over 5,183 x dim (normalized random vectors).
 * 2. Large: exact top-100 queries per second over `--big` x dim random vectors (1M x 256 float32 = 1 GiB).
 * 3. HNSW on `--hnsw` clustered vectors (a stand-in for real embeddings, which have low intrinsic dimension:
 *    1,000 random centres + uniform noise of std 0.2 per coordinate, normalized; queries drawn the same way): build time, QPS and
 *    recall@10 against exact search for several efSearch values. `--hnsw-random` uses the uniform random
 *    rows of the large matrix instead (the worst case for graph indexes: recall is much lower there).
 * Prints a table; timings are wall clock on this machine.
 */
import { parseArgs } from "node:util";
import * as os from "node:os";
import { kernelsInfo } from "../src/engine/kernels/index.ts";
import { exactTopK, HnswIndex, normalizeRows, recallAgainstExact } from "../src/retrieval/dense-index.ts";

const { values } = parseArgs({
  options: {
    dim: { type: "string", default: "256" },
    big: { type: "string", default: "1000000" },
    "big-queries": { type: "string", default: "256" },
    hnsw: { type: "string", default: "100000" },
    "hnsw-queries": { type: "string", default: "300" },
    "ef-construction": { type: "string", default: "100" },
    m: { type: "string", default: "16" },
    "skip-big": { type: "boolean", default: false },
    "skip-hnsw": { type: "boolean", default: false },
    "hnsw-random": { type: "boolean", default: false },
  },
});
const dim = Number(values.dim);

/** Fast deterministic uniform [-1, 1) fill (xorshift32). */
function fillRandom(x: Float32Array, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < x.length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    x[i] = s / 2147483648 - 1;
  }
  return x;
}
function randomUnit(rows: number, seed: number): Float32Array {
  return normalizeRows(fillRandom(new Float32Array(rows * dim), seed), rows, dim);
}
/** `rows` points around `clusters` random centres (noise std `spread` per coordinate), normalized. */
function clusteredUnit(rows: number, clusters: number, spread: number, centreSeed: number, seed: number): Float32Array {
  const centres = fillRandom(new Float32Array(clusters * dim), centreSeed);
  const noise = fillRandom(new Float32Array(rows * dim), seed);
  const pick = fillRandom(new Float32Array(rows), seed + 1);
  const x = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    const c = Math.min(clusters - 1, Math.floor(((pick[i]! + 1) / 2) * clusters));
    // uniform [-1, 1) noise has std 1/sqrt(3)
    for (let j = 0; j < dim; j++) x[i * dim + j] = centres[c * dim + j]! + spread * Math.sqrt(3) * noise[i * dim + j]!;
  }
  return normalizeRows(x, rows, dim);
}
function time<T>(f: () => T): [T, number] {
  const t = performance.now();
  const r = f();
  return [r, performance.now() - t];
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const rows: Array<[string, string, string]> = [];
const add = (what: string, value: string, note = ""): void => {
  rows.push([what, value, note]);
  console.error(`  ${what}: ${value} ${note}`);
};

console.error(`kernels: ${kernelsInfo()}; ${os.cpus().length} CPUs; node ${process.version}`);

// 1. SciFact size
{
  const n = 5183, nq = 300, k = 100;
  const docs = randomUnit(n, 1);
  const qs = randomUnit(nq, 2);
  exactTopK(docs, n, dim, qs, nq, k); // warm up
  const ts: number[] = [];
  for (let r = 0; r < 5; r++) ts.push(time(() => exactTopK(docs, n, dim, qs, nq, k))[1]);
  const t = median(ts);
  add(`exact top-${k}, ${nq} queries x ${n} x ${dim}`, `${t.toFixed(1)} ms`, `(${((nq / t) * 1000).toFixed(0)} QPS, median of 5)`);
}

// 2. Large
let big: Float32Array | null = null;
const bigN = Number(values.big);
if (!values["skip-big"] || (!values["skip-hnsw"] && values["hnsw-random"])) {
  const [b, tGen] = time(() => randomUnit(bigN, 3));
  big = b;
  console.error(`  generated ${bigN} x ${dim} (${((bigN * dim * 4) / 2 ** 30).toFixed(2)} GiB) in ${(tGen / 1000).toFixed(1)} s`);
}
if (!values["skip-big"] && big) {
  const nq = Number(values["big-queries"]);
  const k = 100;
  const qs = randomUnit(nq, 4);
  exactTopK(big, bigN, dim, qs, Math.min(nq, 8), k);
  const [, t] = time(() => exactTopK(big!, bigN, dim, qs, nq, k));
  add(`exact top-${k}, ${nq} queries x ${bigN} x ${dim}`, `${((nq / t) * 1000).toFixed(1)} QPS`, `(${(t / nq).toFixed(1)} ms/query, ${((2 * bigN * dim * nq) / t / 1e6).toFixed(1)} GFLOP/s)`);
}

// 3. HNSW
if (!values["skip-hnsw"]) {
  const random = values["hnsw-random"];
  const n = random ? Math.min(Number(values.hnsw), bigN) : Number(values.hnsw);
  const nq = Number(values["hnsw-queries"]);
  const k = 10;
  const docs = random ? big!.subarray(0, n * dim) : clusteredUnit(n, 1000, 0.2, 7, 8);
  const qs = random ? randomUnit(nq, 5) : clusteredUnit(nq, 1000, 0.2, 7, 9);
  const kind = random ? "uniform random" : "clustered";
  const ids = Array.from({ length: n }, (_, i) => String(i));
  const m = Number(values.m);
  const efC = Number(values["ef-construction"]);
  const info = { modelFingerprint: "bench", pooling: "none", normalized: true };
  const [h, tb] = time(() => HnswIndex.build(docs, dim, ids, info, { m, efConstruction: efC }));
  add(`HNSW build, ${n} x ${dim} ${kind} (M=${m}, efC=${efC})`, `${(tb / 1000).toFixed(1)} s`, `(${((n / tb) * 1000).toFixed(0)} points/s, single thread)`);
  const [exact, te] = time(() => exactTopK(docs, n, dim, qs, nq, k));
  add(`exact top-${k}, ${nq} queries x ${n} x ${dim}`, `${((nq / te) * 1000).toFixed(0)} QPS`, "(ground truth)");
  h.setEf(64);
  h.searchRaw(qs, nq, k); // warm up (JIT, caches) before timing
  for (const ef of [16, 32, 64, 128, 256]) {
    h.setEf(ef);
    const [approx, ta] = time(() => h.searchRaw(qs, nq, k));
    const recall = recallAgainstExact(approx, exact, nq);
    add(`HNSW efSearch=${ef}`, `recall@10 ${recall.toFixed(4)}`, `${((nq / ta) * 1000).toFixed(0)} QPS`);
  }
}

console.log(`\nkernels: ${kernelsInfo()}; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}); node ${process.version}\n`);
const w0 = Math.max(...rows.map((r) => r[0].length), 9);
const w1 = Math.max(...rows.map((r) => r[1].length), 5);
console.log(`| ${"benchmark".padEnd(w0)} | ${"value".padEnd(w1)} | note`);
console.log(`|${"-".repeat(w0 + 2)}|${"-".repeat(w1 + 2)}|------`);
for (const [a, b, c] of rows) console.log(`| ${a.padEnd(w0)} | ${b.padEnd(w1)} | ${c}`);
