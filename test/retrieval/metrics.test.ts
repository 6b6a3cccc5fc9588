import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  averagePrecision, evaluate, evaluateRun, formatTrecRun, msMarcoReciprocalRank, ndcgAtK, readTrecRun, recallAtK,
  readMsMarcoRun, reciprocalRankAtK, sortHits, sortHitsForEval, writeTrecRun, type Run,
} from "../../src/retrieval/metrics.ts";
import { loadQrels, type Qrels } from "../../src/retrieval/readers.ts";

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

test("averaging as trec_eval: queries in both by default, every qrels query with complete; all-0 queries count 0", () => {
  const qrels: Qrels = new Map([
    ["q1", rels],
    ["q2", new Map([["x", 0]])], // judged, but nothing relevant: evaluated, scores 0 (trec_eval counts it)
    ["q3", new Map([["y", 1]])], // absent from the run: skipped by default, 0 with complete
  ]);
  const run: Run = new Map([
    ["q1", ranked.map((id, i) => ({ id, score: 10 - i }))],
    ["q2", [{ id: "x", score: 1 }]],
    ["q9", [{ id: "z", score: 1 }]], // not in qrels: ignored
  ]);
  const metrics = ["mrr@10", "recall@4", "ndcg@3", "map"];
  const ev = evaluateRun(run, qrels, metrics);
  assert.equal(ev.numQueries, 2);
  assert.equal(ev.missingQueries, 1);
  assert.equal(ev.queriesWithoutRelevant, 1);
  assert.deepEqual([...ev.perQuery.keys()], ["q1", "q2"]);
  assert.deepEqual(ev.perQuery.get("q2"), { "mrr@10": 0, "recall@4": 0, "ndcg@3": 0, map: 0 });
  close(ev.mean["mrr@10"]!, (1 / 2 + 0) / 2);
  close(ev.mean["recall@4"]!, (2 / 3 + 0) / 2);
  close(ev.mean["ndcg@3"]!, 0.403030 / 2, 1e-6);
  close(ev.mean["map"]!, (1 / 3) / 2);
  const c = evaluate(run, qrels, { metrics, complete: true });
  assert.equal(c.numQueries, 3);
  assert.deepEqual(c.perQuery.get("q3"), { "mrr@10": 0, "recall@4": 0, "ndcg@3": 0, map: 0 });
  for (const m of metrics) close(c.mean[m]!, (ev.mean[m]! * 2) / 3);
  assert.throws(() => evaluateRun(run, qrels, ["ndcg@0"]), /unknown metric/);
  assert.throws(() => evaluateRun(run, qrels, ["P@5"]), /unknown metric/);
  assert.throws(() => evaluateRun(new Map([["q1", [{ id: "d1", score: 1 }, { id: "d1", score: 0 }]]]), qrels, ["map"]), /twice/);
  assert.throws(() => evaluate(run, qrels, { relevanceLevel: 1.5 }), /relevance level/);
});

test("relevance level (trec_eval -l): P, recall, MAP, MRR, Rprec, success move; nDCG keeps graded gains", () => {
  // rels: d1 = 2, d2 = 1, d3 = 0, d4 = 1 (not retrieved); ranked d3, d1, d5 (unjudged), d2
  const at = (level: number) => evaluate(new Map([["q", ranked.map((id, i) => ({ id, score: 10 - i }))]]), new Map([["q", rels]]), {
    metrics: ["ndcg@3", "mrr", "recall@3", "p@4", "map", "rprec", "success@1", "map@2"], relevanceLevel: level,
  }).mean;
  const l1 = at(1);
  close(l1["mrr"]!, 1 / 2);
  close(l1["recall@3"]!, 1 / 3);
  close(l1["p@4"]!, 2 / 4);
  close(l1["map"]!, 1 / 3);
  close(l1["rprec"]!, 1 / 3); // R = 3: the top 3 hold d1
  close(l1["success@1"]!, 0);
  close(l1["map@2"]!, (1 / 2) / 3); // only d1 (rank 2) within the top 2, divided by R = 3
  const l2 = at(2); // relevant: d1 only
  close(l2["mrr"]!, 1 / 2);
  close(l2["recall@3"]!, 1);
  close(l2["p@4"]!, 1 / 4);
  close(l2["map"]!, 1 / 2);
  close(l2["rprec"]!, 0); // R = 1: the top 1 is d3
  close(l2["ndcg@3"]!, l1["ndcg@3"]!);
  close(l2["ndcg@3"]!, 0.403030, 1e-6);
  const l0 = at(0); // every judged doc is relevant (d3 too), the unjudged d5 is not
  close(l0["mrr"]!, 1);
  close(l0["map"]!, (1 / 1 + 2 / 2 + 3 / 4) / 4);
  close(l0["success@1"]!, 1);
  const l3 = at(3); // nothing relevant: 0 everywhere except nDCG
  close(l3["map"]!, 0);
  close(l3["recall@3"]!, 0);
  close(l3["ndcg@3"]!, 0.403030, 1e-6);
});

test("trec_eval's measure names are accepted and equal md2pr's", () => {
  const run: Run = new Map([["q", ranked.map((id, i) => ({ id, score: 10 - i }))]]);
  const qrels: Qrels = new Map([["q", rels]]);
  const pairs = [["ndcg@3", "ndcg_cut.3"], ["ndcg@3", "ndcg_cut_3"], ["p@4", "P.4"], ["p@4", "P_4"], ["recall@3", "recall.3"],
    ["mrr", "recip_rank"], ["rprec", "Rprec"], ["map@2", "map_cut.2"], ["success@2", "success.2"], ["ndcg", "ndcg@1000"]];
  for (const level of [1, 2]) {
    const ev = evaluate(run, qrels, { metrics: pairs.flat(), relevanceLevel: level });
    for (const [ours, theirs] of pairs) close(ev.mean[ours!]!, ev.mean[theirs!]!);
  }
});

test("ordering: scores compared as float32, as trec_eval stores them", () => {
  // 0.3000000001 and 0.3 are one float32: a tie, broken by docid descending ("b" first) as in trec_eval
  const hits = [{ id: "a", score: 0.3000000001 }, { id: "b", score: 0.3 }];
  assert.deepEqual(sortHits(hits).map((h) => h.id), ["a", "b"]);
  assert.deepEqual(sortHitsForEval(hits).map((h) => h.id), ["b", "a"]);
  const ev = evaluate(new Map([["q", hits]]), new Map([["q", new Map([["a", 1]])]]), { metrics: ["mrr"] });
  close(ev.mean["mrr"]!, 1 / 2);
  // -M 1: only the first result counts
  close(evaluate(new Map([["q", hits]]), new Map([["q", new Map([["a", 1]])]]), { metrics: ["recall@10"], maxDocsPerQuery: 1 }).mean["recall@10"]!, 0);
});

test("mrr10_msmarco: by the rank column, ranks 1..10, divided by every qrels query", () => {
  const qrels: Qrels = new Map([
    ["q1", new Map([["d1", 1]])],
    ["q2", new Map([["e1", 1]])],
    ["q3", new Map([["f1", 1]])], // absent from the run
  ]);
  const run: Run = new Map([
    // scores put d1 last, the rank column puts it first
    ["q1", [{ id: "d3", score: 9, rank: 3 }, { id: "d1", score: 1, rank: 1 }, { id: "d2", score: 5, rank: 2 }]],
    // e1 at rank 11: outside the cutoff; rank 2 given twice, the later line (e2) wins
    ["q2", [{ id: "e1", score: 9, rank: 11 }, { id: "e1b", score: 8, rank: 2 }, { id: "e2", score: 7, rank: 2 }]],
  ]);
  for (const complete of [false, true]) {
    const ev = evaluate(run, qrels, { metrics: ["mrr10_msmarco", "mrr@10"], complete });
    assert.equal(ev.perQuery.get("q1")!["mrr10_msmarco"], 1);
    assert.equal(ev.perQuery.get("q1")!["mrr@10"], 1 / 3); // trec_eval order: d3, d2, d1
    assert.equal(ev.perQuery.get("q2")!["mrr10_msmarco"], 0);
    close(ev.mean["mrr10_msmarco"]!, 1 / 3); // (1 + 0 + 0) / 3 qrels queries, whatever the averaging
  }
  close(evaluate(run, qrels, { metrics: ["mrr@10"] }).mean["mrr@10"]!, (1 / 3 + 1) / 2); // q2: e1 first by score
  // hits without a rank column: their position is the rank
  assert.equal(msMarcoReciprocalRank([{ id: "x", score: 0 }, { id: "d1", score: 5 }], new Map([["d1", 1]])), 1 / 2);
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
  assert.deepEqual(back.get("q1"), [{ id: "b", score: 1.25, rank: 1 }, { id: "a", score: 0.5, rank: 2 }]);
  assert.throws(() => formatTrecRun(run, "two words"), /tag/);
  const bad = path.join(dir, "bad.trec");
  writeFileSync(bad, "q1 Q0 a 1 0.5 t\nq1 Q0 b 2 nope t\n");
  await assert.rejects(readTrecRun(bad), (e: Error) => e.message.startsWith(`${bad}:2: score "nope"`));
  writeFileSync(bad, "q1 Q0 a 1 0.5 t\nq1 Q0 a 2 0.4 t\n");
  await assert.rejects(readTrecRun(bad), /:2: document "a" appears twice/);
  writeFileSync(bad, "q1 Q0 a 1 0.5\n");
  await assert.rejects(readTrecRun(bad), /:1: TREC run: expected 6 fields/);
  writeFileSync(bad, "q1 Q0 a first 0.5 t\n");
  await assert.rejects(readTrecRun(bad), /:1: rank "first" is not an integer/);
});

test("TREC run files: trec_eval's leniency (# comment lines, blank lines, fields after the sixth)", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "md2pr-trec-"));
  const f = path.join(dir, "run.trec");
  writeFileSync(f, "# my run\n\nq1 Q0 a 1 0.5 tag extra fields here\n   # indented comment\nq1\tQ0\tb\t2\t0.25\ttag\n");
  const run = await readTrecRun(f);
  assert.deepEqual(run.get("q1"), [{ id: "a", score: 0.5, rank: 1 }, { id: "b", score: 0.25, rank: 2 }]);
  assert.equal(run.size, 1);
});

test("MS MARCO run files (qid TAB pid TAB rank): rank order, mrr10_msmarco as the official script", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "md2pr-msmarco-"));
  const f = path.join(dir, "run.tsv");
  writeFileSync(f, "1\t30\t2\n1\t10\t1\n1\t20\t3\n2\t40\t1\n");
  const run = await readMsMarcoRun(f);
  assert.deepEqual(sortHitsForEval(run.get("1")!).map((h) => h.id), ["10", "30", "20"]);
  const qrels: Qrels = new Map([["1", new Map([["30", 1]])], ["2", new Map([["41", 1]])], ["3", new Map([["50", 1]])]]);
  const ev = evaluate(run, qrels, { metrics: ["mrr10_msmarco", "mrr@10"] });
  close(ev.mean["mrr10_msmarco"]!, (1 / 2) / 3);
  close(ev.mean["mrr@10"]!, (1 / 2) / 2);
  writeFileSync(f, "1\t30\t0\n");
  await assert.rejects(readMsMarcoRun(f), /:1: rank "0" is not a positive integer/);
  writeFileSync(f, "1\t30\t1\n1\t30\t2\n");
  await assert.rejects(readMsMarcoRun(f), /:2: passage "30" appears twice/);
});

test("TREC qrels: # comment lines skipped", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "md2pr-qrels-"));
  const f = path.join(dir, "qrels.txt");
  writeFileSync(f, "# judged by hand\nq1 0 a 2\n  # another\nq1 0 b 0\n");
  const q = await loadQrels(f, "trec");
  assert.deepEqual([...q.get("q1")!], [["a", 2], ["b", 0]]);
});
