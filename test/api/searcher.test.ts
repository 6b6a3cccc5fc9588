/**
 * The library's search path on toy models: Retriever.encode, buildIndex (exact and LanceDB), openIndex, the
 * Searcher's dense / BM25 / hybrid / rerank modes with passage text, Ranker.predict, evaluate.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Bm25Index, buildIndex, evaluate, openIndex, Ranker, Retriever, Searcher } from "../../src/index.ts";
import { hybridFuse } from "../../src/retrieval/fusion.ts";
import { passageText } from "../../src/retrieval/tokenized-corpus.ts";
import { toyModels, toySet, type Toy } from "../helpers/toy.ts";

describe("library search path", () => {
  let dir: string;
  let toy: Toy;
  let retriever: Retriever;
  let ranker: Ranker;
  const queries = new Map([["q1", "what is known about vitamin d"], ["q2", "sleep deprivation and memory"], ["q3", "gut bacteria immunity"]]);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "md2pr-api-"));
    toy = await toySet();
    const models = toyModels(toy, 3);
    retriever = new Retriever(models.retriever, toy.tokenizer);
    ranker = new Ranker(models.ranker, toy.tokenizer);
    retriever.save(join(dir, "retriever"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("encodes texts into one vector per text, each the same as encoded alone", () => {
    const texts = ["vitamin d", "sleep deprivation impairs memory"];
    const both = retriever.encode(texts, { side: "passage", batchSize: 2 });
    assert.equal(both.length, 2);
    assert.equal(both[0]!.length, retriever.dim);
    const alone = retriever.encode([texts[1]!], { side: "passage" })[0]!;
    for (let j = 0; j < retriever.dim; j++) assert.ok(Math.abs(alone[j]! - both[1]![j]!) < 1e-5);
    const loaded = Retriever.load(join(dir, "retriever"));
    assert.equal(loaded.fingerprint(), retriever.fingerprint());
    assert.throws(() => retriever.encode(["x"], { side: "doc" as "query" }), /side must be "query" or "passage"/);
  });

  it("searches exact and LanceDB indexes with the same results; LanceDB hits carry the text", async () => {
    const exact = await buildIndex(retriever, toy.corpus.docs, join(dir, "exact"));
    const lance = await buildIndex(retriever, toy.corpus.docs, join(dir, "lance"), { kind: "lance" });
    assert.equal(exact.kind, "exact");
    assert.equal(lance.kind, "lance");
    assert.equal(lance.count, toy.corpus.ids.length);
    const m = retriever.encodeMatrix([...queries.values()]);
    // A random toy model's vectors are nearly parallel (scores tie to ~1e-5), so the two float paths may order
    // near-ties differently: each LanceDB hit must have its exact score, at the exact ranking's score of that rank.
    // (SciFact-sized tests with separated vectors check identical ids: test/retrieval/lance-store.test.ts.)
    const all = await exact.search(m.data, m.rows, exact.count);
    const b = await lance.search(m.data, m.rows, 5);
    for (let q = 0; q < all.length; q++) {
      const exactScore = new Map(all[q]!.map((h) => [h.id, h.score]));
      assert.equal(b[q]!.length, 5);
      b[q]!.forEach((h, i) => {
        assert.ok(Math.abs(exactScore.get(h.id)! - h.score) < 1e-4, `${h.id}: ${h.score} vs ${exactScore.get(h.id)}`);
        assert.ok(Math.abs(all[q]![i]!.score - h.score) < 1e-4);
      });
    }
    const doc = toy.corpus.docs.get(b[0]![0]!.id)!;
    assert.equal(b[0]![0]!.text, doc.text);
    assert.equal(b[0]![0]!.title, doc.title);
    lance.close();
    const reopened = await openIndex(join(dir, "lance"), { expectedFingerprint: retriever.fingerprint() });
    assert.equal(reopened.kind, "lance");
    reopened.close();
    await assert.rejects(openIndex(join(dir, "lance"), { expectedFingerprint: "md2pr-other" }), /query encoder has "md2pr-other"; re-index/);
    await assert.rejects(openIndex(join(dir, "exact"), { expectedFingerprint: "md2pr-other" }), /re-encode the corpus/);
  });

  it("runs dense, BM25, hybrid and rerank through one Searcher, with text", async () => {
    const bm25 = await Bm25Index.build([...toy.corpus.docs].map(([id, d]) => ({ id, title: d.title, text: d.text })));
    const searcher = await Searcher.open({ retriever: join(dir, "retriever"), index: join(dir, "exact"), bm25, ranker, corpus: toy.corpus.docs });
    assert.deepEqual(searcher.modes, ["dense", "bm25", "hybrid"]);
    const k = 4;
    const dense = await searcher.searchBatch(queries, { k, mode: "dense", rerank: false });
    const lexical = await searcher.searchBatch(queries, { k: 100, mode: "bm25", rerank: false });
    const denseAll = await searcher.searchBatch(queries, { k: 100, mode: "dense", rerank: false });
    const hybrid = await searcher.searchBatch(queries, { k, mode: "hybrid", rerank: false });
    for (const qid of queries.keys()) {
      assert.equal(dense.get(qid)!.length, k);
      assert.deepEqual(dense.get(qid)!.map((h) => h.rank), [1, 2, 3, 4]);
      const expected = hybridFuse(lexical.get(qid)!, denseAll.get(qid)!, searcher.defaultFusion, k);
      assert.deepEqual(hybrid.get(qid)!.map((h) => h.id), expected.map((h) => h.id));
      for (const h of hybrid.get(qid)!) assert.equal(h.text, toy.corpus.docs.get(h.id)!.text);
    }
    // Reranking the dense top 6 orders them by the ranker's scores of (query, "title text").
    const reranked = await searcher.search(queries.get("q1")!, { k: 6, mode: "dense", rerankDepth: 6 });
    const first = await searcher.search(queries.get("q1")!, { k: 6, mode: "dense", rerank: false });
    assert.deepEqual(new Set(reranked.map((h) => h.id)), new Set(first.map((h) => h.id)));
    const scores = ranker.predict(first.map((h) => [queries.get("q1")!, passageText(toy.corpus.docs.get(h.id)!)] as const));
    const byRanker = first.map((h, i) => ({ id: h.id, s: scores[i]! })).sort((x, y) => y.s - x.s).map((x) => x.id);
    assert.deepEqual(reranked.map((h) => h.id), byRanker);
    await assert.rejects(searcher.search("x", { mode: "dense", k: 0 }), /k must be a positive integer/);
    searcher.close();
    const bm25Only = await Searcher.open({ bm25 });
    await assert.rejects(bm25Only.search("x", { mode: "dense" }), /mode "dense" needs a dense index/);
  });

  it("evaluates a Searcher run against qrels", async () => {
    const searcher = await Searcher.open({ retriever, index: join(dir, "lance") });
    const qrels = new Map([["q1", new Map([["d1", 1]])], ["q2", new Map([["d4", 2]])]]);
    const run = await searcher.searchBatch(queries, { k: 10 });
    const e = evaluate(run, qrels, { metrics: ["ndcg@10", "recall@10"] });
    assert.equal(e.numQueries, 2);
    const rankOf = (qid: string, id: string): number => run.get(qid)!.find((h) => h.id === id)?.rank ?? Infinity;
    const rr = (r: number): number => (r <= 10 ? 1 / Math.log2(r + 1) : 0);
    assert.ok(Math.abs(e.mean["ndcg@10"]! - (rr(rankOf("q1", "d1")) + rr(rankOf("q2", "d4"))) / 2) < 1e-9);
    searcher.close();
  });
});
