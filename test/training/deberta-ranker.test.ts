/**
 * The DeBERTa-v2/v3 cross-encoder as md2pr's ranker: a toy model on the SentencePiece fixture tokenizer trains
 * with the ranker stage's listwise loss and the BM25-style lexical prior, and saves / loads in HF's layout.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Ranker } from "../../src/api/ranker.ts";
import { noGrad } from "../../src/engine/index.ts";
import { pairBatch } from "../../src/models/batching.ts";
import { LEXICAL_PRIOR } from "../../src/models/cross-encoder.ts";
import { makeDebertaV2Config } from "../../src/models/deberta-config.ts";
import { DebertaCrossEncoder } from "../../src/models/deberta-cross-encoder.ts";
import { readSafetensors } from "../../src/models/safetensors.ts";
import { SentencePieceTokenizer } from "../../src/models/tokenizer/sentencepiece.ts";
import type { CorpusText } from "../../src/retrieval/tokenized-corpus.ts";
import { runTrainingLoop, type LoopConfig } from "../../src/training/loop.ts";
import { RankerCorpus } from "../../src/training/ranker-corpus.ts";
import { RankerStage } from "../../src/training/ranker-stage.ts";
import { TOY_TOPICS } from "../helpers/toy.ts";

const lengths = { maxQueryLength: 16, maxPassageLength: 32, maxPairLength: 48 };

function toy(): { corpus: RankerCorpus; examples: { queryId: string; query: string; positiveIds: string[]; negativeIds: string[] }[]; tokenizer: SentencePieceTokenizer } {
  const tokenizer = SentencePieceTokenizer.fromDirectory(new URL("../fixtures/spm-scifact/", import.meta.url).pathname);
  const docs = new Map<string, CorpusText>();
  TOY_TOPICS.forEach(([title, text], i) => {
    docs.set(`d${i}`, { title, text });
    docs.set(`x${i}`, { title: `${title} review`, text: `a review of ${text.split(" ").slice(0, 4).join(" ")} findings` });
  });
  const examples = TOY_TOPICS.map(([title], i) => ({
    queryId: `q${i}`, query: `what is known about ${title}`, positiveIds: [`d${i}`],
    negativeIds: [`x${i}`, `d${(i + 1) % TOY_TOPICS.length}`, `x${(i + 2) % TOY_TOPICS.length}`],
  }));
  return { corpus: new RankerCorpus(docs, tokenizer), examples, tokenizer };
}

function toyRanker(vocab: number, lexicalPrior: boolean | number): DebertaCrossEncoder {
  const config = makeDebertaV2Config({
    vocabSize: vocab, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32, maxPositionEmbeddings: 64,
    relativeAttention: true, positionBuckets: 8, maxRelativePositions: 32, posAttType: ["p2c", "c2p"], shareAttKey: true,
    normRelEbd: ["layer_norm"], positionBiasedInput: false, typeVocabSize: 0, hiddenDropoutProb: 0, attentionProbsDropoutProb: 0,
  });
  return DebertaCrossEncoder.random(config, 4, lexicalPrior);
}

describe("DeBERTa-v2 ranker", () => {
  it("trains with the listwise loss on a toy set (loss goes down) and the lexical prior gets a gradient", async () => {
    const { corpus, examples, tokenizer } = toy();
    const ranker = toyRanker(tokenizer.vocabSize, 0.5);
    // a lexical score that prefers the positive: lambda should grow
    const lexical = (query: string, ids: readonly string[]): Float32Array => {
      const i = examples.find((e) => e.query === query)!.positiveIds[0];
      return Float32Array.from(ids, (id) => (id === i ? 1 : 0));
    };
    const dir = mkdtempSync(join(tmpdir(), "md2pr-deberta-ranker-"));
    try {
      const stage = new RankerStage(ranker, examples, corpus, { batchSize: 4, negatives: 3, lengths, seed: 2, lexical });
      const config: LoopConfig = {
        outputDir: dir, steps: 60, gradientAccumulation: 1, learningRate: 1e-2, warmupSteps: 5, weightDecay: 0.01, maxGradNorm: 1,
        seed: 3, checkpointEvery: 0, evalEvery: 0, resume: false, label: "deberta-ranker",
      };
      const lambda0 = ranker.lexicalWeight!.data[0]!;
      const result = await runTrainingLoop(stage, config);
      const l = readFileSync(result.logFile, "utf8").trim().split("\n").map((x) => JSON.parse(x) as { loss?: number }).filter((r) => r.loss !== undefined).map((r) => r.loss!);
      const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
      assert.ok(avg(l.slice(-10)) < avg(l.slice(0, 10)) * 0.8, `listwise loss fell from ${avg(l.slice(0, 10))} to ${avg(l.slice(-10))}`);
      assert.ok(ranker.lexicalWeight!.data[0]! > lambda0, "lambda grew");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("saves in HF's layout with the prior and loads back to the same scores", () => {
    const { corpus, tokenizer } = toy();
    const ranker = toyRanker(tokenizer.vocabSize, 0.25);
    const dir = mkdtempSync(join(tmpdir(), "md2pr-deberta-ranker-"));
    try {
      ranker.save(dir);
      const names = [...readSafetensors(join(dir, "model.safetensors")).tensors.keys()];
      for (const n of ["deberta.embeddings.word_embeddings.weight", "deberta.encoder.rel_embeddings.weight", "pooler.dense.weight", "classifier.weight", LEXICAL_PRIOR]) {
        assert.ok(names.includes(n), `saved ${n}`);
      }
      const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
      assert.deepEqual(config.architectures, ["DebertaV2ForSequenceClassification"]);
      assert.deepEqual(config.id2label, { 0: "LABEL_0" });
      const back = DebertaCrossEncoder.load(dir);
      const batch = pairBatch([corpus.text("vitamin d"), corpus.text("vitamin d")], [corpus.passage("d1"), corpus.passage("d2")], lengths, corpus.specials);
      const lex = Float32Array.of(2, 0);
      const a = noGrad(() => ranker.forward(batch.input, { lexical: lex }).scores.data);
      const b = noGrad(() => back.forward(batch.input, { lexical: lex }).scores.data);
      assert.deepEqual(Array.from(b), Array.from(a));
      assert.equal(back.lexicalWeight!.data[0], 0.25);
      assert.throws(() => back.forward(batch.input), /lexical prior needs one lexical score per pair/);
      // the library's Ranker loads the folder (weights + SentencePiece tokenizer) and scores text pairs the same way
      tokenizer.save(dir);
      const api = Ranker.load(dir, { lengths });
      assert.ok(api.hasLexicalPrior);
      const viaApi = api.predict([["vitamin d", "vitamin d sunlight exposure raises vitamin levels in the blood"]], { lexical: [2] });
      const direct = noGrad(() => ranker.forward(pairBatch([corpus.text("vitamin d")], [corpus.passage("d1")], lengths, corpus.specials).input, { lexical: Float32Array.of(2) }).scores.data);
      assert.ok(Math.abs(viaApi[0]! - direct[0]!) < 1e-6, `${viaApi[0]} vs ${direct[0]}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
