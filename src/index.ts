/**
 * md2pr as a library: `import { Retriever, Searcher, ... } from "md2pr"`. This file is the whole public surface;
 * everything else under src/ is internal and may change.
 *
 * - {@link Retriever}: a dual encoder with its tokenizer; `encode(texts, { side, batchSize })`.
 * - {@link Ranker}: a cross-encoder with its tokenizer; `predict(pairs)`.
 * - {@link buildIndex} / {@link openIndex}: dense indexes (exact, HNSW, LanceDB) behind one {@link VectorIndex}.
 * - {@link Bm25Index}: Lucene-compatible BM25.
 * - {@link Searcher}: query -> dense | BM25 | hybrid -> optional rerank -> hits with passage text.
 * - {@link reciprocalRankFusion}, {@link hybridFuse}, {@link rerank}: the building blocks, for custom pipelines.
 * - {@link evaluate}: trec_eval metrics of a run against qrels; {@link loadQrels}, {@link readTrecRun}, ...
 * - {@link train}: the MD2PR training pipeline from code, with the CLI's config.
 *
 * @example
 * ```ts
 * import { Retriever, Searcher, buildIndex } from "md2pr";
 * const retriever = Retriever.load("runs/scifact/retriever");
 * const corpus = new Map([["d1", { title: "Vitamin D", text: "Sunlight raises vitamin D levels." }]]);
 * await buildIndex(retriever, corpus, "runs/scifact/lance", { kind: "lance" });
 * const searcher = await Searcher.open({ retriever, index: "runs/scifact/lance" });
 * console.log(await searcher.search("what does sunlight do?", { k: 3 }));
 * ```
 * @packageDocumentation
 */

// Models
export { Retriever, type EncodeOptions, type Matrix, type Side } from "./api/retriever.ts";
export { Ranker, DEFAULT_PAIR_LENGTHS, type PairLengths, type PredictOptions, type TextPair } from "./api/ranker.ts";
export type { DualEncoderSettings, Pooling, Similarity } from "./models/dual-encoder.ts";

// Indexes and search
export {
  buildIndex, openIndex, indexKindAt, lanceFromDense,
  type BuildIndexOptions, type DenseHit, type DenseSearchOptions, type IndexKind, type OpenIndexOptions, type VectorIndex,
} from "./api/vector-index.ts";
export { LanceStore, type LanceAnnIndex, type LanceSearchOptions, type PassageHit } from "./retrieval/lance-store.ts";
export { DenseIndex } from "./retrieval/dense-exact.ts";
export { HnswIndex, type HnswOptions } from "./retrieval/hnsw-index.ts";
export type { DenseIndexInfo } from "./retrieval/dense-format.ts";
export { Bm25Index, DEFAULT_BM25_PARAMS, type Bm25Doc, type Bm25Params } from "./retrieval/bm25.ts";
export { Searcher, type SearchMode, type SearchOptions, type SearchResult, type SearcherSources } from "./api/searcher.ts";
export type { CorpusText } from "./retrieval/tokenized-corpus.ts";

// Fusion and reranking
export {
  reciprocalRankFusion, hybridFuse, fuseTwo, rerank, DEFAULT_FUSION,
  type Fusion, type RrfOptions, type RerankOptions, type BatchScorer, type ScoreNormalization,
} from "./retrieval/fusion.ts";

// Evaluation and files
export { evaluate, DEFAULT_METRICS, type EvaluateRunOptions } from "./api/evaluate.ts";
export type { Evaluation, SearchHit, Run } from "./retrieval/metrics.ts";
export { readTrecRun, writeTrecRun, sortHits } from "./retrieval/metrics.ts";
export { loadBeir, loadQrels, loadQueries, type BeirDataset, type Qrels } from "./retrieval/readers.ts";

// Training
export { train, resolveTrainConfig, type TrainConfig, type TrainOptions } from "./api/train.ts";
export { DEFAULT_PIPELINE, type PipelineConfig } from "./training/pipeline.ts";
export { STAGES, type Stage, type PipelineOutcome } from "./training/run-pipeline.ts";
