/**
 * One interface over md2pr's three dense indexes, so that search code does not care which one it has:
 *   exact  a dense index directory from `md2pr encode` (index.json + embeddings.f32): brute-force GEMM, in memory
 *   hnsw   an HNSW directory from `md2pr index --backend hnsw` (hnsw.json + hnsw.bin): approximate, in memory
 *   lance  a LanceDB table from `md2pr index --backend lance` (a directory or any LanceDB URI): on disk / object
 *          storage, ANN index or exhaustive scan, and it carries the passages' title and text
 * `openIndex` tells them apart by what the location holds; `buildIndex` encodes a corpus into one.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { encodeCorpus, encodePieces, encodingOrder } from "../encoding/encode-corpus.ts";
import type { DenseIndexInfo } from "../retrieval/dense-format.ts";
import { DenseIndex } from "../retrieval/dense-exact.ts";
import { HnswIndex } from "../retrieval/hnsw-index.ts";
import { LanceStore, type LanceAnnIndex, type LanceRows, type LanceSearchOptions } from "../retrieval/lance-store.ts";
import type { SearchHit } from "../retrieval/metrics.ts";
import { TokenizedCorpus, type CorpusText } from "../retrieval/tokenized-corpus.ts";
import type { Retriever } from "./retriever.ts";

export type IndexKind = "exact" | "hnsw" | "lance";

/** Query-time settings of the approximate indexes (ignored by the exact one). */
export interface DenseSearchOptions extends LanceSearchOptions {
  /** HNSW: the query-time candidate list size. LanceDB IVF-HNSW: see {@link LanceSearchOptions.ef}. */
  readonly ef?: number;
}

/** A hit of a dense index; `title`/`text` are set when the index stores passages (LanceDB). */
export interface DenseHit extends SearchHit {
  readonly title?: string;
  readonly text?: string;
}

/** A dense index opened for search. */
export interface VectorIndex {
  readonly kind: IndexKind;
  readonly location: string;
  readonly dim: number;
  readonly count: number;
  /** What produced the vectors (model fingerprint, pooling, normalization). */
  readonly info: DenseIndexInfo;
  /** True when hits carry the passage text (and {@link passages} works). */
  readonly storesText: boolean;
  /** Top-k hits for each row of `queries` [numQueries, dim], best first. */
  search(queries: Float32Array, numQueries: number, k: number, options?: DenseSearchOptions): Promise<DenseHit[][]>;
  /** The stored passages of `ids` (an empty map when the index stores no text). */
  passages(ids: readonly string[]): Promise<Map<string, CorpusText>>;
  close(): void;
}

export interface OpenIndexOptions {
  /** Refuse an index built by another model (give the retriever's fingerprint). */
  readonly expectedFingerprint?: string;
  /** LanceDB table name (default "passages"). */
  readonly table?: string;
}

class ExactIndex implements VectorIndex {
  readonly kind = "exact";
  readonly storesText = false;
  constructor(readonly location: string, readonly index: DenseIndex) {}
  get dim(): number { return this.index.dim; }
  get count(): number { return this.index.count; }
  get info(): DenseIndexInfo { return this.index.info; }
  async search(queries: Float32Array, numQueries: number, k: number): Promise<DenseHit[][]> {
    return this.index.search(queries, numQueries, k);
  }
  async passages(): Promise<Map<string, CorpusText>> { return new Map(); }
  close(): void {}
}

class HnswAdapter implements VectorIndex {
  readonly kind = "hnsw";
  readonly storesText = false;
  private readonly defaultEf: number;
  constructor(readonly location: string, readonly index: HnswIndex) {
    this.defaultEf = index.ef;
  }
  get dim(): number { return this.index.dim; }
  get count(): number { return this.index.count; }
  get info(): DenseIndexInfo { return this.index.info; }
  async search(queries: Float32Array, numQueries: number, k: number, options: DenseSearchOptions = {}): Promise<DenseHit[][]> {
    this.index.setEf(options.ef ?? this.defaultEf);
    return this.index.search(queries, numQueries, k);
  }
  async passages(): Promise<Map<string, CorpusText>> { return new Map(); }
  close(): void {}
}

class LanceAdapter implements VectorIndex {
  readonly kind = "lance";
  readonly storesText = true;
  constructor(readonly location: string, readonly store: LanceStore) {}
  get dim(): number { return this.store.dim; }
  get count(): number { return this.store.count; }
  get info(): DenseIndexInfo { return this.store.info; }
  search(queries: Float32Array, numQueries: number, k: number, options: DenseSearchOptions = {}): Promise<DenseHit[][]> {
    return this.store.search(queries, numQueries, k, options);
  }
  passages(ids: readonly string[]): Promise<Map<string, CorpusText>> { return this.store.passages(ids); }
  close(): void { this.store.close(); }
}

/** Which kind of index `location` holds (a directory with index.json or hnsw.json; anything else is LanceDB). */
export function indexKindAt(location: string): IndexKind {
  if (existsSync(join(location, "index.json"))) return "exact";
  if (existsSync(join(location, "hnsw.json"))) return "hnsw";
  return "lance";
}

/** Opens a dense index of any kind (see the module comment). */
export async function openIndex(location: string, options: OpenIndexOptions = {}): Promise<VectorIndex> {
  const fp = { expectedFingerprint: options.expectedFingerprint };
  switch (indexKindAt(location)) {
    case "exact":
      return new ExactIndex(location, await DenseIndex.load(location, fp));
    case "hnsw":
      return new HnswAdapter(location, await HnswIndex.load(location, fp));
    case "lance":
      if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(location) && !existsSync(location)) {
        throw new Error(`dense index not found: ${location} (an md2pr index directory or a LanceDB location)`);
      }
      return new LanceAdapter(location, await LanceStore.open(location, { ...fp, table: options.table }));
  }
}

export interface BuildIndexOptions {
  /** "exact" (default: a dense index directory, resumable) or "lance" (a LanceDB table with the passages). */
  readonly kind?: "exact" | "lance";
  /**
   * LanceDB: the ANN index to build; null for none (exhaustive search: a few ms over 5k passages, over a second over
   * 1M). Default: IVF-FLAT with sqrt(passages) partitions from 10,000 passages on, none below.
   */
  readonly ann?: LanceAnnIndex | null;
  /** LanceDB table name (default "passages"). */
  readonly table?: string;
  /** Passages per forward pass (default 64). */
  readonly batchSize?: number;
  /** Progress label on stderr (exact kind); null for silence (default). */
  readonly label?: string | null;
}

/**
 * Encodes every passage of `corpus` (id -> title and text) with the retriever's passage encoder into a new index at
 * `location` and returns it opened.
 */
export async function buildIndex(
  retriever: Retriever, corpus: ReadonlyMap<string, CorpusText>, location: string, options: BuildIndexOptions = {},
): Promise<VectorIndex> {
  const tokenized = new TokenizedCorpus(corpus, retriever.tokenizer);
  const batchSize = options.batchSize ?? 64;
  if ((options.kind ?? "exact") === "exact") {
    const index = await encodeCorpus(retriever.model, tokenized, location, { batchSize, label: options.label ?? null });
    return new ExactIndex(location, index);
  }
  const model = retriever.model;
  const info: DenseIndexInfo = { modelFingerprint: model.fingerprint(), pooling: model.settings.pooling, normalized: model.settings.similarity === "cosine" };
  const order = encodingOrder(tokenized, model.settings.maxPassageLength);
  function* chunks(): Generator<LanceRows> {
    const step = batchSize * 16;
    for (let s = 0; s < order.length; s += step) {
      const ids = order.slice(s, s + step);
      const vectors = encodePieces(model, ids.map((id) => tokenized.passage(id)), "passage", tokenized.specials, batchSize);
      yield { ids, vectors, passages: ids.map((id) => corpus.get(id)!) };
    }
  }
  const store = await LanceStore.write(location, retriever.dim, info, chunks(), { table: options.table });
  const ann = options.ann !== undefined ? options.ann : defaultAnn(order.length);
  if (ann) await store.createIndex(ann);
  return new LanceAdapter(location, store);
}

/** The ANN index `buildIndex` makes when none is asked for: IVF-FLAT from 10,000 passages on. */
export function defaultAnn(count: number): LanceAnnIndex | null {
  return count >= 10_000 ? { type: "ivf-flat", numPartitions: Math.round(Math.sqrt(count)) } : null;
}

/** Writes the vectors of an exact dense index and the passages' text into a LanceDB table (`md2pr index --backend lance`). */
export async function lanceFromDense(
  dense: DenseIndex, corpus: ReadonlyMap<string, CorpusText>, location: string, options: { ann?: LanceAnnIndex | null; table?: string } = {},
): Promise<LanceStore> {
  const missing = dense.ids.find((id) => !corpus.has(id));
  if (missing !== undefined) throw new Error(`passage "${missing}" of the dense index is not in the corpus`);
  const rows: LanceRows = { ids: dense.ids, vectors: dense.embeddings, passages: dense.ids.map((id) => corpus.get(id)!) };
  const store = await LanceStore.write(location, dense.dim, dense.info, [rows], { table: options.table });
  if (options.ann) await store.createIndex(options.ann);
  return store;
}
