import { test } from "node:test";
import assert from "node:assert/strict";
import { hybridFuse, hybridSearch, minMaxNormalize, reciprocalRankFusion, rerank } from "../../src/retrieval/fusion.ts";
import type { SearchHit } from "../../src/retrieval/metrics.ts";

const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);
const hits = (...ids: string[]): SearchHit[] => ids.map((id, i) => ({ id, score: 100 - i }));

test("reciprocal rank fusion, k = 60 (hand computed)", () => {
  // list A: a(1) b(2) c(3); list B: c(1) a(2) d(3)
  // a: 1/61 + 1/62 = 0.0163934 + 0.0161290 = 0.0325225
  // c: 1/63 + 1/61 = 0.0158730 + 0.0163934 = 0.0322664
  // b: 1/62 = 0.0161290;  d: 1/63 = 0.0158730
  const fused = reciprocalRankFusion([hits("a", "b", "c"), hits("c", "a", "d")]);
  assert.deepEqual(fused.map((h) => h.id), ["a", "c", "b", "d"]);
  close(fused[0]!.score, 1 / 61 + 1 / 62);
  close(fused[1]!.score, 1 / 63 + 1 / 61);
  close(fused[3]!.score, 1 / 63);
  // ranks come from the scores, not from the array order
  const shuffled = reciprocalRankFusion([[{ id: "c", score: 1 }, { id: "a", score: 3 }, { id: "b", score: 2 }], hits("c", "a", "d")]);
  assert.deepEqual(shuffled, fused);
  // depth, weights, topK
  // depth 1: a = 1/61 and c = 1/61 tie; ties go by id descending (trec_eval order)
  assert.deepEqual(reciprocalRankFusion([hits("a", "b", "c"), hits("c", "a", "d")], { depth: 1 }).map((h) => h.id), ["c", "a"]);
  const w = reciprocalRankFusion([hits("a"), hits("b")], { weights: [1, 2], k: 0 });
  assert.deepEqual(w, [{ id: "b", score: 2 }, { id: "a", score: 1 }]);
  assert.equal(reciprocalRankFusion([hits("a", "b", "c")], { topK: 2 }).length, 2);
  assert.throws(() => reciprocalRankFusion([[{ id: "a", score: 1 }, { id: "a", score: 0 }]]), /twice/);
});

test("hybrid fusion: RRF default and min-max linear interpolation", async () => {
  const bm25 = [{ id: "a", score: 10 }, { id: "b", score: 5 }, { id: "c", score: 0 }];
  const dense = [{ id: "c", score: 0.9 }, { id: "d", score: 0.5 }];
  assert.deepEqual(minMaxNormalize(bm25).map((h) => h.score), [1, 0.5, 0]);
  // linear alpha 0.5: a = 0.5 * 1 = 0.5, b = 0.25, c = 0.5 * 0 + 0.5 * 1 = 0.5, d = 0.5 * 0 = 0
  const lin = hybridFuse(bm25, dense, { method: "linear", alpha: 0.5 });
  assert.deepEqual(lin.map((h) => [h.id, h.score]), [["c", 0.5], ["a", 0.5], ["b", 0.25], ["d", 0]]);
  assert.deepEqual(hybridFuse(bm25, dense).map((h) => h.id)[0], "c"); // c is in both lists
  const run = await hybridSearch(
    ["q1", "q2"],
    (qid) => (qid === "q1" ? bm25 : []),
    async (qids) => new Map(qids.map((q) => [q, dense] as const)),
  );
  assert.deepEqual(run.get("q2")!.map((h) => h.id), ["c", "d"]);
});

test("rerank: async batch scorer, depth, first-stage ties", async () => {
  const cands = hits("a", "b", "c", "d", "e");
  const calls: number[] = [];
  const newScore: Record<string, number> = { a: 0.1, b: 0.9, c: 0.5, d: 0.5, e: 1 };
  const out = await rerank(cands, async (batch) => {
    calls.push(batch.length);
    return batch.map((c) => newScore[c.id]!);
  }, { batchSize: 2, depth: 4 });
  assert.deepEqual(calls, [2, 2]);
  // b 0.9, c 0.5 and d 0.5 (tie: first-stage order), a 0.1; e beyond depth stays last with its own score
  assert.deepEqual(out.map((h) => h.id), ["b", "c", "d", "a", "e"]);
  assert.equal(out[0]!.score, 0.9);
  assert.equal(out[0]!.firstStageScore, 99);
  assert.equal(out[4]!.score, 96);
  await assert.rejects(rerank(cands, async () => [1]), /returned 1 scores/);
});
