import { test } from "node:test";
import assert from "node:assert/strict";
import {
  convexFusion, DEFAULT_FUSION, describeFusion, fuseTwo, hybridFuse, hybridSearch, minMaxNormalize, reciprocalRankFusion, rerank,
  validateFusion, zScoreNormalize,
} from "../../src/retrieval/fusion.ts";
import { hybridRun } from "../../src/training/evaluation.ts";
import { chooseFusion, fusionGrid } from "../../src/training/fusion-choice.ts";
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

test("hybrid fusion: RRF default, convex min-max with a missing document at the list's minimum", async () => {
  const bm25 = [{ id: "a", score: 10 }, { id: "b", score: 5 }, { id: "c", score: 0 }];
  const dense = [{ id: "c", score: 0.9 }, { id: "d", score: 0.5 }];
  assert.deepEqual(minMaxNormalize(bm25).map((h) => h.score), [1, 0.5, 0]);
  // min-max: bm25 a 1, b 0.5, c 0 (d missing -> bm25's minimum 0); dense c 1, d 0 (a, b missing -> 0).
  // weight 0.5: a 0.5, b 0.25, c 0.5, d 0 -> a and c tie (ties: id descending)
  const lin = hybridFuse(bm25, dense, { method: "convex", normalization: "minmax", weight: 0.5 });
  assert.deepEqual(lin.map((h) => [h.id, h.score]), [["c", 0.5], ["a", 0.5], ["b", 0.25], ["d", 0]]);
  // weight 0.8 on dense: a 0.2, b 0.1, c 0.8, d 0
  const dense08 = hybridFuse(bm25, dense, { method: "convex", normalization: "minmax", weight: 0.8 }, 2);
  assert.deepEqual(dense08.map((h) => h.id), ["c", "a"]);
  close(dense08[1]!.score, 0.2);
  assert.deepEqual(hybridFuse(bm25, dense).map((h) => h.id)[0], "c"); // RRF: c is in both lists
  const run = await hybridSearch(
    ["q1", "q2"],
    (qid) => (qid === "q1" ? bm25 : []),
    async (qids) => new Map(qids.map((q) => [q, dense] as const)),
  );
  assert.deepEqual(run.get("q2")!.map((h) => h.id), ["c", "d"]);
});

test("convex z-score fusion (hand computed) and a missing document at the list's minimum z", () => {
  // bm25 scores 3, 1 (mean 2, std 1): z a 1, b -1. dense 4, 2, 0 (mean 2, std sqrt(8/3)): z b 1.2247, c 0, d -1.2247
  const bm25 = [{ id: "a", score: 3 }, { id: "b", score: 1 }];
  const dense = [{ id: "b", score: 4 }, { id: "c", score: 2 }, { id: "d", score: 0 }];
  const z = zScoreNormalize(dense);
  close(z[0]!.score, 2 / Math.sqrt(8 / 3), 1e-12);
  const fused = convexFusion(bm25, dense, "zscore", 0.25);
  const by = new Map(fused.map((h) => [h.id, h.score]));
  const zb = 2 / Math.sqrt(8 / 3);
  close(by.get("a")!, 0.75 * 1 + 0.25 * -zb); // a missing from dense: dense's minimum z
  close(by.get("b")!, 0.75 * -1 + 0.25 * zb);
  close(by.get("c")!, 0.75 * -1 + 0.25 * 0); // c missing from bm25: bm25's minimum z (-1)
  close(by.get("d")!, 0.75 * -1 + 0.25 * -zb);
  assert.deepEqual(fused.map((h) => h.id), ["a", "b", "c", "d"]);
  assert.deepEqual(zScoreNormalize([{ id: "x", score: 2 }, { id: "y", score: 2 }]).map((h) => h.score), [0, 0]);
});

test("fusion weight extremes and weighted RRF; validateFusion names the field", () => {
  const bm25 = hits("a", "b", "c");
  const dense = hits("c", "b", "a");
  for (const normalization of ["minmax", "zscore"] as const) {
    assert.deepEqual(fuseTwo(bm25, dense, { method: "convex", normalization, weight: 0 }).map((h) => h.id), ["a", "b", "c"]);
    assert.deepEqual(fuseTwo(bm25, dense, { method: "convex", normalization, weight: 1 }).map((h) => h.id), ["c", "b", "a"]);
  }
  // weighted RRF: w 0.5 ranks as plain RRF; w 0.9 follows the dense list
  const plain = reciprocalRankFusion([bm25, dense]).map((h) => h.id);
  assert.deepEqual(fuseTwo(bm25, dense, DEFAULT_FUSION).map((h) => h.id), plain);
  assert.deepEqual(fuseTwo(bm25, dense, { method: "rrf", k: 60, weight: 0.9 }).map((h) => h.id), ["c", "b", "a"]);
  assert.throws(() => validateFusion({ method: "convex", normalization: "l2", weight: 0.5 }, "f.json"), /f\.json: convex normalization must be one of minmax, zscore/);
  assert.throws(() => validateFusion({ method: "convex", normalization: "minmax", weight: 1.5 }, "f.json"), /weight must be a number in \[0, 1\]/);
  assert.throws(() => validateFusion({ method: "max", weight: 0.5 }, "f.json"), /method must be "rrf" or "convex"/);
  assert.throws(() => fuseTwo(bm25, dense, { method: "rrf", k: 60, weight: -1 }), /weight must be in \[0, 1\]/);
  assert.equal(describeFusion({ method: "convex", normalization: "zscore", weight: 0.3 }), "convex-zscore w=0.30");
});

test("chooseFusion: picks the best dev nDCG@10 of the grid and reports every trial", () => {
  // Two queries; BM25 finds the relevant doc low, the dense list high: a dense-heavy fusion should win.
  const first = new Map([
    ["q1", hits("x1", "x2", "x3", "r1")],
    ["q2", hits("y1", "y2", "r2", "y3")],
  ]);
  const second = new Map([
    ["q1", hits("r1", "x1", "x2", "x3")],
    ["q2", hits("r2", "y1", "y2", "y3")],
  ]);
  const qrels = new Map([["q1", new Map([["r1", 1]])], ["q2", new Map([["r2", 1]])]]);
  const grid = fusionGrid();
  const choice = chooseFusion(first, second, qrels, grid, 10);
  assert.equal(choice.trials.length, grid.length);
  assert.equal(choice.dev["ndcg@10"], 1);
  assert.equal(choice.dev["ndcg@10"], Math.max(...choice.trials.map((t) => t["ndcg@10"])));
  // the first trial reaching the best: no earlier trial is as good
  const firstBest = choice.trials.findIndex((t) => t["ndcg@10"] === 1);
  assert.equal(describeFusion(choice.fusion), choice.trials[firstBest]!.fusion);
  assert.equal(hybridRun(first, second, 10, choice.fusion).get("q1")![0]!.id, "r1");
  // the BM25 side alone (convex weight 0) is worse than the choice
  const bm25Only = choice.trials.find((t) => t.fusion === "convex-minmax w=0.00")!;
  assert.ok(bm25Only["ndcg@10"] < 1);
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

test("rerank with a fusion: the new score is combined with the first stage's", async () => {
  const cands = hits("a", "b", "c", "d"); // first stage 100, 99, 98, 97 -> min-max 1, 2/3, 1/3, 0
  const newScore: Record<string, number> = { a: 0, b: 1, c: 0.5, d: 0.5 }; // min-max 0, 1, 0.5, 0.5
  const scorer = async (batch: readonly SearchHit[]) => batch.map((c) => newScore[c.id]!);
  // weight 0.5: a 0.5, b 5/6, c 5/12, d 0.25
  const out = await rerank(cands, scorer, { fusion: { method: "convex", normalization: "minmax", weight: 0.5 } });
  assert.deepEqual(out.map((h) => h.id), ["b", "a", "c", "d"]);
  close(out[0]!.score, 5 / 6);
  assert.equal(out[0]!.firstStageScore, 99);
  // weight 1: the new score alone (c and d tie: first-stage order)
  const alone = await rerank(cands, scorer, { fusion: { method: "convex", normalization: "minmax", weight: 1 } });
  assert.deepEqual(alone.map((h) => h.id), ["b", "c", "d", "a"]);
  // weight 0: the first stage alone, the same scores as with the scorer, and the scorer is never called
  for (const fusion of [{ method: "convex", normalization: "zscore", weight: 0 }, { method: "rrf", k: 60, weight: 0 }] as const) {
    let calls = 0;
    const skipped = await rerank(cands, async (batch) => (calls++, scorer(batch)), { fusion });
    assert.equal(calls, 0);
    assert.deepEqual(skipped.map((h) => h.id), ["a", "b", "c", "d"]);
    const scored = await rerank(cands, scorer, { fusion: { ...fusion, weight: 1e-300 } });
    assert.deepEqual(skipped.map((h) => h.score), scored.map((h) => h.score));
  }
});
