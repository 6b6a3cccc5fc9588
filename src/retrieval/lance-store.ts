/**
 * A dense index kept in a LanceDB table (https://lancedb.github.io/lancedb/): one row per passage with its id,
 * vector, title and text, at a local directory or any URI LanceDB accepts (s3://, gs://, az://, ...), so the
 * corpus and its readers can outgrow one disk. The table's schema metadata records what produced the vectors
 * (`md2pr` key: the model fingerprint, pooling, normalization); opening it for another model is refused.
 *
 * Search is by inner product (LanceDB's "dot" distance is 1 - <q, d>; scores returned are <q, d>), either
 * through the table's ANN index (IVF-FLAT, IVF-PQ or IVF-RQ with refinement, or IVF-HNSW-SQ) or exhaustively (`exact: true`).
 * Writes are LanceDB transactions: a reader sees the previous complete version or the new one, never a mix.
 *
 * Table layout (table name default "passages"):
 *   id      utf8, not null          the passage id
 *   vector  fixed_size_list<float32>[dim]
 *   title   utf8, not null          ("" when untitled)
 *   text    utf8, not null
 */
import { createRequire } from "node:module";
import type * as LanceDb from "@lancedb/lancedb";
import type * as Arrow from "apache-arrow";
import { exactTopK } from "./dense-exact.ts";
import type { DenseIndexInfo } from "./dense-format.ts";
import type { SearchHit } from "./metrics.ts";
import type { CorpusText } from "./tokenized-corpus.ts";

/** A search result with its passage (the text comes from the table). */
export interface PassageHit extends SearchHit {
  readonly title: string;
  readonly text: string;
}

/** The ANN index LanceDB builds over the vectors. */
export type LanceAnnIndex =
  | {
      readonly type: "ivf-pq";
      /** IVF partitions (default sqrt(rows), at least 1). */
      readonly numPartitions?: number;
      /** PQ sub-vectors (default dim / 16, or dim / 8). */
      readonly numSubVectors?: number;
      /** Bits per PQ code, 4 or 8 (default 8). */
      readonly numBits?: number;
      /** k-means training sample per partition (default 256). */
      readonly sampleRate?: number;
    }
  | {
      /** IVF partitions of full vectors: exact scores within the probed partitions (no quantization error). */
      readonly type: "ivf-flat";
      readonly numPartitions?: number;
      readonly sampleRate?: number;
    }
  | {
      /** IVF with RaBitQ codes (numBits per dimension, default 1), re-scored with refineFactor. */
      readonly type: "ivf-rq";
      readonly numPartitions?: number;
      readonly numBits?: number;
      readonly sampleRate?: number;
    }
  | {
      readonly type: "ivf-hnsw-sq";
      readonly numPartitions?: number;
      /** HNSW graph degree (default 20). */
      readonly m?: number;
      readonly efConstruction?: number;
      readonly sampleRate?: number;
    };

export interface LanceSearchOptions {
  /** Search every row, ignoring the ANN index (the exact top-k). */
  readonly exact?: boolean;
  /** IVF partitions probed per query (default LanceDB's: 20, or all when fewer). */
  readonly nprobes?: number;
  /** IVF-PQ: rows re-scored with full vectors = k * refineFactor (default 1 when an index exists). */
  readonly refineFactor?: number;
  /** IVF-HNSW: the query-time candidate list size. */
  readonly ef?: number;
  /**
   * Re-score the candidates with md2pr's exact kernel, so that scores and the order of near-ties are those of
   * DenseIndex (default true; false returns LanceDB's own float sums and order).
   */
  readonly rescore?: boolean;
}

export interface LanceOpenOptions {
  /** Table name (default "passages"). */
  readonly table?: string;
  /** Refuse a table written with vectors of another model. */
  readonly expectedFingerprint?: string;
}

export interface LanceWriteOptions {
  readonly table?: string;
  /** Rows per write (default 65536). */
  readonly batchRows?: number;
}

/** One batch of rows to write: ids, their vectors [ids.length, dim] row-major, and their passages. */
export interface LanceRows {
  readonly ids: readonly string[];
  readonly vectors: Float32Array;
  readonly passages: readonly CorpusText[];
}

interface StoreMeta extends DenseIndexInfo {
  readonly format: "md2pr-lance";
  readonly version: 1;
  readonly dim: number;
}

// LanceDB is CommonJS and checks `instanceof` against the apache-arrow it requires; an ESM import would load the
// package's other (ESM) build, whose classes it does not recognise. So arrow is required the way LanceDB does it.
const require = createRequire(import.meta.url);
const arrow = require("apache-arrow") as typeof Arrow;
// LanceDB's Rust logger prints warnings such as "No existing dataset ..., it will be created" on every new table;
// errors only, unless the user set LANCEDB_LOG (read when the addon loads, hence the require after this line).
process.env.LANCEDB_LOG ??= "error";
const lancedb = require("@lancedb/lancedb") as typeof LanceDb;

const META_KEY = "md2pr";
const DEFAULT_TABLE = "passages";
const VECTOR = "vector";

function schemaFor(dim: number, meta: StoreMeta): Arrow.Schema {
  return new arrow.Schema(
    [
      new arrow.Field("id", new arrow.Utf8(), false),
      new arrow.Field(VECTOR, new arrow.FixedSizeList(dim, new arrow.Field("item", new arrow.Float32(), true)), false),
      new arrow.Field("title", new arrow.Utf8(), false),
      new arrow.Field("text", new arrow.Utf8(), false),
    ],
    new Map([[META_KEY, JSON.stringify(meta)]]),
  );
}

/** An Arrow table of one batch, built from the typed array without a JS array per row. */
function arrowBatch(schema: Arrow.Schema, dim: number, rows: LanceRows, start: number, end: number): Arrow.Table {
  const n = end - start;
  const vecType = schema.fields[1]!.type as Arrow.FixedSizeList<Arrow.Float32>;
  const values = arrow.makeData({ type: new arrow.Float32(), length: n * dim, data: rows.vectors.subarray(start * dim, end * dim) });
  const vectors = arrow.makeData({ type: vecType, length: n, nullCount: 0, child: values });
  const utf8 = (xs: readonly string[]): Arrow.Data<Arrow.Utf8> => arrow.vectorFromArray(xs, new arrow.Utf8()).data[0]!;
  const ps = rows.passages.slice(start, end);
  const children = [utf8(rows.ids.slice(start, end)), vectors, utf8(ps.map((p) => p.title)), utf8(ps.map((p) => p.text))];
  const struct = arrow.makeData({ type: new arrow.Struct(schema.fields), length: n, nullCount: 0, children });
  return new arrow.Table(schema, new arrow.RecordBatch(schema, struct));
}

function checkRows(rows: LanceRows, dim: number): void {
  const n = rows.ids.length;
  if (rows.vectors.length !== n * dim) throw new Error(`LanceStore: ${rows.vectors.length} vector values for ${n} ids x dim ${dim}`);
  if (rows.passages.length !== n) throw new Error(`LanceStore: ${rows.passages.length} passages for ${n} ids`);
  for (const id of rows.ids) if (id === "") throw new Error("LanceStore: empty passage id");
}

function parseMeta(schema: Arrow.Schema, where: string): StoreMeta {
  const raw = schema.metadata.get(META_KEY);
  if (!raw) throw new Error(`${where}: not an md2pr passage table (no "${META_KEY}" schema metadata)`);
  const meta = JSON.parse(raw) as StoreMeta;
  if (meta.format !== "md2pr-lance" || meta.version !== 1) throw new Error(`${where}: unknown format ${meta.format} v${meta.version}`);
  const vec = schema.fields.find((f) => f.name === VECTOR);
  if (!vec || !(vec.type instanceof arrow.FixedSizeList) || vec.type.listSize !== meta.dim) {
    throw new Error(`${where}: the "${VECTOR}" column is not a float32 list of ${meta.dim} values`);
  }
  return meta;
}

function indexConfig(spec: LanceAnnIndex): LanceDb.Index {
  switch (spec.type) {
    case "ivf-pq":
      return lancedb.Index.ivfPq({
        distanceType: "dot", numPartitions: spec.numPartitions, numSubVectors: spec.numSubVectors, numBits: spec.numBits,
        sampleRate: spec.sampleRate,
      });
    case "ivf-flat":
      return lancedb.Index.ivfFlat({ distanceType: "dot", numPartitions: spec.numPartitions, sampleRate: spec.sampleRate });
    case "ivf-rq":
      return lancedb.Index.ivfRq({ distanceType: "dot", numPartitions: spec.numPartitions, numBits: spec.numBits, sampleRate: spec.sampleRate });
    case "ivf-hnsw-sq":
      return lancedb.Index.hnswSq({
        distanceType: "dot", numPartitions: spec.numPartitions, m: spec.m, efConstruction: spec.efConstruction, sampleRate: spec.sampleRate,
      });
  }
}

/** True when `uri` looks like a LanceDB location rather than an md2pr index directory. */
export function isLanceUri(uri: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(uri) || uri.endsWith(".lance") || uri.endsWith(".lancedb");
}

export class LanceStore {
  private constructor(
    readonly uri: string,
    private readonly db: LanceDb.Connection,
    private readonly table: LanceDb.Table,
    readonly dim: number,
    readonly info: DenseIndexInfo,
    readonly count: number,
  ) {}

  /**
   * Writes (or overwrites) the passage table at `uri` from batches of rows and returns it opened. The table is
   * created with the first batch and appended to after; an empty source makes an empty table.
   */
  static async write(
    uri: string, dim: number, info: DenseIndexInfo, batches: Iterable<LanceRows> | AsyncIterable<LanceRows>, opts: LanceWriteOptions = {},
  ): Promise<LanceStore> {
    if (!Number.isInteger(dim) || dim <= 0) throw new Error(`LanceStore: bad dim ${dim}`);
    const meta: StoreMeta = { format: "md2pr-lance", version: 1, dim, ...pickInfo(info) };
    const schema = schemaFor(dim, meta);
    const name = opts.table ?? DEFAULT_TABLE;
    const step = opts.batchRows ?? 65536;
    const db = await lancedb.connect(uri);
    // The first write replaces any previous table atomically (a new version); later writes append.
    let table: LanceDb.Table | null = null;
    for await (const rows of batches) {
      checkRows(rows, dim);
      for (let s = 0; s < rows.ids.length; s += step) {
        const data = arrowBatch(schema, dim, rows, s, Math.min(rows.ids.length, s + step));
        if (table) await table.add(data);
        else table = await db.createTable(name, data, { mode: "overwrite" });
      }
    }
    table ??= await db.createEmptyTable(name, schema, { mode: "overwrite" });
    table.close();
    db.close();
    return LanceStore.open(uri, { table: name, expectedFingerprint: info.modelFingerprint });
  }

  /** Opens the passage table at `uri`; with `expectedFingerprint`, refuses vectors of another model. */
  static async open(uri: string, opts: LanceOpenOptions = {}): Promise<LanceStore> {
    const name = opts.table ?? DEFAULT_TABLE;
    const db = await lancedb.connect(uri);
    const names = await db.tableNames();
    if (!names.includes(name)) {
      db.close();
      throw new Error(`${uri}: no LanceDB table "${name}" (tables: ${names.length ? names.join(", ") : "none"}); write one with \`md2pr index --backend lance\``);
    }
    const table = await db.openTable(name);
    const meta = parseMeta(await table.schema(), `${uri} (table ${name})`);
    if (opts.expectedFingerprint !== undefined && meta.modelFingerprint !== opts.expectedFingerprint) {
      table.close();
      db.close();
      throw new Error(
        `${uri}: the table was written with model fingerprint "${meta.modelFingerprint}", but the query encoder has ` +
          `"${opts.expectedFingerprint}"; re-index the corpus with this model (embeddings of different models are not comparable)`,
      );
    }
    return new LanceStore(uri, db, table, meta.dim, pickInfo(meta), await table.countRows());
  }

  /** Builds (replacing) the ANN index over the vectors. */
  async createIndex(spec: LanceAnnIndex): Promise<void> {
    await this.table.createIndex(VECTOR, { config: indexConfig(spec), replace: true });
  }

  /** The vector index's type (e.g. "IvfPq") and how many rows it covers, or null when the table has none. */
  async indexInfo(): Promise<{ type: string; indexedRows: number; unindexedRows: number } | null> {
    const idx = (await this.table.listIndices()).find((i) => i.columns.includes(VECTOR));
    if (!idx) return null;
    const stats = await this.table.indexStats(idx.name);
    return { type: idx.indexType, indexedRows: stats?.numIndexedRows ?? 0, unindexedRows: stats?.numUnindexedRows ?? 0 };
  }

  /** Top-k passages (with their text) for each query row of `queries` [numQueries, dim]. */
  async search(queries: Float32Array, numQueries: number, k: number, opts: LanceSearchOptions = {}): Promise<PassageHit[][]> {
    return this.each(queries, numQueries, async (vector) => {
      const rows = await this.query(vector, k, opts, ["id", "title", "text"]);
      return rows.map((r) => ({ id: r.id, score: r.score, title: r.title ?? "", text: r.text ?? "" }));
    });
  }

  /** Top-k ids and scores only (no passage text read), e.g. for benchmarks. */
  async searchIds(queries: Float32Array, numQueries: number, k: number, opts: LanceSearchOptions = {}): Promise<SearchHit[][]> {
    return this.each(queries, numQueries, async (vector) => (await this.query(vector, k, opts, ["id"])).map((r) => ({ id: r.id, score: r.score })));
  }

  /** Runs `fn` on each query row, a few queries in flight at a time (LanceDB works on them in parallel); results in order. */
  private async each<T>(queries: Float32Array, numQueries: number, fn: (vector: Float32Array) => Promise<T>): Promise<T[]> {
    if (queries.length !== numQueries * this.dim) {
      throw new Error(`LanceStore.search: queries have ${queries.length} values, expected ${numQueries} x ${this.dim}`);
    }
    const out: T[] = new Array(numQueries);
    const inFlight = 8;
    for (let s = 0; s < numQueries; s += inFlight) {
      const batch = Array.from({ length: Math.min(inFlight, numQueries - s) }, (_, i) => fn(queries.subarray((s + i) * this.dim, (s + i + 1) * this.dim)));
      (await Promise.all(batch)).forEach((r, i) => (out[s + i] = r));
    }
    return out;
  }

  private async query(vector: Float32Array, k: number, opts: LanceSearchOptions, columns: string[]): Promise<ScoredRow[]> {
    if (!Number.isInteger(k) || k <= 0) throw new Error(`LanceStore.search: k must be a positive integer, got ${k}`);
    const rescore = opts.rescore ?? true;
    // Re-scoring takes a few more candidates, so that passages LanceDB's float sums put just below the k-th make it.
    const limit = rescore ? k + Math.max(10, Math.ceil(k / 10)) : k;
    let q = this.table.vectorSearch(vector).column(VECTOR).distanceType("dot").limit(limit);
    q = (rescore ? q.withRowId().select([...columns, VECTOR, "_distance"]) : q.select([...columns, "_distance"])) as typeof q;
    if (opts.exact) q = q.bypassVectorIndex();
    else {
      if (opts.nprobes !== undefined) q = q.nprobes(opts.nprobes);
      if (opts.refineFactor !== undefined) q = q.refineFactor(opts.refineFactor);
      if (opts.ef !== undefined) q = q.ef(opts.ef);
    }
    const rows = (await q.toArray()) as LanceRow[];
    if (rescore) return this.rescored(vector, rows, k);
    // LanceDB orders by distance; ties are put in md2pr's order (score desc, id desc; see metrics.ts).
    return rows
      .sort((a, b) => a._distance - b._distance || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
      .map((r) => ({ ...r, score: 1 - r._distance }));
  }

  /**
   * The top k of `rows` by md2pr's exact kernel (the GEMM of dense-exact.ts), ties to the row written first, as
   * DenseIndex orders them: LanceDB sums the same products in another order, which can swap near-ties.
   */
  private rescored(vector: Float32Array, rows: LanceRow[], k: number): ScoredRow[] {
    rows.sort((a, b) => (a._rowid! < b._rowid! ? -1 : a._rowid! > b._rowid! ? 1 : 0));
    const matrix = new Float32Array(rows.length * this.dim);
    rows.forEach((r, i) => matrix.set(r.vector!.toArray(), i * this.dim));
    const top = exactTopK(matrix, rows.length, this.dim, vector, 1, k);
    return Array.from(top.indices, (i, j) => ({ ...rows[i]!, score: top.scores[j]! }));
  }

  /** The passages of `ids` (missing ids are absent from the map). */
  async passages(ids: readonly string[]): Promise<Map<string, CorpusText>> {
    const out = new Map<string, CorpusText>();
    const step = 512;
    for (let s = 0; s < ids.length; s += step) {
      const list = ids.slice(s, s + step).map((id) => `'${id.replaceAll("'", "''")}'`).join(", ");
      const rows = (await this.table.query().where(`id IN (${list})`).select(["id", "title", "text"]).toArray()) as LanceRow[];
      for (const r of rows) out.set(r.id, { title: r.title ?? "", text: r.text ?? "" });
    }
    return out;
  }

  close(): void {
    this.table.close();
    this.db.close();
  }
}

interface LanceRow {
  id: string;
  title?: string;
  text?: string;
  vector?: { toArray(): Float32Array };
  _rowid?: bigint;
  _distance: number;
}

type ScoredRow = LanceRow & { score: number };

function pickInfo(info: DenseIndexInfo): DenseIndexInfo {
  return { modelFingerprint: info.modelFingerprint, pooling: info.pooling, normalized: info.normalized };
}
