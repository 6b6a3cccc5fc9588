/**
 * Contrastive pretraining of a base BERT on the corpus alone (the cold start; no labels): the pipeline's
 * self-supervised warm-up (title -> abstract and inverse-cloze pairs, in-batch negatives, mean pooling, dot
 * product; self-supervised.ts) run from an MLM base, longer and with larger batches, then saved as a plain HF BERT
 * directory (config.json, model.safetensors, vocab.txt, md2pr-pretrain.json) that a pipeline's `base` starts the
 * retriever from. On SciFact's dev split it lifts the demo's retriever from 0.552 to 0.606 nDCG@10 (README,
 * "Choices made on the dev split").
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { saveCheckpoint } from "../models/checkpoint.ts";
import { TokenizedCorpus } from "../retrieval/tokenized-corpus.ts";
import { writeDirAtomic, writeJsonAtomic } from "../util/atomic.ts";
import { loadPipelineData, loadTokenizer, readPipelineConfig, warmUpRetriever, type PipelineConfig } from "./pipeline.ts";
import type { PairKind } from "./self-supervised.ts";

export interface ContrastivePretrainConfig {
  /** The MLM base it starts from (an HF BERT directory with vocab.txt). */
  from: string;
  outputDir: string;
  dataDir: string;
  steps: number;
  batchSize: number;
  learningRate: number;
  kinds: PairKind[];
  lengths: PipelineConfig["lengths"];
  seed: number;
}

/** The shipped models/base-scifact-cpt: 500 steps of 64 title and ICT pairs from models/base-scifact. */
export const DEFAULT_CONTRASTIVE_PRETRAIN: Omit<ContrastivePretrainConfig, "from" | "outputDir"> = {
  dataDir: "data/scifact",
  steps: 500,
  batchSize: 64,
  learningRate: 1e-3,
  kinds: ["title", "ict"],
  lengths: { maxQueryLength: 32, maxPassageLength: 96, maxPairLength: 128 },
  seed: 0,
};

/**
 * Runs the contrastive pretraining (checkpoints in `<outputDir>-work`, so an interrupted run resumes) and writes the
 * base to `outputDir` whole (one rename); returns the seconds it took. An existing `outputDir` is left as it is.
 */
export async function runContrastivePretrain(c: ContrastivePretrainConfig, command: string): Promise<{ dir: string; seconds: number }> {
  const t0 = Date.now();
  if (existsSync(join(c.outputDir, "config.json"))) return { dir: c.outputDir, seconds: 0 };
  const cfg = readPipelineConfig(null, {
    // only the corpus is used (no labels): devQueries 1 lets a corpus with few judged queries through
    dataDir: c.dataDir, base: c.from, outputDir: `${c.outputDir}-work`, seed: c.seed, lengths: c.lengths, devQueries: 1,
    warmup: { steps: c.steps, batchSize: c.batchSize, learningRate: c.learningRate, warmupSteps: Math.round(c.steps * 0.1), kinds: c.kinds },
  });
  const data = await loadPipelineData(cfg);
  const corpus = new TokenizedCorpus(data.docs, loadTokenizer(cfg));
  const encoder = await warmUpRetriever(cfg, data, corpus, "contrastive");
  const seconds = (Date.now() - t0) / 1000;
  writeDirAtomic(c.outputDir, (tmp) => {
    saveCheckpoint(tmp, encoder.config, encoder.queryEncoder.params, { md2pr_stage: "pretrain-contrastive" });
    corpus.tokenizer.save(tmp);
    writeJsonAtomic(join(tmp, "md2pr-pretrain.json"), {
      command, objective: "contrastive (in-batch negatives, mean pooling, dot product) on self-supervised pairs of the corpus",
      config: c, seconds, log: `${c.outputDir}-work/work/contrastive/train-log.jsonl (not shipped)`,
    });
  });
  return { dir: c.outputDir, seconds };
}

/** One round of a chained contrastive pretraining: its steps and the seed that draws its ICT sentences and batches. */
export interface ContrastiveRound {
  steps: number;
  seed: number;
}

/**
 * The rounds that made the shipped models/base-scifact-cpt from models/base-scifact (README, "Choices made on the dev
 * split": each later round lifted the demo's retriever on dev).
 */
export const SHIPPED_CONTRASTIVE_ROUNDS: readonly ContrastiveRound[] = [
  { steps: 500, seed: 0 },
  { steps: 600, seed: 1 },
  { steps: 600, seed: 2 },
];

/**
 * Rounds of contrastive pretraining, each starting from the previous round's base with its own seed (so new ICT
 * sentences: self-supervised.ts draws one per passage per seed) and its own warm-up and decay. Intermediate bases go
 * to `<outputDir>-round<i>`; the last round writes `outputDir`. Finished rounds are reused.
 */
export async function runContrastiveRounds(
  c: Omit<ContrastivePretrainConfig, "steps" | "seed">, rounds: readonly ContrastiveRound[], command: string,
): Promise<{ dir: string; seconds: number }> {
  if (rounds.length === 0) throw new Error("runContrastiveRounds: no rounds");
  let from = c.from;
  let seconds = 0;
  for (const [i, round] of rounds.entries()) {
    const outputDir = i === rounds.length - 1 ? c.outputDir : `${c.outputDir}-round${i + 1}`;
    seconds += (await runContrastivePretrain({ ...c, from, outputDir, ...round }, command)).seconds;
    from = outputDir;
  }
  return { dir: c.outputDir, seconds };
}
