/**
 * The MD2PR pipeline (docs/method.md, "Training pipeline"): data -> BM25 -> mined negatives -> ranker -> retriever
 * (-> optional second round with retriever-mined negatives) -> evaluation. Each stage is a function the CLI calls
 * alone or in sequence; every stage writes under `outputDir` and is skipped when its output exists (so a killed
 * pipeline restarts where it stopped; training stages resume from their checkpoints).
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Rng } from "../engine/rng.ts";
import { makeBertConfig, type BertConfig } from "../models/config.ts";
import { CrossEncoder } from "../models/cross-encoder.ts";
import { DualEncoder, type Pooling, type Similarity } from "../models/dual-encoder.ts";
import type { PairCorpus, PairRanker } from "../models/pair-ranker.ts";
import { WordPieceTokenizer } from "../models/tokenizer.ts";
import { Bm25Index } from "../retrieval/bm25.ts";
import { mineNegatives } from "../retrieval/bm25.ts";
import { writeTrecRun, type SearchHit } from "../retrieval/metrics.ts";
import { loadBeir, type Qrels } from "../retrieval/readers.ts";
import { TokenizedCorpus, type CorpusText } from "../retrieval/tokenized-corpus.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { fileLayer, layeredConfig, PipelineConfigSchema, type ConfigLayer } from "./config-schema.ts";
import { checkBm25Reuse, checkMinedReuse, checkReuse, recordMined, saveRankerFolder, saveRetrieverFolder, stageSettings } from "./artifacts.ts";
import { corpusFingerprint } from "../util/provenance.ts";
import { examplesFromQrels, readTrainingFile, writeTrainingFile, type TrainingExample } from "./data.ts";
import { FUSION_FILE, readRecordedFusion, type Fusion } from "../retrieval/fusion.ts";
import { bm25Run, denseRun, evaluateRetriever, hybridRun, rerankRun, score, type Scored } from "./evaluation.ts";
import { chooseFusion, fusionGrid, truncateRun, type FusionChoice } from "./fusion-choice.ts";
import { bm25LexicalScorer } from "./lexical.ts";
import { runTrainingLoop, type LoopConfig } from "./loop.ts";
import { RankerStage, type LexicalScorer, type PairLengths } from "./ranker-stage.ts";
import type { TeacherPrior } from "./teacher-prior.ts";
import type { TeacherTokenization } from "./cross-tokenizer-word-level.ts";
import { DEFAULT_MD2PR, RetrieverStage, type Md2prOptions, type TeacherRanker } from "./retriever-stage.ts";
import { selfSupervisedPairs, type PairKind } from "./self-supervised.ts";

export interface StageTraining {
  steps: number;
  batchSize: number;
  /** Hard negatives per query in each step (n); the group is n + 1 passages. */
  negatives: number;
  learningRate: number;
  warmupSteps: number;
  gradientAccumulation: number;
  weightDecay: number;
  maxGradNorm: number;
}

export interface PipelineConfig {
  /** BEIR directory (corpus.jsonl, queries.jsonl, qrels/<split>.tsv). */
  dataDir: string;
  trainSplit: string;
  testSplit: string;
  /** Train queries held out as the dev split (settings are chosen on it, never on test). */
  devQueries: number;
  outputDir: string;
  seed: number;
  /** HF BERT directory (with vocab.txt) both models start from; null: random init of `model` with `vocabFile`. */
  base: string | null;
  vocabFile: string;
  model: { hiddenSize: number; numHiddenLayers: number; numAttentionHeads: number; intermediateSize: number };
  lengths: PairLengths;
  bm25: { k1: number; b: number };
  /** Negatives mined per training query (steps sample `negatives` of them). */
  minedNegatives: number;
  /** Self-supervised warm-up of the retriever before the labelled stage (steps 0: off). */
  warmup: StageTraining & { kinds: PairKind[] };
  /** `base`: the directory the ranker starts from (default: the pipeline's `base`); `arch`: bert or deberta-v2. */
  ranker: StageTraining & { lexicalPrior: boolean; arch?: "bert" | "deberta-v2"; base?: string | null };
  retriever: StageTraining & { shared: boolean; pooling: Pooling; similarity: Similarity; md2pr: Md2prOptions };
  /** Re-mine negatives with the trained retriever and train a second round. */
  secondRound: boolean;
  /** Round two's teacher adds mu x the round-one retriever's score, mu chosen on dev (teacher-prior.ts). */
  secondRoundTeacherPrior: boolean;
  rerankDepth: number;
  /** Depth of the hybrid first stage that the ranker reranks (hybrid+rerank). */
  hybridRerankDepth: number;
  /** Results taken from BM25 and from the retriever before fusion (hybrid), on dev and test alike. */
  fusionDepth: number;
  evalEvery: number;
  checkpointEvery: number;
  resume: boolean;
  /** Resume a checkpoint even when the settings that change results differ from the ones it was made with. */
  forceResume?: boolean;
}

const stage = (steps: number, batchSize: number, negatives: number, learningRate: number): StageTraining => ({
  steps, batchSize, negatives, learningRate, warmupSteps: Math.round(steps * 0.1), gradientAccumulation: 1, weightDecay: 0.01, maxGradNorm: 1,
});

export const DEFAULT_PIPELINE: PipelineConfig = {
  dataDir: "data/scifact",
  trainSplit: "train",
  testSplit: "test",
  devQueries: 100,
  outputDir: "runs/scifact",
  seed: 0,
  base: "models/base-scifact",
  vocabFile: "data/vocab/bert-base-uncased-vocab.txt",
  model: { hiddenSize: 256, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 1024 },
  lengths: { maxQueryLength: 32, maxPassageLength: 128, maxPairLength: 160 },
  bm25: { k1: 0.9, b: 0.4 },
  minedNegatives: 30,
  // Title -> abstract warm-up of the retriever, 200 steps: dev nDCG@10 0.461 vs 0.246 without (100 labelled steps, README).
  warmup: { ...stage(200, 32, 0, 1e-3), kinds: ["title"] },
  // lr 1e-3 with the lexical prior: dev nDCG@10 0.760 reranking BM25 top 20 (BM25 0.725; lr 1e-4 for 100 steps: 0.725, README).
  ranker: { ...stage(300, 8, 7, 1e-3), lexicalPrior: true },
  // Mean pooling and lr 1e-3: chosen on the SciFact dev split from the MLM-only base (README, "Choices made on dev").
  retriever: { ...stage(300, 16, 3, 1e-3), shared: true, pooling: "mean", similarity: "dot", md2pr: DEFAULT_MD2PR },
  secondRound: false,
  secondRoundTeacherPrior: false,
  rerankDepth: 100,
  hybridRerankDepth: 100,
  fusionDepth: 1000,
  evalEvery: 0,
  checkpointEvery: 50,
  resume: true,
};

export interface PipelineData {
  docs: Map<string, CorpusText>;
  queries: Map<string, string>;
  train: Qrels;
  dev: Qrels;
  test: Qrels;
}

/** Loads the BEIR set and carves the dev split out of the train queries (seeded). */
export async function loadPipelineData(cfg: PipelineConfig): Promise<PipelineData> {
  const train = await loadBeir(cfg.dataDir, cfg.trainSplit, { onlyJudgedQueries: false });
  const test = await loadBeir(cfg.dataDir, cfg.testSplit, { onlyJudgedQueries: false });
  const trainIds = [...train.qrels.keys()].sort();
  new Rng(cfg.seed ^ 0x9e3779b9).shuffle(trainIds);
  const devIds = new Set(trainIds.slice(0, cfg.devQueries));
  const trainQrels: Qrels = new Map();
  const devQrels: Qrels = new Map();
  for (const [qid, rels] of train.qrels) (devIds.has(qid) ? devQrels : trainQrels).set(qid, rels);
  if (trainQrels.size === 0 || devQrels.size === 0) {
    throw new Error(
      `${cfg.dataDir}: the ${cfg.trainSplit} split has ${train.qrels.size} judged queries; devQueries ${cfg.devQueries} leaves ` +
        `${trainQrels.size} to train on and ${devQrels.size} for dev (both need at least one): lower --dev-queries`,
    );
  }
  return { docs: train.corpus as Map<string, CorpusText>, queries: train.queries, train: trainQrels, dev: devQrels, test: test.qrels };
}

export function queriesOf(data: PipelineData, qrels: Qrels): Map<string, string> {
  return new Map([...qrels.keys()].map((q) => [q, data.queries.get(q)!]));
}

export async function loadOrBuildBm25(cfg: PipelineConfig, docs: ReadonlyMap<string, CorpusText>): Promise<Bm25Index> {
  const dir = join(cfg.outputDir, "bm25");
  if (existsSync(join(dir, "meta.json"))) {
    checkBm25Reuse(dir, docs, cfg);
    return Bm25Index.load(dir);
  }
  const bm25 = await Bm25Index.build([...docs].map(([id, d]) => ({ id, title: d.title, text: d.text })), { params: cfg.bm25 });
  await bm25.save(dir, { corpus: corpusFingerprint(docs), settings: { bm25: cfg.bm25 } });
  return bm25;
}

export function loadTokenizer(cfg: PipelineConfig): WordPieceTokenizer {
  return cfg.base ? WordPieceTokenizer.fromDirectory(cfg.base) : WordPieceTokenizer.fromVocabFile(cfg.vocabFile);
}

function randomConfig(cfg: PipelineConfig, tokenizer: WordPieceTokenizer): BertConfig {
  return makeBertConfig({ ...cfg.model, vocabSize: tokenizer.vocabSize, maxPositionEmbeddings: 512 });
}

/** BM25 hard negatives for the train queries (the positives excluded), written as a training file. */
export async function mineTrainingExamples(cfg: PipelineConfig, data: PipelineData, bm25: Bm25Index, file = join(cfg.outputDir, "train-bm25.jsonl")): Promise<TrainingExample[]> {
  if (existsSync(file)) {
    checkMinedReuse(file, cfg, data.docs);
    return readTrainingFile(file, data.docs);
  }
  const queries = queriesOf(data, data.train);
  const negatives = mineNegatives(bm25, queries, data.train, cfg.minedNegatives);
  const examples = examplesFromQrels(queries, data.train, negatives);
  mkdirSync(cfg.outputDir, { recursive: true });
  writeTrainingFile(file, examples);
  recordMined(file, cfg, data.docs);
  return examples;
}

function loopConfig(cfg: PipelineConfig, s: StageTraining, outputDir: string, label: string, seed: number): LoopConfig {
  return {
    outputDir, steps: s.steps, gradientAccumulation: s.gradientAccumulation, learningRate: s.learningRate,
    warmupSteps: s.warmupSteps, weightDecay: s.weightDecay, maxGradNorm: s.maxGradNorm, seed,
    checkpointEvery: cfg.checkpointEvery, evalEvery: cfg.evalEvery, resume: cfg.resume, label,
    settings: stageSettings(cfg, label), forceResume: cfg.forceResume ?? false,
  };
}

export interface RankerResult {
  ranker: CrossEncoder;
  dir: string;
  dev: Record<string, number>;
}

/** Trains the ranker (or loads it when `<out>/ranker` exists) and scores it reranking BM25 on dev. */
export async function trainRanker(cfg: PipelineConfig, data: PipelineData, bm25: Bm25Index, examples: TrainingExample[], corpus: TokenizedCorpus): Promise<RankerResult> {
  const dir = join(cfg.outputDir, "ranker");
  const lexical = cfg.ranker.lexicalPrior ? bm25LexicalScorer(bm25) : undefined;
  const devQueries = queriesOf(data, data.dev);
  const devFirst = bm25Run(bm25, devQueries, cfg.rerankDepth);
  const evaluate = async (r: CrossEncoder): Promise<Record<string, number>> =>
    score(await rerankRun(r, corpus, devQueries, devFirst, cfg.rerankDepth, cfg.lengths, lexical), data.dev).metrics;
  if (existsSync(join(dir, "config.json"))) {
    checkReuse(dir, cfg, "ranker", corpus);
    const ranker = CrossEncoder.load(dir);
    return { ranker, dir, dev: await evaluate(ranker) };
  }
  const from = rankerBase(cfg);
  const ranker = from
    ? CrossEncoder.load(from, { lexicalPrior: cfg.ranker.lexicalPrior, seed: cfg.seed })
    : CrossEncoder.random(randomConfig(cfg, corpus.tokenizer), cfg.seed, cfg.ranker.lexicalPrior);
  if (cfg.ranker.steps > 0) {
    const rankerStage = new RankerStage(ranker, examples, corpus, {
      batchSize: cfg.ranker.batchSize, negatives: cfg.ranker.negatives, lengths: cfg.lengths, seed: cfg.seed, lexical,
    });
    const work = join(cfg.outputDir, "work", "ranker");
    const evalDuring = cfg.evalEvery > 0 ? { evaluate: () => evaluate(ranker) } : {};
    await runTrainingLoop(rankerStage, { ...loopConfig(cfg, cfg.ranker, work, "ranker", cfg.seed), ...evalDuring });
  }
  saveRankerFolder(dir, ranker, corpus, cfg);
  return { ranker, dir, dev: await evaluate(ranker) };
}

/** The directory the ranker starts from: `ranker.base` when set, else the pipeline's `base`. */
export function rankerBase(cfg: PipelineConfig): string | null {
  return cfg.ranker.base ?? cfg.base;
}

export interface RetrieverResult {
  retriever: DualEncoder;
  dir: string;
  dev: Record<string, number>;
}

function newRetriever(cfg: PipelineConfig, tokenizer: WordPieceTokenizer): DualEncoder {
  const settings = {
    shared: cfg.retriever.shared, pooling: cfg.retriever.pooling, similarity: cfg.retriever.similarity,
    maxQueryLength: cfg.lengths.maxQueryLength, maxPassageLength: cfg.lengths.maxPassageLength,
  };
  return cfg.base ? DualEncoder.fromBert(cfg.base, settings) : DualEncoder.random(randomConfig(cfg, tokenizer), settings, cfg.seed);
}

/**
 * The self-supervised warm-up of a new retriever (docs/method.md is silent; issue 3's cold start): contrastive training
 * on pairs made from the corpus itself (title -> abstract, inverse cloze), in-batch negatives only, no labels.
 * Saved to `<out>/<name>` and loaded from there when present, so several labelled runs can start from one warm-up.
 */
export async function warmUpRetriever(cfg: PipelineConfig, data: PipelineData, corpus: TokenizedCorpus, name = "retriever-warmup"): Promise<DualEncoder> {
  const dir = join(cfg.outputDir, name);
  if (existsSync(join(dir, "md2pr.json"))) {
    checkReuse(dir, cfg, name, corpus);
    return DualEncoder.load(dir);
  }
  const retriever = newRetriever(cfg, corpus.tokenizer);
  const pairs = selfSupervisedPairs(data.docs, cfg.warmup.kinds, cfg.seed);
  const warmCorpus = new TokenizedCorpus(new Map([...data.docs, ...pairs.docs]), corpus.tokenizer);
  const warm = new RetrieverStage(retriever, null, pairs.examples, warmCorpus, {
    batchSize: cfg.warmup.batchSize, negatives: cfg.warmup.negatives, lengths: cfg.lengths, seed: cfg.seed,
    md2pr: { ...cfg.retriever.md2pr, alpha: 0, beta: 0, filter: { ...cfg.retriever.md2pr.filter, enabled: false } },
  });
  await runTrainingLoop(warm, loopConfig(cfg, cfg.warmup, join(cfg.outputDir, "work", name), "warm-up", cfg.seed + 7));
  saveRetrieverFolder(dir, retriever, corpus, cfg, name);
  return retriever;
}

/**
 * Trains the retriever with MD2PR: the optional self-supervised warm-up, then the labelled stage with the ranker
 * as teacher (null ranker: contrastive only). `name` separates rounds ("retriever", "retriever-round2"). A ranker
 * with its own tokenizer (a DeBERTa-v3 one) comes with `teacher`, its tokenization (sentencePieceTeacher).
 */
export async function trainRetriever(
  cfg: PipelineConfig, data: PipelineData, examples: TrainingExample[], corpus: TokenizedCorpus, ranker: TeacherRanker | null,
  bm25: Bm25Index, name = "retriever", start: DualEncoder | null = null, teacher: TeacherTokenization | null = null,
  teacherPrior: TeacherPrior | null = null,
): Promise<RetrieverResult> {
  const dir = join(cfg.outputDir, name);
  const devQueries = queriesOf(data, data.dev);
  // The final model's corpus index is kept in <out>/index-<name> and reused by the test evaluation.
  const finalIndex = join(cfg.outputDir, `index-${name}`);
  const evaluate = async (m: DualEncoder, indexDir?: string): Promise<Record<string, number>> =>
    (await evaluateRetriever(m, corpus, devQueries, data.dev, 100, indexDir)).metrics;
  if (existsSync(join(dir, "md2pr.json"))) {
    checkReuse(dir, cfg, name, corpus);
    const retriever = DualEncoder.load(dir);
    return { retriever, dir, dev: await evaluate(retriever, finalIndex) };
  }
  const retriever = start ?? (cfg.warmup.steps > 0 ? await warmUpRetriever(cfg, data, corpus, `${name}-warmup`) : newRetriever(cfg, corpus.tokenizer));
  const md2pr = ranker ? cfg.retriever.md2pr : { ...cfg.retriever.md2pr, alpha: 0, beta: 0, filter: { ...cfg.retriever.md2pr.filter, enabled: false } };
  const lexical = ranker?.lexicalWeight ? bm25LexicalScorer(bm25) : undefined;
  const retrieverStage = new RetrieverStage(retriever, ranker, examples, corpus, {
    batchSize: cfg.retriever.batchSize, negatives: cfg.retriever.negatives, lengths: cfg.lengths, seed: cfg.seed, md2pr, lexical,
    ...(ranker && teacher ? { teacher } : {}),
    ...(ranker && teacherPrior ? { teacherPrior } : {}),
  });
  if (cfg.retriever.steps > 0) {
    const evalDuring = cfg.evalEvery > 0 ? { evaluate: () => evaluate(retriever) } : {};
    await runTrainingLoop(retrieverStage, { ...loopConfig(cfg, cfg.retriever, join(cfg.outputDir, "work", name), name, cfg.seed + 1), ...evalDuring });
  }
  // the record names a BERT teacher by its fingerprint (a DeBERTa teacher is not fingerprinted yet)
  saveRetrieverFolder(dir, retriever, corpus, cfg, name, ranker instanceof CrossEncoder ? ranker : null);
  return { retriever, dir, dev: await evaluate(retriever, finalIndex) };
}

/** Re-mines negatives with the retriever (top-ranked non-positives), for the second round. */
export function retrieverNegatives(retriever: DualEncoder, index: Parameters<typeof denseRun>[1], corpus: TokenizedCorpus, data: PipelineData, n: number): TrainingExample[] {
  const queries = queriesOf(data, data.train);
  const run = denseRun(retriever, index, corpus, queries, n + 10);
  const negatives = new Map<string, string[]>();
  for (const [qid, hits] of run) {
    const rels = data.train.get(qid)!;
    negatives.set(qid, hits.filter((h) => !(rels.get(h.id)! > 0)).slice(0, n).map((h) => h.id));
  }
  return examplesFromQrels(queries, data.train, negatives);
}

export interface SystemRow {
  system: string;
  ndcg10: number;
  mrr10: number;
  recall100: number;
  run: string;
}

/** What `chooseHybrid` records next to the retriever (`<retriever>/fusion.json`). */
export interface HybridChoice {
  /** BM25 (first list) + the retriever (second), each `fusionDepth` deep. */
  hybrid: FusionChoice;
  /** The hybrid's top `rerankDepth` (first list) + the ranker's score of them (second); null without a ranker. */
  rerank: FusionChoice | null;
  fusionDepth: number;
  rerankDepth: number;
}

/**
 * Chooses on the dev split how BM25 and the retriever are fused (hybrid) and how the ranker's score is fused with
 * the hybrid's (hybrid+rerank), over `fusionGrid()`; records both in `<retrieverDir>/fusion.json` (where `md2pr
 * search` finds them) and reuses that file when it exists. `rankerCorpus`: the corpus in the ranker's own ids
 * (default: the retriever's).
 */
export async function chooseHybrid(
  cfg: PipelineConfig, data: PipelineData, bm25: Bm25Index, corpus: TokenizedCorpus, retriever: DualEncoder, ranker: PairRanker | null,
  retrieverDir: string, indexDir: string, rankerCorpus: PairCorpus = corpus,
): Promise<{ hybrid: Fusion; rerank: Fusion | null }> {
  const recorded = readRecordedFusion(retrieverDir);
  if (recorded && (!ranker || recorded.rerank)) return { hybrid: recorded.hybrid, rerank: ranker ? recorded.rerank : null };
  const devQueries = queriesOf(data, data.dev);
  const lexical = bm25Run(bm25, devQueries, cfg.fusionDepth);
  const dense = (await evaluateRetriever(retriever, corpus, devQueries, data.dev, cfg.fusionDepth, indexDir)).run;
  const hybrid = chooseFusion(lexical, dense, data.dev, fusionGrid(), cfg.fusionDepth);
  let rerank: FusionChoice | null = null;
  if (ranker) {
    const first = truncateRun(hybridRun(lexical, dense, cfg.fusionDepth, hybrid.fusion), cfg.hybridRerankDepth);
    const prior = ranker.lexicalWeight ? bm25LexicalScorer(bm25) : undefined;
    // `first` holds the top hybridRerankDepth only, so the ranker scores them all
    const rankerScores = await rerankRun(ranker, rankerCorpus, devQueries, first, cfg.hybridRerankDepth, cfg.lengths, prior);
    rerank = chooseFusion(first, rankerScores, data.dev, fusionGrid(), cfg.hybridRerankDepth);
  }
  const record: HybridChoice & { chosenOn: string } = {
    chosenOn: `dev split: ${data.dev.size} train queries held out (seed ${cfg.seed}), best nDCG@10 over fusionGrid()`,
    hybrid, rerank, fusionDepth: cfg.fusionDepth, rerankDepth: cfg.hybridRerankDepth,
  };
  writeJsonAtomic(join(retrieverDir, FUSION_FILE), record);
  return { hybrid: hybrid.fusion, rerank: rerank?.fusion ?? null };
}

/**
 * Evaluates BM25, the retriever, hybrid (the fusion chosen on dev), retrieve+rerank and hybrid+rerank (the ranker
 * over the hybrid's top `hybridRerankDepth`, its score fused with the hybrid's as chosen on dev) on the test split;
 * writes TREC runs and results.json. `options.rankerCorpus`: the corpus in the ranker's own ids (default: the
 * retriever's; a DeBERTa-v3 ranker reads SentencePiece ids).
 */
export async function evaluateSystems(
  cfg: PipelineConfig, data: PipelineData, bm25: Bm25Index, corpus: TokenizedCorpus, retriever: DualEncoder, ranker: PairRanker | null,
  options: { indexName?: string; bm25Rerank?: boolean; rankerCorpus?: PairCorpus } = {},
): Promise<SystemRow[]> {
  const testQueries = queriesOf(data, data.test);
  const runsDir = join(cfg.outputDir, "runs");
  mkdirSync(runsDir, { recursive: true });
  const name = options.indexName ?? "retriever";
  const indexDir = join(cfg.outputDir, `index-${name}`);
  const rankerCorpus = options.rankerCorpus ?? corpus;
  const fusion = await chooseHybrid(cfg, data, bm25, corpus, retriever, ranker, join(cfg.outputDir, name), indexDir, rankerCorpus);
  const rows: SystemRow[] = [];
  const add = async (system: string, scored: Scored): Promise<void> => {
    const file = join(runsDir, `${system}.trec`);
    await writeTrecRun(file, scored.run as Map<string, readonly SearchHit[]>, `md2pr-${system}`);
    rows.push({ system, ndcg10: scored.metrics["ndcg@10"]!, mrr10: scored.metrics["mrr@10"]!, recall100: scored.metrics["recall@100"]!, run: file });
  };
  const lexicalRun = bm25Run(bm25, testQueries, cfg.fusionDepth);
  await add("bm25", score(lexicalRun, data.test));
  const dense = await evaluateRetriever(retriever, corpus, testQueries, data.test, cfg.fusionDepth, indexDir);
  await add("retriever", dense);
  const hybrid = hybridRun(lexicalRun, dense.run, cfg.fusionDepth, fusion.hybrid);
  await add("hybrid", score(hybrid, data.test));
  if (ranker) {
    const lexical: LexicalScorer | undefined = ranker.lexicalWeight ? bm25LexicalScorer(bm25) : undefined;
    await add("retriever+rerank", score(await rerankRun(ranker, rankerCorpus, testQueries, dense.run, cfg.rerankDepth, cfg.lengths, lexical), data.test));
    const hybridHead = truncateRun(hybrid, cfg.hybridRerankDepth);
    const fused = { fusion: fusion.rerank ?? undefined };
    await add("hybrid+rerank", score(await rerankRun(ranker, rankerCorpus, testQueries, hybridHead, cfg.hybridRerankDepth, cfg.lengths, lexical, fused), data.test));
    if (options.bm25Rerank ?? true) {
      await add("bm25+rerank", score(await rerankRun(ranker, rankerCorpus, testQueries, lexicalRun, cfg.rerankDepth, cfg.lengths, lexical), data.test));
    }
  }
  writeJsonAtomic(join(cfg.outputDir, "results.json"), rows);
  return rows;
}

/**
 * Reads a JSON config file over the defaults, then the overrides (nested objects merged at each step), each layer
 * validated by the one schema (config-schema.ts): unknown keys, wrong types, out-of-range values and bad enums are
 * refused with the file (or "command-line flags") and the key path.
 */
export function readPipelineConfig(file: string | null, overrides: Record<string, unknown> = {}, defaults: PipelineConfig = DEFAULT_PIPELINE, overridesLayer: Partial<ConfigLayer> = {}): PipelineConfig {
  const layers: ConfigLayer[] = [];
  if (file) layers.push(fileLayer(file));
  if (Object.keys(overrides).length > 0) layers.push({ source: "command-line flags", ...overridesLayer, values: overrides });
  const cfg = layeredConfig(PipelineConfigSchema, defaults, layers);
  if (cfg.secondRoundTeacherPrior && !cfg.secondRound) {
    throw new Error(`${file ?? "config"}: secondRoundTeacherPrior (--second-round-teacher-prior) needs secondRound (--second-round)`);
  }
  return cfg;
}

export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>, source: string, path = ""): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const where = path ? `${path}.${key}` : key;
    if (!(key in base)) throw new Error(`${source}: unknown setting '${where}'`);
    const current = base[key];
    if (isPlainObject(current) && isPlainObject(value)) out[key] = deepMerge(current, value, source, where);
    else if (current !== null && value !== null && typeof current !== typeof value && !(Array.isArray(current) && Array.isArray(value))) {
      throw new Error(`${source}: setting '${where}' should be a ${typeof current}, got ${JSON.stringify(value)}`);
    } else out[key] = value;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
