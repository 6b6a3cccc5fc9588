/** MLM pretraining on the toy corpus: the loss falls, and the checkpoint starts both a ranker and a retriever. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { noGrad } from "../../src/engine/index.ts";
import { BertForMaskedLM } from "../../src/models/bert-mlm.ts";
import { singleBatch } from "../../src/models/batching.ts";
import { CrossEncoder } from "../../src/models/cross-encoder.ts";
import { DualEncoder } from "../../src/models/dual-encoder.ts";
import { passageText } from "../../src/retrieval/tokenized-corpus.ts";
import { runTrainingLoop } from "../../src/training/loop.ts";
import { MlmStage } from "../../src/training/pretrain.ts";
import { rankerPretrainSet, sourceDocId } from "../../src/training/ranker-pretrain.ts";
import { selfSupervisedPairs, splitSentences } from "../../src/training/self-supervised.ts";
import { toySet } from "../helpers/toy.ts";

describe("MLM pretraining", () => {
  it("lowers the MLM loss and writes a base that the ranker and the retriever load", async () => {
    const toy = await toySet();
    const dir = mkdtempSync(join(tmpdir(), "md2pr-mlm-"));
    try {
      const model = BertForMaskedLM.random(toy.config, 1);
      const sequences = toy.corpus.ids.map((id) => toy.tokenizer.tokenizeToIds(passageText(toy.corpus.docs.get(id)!)));
      const stage = new MlmStage(model, sequences, {
        batchSize: 8, maxLength: 32, maskProbability: 0.15, seed: 1, maskId: toy.tokenizer.maskId,
        specials: toy.corpus.specials, firstRegularId: 5, vocabSize: toy.config.vocabSize,
      });
      const result = await runTrainingLoop(stage, {
        outputDir: dir, steps: 80, gradientAccumulation: 1, learningRate: 5e-3, warmupSteps: 5, weightDecay: 0.01,
        maxGradNorm: 1, seed: 1, checkpointEvery: 0, evalEvery: 0, resume: false, label: "mlm",
      });
      const l = readFileSync(result.logFile, "utf8").trim().split("\n").map((x) => (JSON.parse(x) as { loss: number }).loss);
      const first = l.slice(0, 5).reduce((a, b) => a + b) / 5;
      const last = l.slice(-5).reduce((a, b) => a + b) / 5;
      assert.ok(last < first - 0.5, `MLM loss fell from ${first.toFixed(3)} to ${last.toFixed(3)}`);
      const base = join(dir, "base");
      model.save(base);
      toy.tokenizer.save(base);
      const retriever = DualEncoder.fromBert(base);
      const ranker = CrossEncoder.load(base, { seed: 2 });
      assert.deepEqual(retriever.queryEncoder.embeddings.wordEmbeddings.weight.data, model.bert.embeddings.wordEmbeddings.weight.data);
      assert.deepEqual(ranker.bert.embeddings.wordEmbeddings.weight.data, model.bert.embeddings.wordEmbeddings.weight.data);
      assert.ok(ranker.bert.pooler, "the ranker got a (new) pooler");
      const input = singleBatch([sequences[0]!], 16, toy.corpus.specials);
      const a = noGrad(() => retriever.encode(input, "query").embeddings.data);
      const b = noGrad(() => model.bert.forward(input).lastHidden.data.slice(0, toy.config.hiddenSize));
      assert.deepEqual(Array.from(a), Array.from(b), "CLS pooling of the loaded retriever equals the MLM encoder's CLS state");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("self-supervised pairs", () => {
  it("splits sentences and builds title and ICT pairs whose positives are new pseudo-passages", async () => {
    assert.deepEqual(splitSentences("One two. Three four! 5 six? seven"), ["One two.", "Three four!", "5 six? seven"]);
    const docs = new Map([["a", { title: "T", text: "First sentence. Second one. Third one." }]]);
    const set = selfSupervisedPairs(docs, ["title", "ict"], 0);
    assert.equal(set.examples.length, 2);
    const title = set.examples[0]!;
    assert.equal(title.query, "T");
    assert.equal(set.docs.get(title.positiveIds[0]!)!.text, "First sentence. Second one. Third one.");
    const ict = set.examples[1]!;
    const rest = set.docs.get(ict.positiveIds[0]!)!.text;
    assert.ok(!rest.includes(ict.query), "the ICT query sentence is removed from its positive");
  });
});

describe("ranker pretraining set", () => {
  it("mines BM25 negatives within each kind's pseudo-corpus, never from the query's own source document", async () => {
    const docs = new Map<string, { title: string; text: string }>();
    const topics = ["kinase signalling in tumour cells", "vaccine antibody response", "gut microbiome diet", "sleep memory consolidation"];
    for (let i = 0; i < 12; i++) {
      const t = topics[i % topics.length]!;
      docs.set(`d${i}`, { title: `${t} study ${i}`, text: `We studied ${t}. The ${t} result ${i} was clear. Methods for ${t} are given. Numbers ${i} follow.` });
    }
    const set = await rankerPretrainSet(docs, ["title", "ict"], 5, 0);
    assert.equal(set.examples.length, 24);
    assert.deepEqual([...set.indexes.keys()], ["title", "ict"]);
    assert.equal(sourceDocId("ss-ict:d10:2"), "d10");
    assert.equal(sourceDocId("ss-abs:d7"), "d7");
    assert.equal(sourceDocId("ss-title:d7"), "d7");
    for (const e of set.examples) {
      const kind = e.queryId.startsWith("ss-ict") ? "ss-ict:" : "ss-abs:";
      assert.ok(e.negativeIds.length === 5, `${e.queryId}: ${e.negativeIds.length} negatives`);
      for (const n of e.negativeIds) {
        assert.ok(n.startsWith(kind), `${e.queryId}: negative ${n} of another kind`);
        assert.notEqual(sourceDocId(n), sourceDocId(e.queryId), `${e.queryId}: its own source as a negative`);
        assert.ok(set.docs.has(n));
      }
    }
    // same-topic documents rank first for a title query (BM25), so its negatives are hard ones
    const t0 = set.examples.find((e) => e.queryId === "ss-title:d0")!;
    assert.ok(["d4", "d8"].includes(sourceDocId(t0.negativeIds[0]!)), t0.negativeIds.join(","));
  });
});
