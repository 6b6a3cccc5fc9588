/**
 * Self-supervised pretraining of the ranker (cross-encoder) on the corpus alone, before its labelled stage (the
 * teacher's cold start; issue 8, "a stronger teacher"). The pairs are self-supervised.ts's (title -> untitled
 * abstract, inverse cloze); each kind is its own pseudo-corpus with its own BM25 index, from which every pseudo-query
 * gets BM25 hard negatives of the same kind (so no surface cue, such as a missing title or a missing sentence, tells
 * the positive apart), never a pseudo-passage of the query's own source document. The loss is the ranker's
 * listwise softmax over [d+, d1-..dn-] (ranker-stage.ts), by default on the neural score alone: with the BM25
 * prior, title queries are so easy for BM25 that the softmax saturates and the neural term learns nothing (dev:
 * the fine-tuned ranker then reranks exactly as BM25). The result is a cross-encoder directory (bert.*,
 * classifier.*, and the prior's weight when trained with it) that `ranker.base` starts the labelled ranker from;
 * the labelled stage adds the prior (lambda from 1) when the base has none.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CrossEncoder } from "../models/cross-encoder.ts";
import { Bm25Index } from "../retrieval/bm25.ts";
import { TokenizedCorpus, type CorpusText } from "../retrieval/tokenized-corpus.ts";
import { writeDirAtomic, writeJsonAtomic } from "../util/atomic.ts";
import type { TrainingExample } from "./data.ts";
import { bm25LexicalScorer } from "./lexical.ts";
import { runTrainingLoop } from "./loop.ts";
import { loadPipelineData, loadTokenizer, readPipelineConfig, type PipelineConfig } from "./pipeline.ts";
import { RankerStage, type LexicalScorer } from "./ranker-stage.ts";
import { pairKindOf, selfSupervisedPairs, sourceDocId, type PairKind } from "./self-supervised.ts";

export interface RankerPretrainConfig {
  /** The base it starts from (an HF BERT directory with vocab.txt, e.g. the MLM base). */
  from: string;
  outputDir: string;
  dataDir: string;
  steps: number;
  /** Pseudo-queries per step; each scores 1 positive + `negatives` BM25 negatives. */
  batchSize: number;
  negatives: number;
  /** BM25 negatives mined per pseudo-query (the stage cycles through them over epochs). */
  minedNegatives: number;
  learningRate: number;
  kinds: PairKind[];
  /** Train with the BM25 lexical prior (as the labelled stage does), or the neural score alone. */
  lexicalPrior: boolean;
  lengths: PipelineConfig["lengths"];
  seed: number;
}

export const DEFAULT_RANKER_PRETRAIN: Omit<RankerPretrainConfig, "from" | "outputDir"> = {
  dataDir: "data/scifact",
  steps: 1000,
  batchSize: 8,
  negatives: 7,
  minedNegatives: 30,
  learningRate: 1e-3,
  kinds: ["title", "ict"],
  lexicalPrior: false,
  lengths: { maxQueryLength: 32, maxPassageLength: 96, maxPairLength: 128 },
  seed: 0,
};

export interface RankerPretrainSet {
  docs: Map<string, CorpusText>;
  examples: TrainingExample[];
  /** BM25 over each kind's pseudo-corpus (the lexical prior scores a pseudo-passage in its own kind's index). */
  indexes: Map<PairKind, Bm25Index>;
}

/** The self-supervised pairs with BM25 hard negatives mined within each kind, excluding the query's own source. */
export async function rankerPretrainSet(corpus: ReadonlyMap<string, CorpusText>, kinds: readonly PairKind[], minedNegatives: number, seed: number): Promise<RankerPretrainSet> {
  const pairs = selfSupervisedPairs(corpus, kinds, seed);
  const indexes = new Map<PairKind, Bm25Index>();
  for (const kind of kinds) {
    const docs = [...pairs.docs].filter(([id]) => pairKindOf(id) === kind).map(([id, d]) => ({ id, title: d.title, text: d.text }));
    indexes.set(kind, await Bm25Index.build(docs));
  }
  const examples = pairs.examples.map((e) => {
    const source = sourceDocId(e.queryId);
    const hits = indexes.get(pairKindOf(e.queryId))!.search(e.query, minedNegatives + 2);
    const negativeIds = hits.map((h) => h.id).filter((d) => sourceDocId(d) !== source).slice(0, minedNegatives);
    return { ...e, negativeIds };
  });
  return { docs: pairs.docs, examples, indexes };
}

/** The lexical prior's scorer over the pseudo-corpora: each group is scored in its own kind's BM25 index. */
function pseudoLexicalScorer(indexes: ReadonlyMap<PairKind, Bm25Index>): LexicalScorer {
  const scorers = new Map([...indexes].map(([kind, index]) => [kind, bm25LexicalScorer(index)] as const));
  return (query, ids) => scorers.get(pairKindOf(ids[0]!))!(query, ids);
}

/**
 * Runs the pretraining (checkpoints in `<outputDir>-work`, so an interrupted run resumes) and writes the ranker to
 * `outputDir` whole (one rename). An existing `outputDir` is left as it is.
 */
export async function runRankerPretrain(c: RankerPretrainConfig, command: string): Promise<{ dir: string; seconds: number }> {
  const t0 = Date.now();
  if (existsSync(join(c.outputDir, "config.json"))) return { dir: c.outputDir, seconds: 0 };
  const cfg = readPipelineConfig(null, { dataDir: c.dataDir, base: c.from, outputDir: `${c.outputDir}-work`, seed: c.seed, lengths: c.lengths, devQueries: 1 });
  const data = await loadPipelineData(cfg);
  const set = await rankerPretrainSet(data.docs, c.kinds, c.minedNegatives, c.seed);
  const corpus = new TokenizedCorpus(set.docs, loadTokenizer(cfg));
  const ranker = CrossEncoder.load(c.from, { lexicalPrior: c.lexicalPrior, seed: c.seed });
  const stage = new RankerStage(ranker, set.examples, corpus, {
    batchSize: c.batchSize, negatives: c.negatives, lengths: c.lengths, seed: c.seed,
    ...(c.lexicalPrior ? { lexical: pseudoLexicalScorer(set.indexes) } : {}),
  });
  await runTrainingLoop(stage, {
    outputDir: join(`${c.outputDir}-work`, "work", "ranker-pretrain"), steps: c.steps, gradientAccumulation: 1,
    learningRate: c.learningRate, warmupSteps: Math.round(c.steps * 0.1), weightDecay: 0.01, maxGradNorm: 1, seed: c.seed,
    checkpointEvery: 100, evalEvery: 0, resume: true, label: "ranker pretrain", settings: { ...c },
  });
  const seconds = (Date.now() - t0) / 1000;
  writeDirAtomic(c.outputDir, (tmp) => {
    ranker.save(tmp, { md2pr_stage: "pretrain-ranker" });
    corpus.tokenizer.save(tmp);
    writeJsonAtomic(join(tmp, "md2pr-pretrain.json"), {
      command, objective: `cross-encoder listwise softmax (1 positive + BM25 negatives of the same kind${c.lexicalPrior ? ", BM25 lexical prior" : ""}) on self-supervised pairs of the corpus`,
      config: c, seconds, examples: set.examples.length, log: `${c.outputDir}-work/work/ranker-pretrain/train-log.jsonl (not shipped)`,
    });
  });
  return { dir: c.outputDir, seconds };
}
