/**
 * The one search path of md2pr: query text -> dense | BM25 | hybrid first stage -> optional reranking by the ranker
 * -> hits with their passages. `md2pr search` runs it over a queries file; `md2pr serve` answers HTTP requests with
 * it; library users call it directly. It composes the pieces below it (Retriever, Ranker, VectorIndex, Bm25Index,
 * fusion.ts) and adds no ranking logic of its own.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Bm25Index } from "../retrieval/bm25.ts";
import { DEFAULT_FUSION, hybridFuse, readRecordedFusion, rerank, type Fusion, type RecordedFusion } from "../retrieval/fusion.ts";
import type { SearchHit } from "../retrieval/metrics.ts";
import { passageText, type CorpusText } from "../retrieval/tokenized-corpus.ts";
import { bm25LexicalScorer } from "../training/lexical.ts";
import type { LexicalScorer } from "../training/ranker-stage.ts";
import { Ranker } from "./ranker.ts";
import { Retriever } from "./retriever.ts";
import { openIndex, type DenseSearchOptions, type VectorIndex } from "./vector-index.ts";
import { notARanker } from "../models/fingerprint.ts";
import { checkArtifactSet } from "../util/provenance.ts";

export type SearchMode = "dense" | "bm25" | "hybrid";

/** What a Searcher searches with; each is an object already loaded, or the path (URI) to load it from. */
export interface SearcherSources {
  /** The query encoder (dense and hybrid search). */
  readonly retriever?: Retriever | string;
  /** The dense index: an exact or HNSW directory, or a LanceDB location (needs `retriever`). */
  readonly index?: VectorIndex | string;
  /** A BM25 index (BM25 and hybrid search; also the lexical scores of a ranker with a lexical prior). */
  readonly bm25?: Bm25Index | string;
  /** A ranker to rerank the first stage. */
  readonly ranker?: Ranker | string;
  /**
   * The passages (id -> title, text): where results get their text when the dense index stores none (exact, HNSW,
   * BM25). Not needed with a LanceDB index.
   */
  readonly corpus?: ReadonlyMap<string, CorpusText>;
}

export interface SearchOptions {
  /** Results returned per query (default 10). */
  readonly k?: number;
  /** Default: hybrid when both a dense index and BM25 are there, else the one that is. */
  readonly mode?: SearchMode;
  /** Hybrid: how BM25 and dense lists are combined (default: the fusion recorded next to the retriever, else RRF k 60). */
  readonly fusion?: Fusion;
  /** Hybrid: results taken from each list before fusion (default: the depth recorded with the fusion in fusion.json, else 100). */
  readonly fusionDepth?: number;
  /** Rerank the top `rerankDepth` first-stage results with the ranker (default: true when a ranker is loaded). */
  readonly rerank?: boolean;
  /** First-stage results the ranker rescores (default max(k, 100)). */
  readonly rerankDepth?: number;
  /** Query-time settings of an approximate dense index (HNSW ef; LanceDB nprobes, refineFactor, exact). */
  readonly dense?: DenseSearchOptions;
  /** Attach title and text to the results (default true; needs a LanceDB index or `corpus`). */
  readonly withText?: boolean;
  /** Queries per encoder forward pass, pairs per ranker forward pass (default 64). */
  readonly batchSize?: number;
}

/** One result: `rank` from 1; `title`/`text` when the passages are known. */
export interface SearchResult {
  readonly id: string;
  readonly score: number;
  readonly rank: number;
  readonly title?: string;
  readonly text?: string;
}

type Hits = readonly SearchHit[];

export class Searcher {
  private readonly recordedFusion: RecordedFusion | null;
  /** BM25 scores of (query, passages), for a ranker with the lexical prior. */
  private readonly lexical: LexicalScorer | null;

  private constructor(
    readonly retriever: Retriever | null,
    readonly index: VectorIndex | null,
    readonly bm25: Bm25Index | null,
    readonly ranker: Ranker | null,
    readonly corpus: ReadonlyMap<string, CorpusText> | null,
    retrieverDir: string | null,
  ) {
    this.recordedFusion = retrieverDir && existsSync(join(retrieverDir, "fusion.json")) ? readRecordedFusion(retrieverDir) : null;
    this.lexical = bm25 ? bm25LexicalScorer(bm25) : null;
  }

  /** Loads what `sources` names and checks that it fits together (the index was built by this retriever, ...). */
  static async open(sources: SearcherSources): Promise<Searcher> {
    // Folders given by path must belong together (their md2pr-artifact.json records; util/provenance.ts).
    const dir = (s: unknown): string | undefined => (typeof s === "string" ? s : undefined);
    checkArtifactSet({ retriever: dir(sources.retriever), index: dir(sources.index), bm25: dir(sources.bm25) });
    const notRanker = typeof sources.ranker === "string" ? notARanker(sources.ranker) : null;
    if (notRanker) throw new Error(`Searcher: ${notRanker}`);
    const retriever = typeof sources.retriever === "string" ? Retriever.load(sources.retriever) : sources.retriever ?? null;
    if (sources.index !== undefined && !retriever) throw new Error("Searcher: a dense index needs the retriever that encodes the queries");
    if (retriever && sources.index === undefined) throw new Error("Searcher: a retriever needs a dense index to search");
    const index = typeof sources.index === "string"
      ? await openIndex(sources.index, { expectedFingerprint: retriever!.fingerprint() })
      : sources.index ?? null;
    if (index && retriever && index.info.modelFingerprint !== retriever.fingerprint()) {
      throw new Error(`Searcher: the index ${index.location} was built with model "${index.info.modelFingerprint}", the retriever is "${retriever.fingerprint()}"`);
    }
    const bm25 = typeof sources.bm25 === "string" ? await Bm25Index.load(sources.bm25) : sources.bm25 ?? null;
    const ranker = typeof sources.ranker === "string" ? Ranker.load(sources.ranker) : sources.ranker ?? null;
    if (!index && !bm25) throw new Error("Searcher: give a dense index (with its retriever), a BM25 index, or both");
    if (ranker?.hasLexicalPrior && !bm25) throw new Error("Searcher: the ranker has a BM25 lexical prior; give the BM25 index too");
    const retrieverDir = typeof sources.retriever === "string" ? sources.retriever : null;
    return new Searcher(retriever, index, bm25, ranker, sources.corpus ?? null, retrieverDir);
  }

  /** The modes this searcher can run. */
  get modes(): SearchMode[] {
    const modes: SearchMode[] = [];
    if (this.index) modes.push("dense");
    if (this.bm25) modes.push("bm25");
    if (this.index && this.bm25) modes.push("hybrid");
    return modes;
  }

  /** The mode used when none is asked for. */
  get defaultMode(): SearchMode {
    return this.index && this.bm25 ? "hybrid" : this.index ? "dense" : "bm25";
  }

  /** The hybrid fusion used when none is given (recorded on dev next to the retriever, else RRF k 60). */
  get defaultFusion(): Fusion {
    return this.recordedFusion?.hybrid ?? DEFAULT_FUSION;
  }

  /** Searches one query. */
  async search(query: string, options: SearchOptions = {}): Promise<SearchResult[]> {
    return (await this.searchBatch([["q", query]], options)).get("q")!;
  }

  /** Searches many queries (query id -> text); queries are encoded in batches. */
  async searchBatch(queries: Iterable<readonly [string, string]>, options: SearchOptions = {}): Promise<Map<string, SearchResult[]>> {
    const list = [...queries];
    const k = options.k ?? 10;
    if (!Number.isInteger(k) || k <= 0) throw new Error(`Searcher: k must be a positive integer, got ${k}`);
    const mode = options.mode ?? this.defaultMode;
    if (!this.modes.includes(mode)) throw new Error(`Searcher: mode "${mode}" needs ${mode === "bm25" ? "a BM25 index" : mode === "dense" ? "a dense index" : "a dense and a BM25 index"}`);
    const doRerank = options.rerank ?? this.ranker !== null;
    if (doRerank && !this.ranker) throw new Error("Searcher: rerank needs a ranker");
    const rerankDepth = Math.max(k, options.rerankDepth ?? 100);
    const firstK = doRerank ? rerankDepth : k;
    // the depth the recorded fusion was chosen at: normalized scores depend on how deep each list goes
    const depth = mode === "hybrid" ? Math.max(firstK, options.fusionDepth ?? this.recordedFusion?.fusionDepth ?? 100) : firstK;

    const texts = new Map<string, CorpusText>();
    const dense = mode === "bm25" ? null : await this.denseHits(list, depth, options, texts);
    const lexical = mode === "dense" ? null : list.map(([, text]) => this.bm25!.search(text, depth));
    const out = new Map<string, SearchResult[]>();
    for (let i = 0; i < list.length; i++) {
      const [qid, text] = list[i]!;
      let hits: Hits = mode === "hybrid" ? hybridFuse(lexical![i]!, dense![i]!, options.fusion ?? this.defaultFusion, firstK)
        : (dense ?? lexical)![i]!.slice(0, firstK);
      if (doRerank) hits = await this.rerankHits(text, hits, rerankDepth, mode, texts, options.batchSize ?? 64);
      hits = hits.slice(0, k);
      const withText = options.withText ?? true;
      if (withText) await this.fillTexts(hits, texts);
      out.set(qid, hits.map((h, r) => withText && texts.has(h.id)
        ? { id: h.id, score: h.score, rank: r + 1, title: texts.get(h.id)!.title, text: texts.get(h.id)!.text }
        : { id: h.id, score: h.score, rank: r + 1 }));
    }
    return out;
  }

  private async denseHits(list: readonly (readonly [string, string])[], depth: number, options: SearchOptions, texts: Map<string, CorpusText>): Promise<Hits[]> {
    const m = this.retriever!.encodeMatrix(list.map(([, t]) => t), { side: "query", batchSize: options.batchSize });
    const hits = await this.index!.search(m.data, m.rows, depth, options.dense);
    for (const row of hits) for (const h of row) if (h.text !== undefined) texts.set(h.id, { title: h.title ?? "", text: h.text });
    return hits.map((row) => row.map((h) => ({ id: h.id, score: h.score })));
  }

  private async rerankHits(query: string, hits: Hits, depth: number, mode: SearchMode, texts: Map<string, CorpusText>, batchSize: number): Promise<SearchHit[]> {
    const head = hits.slice(0, depth);
    await this.fillTexts(head, texts);
    const missing = head.find((h) => !texts.has(h.id));
    if (missing) throw new Error(`Searcher: no text for passage "${missing.id}" to rerank (give the corpus, or use a LanceDB index)`);
    const ranker = this.ranker!;
    const fusion = mode === "hybrid" ? this.recordedFusion?.rerank ?? undefined : undefined;
    const reranked = await rerank(head, async (batch) => {
      const pairs = batch.map((h) => [query, passageText(texts.get(h.id)!)] as const);
      const lexical = ranker.hasLexicalPrior ? this.lexical!(query, batch.map((h) => h.id)) : undefined;
      return ranker.predict(pairs, { batchSize, lexical });
    }, { batchSize, fusion });
    return reranked.map((h) => ({ id: h.id, score: h.score }));
  }

  /** Adds the passages of `hits` not yet in `texts`: from the index when it stores them, else from the corpus. */
  private async fillTexts(hits: Hits, texts: Map<string, CorpusText>): Promise<void> {
    const need = hits.map((h) => h.id).filter((id) => !texts.has(id));
    if (need.length === 0) return;
    if (this.corpus) {
      for (const id of need) {
        const doc = this.corpus.get(id);
        if (doc) texts.set(id, doc);
      }
    } else if (this.index?.storesText) {
      for (const [id, doc] of await this.index.passages(need)) texts.set(id, doc);
    }
  }

  /** Releases the index (LanceDB connections). */
  close(): void {
    this.index?.close();
  }
}
