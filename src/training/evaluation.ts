/**
 * Evaluation through retrieval, used during and after training: dense search with the retriever, BM25,
 * hybrid (RRF), and reranking a first-stage run with the ranker; each returns a run and its metrics.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DualEncoder } from "../models/dual-encoder.ts";
import type { PairCorpus, PairRanker } from "../models/pair-ranker.ts";
import type { Bm25Index } from "../retrieval/bm25.ts";
import type { DenseIndex } from "../retrieval/dense-index.ts";
import { encodeCorpus, encodeQueries } from "../encoding/encode-corpus.ts";
import { DEFAULT_FUSION, hybridFuse, rerank, type Fusion } from "../retrieval/fusion.ts";
import { evaluateRun, sortHits, type Run, type SearchHit } from "../retrieval/metrics.ts";
import type { Qrels } from "../retrieval/readers.ts";
import type { TokenizedCorpus } from "../retrieval/tokenized-corpus.ts";
import type { LexicalScorer, PairLengths } from "./ranker-stage.ts";
import { scorePairs } from "./ranker-stage.ts";

export const METRICS = ["ndcg@10", "mrr@10", "recall@100"] as const;

export interface Scored {
  run: Map<string, SearchHit[]>;
  metrics: Record<string, number>;
}

export function score(run: Map<string, SearchHit[]>, qrels: Qrels): Scored {
  return { run, metrics: evaluateRun(run, qrels, [...METRICS]).mean };
}

export function bm25Run(bm25: Bm25Index, queries: ReadonlyMap<string, string>, k: number): Map<string, SearchHit[]> {
  const run = new Map<string, SearchHit[]>();
  for (const [qid, text] of queries) run.set(qid, bm25.search(text, k));
  return run;
}

export function denseRun(model: DualEncoder, index: DenseIndex, corpus: TokenizedCorpus, queries: ReadonlyMap<string, string>, k: number): Map<string, SearchHit[]> {
  const qids = [...queries.keys()];
  const vectors = encodeQueries(model, corpus, qids.map((q) => queries.get(q)!));
  const hits = index.search(vectors, qids.length, k);
  return new Map(qids.map((q, i) => [q, hits[i]!]));
}

/** Encodes the corpus into a temporary index (or `indexDir`) and searches the queries. */
export async function evaluateRetriever(
  model: DualEncoder, corpus: TokenizedCorpus, queries: ReadonlyMap<string, string>, qrels: Qrels, k = 100, indexDir?: string,
): Promise<Scored & { index: DenseIndex }> {
  const dir = indexDir ?? mkdtempSync(join(tmpdir(), "md2pr-eval-index-"));
  try {
    const index = await encodeCorpus(model, corpus, dir, { label: null });
    return { ...score(denseRun(model, index, corpus, queries, k), qrels), index };
  } finally {
    if (!indexDir) rmSync(dir, { recursive: true, force: true });
  }
}

/** Fuses two runs query by query (the first's queries; `fusion` as chosen on dev, RRF k 60 by default). */
export function hybridRun(a: Run, b: Run, k: number, fusion: Fusion = DEFAULT_FUSION): Map<string, SearchHit[]> {
  const out = new Map<string, SearchHit[]>();
  for (const [qid, hits] of a) out.set(qid, hybridFuse(hits, b.get(qid) ?? [], fusion, k));
  return out;
}

export interface RerankRunOptions {
  /** Fuse the ranker's score with the first stage's (weight: the ranker's share); default: the ranker's score alone. */
  fusion?: Fusion;
  /** Called after each query (progress). */
  onQuery?: (done: number) => void;
  /** Pairs per ranker forward pass (default 64). */
  batchSize?: number;
}

/**
 * Reranks the top `depth` hits of each query with the ranker (through `rerank`, the one rerank path); the hits
 * beyond `depth` follow in their first-stage order (scored below the reranked head), so Recall@k for k > depth is
 * the first stage's.
 */
export async function rerankRun(
  ranker: PairRanker, corpus: PairCorpus, queries: ReadonlyMap<string, string>, first: Run, depth: number,
  lengths: PairLengths, lexical?: LexicalScorer, options: RerankRunOptions = {},
): Promise<Map<string, SearchHit[]>> {
  const out = new Map<string, SearchHit[]>();
  const batchSize = options.batchSize ?? 64;
  for (const [qid, hits] of first) {
    const query = queries.get(qid)!;
    const scorer = async (batch: readonly SearchHit[]): Promise<Float32Array> =>
      scorePairs(ranker, corpus, query, batch.map((h) => h.id), lengths, batchSize, lexical);
    const ranked = await rerank(sortHits(hits), scorer, { depth, batchSize, fusion: options.fusion });
    const head = ranked.slice(0, depth).map((h) => ({ id: h.id, score: h.score }));
    let floor = Math.min(...head.map((h) => h.score));
    const tail = ranked.slice(depth).map((h) => ({ id: h.id, score: (floor -= 1) }));
    out.set(qid, [...head, ...tail]);
    options.onQuery?.(out.size);
  }
  return out;
}
