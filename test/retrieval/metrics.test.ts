import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  averagePrecision, evaluateRun, formatTrecRun, ndcgAtK, readTrecRun, recallAtK, reciprocalRankAtK, sortHits,
  writeTrecRun, type Run,
} from "../../src/retrieval/metrics.ts";
import type { Qrels } from "../../src/retrieval/readers.ts";

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

// One query, graded judgements: d1 = 2, d2 = 1, d3 = 0 (judged non-relevant), d4 = 1 (never retrieved).
const rels = new Map([["d1", 2], ["d2", 1], ["d3", 0], ["d4", 1]]);
// Ranked: d3, d1, d5 (unjudged), d2
const ranked = ["d3", "d1", "d5", "d2"];

test("nDCG@k as trec_eval ndcg_cut (hand computed)", () => {
  // DCG@3 = 0/log2(2) + 2/log2(3) + 0/log2(4) = 2/1.5849625 = 1.2618595
  // IDCG@3 from all judged rels sorted [2, 1, 1]: 2/1 + 1/log2(3) + 1/log2(4) = 2 + 0.6309298 + 0.5 = 3.1309298
  close(ndcgAtK(ranked, rels, 3), (2 / Math.log2(3)) / (2 + 1 / Math.log2(3) + 0.5));
  close(ndcgAtK(ranked, rels, 3), 0.403030, 1e-6); // 1.2618595 / 3.1309298
  // @4 adds d2 at rank 4: DCG = 1.2618595 + 1/log2(5) = 1.2618595 + 0.4306766 = 1.6925361
  // IDCG@4 = 3.1309298 (only three relevant docs) -> 0.540585
  close(ndcgAtK(ranked, rels, 4), (2 / Math.log2(3) + 1 / Math.log2(5)) / (2 + 1 / Math.log2(3) + 0.5));
  close(ndcgAtK(ranked, rels, 4), 0.540585, 1e-6);
  // @1: d3 is non-relevant -> 0; a perfect ranking -> 1
  close(ndcgAtK(ranked, rels, 1), 0);
  close(ndcgAtK(["d1", "d2", "d4"], rels, 10), 1);
  // no relevant docs at all -> 0
  close(ndcgAtK(["a"], new Map([["a", 0]]), 10), 0);
});

test("MRR@k, Recall@k, MAP (hand computed)", () => {
  close(reciprocalRankAtK(ranked, rels, 10), 1 / 2); // first relevant (d1) at rank 2
  close(reciprocalRankAtK(ranked, rels, 1), 0); // not within the top 1
  close(recallAtK(ranked, rels, 3), 1 / 3); // relevant: d1, d2, d4; top 3 holds d1
  close(recallAtK(ranked, rels, 4), 2 / 3);
  close(recallAtK(ranked, rels, 100), 2 / 3);
  // AP = (P@2 + P@4) / 3 = (1/2 + 2/4) / 3 = 1/3
  close(averagePrecision(ranked, rels), 1 / 3);
});

test("trec_eval ordering: score desc, then docid desc; given ranks ignored", () => {
  const hits = [
    { id: "doc10", score: 1 },
    { id: "doc9", score: 1 },
    { id: "doc2", score: 3 },
  ];
  // "doc9" > "doc10" in strcmp order, so doc9 comes first among the equal scores
  assert.deepEqual(sortHits(hits).map((h) => h.id), ["doc2", "doc9", "doc10"]);
  const qrels: Qrels = new Map([["q", new Map([["doc10", 1]])]]);
  const ev = evaluateRun(new Map([["q", hits]]), qrels, ["mrr@10"]);
  close(ev.mean["mrr@10"]!, 1 / 3); // doc10 ends at rank 3
  const kept = evaluateRun(new Map([["q", hits]]), qrels, ["mrr@10"], { keepOrder: true });
  close(kept.mean["mrr@10"]!, 1); // given order: doc10 first
});

test("aggregation: queries without relevant docs skipped, judged queries missing from the run count 0", () => {
  const qrels: Qrels = new Map([
    ["q1", rels],
    ["q2", new Map([["x", 0]])], // no relevant doc: skipped
    ["q3", new Map([["y", 1]])], // missing from the run: 0
  ]);
  const run: Run = new Map([
    ["q1", ranked.map((id, i) => ({ id, score: 10 - i }))],
    ["q2", [{ id: "x", score: 1 }]],
    ["q9", [{ id: "z", score: 1 }]], // not in qrels: ignored
  ]);
  const ev = evaluateRun(run, qrels, ["mrr@10", "recall@4", "ndcg@3", "map"]);
  assert.equal(ev.numQueries, 2);
  assert.equal(ev.missingQueries, 1);
  close(ev.mean["mrr@10"]!, (1 / 2 + 0) / 2); // 0.25
  close(ev.mean["recall@4"]!, (2 / 3 + 0) / 2); // 1/3
  close(ev.mean["ndcg@3"]!, 0.403030 / 2, 1e-6);
  close(ev.mean["map"]!, 1 / 6);
  assert.throws(() => evaluateRun(run, qrels, ["ndcg"]), /unknown metric/);
  assert.throws(() => evaluateRun(new Map([["q1", [{ id: "d1", score: 1 }, { id: "d1", score: 0 }]]]), qrels, ["map"]), /twice/);
});

test("TREC run files: write, read back, malformed lines", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "md2pr-trec-"));
  const run: Run = new Map([
    ["q1", [{ id: "a", score: 0.5 }, { id: "b", score: 1.25 }]],
    ["q2", [{ id: "c", score: -1 }]],
  ]);
  assert.equal(formatTrecRun(run, "tag"), "q1 Q0 b 1 1.250000 tag\nq1 Q0 a 2 0.500000 tag\nq2 Q0 c 1 -1.000000 tag\n");
  const f = path.join(dir, "run.trec");
  await writeTrecRun(f, run, "tag");
  const back = await readTrecRun(f);
  assert.deepEqual(back.get("q1"), [{ id: "b", score: 1.25 }, { id: "a", score: 0.5 }]);
  assert.throws(() => formatTrecRun(run, "two words"), /tag/);
  const bad = path.join(dir, "bad.trec");
  writeFileSync(bad, "q1 Q0 a 1 0.5 t\nq1 Q0 b 2 nope t\n");
  await assert.rejects(readTrecRun(bad), (e: Error) => e.message.startsWith(`${bad}:2: score "nope"`));
  writeFileSync(bad, "q1 Q0 a 1 0.5 t\nq1 Q0 a 2 0.4 t\n");
  await assert.rejects(readTrecRun(bad), /:2: document "a" appears twice/);
  writeFileSync(bad, "q1 Q0 a 1 0.5\n");
  await assert.rejects(readTrecRun(bad), /:1: TREC run: expected 6 fields/);
});
