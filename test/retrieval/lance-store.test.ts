/**
 * LanceStore on a SciFact-sized table: the real SciFact ids, titles and texts with clustered random vectors (a
 * model-free stand-in; the vectors are what LanceDB sees). At full recall settings (every IVF partition probed,
 * every candidate re-scored with the full vectors) and with an exhaustive scan, the top-100 of 300 queries are the
 * exact search's, ids, order and scores; hits carry the passages; the model fingerprint is checked on open.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DenseIndex, normalizeRows } from "../../src/retrieval/dense-exact.ts";
import { LanceStore } from "../../src/retrieval/lance-store.ts";
import { collect, readBeirCorpus } from "../../src/retrieval/readers.ts";
import type { CorpusText } from "../../src/retrieval/tokenized-corpus.ts";

const corpusFile = new URL("../../data/scifact/corpus.jsonl", import.meta.url).pathname;
const dim = 64;
const info = { modelFingerprint: "md2pr-test", pooling: "mean", normalized: true };

/** Unit vectors around 100 random centres (deterministic). */
function clustered(rows: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const rand = (): number => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 2147483648 - 1;
  };
  const centres = Float32Array.from({ length: 100 * dim }, rand);
  const x = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    const c = Math.floor(((rand() + 1) / 2) * 100) % 100;
    for (let j = 0; j < dim; j++) x[i * dim + j] = centres[c * dim + j]! + 0.3 * rand();
  }
  return normalizeRows(x, rows, dim);
}

describe("LanceStore (SciFact-sized)", () => {
  let dir: string;
  let ids: string[];
  let docs: Map<string, CorpusText>;
  let exact: DenseIndex;
  let store: LanceStore;
  const numQueries = 300;
  const k = 100;
  const partitions = 32;
  const queries = clustered(numQueries, 99);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "md2pr-lance-"));
    const corpus = await collect(readBeirCorpus(corpusFile));
    ids = corpus.map((d) => d.id);
    docs = new Map(corpus.map((d) => [d.id, { title: d.title, text: d.text }]));
    const vectors = clustered(ids.length, 1);
    exact = new DenseIndex(ids, vectors, dim, info);
    // Two batches, to exercise the append path.
    const half = 2500;
    const batch = (from: number, to: number) => ({ ids: ids.slice(from, to), vectors: vectors.subarray(from * dim, to * dim), passages: ids.slice(from, to).map((id) => docs.get(id)!) });
    store = await LanceStore.write(dir, dim, info, [batch(0, half), batch(half, ids.length)]);
    await store.createIndex({ type: "ivf-pq", numPartitions: partitions, numSubVectors: dim / 8 });
  });
  after(() => {
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("holds every passage with its text, and an IVF-PQ index over all rows", async () => {
    assert.equal(store.count, 5183);
    assert.equal(store.dim, dim);
    assert.deepEqual(store.info, info);
    const some = [ids[0]!, ids[2600]!, ids[5182]!, "no-such-id", "it's"];
    const got = await store.passages(some);
    assert.equal(got.size, 3);
    for (const id of some.slice(0, 3)) assert.deepEqual(got.get(id), docs.get(id));
    const idx = await store.indexInfo();
    assert.equal(idx?.type, "IvfPq");
    assert.equal(idx?.indexedRows, 5183);
  });

  it("returns exact search's top-100 at full recall settings and by exhaustive scan: same ids, order and scores", async () => {
    // md2pr's exact search of one query at a time (as a server runs it); LanceDB's candidates are re-scored with the
    // same kernel, so even float32 near-ties come out in the same order.
    const truth = Array.from({ length: numQueries }, (_, q) => exact.search(queries.subarray(q * dim, (q + 1) * dim), 1, k)[0]!);
    const full = await store.search(queries, numQueries, k, { nprobes: partitions, refineFactor: Math.ceil(5183 / k) });
    const flat = await store.searchIds(queries, numQueries, k, { exact: true });
    for (let q = 0; q < numQueries; q++) {
      assert.deepEqual(full[q]!.map((h) => [h.id, h.score]), truth[q]!.map((h) => [h.id, h.score]), `query ${q} (IVF-PQ, full recall)`);
      assert.deepEqual(flat[q]!.map((h) => [h.id, h.score]), truth[q]!.map((h) => [h.id, h.score]), `query ${q} (scan)`);
    }
    assert.equal(full[0]![0]!.text, docs.get(full[0]![0]!.id)!.text);
    assert.equal(full[0]![0]!.title, docs.get(full[0]![0]!.id)!.title);
  });

  it("without re-scoring, returns LanceDB's own sums: the same top-100 up to float32 near-ties", async () => {
    const truth = exact.search(queries, numQueries, k + 10);
    const raw = await store.searchIds(queries, numQueries, k, { exact: true, rescore: false });
    let identical = 0;
    for (let q = 0; q < numQueries; q++) {
      const want = truth[q]!.slice(0, k);
      const exactScore = new Map(truth[q]!.map((h) => [h.id, h.score]));
      if (raw[q]!.map((h) => h.id).join(" ") === want.map((h) => h.id).join(" ")) identical++;
      raw[q]!.forEach((h, i) => {
        assert.ok(Math.abs(h.score - want[i]!.score) <= 1e-6, `query ${q} rank ${i + 1}: ${h.score} vs ${want[i]!.score}`);
        assert.ok(Math.abs(h.score - (exactScore.get(h.id) ?? -Infinity)) <= 1e-6, `query ${q}: ${h.id} is not in the exact top ${k}`);
      });
    }
    assert.ok(identical >= 0.95 * numQueries, `identical top-${k}: ${identical} of ${numQueries}`);
  });

  it("trades recall for speed below full settings: recall@10 grows with the partitions probed", async () => {
    const truth = exact.search(queries, numQueries, 10);
    const recallAt = async (nprobes: number): Promise<number> => {
      const approx = await store.searchIds(queries, numQueries, 10, { nprobes, refineFactor: 10 });
      let hit = 0;
      approx.forEach((hits, q) => {
        const t = new Set(truth[q]!.map((h) => h.id));
        hit += hits.filter((h) => t.has(h.id)).length;
      });
      return hit / (10 * numQueries);
    };
    const [r1, r4, r16] = [await recallAt(1), await recallAt(4), await recallAt(16)];
    assert.ok(r1 < r4 && r4 < r16, `recall@10 at 1, 4, 16 probes: ${r1}, ${r4}, ${r16}`);
    assert.ok(r16 >= 0.9, `recall@10 at 16 of 32 partitions: ${r16}`);
  });

  it("refuses another model's vectors, a missing table, and bad queries", async () => {
    await assert.rejects(LanceStore.open(dir, { expectedFingerprint: "md2pr-other" }), /written with model fingerprint "md2pr-test".*"md2pr-other"/);
    await assert.rejects(LanceStore.open(dir, { table: "nope" }), /no LanceDB table "nope" \(tables: passages\)/);
    await assert.rejects(store.search(new Float32Array(dim + 1), 1, 10), /expected 1 x 64/);
    await assert.rejects(store.search(new Float32Array(dim), 1, 0), /k must be a positive integer/);
    await assert.rejects(
      LanceStore.write(join(dir, "bad"), dim, info, [{ ids: ["a"], vectors: new Float32Array(dim - 1), passages: [{ title: "", text: "" }] }]),
      /63 vector values for 1 ids x dim 64/,
    );
  });
});
