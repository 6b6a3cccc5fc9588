/**
 * What the HTTP layer calls: search, embed and rerank over one loaded {@link Searcher} (the library's one search
 * path; this file adds no ranking of its own), with every call going through the bounded, batching
 * {@link WorkQueue}. Concurrent searches of the same mode and k become one `searchBatch` call (one encoder forward
 * pass and one index scan for all their queries); concurrent embeds of the same side become one forward pass. Rerank
 * work is not batched across requests (it would not share a forward pass, only delay the others).
 */
import { Searcher, type SearchMode, type SearchResult } from "../index.ts";
import { passageText } from "../retrieval/tokenized-corpus.ts";
import { bm25LexicalScorer } from "../training/lexical.ts";
import { WorkQueue, type WorkQueueOptions, type WorkQueueStats } from "./queue.ts";

/** The service's modes: the Searcher's first stages, and `rerank` (the ranker over the first stage's top results). */
export const SERVE_MODES = ["dense", "bm25", "hybrid", "rerank"] as const;
export type ServeMode = (typeof SERVE_MODES)[number];

export interface ServiceOptions extends WorkQueueOptions {
  /** First-stage results the ranker rescores in `rerank` mode. */
  rerankDepth: number;
}

export const DEFAULT_SERVICE_OPTIONS: ServiceOptions = { maxPending: 256, maxBatch: 32, rerankDepth: 20 };

export interface SearchAnswer {
  results: SearchResult[];
  /** How many queries shared the batch this one ran in. */
  batch: number;
}

export interface RerankPassage {
  id: string;
  text: string;
  title?: string;
}

export interface ServiceInfo {
  modes: ServeMode[];
  rerankFirstStage: SearchMode | null;
  index: { kind: string; count: number; dim: number } | null;
  bm25: { documents: number } | null;
  ranker: boolean;
  retriever: boolean;
}

/** A query's answer, or the error that failed its batch. */
type Outcome<T> = { ok: true; value: T } | { ok: false; error: Error };

export class SearchService {
  readonly queue: WorkQueue;
  private readonly lexical: ReturnType<typeof bm25LexicalScorer> | null;
  /** Rerank calls (and rerank-mode searches) never share a batch: each gets its own queue key. */
  private rerankCalls = 0;

  constructor(readonly searcher: Searcher, readonly options: ServiceOptions = DEFAULT_SERVICE_OPTIONS) {
    this.queue = new WorkQueue(options);
    this.lexical = searcher.bm25 ? bm25LexicalScorer(searcher.bm25) : null;
  }

  /** The modes this service can answer (rerank needs a ranker). */
  get modes(): ServeMode[] {
    return [...this.searcher.modes, ...(this.searcher.ranker ? (["rerank"] as const) : [])];
  }

  /** The first stage that `rerank` mode reranks: dense when there is a dense index, else BM25. */
  get rerankFirstStage(): SearchMode | null {
    if (!this.searcher.ranker) return null;
    return this.searcher.modes.includes("dense") ? "dense" : "bm25";
  }

  get info(): ServiceInfo {
    const { index, bm25, ranker, retriever } = this.searcher;
    return {
      modes: this.modes,
      rerankFirstStage: this.rerankFirstStage,
      index: index ? { kind: index.kind, count: index.count, dim: index.dim } : null,
      bm25: bm25 ? { documents: bm25.numDocs } : null,
      ranker: ranker !== null,
      retriever: retriever !== null,
    };
  }

  get stats(): WorkQueueStats {
    return this.queue.stats;
  }

  /** Why `mode` cannot be served, or null when it can. */
  unavailable(mode: ServeMode): string | null {
    if (this.modes.includes(mode)) return null;
    const needs = { dense: "a dense index (--retriever and --index)", bm25: "a BM25 index (--bm25)", hybrid: "a dense and a BM25 index", rerank: "a ranker (--ranker)" }[mode];
    return `mode "${mode}" needs ${needs}; this server has: ${this.modes.join(", ")}`;
  }

  /** Searches one query; concurrent calls with the same mode and k share one batch. */
  async search(query: string, k: number, mode: ServeMode): Promise<SearchAnswer> {
    const reason = this.unavailable(mode);
    if (reason) throw new Error(reason);
    // rerank queries never share a batch: the ranker scores each query's candidates in its own forward passes, so a
    // shared batch would only hold every other request behind it (bench/load.ts: README, "Serving").
    const key = mode === "rerank" ? `search:rerank:${this.rerankCalls++}` : `search:${mode}:${k}`;
    const outcome = await this.queue.submit(key, query, (queries: string[]) => this.searchBatch(queries, k, mode));
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  private async searchBatch(queries: string[], k: number, mode: ServeMode): Promise<Outcome<SearchAnswer>[]> {
    const firstStage = mode === "rerank" ? this.rerankFirstStage! : mode;
    const options = mode === "rerank" ? { k, mode: firstStage, rerank: true, rerankDepth: this.options.rerankDepth } : { k, mode: firstStage, rerank: false };
    try {
      const answers = await this.searcher.searchBatch(queries.map((q, i) => [String(i), q] as const), options);
      return queries.map((_, i) => ({ ok: true, value: { results: answers.get(String(i))!, batch: queries.length } }));
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      return queries.map(() => ({ ok: false, error }));
    }
  }

  /** Embeds texts with the retriever (query or passage side); concurrent calls of one side share a forward pass. */
  async embed(texts: string[], side: "query" | "passage"): Promise<Float32Array[]> {
    const retriever = this.searcher.retriever;
    if (!retriever) throw new Error("embedding needs a retriever (--retriever)");
    return this.queue.submit(`embed:${side}`, texts, (groups: string[][]) => {
      const all = retriever.encode(groups.flat(), { side });
      let at = 0;
      return groups.map((g) => all.slice(at, (at += g.length)));
    });
  }

  /** Scores passages for a query with the ranker; returns them sorted by score (ties by input order). */
  async rerank(query: string, passages: RerankPassage[]): Promise<{ id: string; score: number; rank: number }[]> {
    const ranker = this.searcher.ranker;
    if (!ranker) throw new Error("reranking needs a ranker (--ranker)");
    if (ranker.hasLexicalPrior && !this.lexical) throw new Error("this ranker has a BM25 lexical prior; start the server with --bm25");
    return this.queue.submit(`rerank:${this.rerankCalls++}`, { query, passages }, ([job]: { query: string; passages: RerankPassage[] }[]) => {
      const pairs = job!.passages.map((p) => [job!.query, passageText({ title: p.title ?? "", text: p.text })] as const);
      const lexical = ranker.hasLexicalPrior ? this.lexical!(job!.query, job!.passages.map((p) => p.id)) : undefined;
      const scores = ranker.predict(pairs, { lexical });
      const order = job!.passages.map((p, i) => ({ id: p.id, score: scores[i]!, i })).sort((a, b) => b.score - a.score || a.i - b.i);
      return [order.map((o, r) => ({ id: o.id, score: o.score, rank: r + 1 }))];
    });
  }

  /** Waits for the queued work, then releases the searcher's resources. */
  async close(): Promise<void> {
    await this.queue.idle();
    this.searcher.close();
  }
}
