import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Analyzer, removePossessive, tokenize } from "../../src/retrieval/analyzer.ts";
import { Bm25Index, luceneByte4ToInt, luceneIntToByte4, mineNegatives, MultiFieldBm25 } from "../../src/retrieval/bm25.ts";
import { evaluateRun } from "../../src/retrieval/metrics.ts";
import { loadBeir } from "../../src/retrieval/readers.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test("tokenizer follows the UAX#29 rules Lucene's StandardTokenizer uses", () => {
  assert.deepEqual(tokenize("The U.S.A. isn't 1,000.5 IL-6 covid19 p<0.05 e.g. foo_bar ___ John’s a:b x.1"), [
    "The", "U.S.A", "isn't", "1,000.5", "IL", "6", "covid19", "p", "0.05", "e.g", "foo_bar", "John’s", "a:b", "x", "1",
  ]);
  assert.deepEqual(tokenize("中文 αβγ-δ naïve"), ["中", "文", "αβγ", "δ", "naïve"]);
  assert.deepEqual(tokenize("TNF\u200E-α"), ["TNF\u200E", "α"]); // format char stays attached
  assert.deepEqual(tokenize("  ...  "), []);
  assert.equal(tokenize("x".repeat(600)).length, 3); // 255 + 255 + 90
});

test("analyzer: possessive, lower case, Lucene stop words, Porter", () => {
  assert.equal(removePossessive("John's"), "John");
  assert.equal(removePossessive("JOHN’S"), "JOHN");
  assert.equal(removePossessive("is"), "is");
  const a = new Analyzer();
  assert.deepEqual(a.analyze("The cat's running quickly into these buildings; Relational databases"), [
    "cat", "run", "quickli", "build", "relat", "databas",
  ]);
  // all 33 stop words vanish; "was"/"will"/"with" included, "from"/"have" are not stop words in Lucene's set
  assert.deepEqual(a.analyze("a an and are as at be but by for if in into is it no not of on or such that the their then there these they this to was will with"), []);
  assert.deepEqual(a.analyze("from have"), ["from", "have"]);
  const raw = new Analyzer({ stemmer: "none", stopwords: "none" });
  assert.deepEqual(raw.analyze("The Cats"), ["the", "cats"]);
});

test("Lucene SmallFloat norm encoding", () => {
  for (let i = 0; i < 24; i++) assert.equal(luceneByte4ToInt(luceneIntToByte4(i)), i); // exact below 24
  // 100 - 24 = 76 = 0b1001100: 7 bits, shift 3, mantissa (76 >>> 3) & 7 = 1, byte = 24 + (1 | 4 << 3) = 57
  assert.equal(luceneIntToByte4(100), 57);
  // decode: 57 - 24 = 33: bits 1, shift 3 -> (1 | 8) << 3 = 72, + 24 = 96
  assert.equal(luceneByte4ToInt(57), 96);
  let prev = -1;
  for (let i = 0; i < 100000; i += 7) {
    const d = luceneByte4ToInt(luceneIntToByte4(i));
    assert.ok(d <= i && d >= prev, `monotone lower bound at ${i}`);
    prev = d;
  }
  assert.ok(luceneIntToByte4(2 ** 31 - 1) <= 255);
});

const tiny = [
  { id: "d1", title: "", text: "cat dog" },
  { id: "d2", title: "cat", text: "cat fish" },
  { id: "d3", title: "", text: "bird" },
];

test("BM25 scores (hand computed, Lucene formula, k1 = 0.9, b = 0.4)", async () => {
  const bm = await Bm25Index.build(tiny);
  assert.equal(bm.numDocs, 3);
  close(bm.avgDocLen, 2); // lengths 2, 3, 1
  // "cat": df = 2, idf = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln(1.6) = 0.4700036
  close(bm.idf(2), Math.log(1.6));
  const hits = bm.search("cats", 10);
  assert.deepEqual(hits.map((h) => h.id), ["d2", "d1"]);
  // d1: tf 1, dl 2: 0.9 * (1 - 0.4 + 0.4 * 2/2) = 0.9; idf * 1 * 1.9 / (1 + 0.9) = 0.4700036
  close(hits[1]!.score, Math.log(1.6));
  // d2 ("cat cat fish"): tf 2, dl 3: 0.9 * (0.6 + 0.4 * 1.5) = 1.08; idf * 2 * 1.9 / 3.08 = 0.5798746
  close(hits[0]!.score, (Math.log(1.6) * 3.8) / 3.08);
  // repeated query terms boost (Anserini bag of words): "cat cat" doubles the score
  close(bm.search("cat cat", 1)[0]!.score, (2 * Math.log(1.6) * 3.8) / 3.08);
  assert.deepEqual(bm.search("the unicorn", 5), []);
  assert.deepEqual(bm.search("cat", 0), []);
  assert.equal(bm.search("cat", 1).length, 1); // scratch state was reset by the k = 0 call
  // ties: equal scores ordered by doc id descending (trec_eval)
  const tie = await Bm25Index.build([{ id: "a", text: "x" }, { id: "c", text: "x" }, { id: "b", text: "x" }]);
  assert.deepEqual(tie.search("x", 3).map((h) => h.id), ["c", "b", "a"]);
  assert.deepEqual(tie.search("x", 2).map((h) => h.id), ["c", "b"]);
  await assert.rejects(Bm25Index.build([{ id: "a", text: "x" }, { id: "a", text: "y" }]), /duplicate/);
});

test("BM25 save/load round trip (atomic directory replace)", async () => {
  const bm = await Bm25Index.build(tiny, { params: { k1: 1.2, b: 0.75 } });
  const dir = path.join(mkdtempSync(path.join(tmpdir(), "md2pr-bm25-")), "idx");
  await bm.save(dir);
  await bm.save(dir); // replacing an existing index works
  assert.deepEqual(readdirSync(path.dirname(dir)), ["idx"]); // no temp leftovers
  const back = await Bm25Index.load(dir);
  assert.deepEqual(back.params, bm.params);
  assert.deepEqual(back.search("cat dog bird", 10), bm.search("cat dog bird", 10));
  assert.equal(back.docIndex("d3"), 2);
});

test("mineNegatives: top-n BM25 docs minus the positives", async () => {
  const docs = [
    { id: "p", text: "heart attack risk factors" },
    { id: "n1", text: "heart attack treatment" },
    { id: "n2", text: "heart rate" },
    { id: "n3", text: "attack on the castle" },
    { id: "z", text: "unrelated gardening" },
  ];
  const bm = await Bm25Index.build(docs);
  const negs = mineNegatives(bm, new Map([["q", "heart attack risk"], ["q2", "gardening"]]), new Map([["q", new Map([["p", 1]])]]), 2);
  assert.equal(negs.get("q")!.length, 2);
  assert.ok(!negs.get("q")!.includes("p"));
  assert.equal(negs.get("q")![0], "n1");
  assert.deepEqual(negs.get("q2"), ["z"]); // only one doc matches
  const withArray = mineNegatives(bm, [["q", "heart attack risk"]], new Map([["q", ["p", "n1"]]]), 3);
  assert.deepEqual(withArray.get("q")!.includes("n1"), false);
});

test("BM25 on SciFact test reproduces Anserini's flat BEIR numbers", { skip: !existsSync(path.join(repo, "data/scifact/corpus.jsonl")) }, async () => {
  const ds = await loadBeir(path.join(repo, "data/scifact"), "test");
  const t0 = performance.now();
  const bm = await Bm25Index.build([...ds.corpus].map(([id, d]) => ({ id, ...d })));
  const buildMs = performance.now() - t0;
  const run = bm.searchAll(ds.queries, 1000);
  const ev = evaluateRun(run, ds.qrels, ["ndcg@10", "recall@100", "recall@1000"]);
  // Anserini regressions-beir-v1.0.0-scifact.flat: nDCG@10 0.6789, R@100 0.9253, R@1000 0.9767
  close(ev.mean["ndcg@10"]!, 0.6789, 0.002);
  close(ev.mean["recall@100"]!, 0.9253, 0.003);
  close(ev.mean["recall@1000"]!, 0.9767, 0.003);
  assert.ok(buildMs < 30000, `build took ${buildMs} ms`);
  // multifield (title and text as separate fields): Anserini beir-v1.0.0-scifact.multifield nDCG@10 0.6647, R@100 0.9076
  const mf = await MultiFieldBm25.build([...ds.corpus].map(([id, d]) => ({ id, ...d })));
  const mfEv = evaluateRun(mf.searchAll(ds.queries, 1000), ds.qrels, ["ndcg@10", "recall@100"]);
  close(mfEv.mean["ndcg@10"]!, 0.6647, 0.002);
  close(mfEv.mean["recall@100"]!, 0.9076, 0.003);
});

test("multifield BM25: per-field statistics, empty fields not counted (Lucene docCount)", async () => {
  const docs = [
    { id: "d1", title: "cat", text: "dog" },
    { id: "d2", title: "", text: "cat cat fish" },
    { id: "d3", title: "bird", text: "bird" },
  ];
  const mf = await MultiFieldBm25.build(docs);
  assert.equal(mf.title.docCount, 2); // d2 has no title
  assert.equal(mf.text.docCount, 3);
  // title field: "cat" df 1 of N = 2: idf = ln(1 + 1.5 / 1.5) = ln 2; d1 title length 1 = avgdl 1 -> norm 0.9
  //   BM25_title(d1) = ln 2 * 1.9 / 1.9 = ln 2
  // text field: "cat" df 1 of N = 3: idf = ln(1 + 2.5 / 1.5) = ln(8/3); d2 length 3, avgdl 5/3:
  //   norm = 0.9 * (0.6 + 0.4 * 3 / (5/3)) = 0.9 * 1.32 = 1.188; BM25_text(d2) = ln(8/3) * 2 * 1.9 / 3.188
  const hits = mf.search("cat", 10);
  const byId = new Map(hits.map((h) => [h.id, h.score]));
  close(byId.get("d1")!, Math.log(2));
  close(byId.get("d2")!, (Math.log(8 / 3) * 3.8) / 3.188);
  // bird: both fields of d3 add up
  const bird = mf.search("bird", 1)[0]!;
  assert.equal(bird.id, "d3");
  close(bird.score, mf.title.search("bird", 1)[0]!.score + mf.text.search("bird", 1)[0]!.score);
});
