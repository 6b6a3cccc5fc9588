/** MLM pretraining on the toy corpus: the loss falls, and the checkpoint starts both a ranker and a retriever. */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
import { DEFAULT_CONTRASTIVE_PRETRAIN, runContrastiveRounds } from "../../src/training/contrastive-pretrain.ts";
import { DEFAULT_RANKER_PRETRAIN, rankerPretrainSet, runRankerPretrain } from "../../src/training/ranker-pretrain.ts";
import { selfSupervisedPairs, sourceDocId, splitSentences } from "../../src/training/self-supervised.ts";
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

/** A BEIR folder of the toy topics (three sentences per abstract, so ICT pairs exist) and a tiny MLM base beside it. */
async function toyBeirWithBase(dir: string): Promise<{ data: string; base: string }> {
  const toy = await toySet();
  const data = join(dir, "beir");
  mkdirSync(join(data, "qrels"), { recursive: true });
  const docs = [...toy.corpus.docs].map(([id, d]) => ({ _id: id, title: d.title, text: `${d.text}. It was studied in ${id}. Results ${id} follow.` }));
  writeFileSync(join(data, "corpus.jsonl"), docs.map((d) => JSON.stringify(d)).join("\n") + "\n");
  writeFileSync(join(data, "queries.jsonl"), toy.examples.map((e) => JSON.stringify({ _id: e.queryId, text: e.query })).join("\n") + "\n");
  const qrels = (es: typeof toy.examples): string => "query-id\tcorpus-id\tscore\n" + es.map((e) => `${e.queryId}\t${e.positiveIds[0]}\t1`).join("\n") + "\n";
  writeFileSync(join(data, "qrels", "train.tsv"), qrels(toy.examples.slice(0, 6)));
  writeFileSync(join(data, "qrels", "test.tsv"), qrels(toy.examples.slice(6)));
  const base = join(dir, "base");
  BertForMaskedLM.random(toy.config, 3).save(base);
  toy.tokenizer.save(base);
  return { data, base };
}

describe("pretraining bases on a corpus", () => {
  const lengths = { maxQueryLength: 12, maxPassageLength: 24, maxPairLength: 32 };
  it("contrastive rounds chain from base to base with their own seeds, and a rerun reuses them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "md2pr-cpt-rounds-"));
    try {
      const { data, base } = await toyBeirWithBase(dir);
      const out = join(dir, "cpt");
      const config = { ...DEFAULT_CONTRASTIVE_PRETRAIN, from: base, outputDir: out, dataDir: data, batchSize: 4, lengths };
      const first = await runContrastiveRounds(config, [{ steps: 2, seed: 0 }, { steps: 3, seed: 1 }], "test");
      assert.ok(first.seconds > 0);
      const round1 = JSON.parse(readFileSync(join(`${out}-round1`, "md2pr-pretrain.json"), "utf8")) as { config: { from: string; seed: number; steps: number } };
      const last = JSON.parse(readFileSync(join(out, "md2pr-pretrain.json"), "utf8")) as { config: { from: string; seed: number; steps: number } };
      assert.deepEqual([round1.config.from, round1.config.seed, round1.config.steps], [base, 0, 2]);
      assert.deepEqual([last.config.from, last.config.seed, last.config.steps], [`${out}-round1`, 1, 3]);
      const a = DualEncoder.fromBert(`${out}-round1`).queryEncoder.embeddings.wordEmbeddings.weight.data;
      const b = DualEncoder.fromBert(out).queryEncoder.embeddings.wordEmbeddings.weight.data;
      assert.notDeepEqual(Array.from(a), Array.from(b), "the second round trained on");
      const again = await runContrastiveRounds(config, [{ steps: 2, seed: 0 }, { steps: 3, seed: 1 }], "test");
      assert.equal(again.seconds, 0, "finished rounds are reused");
      await assert.rejects(runContrastiveRounds(config, [], "test"), /no rounds/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("ranker pretraining writes a cross-encoder that the labelled ranker starts from", async () => {
    const dir = mkdtempSync(join(tmpdir(), "md2pr-rk-pre-"));
    try {
      const { data, base } = await toyBeirWithBase(dir);
      const out = join(dir, "ranker-base");
      for (const lexicalPrior of [false, true]) {
        const target = `${out}-${lexicalPrior}`;
        await runRankerPretrain({ ...DEFAULT_RANKER_PRETRAIN, from: base, outputDir: target, dataDir: data, steps: 2, batchSize: 2, negatives: 2, minedNegatives: 3, lexicalPrior, lengths }, "test");
        assert.ok(existsSync(join(target, "md2pr-pretrain.json")));
        const ranker = CrossEncoder.load(target, { lexicalPrior: 1 });
        assert.ok(ranker.lexicalWeight, "the labelled stage gets a prior either way");
        const log = readFileSync(join(`${target}-work`, "work", "ranker-pretrain", "train-log.jsonl"), "utf8").trim().split("\n");
        assert.equal(log.length, 2);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
