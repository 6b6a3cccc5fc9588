/**
 * LanceDB against exact search and hnswlib: recall@10 against exact search and query latency.
 *
 *   MD2PR_NUM_THREADS=1 node --import tsx bench/lance.ts [--n 1000000] [--dim 256] [--queries 200] [--ann ivf-flat,ivf-pq]
 *       [--partitions N] [--sub-vectors 32] [--hnswlib 100000] [--scifact] [--skip-small] [--skip-big] [--work DIR] [--out FILE]
 *
 * 1. SciFact (--scifact): the real corpus encoded by runs/demo/retriever (else models/base-scifact), written to a Lance
 *    table with its text and an IVF-FLAT index (64 partitions); the 300 test queries' top-100 through LanceDB at full
 *    recall settings (every partition probed) and with the table scanned exhaustively, with and without md2pr's
 *    re-scoring, compared with md2pr's exact search (identical ids in the same order?); recall@10 / latency + text.
 * 2. Synthetic SciFact size (5,183) and large (--n, default 1M) sets of *clustered random vectors* (1,000 random
 *    centres + uniform noise of std 0.2 per coordinate, normalized; queries drawn the same way): a stand-in for real
 *    embeddings, which have low intrinsic dimension (uniform random vectors are the worst case for every ANN index).
 *    Exact top-10 is the ground truth. Lance: write time, then for each --ann index type (default ivf-flat,ivf-pq) its
 *    build time, recall@10 and the median / p95 latency of one query at a time for several (nprobes, refineFactor);
 *    exact: the latency of one query at a time and of batched queries. hnswlib (M 16, efConstruction 100) on the first
 *    --hnswlib vectors (all of them: --hnswlib N), beside Lance on the same subset: build time, recall@10, latency.
 * LanceDB runs with LANCE_CPU_THREADS = MD2PR_NUM_THREADS (default 1) so that it gets the cores md2pr gets.
 * Prints a table on stdout and writes --out (JSON). Vectors never leave the process except into the Lance tables
 * under --work (removed at the end unless --keep).
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "1000000" },
    dim: { type: "string", default: "256" },
    queries: { type: "string", default: "200" },
    partitions: { type: "string" },
    "sub-vectors": { type: "string" },
    hnswlib: { type: "string", default: "100000" },
    ann: { type: "string", default: "ivf-flat,ivf-pq" },
    scifact: { type: "boolean", default: false },
    "skip-big": { type: "boolean", default: false },
    "skip-small": { type: "boolean", default: false },
    work: { type: "string", default: join(os.tmpdir(), "md2pr-bench-lance") },
    out: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
process.env.LANCE_CPU_THREADS ??= process.env.MD2PR_NUM_THREADS ?? "1";
process.env.LANCE_IO_THREADS ??= "2";

// Loaded after the thread settings above (the native libraries read them when they start).
const { kernelsInfo } = await import("../src/engine/kernels/index.ts");
const { exactTopK, normalizeRows } = await import("../src/retrieval/dense-exact.ts");
const { HnswIndex } = await import("../src/retrieval/hnsw-index.ts");
const { LanceStore } = await import("../src/retrieval/lance-store.ts");
type Store = Awaited<ReturnType<typeof LanceStore.open>>;

const dim = Number(values.dim);
const numQueries = Number(values.queries);
const K = 10;

interface Row { readonly set: string; readonly system: string; readonly setting: string; readonly recall10: number | null; readonly medianMs: number; readonly p95Ms: number; readonly note: string }
const rows: Row[] = [];
const notes: Record<string, string | number> = {};
function add(row: Row): void {
  rows.push(row);
  console.error(`  ${row.set} | ${row.system} ${row.setting}: recall@10 ${row.recall10?.toFixed(4) ?? "-"}, median ${row.medianMs.toFixed(2)} ms, p95 ${row.p95Ms.toFixed(2)} ms ${row.note}`);
}
const note = (key: string, value: string | number): void => {
  notes[key] = value;
  console.error(`  ${key}: ${value}`);
};
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const rssGiB = (): string => `${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB`;

/** Deterministic uniform [-1, 1) (xorshift32), as bench/search.ts. */
function fillRandom(x: Float32Array, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < x.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    x[i] = s / 2147483648 - 1;
  }
  return x;
}

/** `rows` unit vectors around `clusters` random centres (uniform noise of std `spread` per coordinate). */
function clustered(rowsN: number, seed: number, clusters = 1000, spread = 0.2): Float32Array {
  const centres = fillRandom(new Float32Array(clusters * dim), 7);
  const x = new Float32Array(rowsN * dim);
  const noise = new Float32Array(dim);
  const pick = fillRandom(new Float32Array(rowsN), seed + 1);
  for (let i = 0; i < rowsN; i++) {
    fillRandom(noise, seed * 1_000_003 + i + 1);
    const c = Math.min(clusters - 1, Math.floor(((pick[i]! + 1) / 2) * clusters));
    for (let j = 0; j < dim; j++) x[i * dim + j] = centres[c * dim + j]! + spread * Math.sqrt(3) * noise[j]!;
  }
  return normalizeRows(x, rowsN, dim);
}

/** Mean over queries of |approx top-10 ∩ exact top-10| / 10. */
function recall(approx: readonly (readonly { id: string }[])[], truth: readonly (readonly string[])[]): number {
  let sum = 0;
  approx.forEach((hits, q) => {
    const t = new Set(truth[q]!.slice(0, K));
    sum += hits.slice(0, K).filter((h) => t.has(h.id)).length / K;
  });
  return sum / approx.length;
}

function exactTruth(docs: Float32Array, n: number, qs: Float32Array, nq: number, k: number): string[][] {
  const r = exactTopK(docs, n, dim, qs, nq, k);
  return Array.from({ length: nq }, (_, q) => Array.from(r.indices.subarray(q * r.k, (q + 1) * r.k), String));
}

/** Latency of `search` run one query at a time (after 5 warm-up queries), and its results. */
async function timed<T>(nq: number, search: (q: number) => Promise<T> | T): Promise<{ results: T[]; ms: number[] }> {
  for (let q = 0; q < Math.min(5, nq); q++) await search(q);
  const results: T[] = [];
  const ms: number[] = [];
  for (let q = 0; q < nq; q++) {
    const t = performance.now();
    results.push(await search(q));
    ms.push(performance.now() - t);
  }
  return { results, ms };
}

async function exactRows(set: string, docs: Float32Array, n: number, qs: Float32Array, nq: number): Promise<void> {
  const one = await timed(nq, (q) => exactTopK(docs, n, dim, qs.subarray(q * dim, (q + 1) * dim), 1, K));
  add({ set, system: "exact (md2pr GEMM)", setting: "one query at a time", recall10: 1, medianMs: quantile(one.ms, 0.5), p95Ms: quantile(one.ms, 0.95), note: "" });
  const t = performance.now();
  exactTopK(docs, n, dim, qs, nq, K);
  const per = (performance.now() - t) / nq;
  add({ set, system: "exact (md2pr GEMM)", setting: `batch of ${nq}`, recall10: 1, medianMs: per, p95Ms: per, note: "(per query, amortized)" });
}

async function lanceTable(dir: string, docs: Float32Array, n: number): Promise<Store> {
  rmSync(dir, { recursive: true, force: true });
  const ids = Array.from({ length: n }, (_, i) => String(i));
  const info = { modelFingerprint: "bench", pooling: "none", normalized: true };
  const step = 100_000;
  function* batches(): Generator<{ ids: string[]; vectors: Float32Array; passages: { title: string; text: string }[] }> {
    for (let s = 0; s < n; s += step) {
      const e = Math.min(n, s + step);
      yield { ids: ids.slice(s, e), vectors: docs.subarray(s * dim, e * dim), passages: Array.from({ length: e - s }, () => ({ title: "", text: "" })) };
    }
  }
  return LanceStore.write(dir, dim, info, batches());
}

type AnnType = "ivf-flat" | "ivf-pq" | "ivf-rq" | "ivf-hnsw-sq";
type Setting = { nprobes: number; refineFactor?: number; ef?: number };

/** The query-time settings measured for each ANN type. */
const SETTINGS: Record<AnnType, readonly Setting[]> = {
  "ivf-flat": [{ nprobes: 5 }, { nprobes: 10 }, { nprobes: 20 }, { nprobes: 40 }],
  "ivf-pq": [{ nprobes: 20, refineFactor: 10 }, { nprobes: 20, refineFactor: 50 }, { nprobes: 40, refineFactor: 100 }],
  "ivf-rq": [{ nprobes: 20, refineFactor: 10 }, { nprobes: 20, refineFactor: 50 }, { nprobes: 40, refineFactor: 100 }],
  "ivf-hnsw-sq": [{ nprobes: 10, ef: 100 }, { nprobes: 20, ef: 200 }],
};

function annSpec(type: AnnType, partitions: number, subVectors: number): import("../src/retrieval/lance-store.ts").LanceAnnIndex {
  if (type === "ivf-pq") return { type, numPartitions: partitions, numSubVectors: subVectors };
  return { type, numPartitions: partitions };
}

const describeSetting = (s: Setting): string =>
  [`nprobes ${s.nprobes}`, s.refineFactor !== undefined ? `refine ${s.refineFactor}` : "", s.ef !== undefined ? `ef ${s.ef}` : ""].filter(Boolean).join(", ");

async function lanceRows(set: string, store: Store, type: AnnType, qs: Float32Array, nq: number, truth: string[][], settings: readonly Setting[]): Promise<void> {
  for (const s of settings) {
    const r = await timed(nq, (q) => store.searchIds(qs.subarray(q * dim, (q + 1) * dim), 1, K, s));
    add({
      set, system: `LanceDB ${type.toUpperCase()}`, setting: describeSetting(s), recall10: recall(r.results.map((x) => x[0]!), truth),
      medianMs: quantile(r.ms, 0.5), p95Ms: quantile(r.ms, 0.95), note: "",
    });
  }
}

/** Builds each ANN index of `types` over the table in turn (replacing the last) and measures it. */
async function annRows(set: string, store: Store, types: readonly AnnType[], partitions: number, subVectors: number, qs: Float32Array, nq: number, truth: string[][], few = false): Promise<void> {
  for (const type of types) {
    const t = performance.now();
    await store.createIndex(annSpec(type, partitions, subVectors));
    note(`${set}: ${type} build (${partitions} partitions${type === "ivf-pq" ? `, ${subVectors} sub-vectors` : ""})`, `${seconds(performance.now() - t)}, rss ${rssGiB()}`);
    await lanceRows(set, store, type, qs, nq, truth, few ? SETTINGS[type].slice(0, 2) : SETTINGS[type]);
  }
}

async function hnswRows(set: string, docs: Float32Array, n: number, qs: Float32Array, nq: number, truth: string[][]): Promise<void> {
  const ids = Array.from({ length: n }, (_, i) => String(i));
  const t0 = performance.now();
  const h = HnswIndex.build(docs.subarray(0, n * dim), dim, ids, { modelFingerprint: "bench", pooling: "none", normalized: true }, { m: 16, efConstruction: 100 });
  note(`${set}: hnswlib build (M 16, efC 100, one thread)`, seconds(performance.now() - t0));
  for (const ef of [32, 64, 128]) {
    h.setEf(ef);
    const r = await timed(nq, (q) => h.search(qs.subarray(q * dim, (q + 1) * dim), 1, K)[0]!);
    add({ set, system: "hnswlib HNSW", setting: `efSearch ${ef}`, recall10: recall(r.results, truth), medianMs: quantile(r.ms, 0.5), p95Ms: quantile(r.ms, 0.95), note: "" });
  }
}

/** One synthetic set: exact, LanceDB with each --ann index, and hnswlib on a prefix (or all). */
async function syntheticSet(set: string, n: number, partitions: number, subVectors: number, hnswN: number): Promise<void> {
  console.error(`${set}: ${n} x ${dim} clustered vectors`);
  let t = performance.now();
  const docs = clustered(n, 11);
  const qs = clustered(numQueries, 12);
  note(`${set}: generated`, `${seconds(performance.now() - t)}, rss ${rssGiB()}`);
  const truth = exactTruth(docs, n, qs, numQueries, K);
  await exactRows(set, docs, n, qs, numQueries);

  const dir = join(values.work!, set.replace(/[^a-z0-9]+/gi, "-"));
  t = performance.now();
  const store = await lanceTable(dir, docs, n);
  note(`${set}: Lance table written`, `${seconds(performance.now() - t)}, rss ${rssGiB()}`);
  const exhaustive = await timed(Math.min(numQueries, 20), (q) => store.searchIds(qs.subarray(q * dim, (q + 1) * dim), 1, K, { exact: true }));
  add({ set, system: "LanceDB flat scan", setting: "exact: true", recall10: recall(exhaustive.results.map((x) => x[0]!), truth), medianMs: quantile(exhaustive.ms, 0.5), p95Ms: quantile(exhaustive.ms, 0.95), note: `(${exhaustive.ms.length} queries)` });
  const types = values.ann!.split(",").map((x) => x.trim()) as AnnType[];
  for (const type of types) if (!(type in SETTINGS)) throw new Error(`--ann: unknown index type ${type} (${Object.keys(SETTINGS).join(", ")})`);
  await annRows(set, store, types, partitions, subVectors, qs, numQueries, truth);
  store.close();

  if (hnswN > 0) {
    const sub = `${set}, first ${hnswN}`;
    const subTruth = exactTruth(docs, hnswN, qs, numQueries, K);
    if (hnswN < n) {
      await exactRows(sub, docs, hnswN, qs, numQueries);
      const subStore = await lanceTable(`${dir}-sub`, docs.subarray(0, hnswN * dim), hnswN);
      const p = Math.max(16, Math.round(Math.sqrt(hnswN)));
      await annRows(sub, subStore, types, p, subVectors, qs, numQueries, subTruth, true);
      subStore.close();
    }
    await hnswRows(sub, docs, hnswN, qs, numQueries, subTruth);
  }
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
  if (!values.keep) rmSync(`${dir}-sub`, { recursive: true, force: true });
}

/** The real SciFact corpus through LanceDB against exact search. */
async function scifact(): Promise<void> {
  const { Retriever } = await import("../src/api/retriever.ts");
  const { buildIndex } = await import("../src/api/vector-index.ts");
  const { lanceFromDense } = await import("../src/api/vector-index.ts");
  const { loadBeir } = await import("../src/retrieval/readers.ts");
  const modelDir = existsSync("runs/demo/retriever/md2pr.json") ? "runs/demo/retriever" : "models/base-scifact";
  const retriever = Retriever.load(modelDir);
  const data = await loadBeir("data/scifact", "test");
  const set = `SciFact (${data.corpus.size} passages, ${modelDir})`;
  const dir = join(values.work!, `scifact-${retriever.fingerprint()}`);
  let t = performance.now();
  const exact = await buildIndex(retriever, data.corpus, join(dir, "exact"), { label: "encode SciFact" });
  note(`${set}: encoded (or reused)`, seconds(performance.now() - t));
  const { DenseIndex } = await import("../src/retrieval/dense-exact.ts");
  const dense = await DenseIndex.load(join(dir, "exact"));
  t = performance.now();
  const parts = 64;
  const store = await lanceFromDense(dense, data.corpus, join(dir, "lance"), { ann: { type: "ivf-flat", numPartitions: parts } });
  note(`${set}: Lance table + IVF-FLAT (${parts} partitions)`, seconds(performance.now() - t));
  const qids = [...data.qrels.keys()];
  const m = retriever.encodeMatrix(qids.map((q) => data.queries.get(q)!));
  const k = 100;
  // Exact search one query at a time (as a server runs it) and batched: md2pr's GEMM gives the same sums either way
  // only up to float32 rounding, so near-ties may swap between the two.
  const truth = Array.from({ length: m.rows }, (_, q) => dense.search(m.data.subarray(q * m.dim, (q + 1) * m.dim), 1, k)[0]!);
  const batched = await exact.search(m.data, m.rows, k);
  const same = (hits: readonly (readonly { id: string }[])[], ref: readonly (readonly { id: string }[])[] = truth): number =>
    hits.filter((h, q) => h.map((x) => x.id).join(" ") === ref[q]!.map((x) => x.id).join(" ")).length;
  note(`${set}: exact search, batched vs one query at a time: identical top-100`, `${same(batched)} / ${qids.length}`);
  const full = { nprobes: parts };
  for (const rescore of [true, false]) {
    const how = rescore ? "candidates re-scored by md2pr's kernel (default)" : "LanceDB's own scores (rescore: false)";
    note(`${set}: LanceDB IVF-FLAT, every partition probed, ${how}: identical top-100 ids and order`, `${same(await store.search(m.data, m.rows, k, { ...full, rescore }))} / ${qids.length}`);
    note(`${set}: LanceDB flat scan, ${how}: identical top-100`, `${same(await store.search(m.data, m.rows, k, { exact: true, rescore }))} / ${qids.length}`);
  }
  const ids = truth.map((h) => h.map((x) => x.id));
  for (const s of [{ nprobes: 5 }, { nprobes: 20 }, { nprobes: parts }]) {
    const r = await timed(qids.length, (q) => store.search(m.data.subarray(q * m.dim, (q + 1) * m.dim), 1, K, s));
    add({ set, system: "LanceDB IVF-FLAT + text", setting: `nprobes ${s.nprobes}`, recall10: recall(r.results.map((x) => x[0]!), ids), medianMs: quantile(r.ms, 0.5), p95Ms: quantile(r.ms, 0.95), note: "" });
  }
  store.close();
  const one = await timed(qids.length, (q) => dense.search(m.data.subarray(q * m.dim, (q + 1) * m.dim), 1, K)[0]!);
  add({ set, system: "exact (md2pr GEMM)", setting: "one query at a time", recall10: 1, medianMs: quantile(one.ms, 0.5), p95Ms: quantile(one.ms, 0.95), note: "" });
  const t0 = performance.now();
  const h = HnswIndex.fromDense(dense, { m: 16, efConstruction: 100 });
  note(`${set}: hnswlib build (M 16, efC 100, one thread)`, seconds(performance.now() - t0));
  for (const ef of [32, 128]) {
    h.setEf(ef);
    const r = await timed(qids.length, (q) => h.search(m.data.subarray(q * m.dim, (q + 1) * m.dim), 1, K)[0]!);
    add({ set, system: "hnswlib HNSW", setting: `efSearch ${ef}`, recall10: recall(r.results, ids), medianMs: quantile(r.ms, 0.5), p95Ms: quantile(r.ms, 0.95), note: "" });
  }
}

console.error(`kernels: ${kernelsInfo()}; LANCE_CPU_THREADS ${process.env.LANCE_CPU_THREADS}; ${os.cpus().length} CPUs; node ${process.version}`);
mkdirSync(values.work!, { recursive: true });
if (values.scifact) await scifact();
if (!values["skip-small"]) await syntheticSet("clustered 5,183 (SciFact size)", 5183, 64, dim / 8, 5183);
if (!values["skip-big"]) {
  const n = Number(values.n);
  await syntheticSet(`clustered ${n.toLocaleString("en")}`, n, Number(values.partitions ?? Math.round(Math.sqrt(n))), Number(values["sub-vectors"] ?? dim / 8), Number(values.hnswlib));
}
note("peak rss (max resident set)", `${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`);

const header = "| set | system | setting | recall@10 vs exact | median ms/query | p95 ms/query |";
console.log(`\nkernels: ${kernelsInfo()}; LanceDB threads ${process.env.LANCE_CPU_THREADS}; ${os.cpus()[0]?.model ?? "?"}; node ${process.version}\n`);
console.log(header);
console.log("|---|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.set} | ${r.system} | ${r.setting} | ${r.recall10?.toFixed(4) ?? "-"} | ${r.medianMs.toFixed(2)} | ${r.p95Ms.toFixed(2)} | ${r.note}`);
console.log("");
for (const [k, v] of Object.entries(notes)) console.log(`- ${k}: ${v}`);
if (values.out) writeFileSync(values.out, JSON.stringify({ kernels: kernelsInfo(), lanceThreads: process.env.LANCE_CPU_THREADS, rows, notes }, null, 2) + "\n");
