/** A toy retrieval set and tiny random models for training tests (fast, deterministic). */
import { CrossEncoder } from "../../src/models/cross-encoder.ts";
import { makeBertConfig, type BertConfig } from "../../src/models/config.ts";
import { DualEncoder } from "../../src/models/dual-encoder.ts";
import { WordPieceTokenizer, restrictVocabulary } from "../../src/models/tokenizer.ts";
import { TokenizedCorpus, type CorpusText } from "../../src/retrieval/tokenized-corpus.ts";
import type { TrainingExample } from "../../src/training/data.ts";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const vocabFile = new URL("../../data/vocab/bert-base-uncased-vocab.txt", import.meta.url).pathname;
const fallbackVocab = new URL("../../../shared/data/vocab/bert-base-uncased-vocab.txt", import.meta.url).pathname;

/** Eight (title, text) topics: the toy corpus of the training and CLI tests. */
export const TOY_TOPICS = [
  ["protein folding", "amino acid chains fold into three dimensional structures"],
  ["vitamin d", "sunlight exposure raises vitamin levels in the blood"],
  ["insulin resistance", "cells respond poorly to insulin in type two diabetes"],
  ["gut bacteria", "the microbiome of the intestine affects immunity"],
  ["sleep deprivation", "lack of sleep impairs memory and attention"],
  ["antibiotic resistance", "bacteria evolve to survive common antibiotics"],
  ["blood pressure", "salt intake is linked to hypertension in adults"],
  ["stem cells", "pluripotent cells can become many tissue types"],
] as const;

export interface Toy {
  tokenizer: WordPieceTokenizer;
  corpus: TokenizedCorpus;
  examples: TrainingExample[];
  config: BertConfig;
}

export async function toySet(): Promise<Toy> {
  const { existsSync } = await import("node:fs");
  const base = WordPieceTokenizer.fromVocabFile(existsSync(vocabFile) ? vocabFile : fallbackVocab);
  const docs = new Map<string, CorpusText>();
  TOY_TOPICS.forEach(([title, text], i) => {
    docs.set(`d${i}`, { title, text });
    docs.set(`x${i}`, { title: `${title} review`, text: `a review of ${text.split(" ").slice(0, 4).join(" ")} findings` });
  });
  const queries = TOY_TOPICS.map(([title], i) => ({ id: `q${i}`, text: `what is known about ${title}` }));
  const texts = [...[...docs.values()].map((d) => `${d.title} ${d.text}`), ...queries.map((q) => q.text)];
  const { tokenizer } = restrictVocabulary(base, texts);
  const corpus = new TokenizedCorpus(docs, tokenizer);
  const examples: TrainingExample[] = queries.map((q, i) => ({
    queryId: q.id,
    query: q.text,
    positiveIds: [`d${i}`],
    negativeIds: [`x${i}`, `d${(i + 1) % TOY_TOPICS.length}`, `x${(i + 2) % TOY_TOPICS.length}`],
  }));
  const config = makeBertConfig({
    vocabSize: tokenizer.vocabSize, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32,
    maxPositionEmbeddings: 64,
  });
  return { tokenizer, corpus, examples, config };
}

export function toyModels(toy: Toy, seed: number, rankerHidden = 16, dropout = 0.1): { ranker: CrossEncoder; retriever: DualEncoder } {
  const rankerConfig = makeBertConfig({
    ...toy.config, hiddenSize: rankerHidden, intermediateSize: rankerHidden * 2, hiddenDropoutProb: dropout, attentionProbsDropoutProb: dropout,
  });
  return {
    ranker: CrossEncoder.random(rankerConfig, seed + 1),
    retriever: DualEncoder.random(toy.config, { maxQueryLength: 12, maxPassageLength: 24 }, seed),
  };
}

/** Writes a toy BEIR directory (16 passages, 8 queries; train q0-q5, test q6-q7) and returns its path. */
export function toyBeir(dir: string, transform: (id: string, title: string, text: string) => [string, string] = (_i, t, x) => [t, x]): string {
  mkdirSync(join(dir, "qrels"), { recursive: true });
  const lines = TOY_TOPICS.flatMap(([t, x], i) => [
    [`d${i}`, t, x],
    [`x${i}`, `${t} review`, `a review of ${x.split(" ").slice(0, 4).join(" ")} findings`],
  ]).map(([id, t, x]) => {
    const [title, text] = transform(id!, t!, x!);
    return JSON.stringify({ _id: id, title, text });
  });
  writeFileSync(join(dir, "corpus.jsonl"), `${lines.join("\n")}\n`);
  writeFileSync(join(dir, "queries.jsonl"), TOY_TOPICS.map(([t], i) => JSON.stringify({ _id: `q${i}`, text: `what is known about ${t}` })).join("\n") + "\n");
  const qrels = (ids: number[]): string => `query-id\tcorpus-id\tscore\n${ids.map((i) => `q${i}\td${i}\t1\n`).join("")}`;
  writeFileSync(join(dir, "qrels", "train.tsv"), qrels([0, 1, 2, 3, 4, 5]));
  writeFileSync(join(dir, "qrels", "test.tsv"), qrels([6, 7]));
  return dir;
}
