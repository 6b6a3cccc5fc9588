/**
 * The ranker stage on DeBERTa-v2/v3 (`--ranker-arch deberta-v2`): the same listwise training, lexical prior, dev
 * evaluation (reranking BM25) and `<out>/ranker` folder as the BERT ranker (pipeline.ts trainRanker), but the
 * model is a DeBERTa cross-encoder with its own SentencePiece tokenizer, so its inputs come from a RankerCorpus
 * tokenized with that tokenizer rather than from the retriever's WordPiece corpus.
 *
 * The starting point is `ranker.base` (an HF DeBERTa-v2/v3 directory: config.json, model.safetensors or a
 * DebertaV2Model checkpoint, spm.model or tokenizer.json). Such a ranker trains, scores and reranks, and teaches the
 * WordPiece retriever (retriever-stage.ts with sentencePieceTeacher: its own pair batches, the word level pooled onto
 * the words both tokenizers share).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { DebertaCrossEncoder } from "../models/deberta-cross-encoder.ts";
import { isDebertaDirectory } from "../models/deberta-checkpoint.ts";
import { SentencePieceTokenizer } from "../models/tokenizer/sentencepiece.ts";
import type { Bm25Index } from "../retrieval/bm25.ts";
import type { CorpusText } from "../retrieval/tokenized-corpus.ts";
import type { Qrels } from "../retrieval/readers.ts";
import { stageSettings } from "./artifacts.ts";
import type { TrainingExample } from "./data.ts";
import { bm25Run, rerankRun, score } from "./evaluation.ts";
import { bm25LexicalScorer } from "./lexical.ts";
import { runTrainingLoop, type LoopConfig } from "./loop.ts";
import { RankerCorpus } from "./ranker-corpus.ts";
import type { PipelineConfig, PipelineData } from "./pipeline.ts";
import { RankerStage, type PairLengths } from "./ranker-stage.ts";

export type RankerArch = "bert" | "deberta-v2";
export const RANKER_ARCHS: readonly RankerArch[] = ["bert", "deberta-v2"];

/** The ranker settings the DeBERTa stage reads (a subset of PipelineConfig.ranker plus arch and base). */
export interface DebertaRankerSettings {
  steps: number;
  batchSize: number;
  negatives: number;
  lexicalPrior: boolean;
  /** The DeBERTa directory to start from. */
  base: string;
}

export interface DebertaRankerInputs {
  outputDir: string;
  seed: number;
  lengths: PairLengths;
  rerankDepth: number;
  docs: ReadonlyMap<string, CorpusText>;
  /** Query texts by id, and the dev judgements to score the ranker on. */
  queries: ReadonlyMap<string, string>;
  dev: Qrels;
  bm25: Bm25Index;
  examples: readonly TrainingExample[];
  /** The training loop's settings (steps, learning rate, schedule, checkpoints) for the ranker. */
  loop: LoopConfig;
}

export interface DebertaRankerResult {
  ranker: DebertaCrossEncoder;
  tokenizer: SentencePieceTokenizer;
  dir: string;
  dev: Record<string, number>;
}

/** Trains the DeBERTa ranker (or loads `<out>/ranker` when it exists) and scores it reranking BM25 on dev. */
export async function trainDebertaRanker(settings: DebertaRankerSettings, inputs: DebertaRankerInputs): Promise<DebertaRankerResult> {
  const dir = join(inputs.outputDir, "ranker");
  const existing = existsSync(join(dir, "config.json"));
  if (existing && !isDebertaDirectory(dir)) throw new Error(`${dir} holds a ranker that is not DeBERTa-v2; use another --out or --ranker-arch bert`);
  const from = existing ? dir : settings.base;
  if (!isDebertaDirectory(from)) throw new Error(`--ranker-base ${from}: not a DeBERTa-v2 model directory (config.json with model_type "deberta-v2")`);
  const tokenizer = SentencePieceTokenizer.fromDirectory(from);
  const corpus = new RankerCorpus(inputs.docs, tokenizer);
  const lexical = settings.lexicalPrior ? bm25LexicalScorer(inputs.bm25) : undefined;
  const devQueries = new Map([...inputs.dev.keys()].map((q) => [q, inputs.queries.get(q)!]));
  const devFirst = bm25Run(inputs.bm25, devQueries, inputs.rerankDepth);
  const evaluate = async (r: DebertaCrossEncoder): Promise<Record<string, number>> => {
    const prior = r.lexicalWeight ? bm25LexicalScorer(inputs.bm25) : undefined;
    return score(await rerankRun(r, corpus, devQueries, devFirst, inputs.rerankDepth, inputs.lengths, prior), inputs.dev).metrics;
  };
  if (existing) {
    const ranker = DebertaCrossEncoder.load(dir);
    return { ranker, tokenizer, dir, dev: await evaluate(ranker) };
  }
  const ranker = DebertaCrossEncoder.load(settings.base, { lexicalPrior: settings.lexicalPrior, seed: inputs.seed });
  if (settings.steps > 0) {
    const stage = new RankerStage(ranker, inputs.examples, corpus, {
      batchSize: settings.batchSize, negatives: settings.negatives, lengths: inputs.lengths, seed: inputs.seed, lexical,
    });
    await runTrainingLoop(stage, inputs.loop);
  }
  mkdirSync(dir, { recursive: true });
  ranker.save(dir, { md2pr_stage: "ranker" });
  tokenizer.save(dir);
  return { ranker, tokenizer, dir, dev: await evaluate(ranker) };
}

/** The architecture and DeBERTa base a pipeline config asks for (`ranker.arch`, `ranker.base`; default BERT). */
export function rankerArchOf(cfg: PipelineConfig): { arch: RankerArch; base: string | null } {
  const r = cfg.ranker as PipelineConfig["ranker"] & { arch?: RankerArch; base?: string | null };
  return { arch: r.arch ?? "bert", base: r.base ?? null };
}

/** The DeBERTa ranker stage of a pipeline run (`--ranker-arch deberta-v2 --ranker-base DIR`). */
export async function trainDebertaRankerStage(
  cfg: PipelineConfig, data: PipelineData, bm25: Bm25Index, examples: readonly TrainingExample[],
): Promise<DebertaRankerResult> {
  const { base } = rankerArchOf(cfg);
  const s = cfg.ranker;
  const existing = existsSync(join(cfg.outputDir, "ranker", "config.json"));
  if (!base && !existing) throw new Error("--ranker-arch deberta-v2 needs --ranker-base DIR (an HF DeBERTa-v2/v3 directory with its spm.model or tokenizer.json)");
  const loop: LoopConfig = {
    outputDir: join(cfg.outputDir, "work", "ranker"), steps: s.steps, gradientAccumulation: s.gradientAccumulation,
    learningRate: s.learningRate, warmupSteps: s.warmupSteps, weightDecay: s.weightDecay, maxGradNorm: s.maxGradNorm,
    seed: cfg.seed, checkpointEvery: cfg.checkpointEvery, evalEvery: 0, resume: cfg.resume, label: "ranker",
    settings: stageSettings(cfg, "ranker"), forceResume: cfg.forceResume ?? false,
  };
  return trainDebertaRanker(
    { steps: s.steps, batchSize: s.batchSize, negatives: s.negatives, lexicalPrior: s.lexicalPrior, base: base ?? join(cfg.outputDir, "ranker") },
    {
      outputDir: cfg.outputDir, seed: cfg.seed, lengths: cfg.lengths, rerankDepth: cfg.rerankDepth, docs: data.docs,
      queries: data.queries, dev: data.dev, bm25, examples, loop,
    },
  );
}
