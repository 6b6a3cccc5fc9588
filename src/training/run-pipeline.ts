/**
 * The MD2PR pipeline run end to end or by stage (what `md2pr mine`, `train-ranker` and `train` run, and the library's
 * `train(config)`). Every stage reuses what earlier ones wrote under the output directory (mined negatives, the BM25
 * index, the ranker, the retriever), so `train --stage retriever` after `train-ranker` continues the same run. It
 * reports progress through `log` and returns what it made; printing results is the caller's business.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CrossEncoder } from "../models/cross-encoder.ts";
import { isDebertaDirectory } from "../models/deberta-checkpoint.ts";
import { DebertaCrossEncoder } from "../models/deberta-cross-encoder.ts";
import { SentencePieceTokenizer } from "../models/tokenizer/sentencepiece.ts";
import { DualEncoder } from "../models/dual-encoder.ts";
import { encodeCorpus } from "../encoding/encode-corpus.ts";
import type { Bm25Index } from "../retrieval/bm25.ts";
import { TokenizedCorpus } from "../retrieval/tokenized-corpus.ts";
import { sentencePieceTeacher, type TeacherTokenization } from "./cross-tokenizer-word-level.ts";
import { readTrainingFile, writeTrainingFile, type TrainingExample } from "./data.ts";
import { rankerArchOf, trainDebertaRankerStage } from "./deberta-ranker.ts";
import {
  evaluateSystems, loadOrBuildBm25, loadPipelineData, loadTokenizer, mineTrainingExamples, queriesOf, retrieverNegatives, trainRanker,
  trainRetriever, type PipelineConfig, type PipelineData, type SystemRow,
} from "./pipeline.ts";
import type { TeacherRanker } from "./retriever-stage.ts";
import { chooseTeacherPriorWeight, densePriorScorer, type TeacherPrior } from "./teacher-prior.ts";
import { bm25LexicalScorer } from "./lexical.ts";
import { bm25Run } from "./evaluation.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import type { DenseIndex } from "../retrieval/dense-index.ts";

export const STAGES = ["all", "mine", "ranker", "retriever", "eval"] as const;
export type Stage = (typeof STAGES)[number];

export interface RunPipelineOptions {
  /** Where the `mine` stage writes (default <out>/train-bm25.jsonl, the file the other stages read). */
  readonly mineFile?: string;
  /** Progress lines (default: stderr). */
  readonly log?: (line: string) => void;
}

/** What a pipeline run made; the fields of the stages that did not run are absent. */
export interface PipelineOutcome {
  readonly stage: Stage;
  /** The training file (BM25-mined negatives). */
  readonly trainingFile: string;
  /** The ranker directory (stages ranker and all, or an existing one). */
  readonly rankerDir?: string;
  /** The final retriever directory (retriever-round2 with a second round). */
  readonly retrieverDir?: string;
  /** Dev metrics of the trained ranker and retriever. */
  readonly dev?: { readonly ranker?: Record<string, number>; readonly retriever?: Record<string, number> };
  /** The test-split evaluation (stages eval and all); also in <out>/results.json. */
  readonly systems?: readonly SystemRow[];
  /** Queries of the test split (stages eval and all). */
  readonly testQueries?: number;
}

const metricsText = (m: Record<string, number>): string => Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(", ");
const stderrLog = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function hasRanker(cfg: PipelineConfig): boolean {
  return existsSync(join(cfg.outputDir, "ranker", "config.json"));
}

function hasRetriever(cfg: PipelineConfig, name: string): boolean {
  return existsSync(join(cfg.outputDir, name, "md2pr.json"));
}

/** Removes a derived dense index left by another model (the pipeline re-encodes into it). */
function clearStaleIndex(dir: string, fingerprint: string, log: (line: string) => void): void {
  for (const file of ["index.json", "progress.json"]) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    const meta = JSON.parse(readFileSync(path, "utf8")) as { modelFingerprint?: string };
    if (meta.modelFingerprint !== fingerprint) {
      log(`train: ${dir} holds embeddings of another model; re-encoding`);
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }
}

interface Loaded {
  data: PipelineData;
  bm25: Bm25Index;
  examples: TrainingExample[];
}

async function prepare(cfg: PipelineConfig, mineFile: string, log: (line: string) => void): Promise<Loaded> {
  const data = await loadPipelineData(cfg);
  log(`data: ${data.docs.size} passages, ${data.train.size} train / ${data.dev.size} dev / ${data.test.size} test queries`);
  const bm25 = await loadOrBuildBm25(cfg, data.docs);
  const examples = await mineTrainingExamples(cfg, data, bm25, mineFile);
  return { data, bm25, examples };
}

/** The teacher of the retriever stage: the ranker and, for one with its own tokenizer (DeBERTa-v3), its tokenization. */
interface Teacher {
  ranker: TeacherRanker;
  tokens: TeacherTokenization | null;
}

/** Loads `<out>/ranker`: a BERT cross-encoder, or a DeBERTa-v2/v3 one with its SentencePiece tokenizer. */
function loadTeacher(dir: string, data: PipelineData): Teacher {
  if (!isDebertaDirectory(dir)) return { ranker: CrossEncoder.load(dir), tokens: null };
  return { ranker: DebertaCrossEncoder.load(dir), tokens: sentencePieceTeacher(data.docs, SentencePieceTokenizer.fromDirectory(dir)) };
}

/** Round two: negatives mined with the round-one retriever, and a retriever trained on from round one. */
async function secondRound(
  cfg: PipelineConfig, l: Loaded, corpus: TokenizedCorpus, teacher: Teacher | null, first: DualEncoder, log: (line: string) => void,
): Promise<Record<string, number>> {
  const file = join(cfg.outputDir, "train-round2.jsonl");
  const indexDir = join(cfg.outputDir, "index-round1");
  let index: DenseIndex | null = null;
  const roundOneIndex = async (): Promise<DenseIndex> => {
    if (index) return index;
    clearStaleIndex(indexDir, first.fingerprint(), log);
    return (index = await encodeCorpus(first, corpus, indexDir, { label: "encode (round 1)" }));
  };
  let examples: TrainingExample[];
  if (existsSync(file)) examples = await readTrainingFile(file, l.data.docs);
  else {
    examples = retrieverNegatives(first, await roundOneIndex(), corpus, l.data, cfg.minedNegatives);
    writeTrainingFile(file, examples);
  }
  log(`round 2: ${examples.length} examples with retriever-mined negatives (${file})`);
  // a reused round-two retriever (trainRetriever loads it) needs no teacher, so the dev choice of mu is not redone
  const prior = cfg.secondRoundTeacherPrior && teacher && !hasRetriever(cfg, "retriever-round2") ? await roundTwoTeacherPrior(cfg, l, teacher, first, await roundOneIndex(), corpus, log) : null;
  const r2 = await trainRetriever(cfg, l.data, examples, corpus, teacher?.ranker ?? null, l.bm25, "retriever-round2", first, teacher?.tokens ?? null, prior);
  log(`retriever (round 2): ${r2.dir}; dev ${metricsText(r2.dev)}`);
  return r2.dev;
}

/**
 * Round two's teacher: the ranker plus mu x the round-one retriever's score, mu chosen on dev by reranking BM25's
 * top 100 (teacher-prior.ts); the choice and every trial go to <out>/teacher-prior-round2.json.
 */
async function roundTwoTeacherPrior(
  cfg: PipelineConfig, l: Loaded, teacher: Teacher, first: DualEncoder, index: DenseIndex, corpus: TokenizedCorpus, log: (line: string) => void,
): Promise<TeacherPrior> {
  const score = densePriorScorer(first, index, corpus);
  const devQueries = queriesOf(l.data, l.data.dev);
  const lexical = teacher.ranker.lexicalWeight ? bm25LexicalScorer(l.bm25) : undefined;
  const choice = chooseTeacherPriorWeight(teacher.ranker, teacher.tokens?.corpus ?? corpus, cfg.lengths, lexical, score,
    devQueries, bm25Run(l.bm25, devQueries, PRIOR_DEPTH), l.data.dev, PRIOR_DEPTH);
  writeJsonAtomic(join(cfg.outputDir, "teacher-prior-round2.json"), { teacher: "ranker + mu x round-one retriever", first: "bm25", ...choice });
  const alone = choice.trials[0]!["ndcg@10"];
  const best = choice.trials.find((t) => t.weight === choice.weight)!["ndcg@10"];
  log(`round 2 teacher: ranker + ${choice.weight.toFixed(4)} x round-one retriever (dev, BM25 top ${PRIOR_DEPTH} reranked: nDCG@10 ${best.toFixed(4)}, ranker alone ${alone.toFixed(4)})`);
  return { weight: choice.weight, score };
}

/** BM25 candidates per dev query on which round two's teacher prior is chosen. */
const PRIOR_DEPTH = 100;

/** Runs `stage` (or every stage, "all") of the pipeline and returns what it made. */
export async function runPipeline(cfg: PipelineConfig, stage: Stage, options: RunPipelineOptions = {}): Promise<PipelineOutcome> {
  const log = options.log ?? stderrLog;
  const file = stage === "mine" && options.mineFile ? options.mineFile : join(cfg.outputDir, "train-bm25.jsonl");
  const l = await prepare(cfg, file, log);
  if (stage === "mine") {
    const negatives = l.examples.reduce((s, e) => s + e.negativeIds.length, 0);
    log(`mine: ${l.examples.length} training queries, ${negatives} BM25 negatives`);
    return { stage, trainingFile: file };
  }
  const tokenizer = loadTokenizer(cfg);
  const corpus = new TokenizedCorpus(l.data.docs, tokenizer);
  const dev: { ranker?: Record<string, number>; retriever?: Record<string, number> } = {};

  let teacher: Teacher | null = null;
  const rankerDir = join(cfg.outputDir, "ranker");
  if (rankerArchOf(cfg).arch === "deberta-v2" && (stage === "all" || stage === "ranker")) {
    const r = await trainDebertaRankerStage(cfg, l.data, l.bm25, l.examples);
    log(`ranker (deberta-v2): ${r.dir}; dev (BM25 top ${cfg.rerankDepth} reranked) ${metricsText(r.dev)}`);
    dev.ranker = r.dev;
    if (stage === "ranker") return { stage, trainingFile: file, rankerDir: r.dir, dev };
    // it teaches the WordPiece retriever through its own SentencePiece ids (word level pooled onto shared words)
    teacher = { ranker: r.ranker, tokens: sentencePieceTeacher(l.data.docs, r.tokenizer) };
  } else if (stage === "all" || stage === "ranker") {
    const r = await trainRanker(cfg, l.data, l.bm25, l.examples, corpus);
    log(`ranker: ${r.dir}; dev (BM25 top ${cfg.rerankDepth} reranked) ${metricsText(r.dev)}`);
    dev.ranker = r.dev;
    if (stage === "ranker") return { stage, trainingFile: file, rankerDir: r.dir, dev };
    teacher = { ranker: r.ranker, tokens: null };
  } else if (hasRanker(cfg)) {
    teacher = loadTeacher(rankerDir, l.data);
  }
  const ranker = teacher?.ranker ?? null;

  if (stage === "all" || stage === "retriever") {
    const md = cfg.retriever.md2pr;
    if (!ranker && (md.alpha !== 0 || md.beta !== 0 || md.filter.enabled)) {
      throw new Error(
        `no ranker in ${rankerDir}: run \`md2pr train-ranker\` (or \`md2pr train --stage ranker\`) first, ` +
          "or train without a teacher: --alpha 0 --beta 0 --no-filter",
      );
    }
    const r = await trainRetriever(cfg, l.data, l.examples, corpus, ranker, l.bm25, "retriever", null, teacher?.tokens ?? null);
    log(`retriever: ${r.dir}; dev ${metricsText(r.dev)}`);
    dev.retriever = cfg.secondRound ? await secondRound(cfg, l, corpus, teacher, r.retriever, log) : r.dev;
    if (stage === "retriever") {
      const retrieverDir = cfg.secondRound ? join(cfg.outputDir, "retriever-round2") : r.dir;
      return { stage, trainingFile: file, rankerDir: ranker ? rankerDir : undefined, retrieverDir, dev };
    }
  }
  // The evaluated retriever is the saved one, as `md2pr search --model` loads it, so <out>/index-<name> serves both.
  const name = cfg.secondRound && hasRetriever(cfg, "retriever-round2") ? "retriever-round2" : "retriever";
  const retrieverDir = join(cfg.outputDir, name);
  if (!hasRetriever(cfg, name)) throw new Error(`no retriever in ${retrieverDir}: run \`md2pr train --stage retriever\` first`);
  const retriever = DualEncoder.load(retrieverDir);

  clearStaleIndex(join(cfg.outputDir, `index-${name}`), retriever.fingerprint(), log);
  const systems = await evaluateSystems(cfg, l.data, l.bm25, corpus, retriever, ranker, { indexName: name, rankerCorpus: teacher?.tokens?.corpus });
  return { stage, trainingFile: file, rankerDir: ranker ? rankerDir : undefined, retrieverDir, dev, systems, testQueries: l.data.test.size };
}
