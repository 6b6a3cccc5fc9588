/**
 * Dense retrieval: exact inner-product top-k over an embeddings matrix, its on-disk format, a resumable
 * writer for encoding runs, and an approximate HNSW index (hnswlib-node, inner-product space).
 *
 * On-disk format of a dense index directory (all written through a temp name + rename):
 *   index.json       {"format":"md2pr-dense","version":1,"count":N,"dim":D,"dtype":"float32","byteOrder":"little",
 *                     "embeddingsFile":"embeddings.f32","idsFile":"ids.txt","modelFingerprint":"...",
 *                     "pooling":"cls"|"mean"|...,"normalized":true|false}
 *   embeddings.f32   N * D raw little-endian float32 values, row-major (row i = document i), no header
 *   ids.txt          N lines, line i = the external id of row i (UTF-8, "\n"-terminated)
 * `index.json` is written last: a directory without it is incomplete. While an EmbeddingWriter is encoding,
 * the directory holds `embeddings.f32.partial`, `ids.txt.partial` and `progress.json` instead.
 */
import { promises as fsp, existsSync } from "node:fs";
import * as path from "node:path";
import hnswlib from "hnswlib-node";
import { kernels as defaultKernels } from "../engine/kernels/index.ts";
import type { Kernels } from "../engine/kernels/types.ts";
import { atomicWriteDir, atomicWriteFile, typedBytes } from "./fs-util.ts";
import type { SearchHit } from "./metrics.ts";
import { TopK } from "./topk.ts";

export type Gemm = Pick<Kernels, "sgemm">;

export interface TopKResult {
  /** Results per query: k (or fewer when N < k). */
  readonly k: number;
  /** [numQueries * k] row indices, best first per query. */
  readonly indices: Int32Array;
  /** [numQueries * k] inner products, best first per query. */
  readonly scores: Float32Array;
}

export interface ExactSearchOptions {
  /** Queries per GEMM block (default 128). */
  readonly queryBlock?: number;
  /** Documents per GEMM block (default 8192). */
  readonly docBlock?: number;
  /** GEMM provider (default: the engine's kernels). */
  readonly kernels?: Gemm;
}

/**
 * Exact top-k by inner product: `queries` [numQueries, dim] against `docs` [numDocs, dim], both row-major
 * Float32Array. Blocked: each (query block x doc block) score tile is one GEMM (Q_b @ D_b^T), then every
 * query row of the tile is scanned into that query's top-k heap. Ties: the lower row index wins.
 */
export function exactTopK(
  docs: Float32Array, numDocs: number, dim: number,
  queries: Float32Array, numQueries: number, k: number, opts: ExactSearchOptions = {},
): TopKResult {
  if (docs.length < numDocs * dim) throw new RangeError(`exactTopK: docs has ${docs.length} values, needs ${numDocs * dim}`);
  if (queries.length < numQueries * dim) throw new RangeError(`exactTopK: queries has ${queries.length} values, needs ${numQueries * dim}`);
  const kk = Math.min(k, numDocs);
  const indices = new Int32Array(numQueries * kk);
  const scores = new Float32Array(numQueries * kk);
  if (kk === 0 || numQueries === 0) return { k: kk, indices, scores };
  const gemm = opts.kernels ?? defaultKernels;
  const qb = Math.max(1, Math.min(opts.queryBlock ?? 128, numQueries));
  const db = Math.max(1, Math.min(opts.docBlock ?? 8192, numDocs));
  const tile = new Float32Array(qb * db);
  const heaps: TopK[] = [];
  for (let i = 0; i < qb; i++) heaps.push(new TopK(kk));
  const thr = new Float64Array(qb);
  for (let q0 = 0; q0 < numQueries; q0 += qb) {
    const qn = Math.min(qb, numQueries - q0);
    for (let i = 0; i < qn; i++) {
      heaps[i]!.reset();
      thr[i] = -Infinity;
    }
    for (let d0 = 0; d0 < numDocs; d0 += db) {
      const dn = Math.min(db, numDocs - d0);
      gemm.sgemm(false, true, qn, dn, dim, 1, queries, q0 * dim, dim, docs, d0 * dim, dim, 0, tile, 0, dn);
      for (let i = 0; i < qn; i++) {
        const h = heaps[i]!;
        let t = thr[i]!;
        const row = i * dn;
        for (let j = 0; j < dn; j++) {
          const s = tile[row + j]!;
          if (s >= t) {
            h.push(s, d0 + j);
            t = h.threshold();
          }
        }
        thr[i] = t;
      }
    }
    for (let i = 0; i < qn; i++) {
      const { indices: ix, scores: sc } = heaps[i]!.sorted();
      indices.set(ix, (q0 + i) * kk);
      for (let j = 0; j < ix.length; j++) scores[(q0 + i) * kk + j] = sc[j]!;
    }
  }
  return { k: kk, indices, scores };
}

/** Descriptive metadata of a dense index (what produced the vectors). */
export interface DenseIndexInfo {
  /** Identifies the encoder (e.g. a hash of its weights + config); loading checks it. */
  readonly modelFingerprint: string;
  /** How token vectors became one vector: "cls", "mean", ... */
  readonly pooling: string;
  /** Whether rows are L2-normalized (inner product = cosine). */
  readonly normalized: boolean;
}

export interface DenseIndexMeta extends DenseIndexInfo {
  readonly format: "md2pr-dense";
  readonly version: 1;
  readonly count: number;
  readonly dim: number;
  readonly dtype: "float32";
  readonly byteOrder: "little";
  readonly embeddingsFile: string;
  readonly idsFile: string;
}

const EMB_FILE = "embeddings.f32";
const IDS_FILE = "ids.txt";
const META_FILE = "index.json";
const PROGRESS_FILE = "progress.json";

function checkIds(ids: readonly string[]): void {
  for (const id of ids) {
    if (id === "" || /[\n\r]/.test(id)) throw new Error(`dense index: invalid id ${JSON.stringify(id)} (empty or with a line break)`);
  }
}

async function readFloat32File(file: string, count: number): Promise<Float32Array> {
  const out = new Float32Array(count);
  const bytes = typedBytes(out);
  const fh = await fsp.open(file, "r");
  try {
    const st = await fh.stat();
    if (st.size !== bytes.byteLength) {
      throw new Error(`${file}: size ${st.size} bytes, expected ${bytes.byteLength} (${count} float32 values)`);
    }
    const CHUNK = 1 << 26;
    for (let off = 0; off < bytes.byteLength; ) {
      const { bytesRead } = await fh.read(bytes, off, Math.min(CHUNK, bytes.byteLength - off), off);
      if (bytesRead === 0) throw new Error(`${file}: unexpected end of file at byte ${off}`);
      off += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return out;
}

async function writeFloat32File(file: string, data: Float32Array): Promise<void> {
  const fh = await fsp.open(file, "w");
  try {
    const bytes = typedBytes(data);
    const CHUNK = 1 << 26;
    for (let off = 0; off < bytes.byteLength; off += CHUNK) {
      await fh.write(bytes, off, Math.min(CHUNK, bytes.byteLength - off));
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function parseIds(text: string, file: string, count: number): string[] {
  const ids = text === "" ? [] : text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
  if (ids.length !== count) throw new Error(`${file}: ${ids.length} ids, index.json says ${count}`);
  return ids;
}

/** Exact (brute-force) dense index: embeddings [count, dim] + ids, searched with blocked GEMM. */
export class DenseIndex {
  readonly ids: readonly string[];
  readonly embeddings: Float32Array;
  readonly dim: number;
  readonly info: DenseIndexInfo;

  constructor(ids: readonly string[], embeddings: Float32Array, dim: number, info: DenseIndexInfo) {
    if (!Number.isInteger(dim) || dim <= 0) throw new Error(`DenseIndex: bad dim ${dim}`);
    if (embeddings.length !== ids.length * dim) {
      throw new Error(`DenseIndex: ${embeddings.length} values for ${ids.length} ids x dim ${dim}`);
    }
    this.ids = ids;
    this.embeddings = embeddings;
    this.dim = dim;
    this.info = info;
  }

  get count(): number {
    return this.ids.length;
  }

  /** Top-k rows for each query row of `queries` [numQueries, dim]. */
  searchRaw(queries: Float32Array, numQueries: number, k: number, opts: ExactSearchOptions = {}): TopKResult {
    if (queries.length !== numQueries * this.dim) {
      throw new Error(`DenseIndex.search: queries have ${queries.length} values, expected ${numQueries} x ${this.dim}`);
    }
    return exactTopK(this.embeddings, this.count, this.dim, queries, numQueries, k, opts);
  }

  /** Top-k hits (external ids) for each query row. */
  search(queries: Float32Array, numQueries: number, k: number, opts: ExactSearchOptions = {}): SearchHit[][] {
    return hitsFromTopK(this.searchRaw(queries, numQueries, k, opts), numQueries, this.ids);
  }

  /** Writes the index directory atomically (see the module comment for the format). */
  async save(dir: string): Promise<void> {
    checkIds(this.ids);
    const meta = makeMeta(this.count, this.dim, this.info);
    await atomicWriteDir(dir, async (tmp) => {
      await writeFloat32File(path.join(tmp, EMB_FILE), this.embeddings);
      await fsp.writeFile(path.join(tmp, IDS_FILE), this.ids.length ? this.ids.join("\n") + "\n" : "");
      await fsp.writeFile(path.join(tmp, META_FILE), JSON.stringify(meta, null, 2) + "\n");
    });
  }

  /** Reads only index.json of an index directory. */
  static async readMeta(dir: string): Promise<DenseIndexMeta> {
    const file = path.join(dir, META_FILE);
    if (!existsSync(file)) {
      const hint = existsSync(path.join(dir, PROGRESS_FILE)) ? " (an encode is in progress or was interrupted: resume it with EmbeddingWriter)" : "";
      throw new Error(`${dir}: not a dense index, ${META_FILE} is missing${hint}`);
    }
    const meta = JSON.parse(await fsp.readFile(file, "utf8")) as DenseIndexMeta;
    if (meta.format !== "md2pr-dense" || meta.version !== 1) throw new Error(`${file}: unknown format ${meta.format} v${meta.version}`);
    if (meta.dtype !== "float32" || meta.byteOrder !== "little") throw new Error(`${file}: unsupported dtype/byte order`);
    if (!Number.isInteger(meta.count) || meta.count < 0 || !Number.isInteger(meta.dim) || meta.dim <= 0) {
      throw new Error(`${file}: bad count/dim`);
    }
    return meta;
  }

  /**
   * Loads an index directory. With `expectedFingerprint`, refuses an index built by another model:
   * embeddings from different encoders are not comparable, so a mismatch is an error, never a warning.
   */
  static async load(dir: string, opts: { expectedFingerprint?: string } = {}): Promise<DenseIndex> {
    const meta = await DenseIndex.readMeta(dir);
    if (opts.expectedFingerprint !== undefined && meta.modelFingerprint !== opts.expectedFingerprint) {
      throw new Error(
        `${dir}: the index was built with model fingerprint "${meta.modelFingerprint}", but the query encoder has ` +
          `"${opts.expectedFingerprint}"; re-encode the corpus with this model (embeddings of different models are not comparable)`,
      );
    }
    const idsFile = path.join(dir, meta.idsFile);
    const ids = parseIds(await fsp.readFile(idsFile, "utf8"), idsFile, meta.count);
    const emb = await readFloat32File(path.join(dir, meta.embeddingsFile), meta.count * meta.dim);
    return new DenseIndex(ids, emb, meta.dim, { modelFingerprint: meta.modelFingerprint, pooling: meta.pooling, normalized: meta.normalized });
  }
}

function makeMeta(count: number, dim: number, info: DenseIndexInfo): DenseIndexMeta {
  return {
    format: "md2pr-dense", version: 1, count, dim, dtype: "float32", byteOrder: "little",
    embeddingsFile: EMB_FILE, idsFile: IDS_FILE,
    modelFingerprint: info.modelFingerprint, pooling: info.pooling, normalized: info.normalized,
  };
}

function hitsFromTopK(r: TopKResult, numQueries: number, ids: readonly string[]): SearchHit[][] {
  const out: SearchHit[][] = [];
  for (let q = 0; q < numQueries; q++) {
    const hits: SearchHit[] = [];
    for (let j = 0; j < r.k; j++) hits.push({ id: ids[r.indices[q * r.k + j]!]!, score: r.scores[q * r.k + j]! });
    out.push(hits);
  }
  return out;
}

/** L2-normalizes each row of a [rows, dim] matrix in place (zero rows stay zero). */
export function normalizeRows(x: Float32Array, rows: number, dim: number): Float32Array {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[r * dim + j]! * x[r * dim + j]!;
    if (s > 0) {
      const inv = 1 / Math.sqrt(s);
      for (let j = 0; j < dim; j++) x[r * dim + j]! *= inv;
    }
  }
  return x;
}

// ---------------------------------------------------------------------------------------------------------
// Resumable writer

interface Progress extends DenseIndexInfo {
  format: "md2pr-dense-progress";
  dim: number;
  rowsDone: number;
  idsBytes: number;
}

/**
 * Appends embedding chunks to an index directory so that an interrupted encode resumes from the last
 * complete chunk. Each `append` writes the rows and ids, fsyncs them, then atomically rewrites
 * `progress.json` ({rowsDone, idsBytes}); `open` on a directory with progress truncates the partial files
 * to the recorded sizes (dropping a half-written chunk) and continues. `finish` renames the files and
 * writes `index.json`. Re-opening with a different model fingerprint or dim is refused.
 *
 *   const w = await EmbeddingWriter.open(dir, { dim, modelFingerprint, pooling: "cls", normalized: true });
 *   for (let start = w.rowsDone; start < docs.length; start += 256) await w.append(ids, encode(...));
 *   await w.finish();
 */
export class EmbeddingWriter {
  readonly dir: string;
  readonly dim: number;
  readonly info: DenseIndexInfo;
  private progress: Progress;
  private emb: fsp.FileHandle | null;
  private idsFh: fsp.FileHandle | null;

  private constructor(dir: string, progress: Progress, emb: fsp.FileHandle, idsFh: fsp.FileHandle) {
    this.dir = dir;
    this.dim = progress.dim;
    this.info = { modelFingerprint: progress.modelFingerprint, pooling: progress.pooling, normalized: progress.normalized };
    this.progress = progress;
    this.emb = emb;
    this.idsFh = idsFh;
  }

  /** Rows safely written so far (where a resumed encode starts). */
  get rowsDone(): number {
    return this.progress.rowsDone;
  }

  /** True when `dir` holds a finished index (index.json present). */
  static isComplete(dir: string): boolean {
    return existsSync(path.join(dir, META_FILE));
  }

  static async open(dir: string, opts: DenseIndexInfo & { dim: number }): Promise<EmbeddingWriter> {
    if (!Number.isInteger(opts.dim) || opts.dim <= 0) throw new Error(`EmbeddingWriter: bad dim ${opts.dim}`);
    await fsp.mkdir(dir, { recursive: true });
    if (EmbeddingWriter.isComplete(dir)) {
      throw new Error(`${dir}: already holds a finished dense index (${META_FILE}); remove it to re-encode`);
    }
    const embPart = path.join(dir, EMB_FILE + ".partial");
    const idsPart = path.join(dir, IDS_FILE + ".partial");
    const progFile = path.join(dir, PROGRESS_FILE);
    let progress: Progress;
    if (existsSync(progFile)) {
      progress = JSON.parse(await fsp.readFile(progFile, "utf8")) as Progress;
      if (progress.format !== "md2pr-dense-progress") throw new Error(`${progFile}: not an encode progress file`);
      if (progress.modelFingerprint !== opts.modelFingerprint || progress.dim !== opts.dim ||
          progress.pooling !== opts.pooling || progress.normalized !== opts.normalized) {
        throw new Error(
          `${dir}: an interrupted encode exists for model "${progress.modelFingerprint}" (dim ${progress.dim}, ${progress.pooling}, ` +
            `normalized=${progress.normalized}); refusing to resume with "${opts.modelFingerprint}" (dim ${opts.dim}, ${opts.pooling}, ` +
            `normalized=${opts.normalized}). Remove the directory to start over.`,
        );
      }
      // a crash during finish() may have renamed the data files already
      for (const [part, fin] of [[embPart, path.join(dir, EMB_FILE)], [idsPart, path.join(dir, IDS_FILE)]] as const) {
        if (!existsSync(part) && existsSync(fin)) await fsp.rename(fin, part);
        if (!existsSync(part)) await fsp.writeFile(part, "");
      }
      const needEmb = progress.rowsDone * progress.dim * 4;
      const embSize = (await fsp.stat(embPart)).size;
      const idsSize = (await fsp.stat(idsPart)).size;
      if (embSize < needEmb || idsSize < progress.idsBytes) {
        throw new Error(`${dir}: partial files are shorter than progress.json records (${embSize} < ${needEmb} or ${idsSize} < ${progress.idsBytes}); the directory is corrupt`);
      }
      await fsp.truncate(embPart, needEmb);
      await fsp.truncate(idsPart, progress.idsBytes);
    } else {
      progress = {
        format: "md2pr-dense-progress", dim: opts.dim, rowsDone: 0, idsBytes: 0,
        modelFingerprint: opts.modelFingerprint, pooling: opts.pooling, normalized: opts.normalized,
      };
      await fsp.writeFile(embPart, "");
      await fsp.writeFile(idsPart, "");
      await atomicWriteFile(progFile, JSON.stringify(progress) + "\n");
    }
    const emb = await fsp.open(embPart, "r+");
    const idsFh = await fsp.open(idsPart, "r+");
    return new EmbeddingWriter(dir, progress, emb, idsFh);
  }

  /** Appends `ids.length` rows (`rows` is [ids.length, dim]); durable once the promise resolves. */
  async append(ids: readonly string[], rows: Float32Array): Promise<void> {
    if (!this.emb || !this.idsFh) throw new Error("EmbeddingWriter: already finished or closed");
    if (rows.length !== ids.length * this.dim) {
      throw new Error(`EmbeddingWriter.append: ${rows.length} values for ${ids.length} ids x dim ${this.dim}`);
    }
    checkIds(ids);
    if (ids.length === 0) return;
    const bytes = typedBytes(rows);
    const idBytes = Buffer.from(ids.join("\n") + "\n", "utf8");
    const embOff = this.progress.rowsDone * this.dim * 4;
    await this.emb.write(bytes, 0, bytes.byteLength, embOff);
    await this.idsFh.write(idBytes, 0, idBytes.byteLength, this.progress.idsBytes);
    await this.emb.datasync();
    await this.idsFh.datasync();
    this.progress = { ...this.progress, rowsDone: this.progress.rowsDone + ids.length, idsBytes: this.progress.idsBytes + idBytes.byteLength };
    await atomicWriteFile(path.join(this.dir, PROGRESS_FILE), JSON.stringify(this.progress) + "\n");
  }

  /** Completes the index: renames the data files, writes index.json, removes progress.json. */
  async finish(): Promise<DenseIndexMeta> {
    await this.close();
    const dir = this.dir;
    await fsp.rename(path.join(dir, EMB_FILE + ".partial"), path.join(dir, EMB_FILE));
    await fsp.rename(path.join(dir, IDS_FILE + ".partial"), path.join(dir, IDS_FILE));
    const meta = makeMeta(this.progress.rowsDone, this.dim, this.info);
    await atomicWriteFile(path.join(dir, META_FILE), JSON.stringify(meta, null, 2) + "\n");
    await fsp.rm(path.join(dir, PROGRESS_FILE), { force: true });
    return meta;
  }

  /** Closes the files without finishing (the encode can be resumed later with `open`). */
  async close(): Promise<void> {
    const e = this.emb;
    const i = this.idsFh;
    this.emb = null;
    this.idsFh = null;
    if (e) await e.close();
    if (i) await i.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Approximate search: HNSW (hnswlib-node)

export interface HnswOptions {
  /** Graph degree (default 16). */
  readonly m?: number;
  /** Build-time candidate list size (default 200). */
  readonly efConstruction?: number;
  /** Query-time candidate list size (default 100; raised to k when smaller). */
  readonly efSearch?: number;
  /** Random seed for level assignment (default 100). */
  readonly seed?: number;
}

interface HnswMeta extends DenseIndexInfo {
  format: "md2pr-hnsw";
  version: 1;
  count: number;
  dim: number;
  m: number;
  efConstruction: number;
  efSearch: number;
  idsFile: string;
  graphFile: string;
}

/**
 * HNSW over inner product (hnswlib "ip" space, distance = 1 - <q, d>; scores returned are <q, d>).
 * Labels are row numbers; `ids` maps them to external ids.
 */
export class HnswIndex {
  readonly ids: readonly string[];
  readonly dim: number;
  readonly info: DenseIndexInfo;
  readonly m: number;
  readonly efConstruction: number;
  private efSearch: number;
  private readonly index: hnswlib.HierarchicalNSW;

  private constructor(index: hnswlib.HierarchicalNSW, ids: readonly string[], dim: number, info: DenseIndexInfo, m: number, efC: number, ef: number) {
    this.index = index;
    this.ids = ids;
    this.dim = dim;
    this.info = info;
    this.m = m;
    this.efConstruction = efC;
    this.efSearch = ef;
    this.index.setEf(ef);
  }

  /** Builds the graph from embeddings [ids.length, dim] (single-threaded, hnswlib-node's addPoint). */
  static build(embeddings: Float32Array, dim: number, ids: readonly string[], info: DenseIndexInfo, opts: HnswOptions = {}): HnswIndex {
    const n = ids.length;
    if (embeddings.length !== n * dim) throw new Error(`HnswIndex.build: ${embeddings.length} values for ${n} x ${dim}`);
    const m = opts.m ?? 16;
    const efC = opts.efConstruction ?? 200;
    const index = new hnswlib.HierarchicalNSW("ip", dim);
    index.initIndex(Math.max(1, n), m, efC, opts.seed ?? 100);
    const row = new Array<number>(dim);
    for (let i = 0; i < n; i++) {
      const o = i * dim;
      for (let j = 0; j < dim; j++) row[j] = embeddings[o + j]!;
      index.addPoint(row, i);
    }
    return new HnswIndex(index, ids, dim, info, m, efC, opts.efSearch ?? 100);
  }

  /** Builds from an exact index. */
  static fromDense(dense: DenseIndex, opts: HnswOptions = {}): HnswIndex {
    return HnswIndex.build(dense.embeddings, dense.dim, dense.ids, dense.info, opts);
  }

  get count(): number {
    return this.ids.length;
  }

  setEf(ef: number): void {
    this.efSearch = ef;
    this.index.setEf(ef);
  }

  /** Top-k rows for each query of `queries` [numQueries, dim] (fewer when the index is smaller). */
  searchRaw(queries: Float32Array, numQueries: number, k: number): TopKResult {
    if (queries.length !== numQueries * this.dim) throw new Error(`HnswIndex.search: queries have ${queries.length} values, expected ${numQueries} x ${this.dim}`);
    const kk = Math.min(k, this.count);
    const indices = new Int32Array(numQueries * kk);
    const scores = new Float32Array(numQueries * kk);
    if (kk === 0) return { k: 0, indices, scores };
    if (this.efSearch < kk) this.index.setEf(kk);
    const row = new Array<number>(this.dim);
    for (let q = 0; q < numQueries; q++) {
      for (let j = 0; j < this.dim; j++) row[j] = queries[q * this.dim + j]!;
      const r = this.index.searchKnn(row, kk);
      // hnswlib returns nearest first (smallest distance)
      const order = r.neighbors.map((_, i) => i).sort((a, b) => r.distances[a]! - r.distances[b]! || r.neighbors[a]! - r.neighbors[b]!);
      for (let j = 0; j < order.length; j++) {
        indices[q * kk + j] = r.neighbors[order[j]!]!;
        scores[q * kk + j] = 1 - r.distances[order[j]!]!;
      }
    }
    if (this.efSearch < kk) this.index.setEf(this.efSearch);
    return { k: kk, indices, scores };
  }

  search(queries: Float32Array, numQueries: number, k: number): SearchHit[][] {
    return hitsFromTopK(this.searchRaw(queries, numQueries, k), numQueries, this.ids);
  }

  /** Saves hnsw.bin (hnswlib's format), hnsw.json and ids.txt, atomically. */
  async save(dir: string): Promise<void> {
    checkIds(this.ids);
    const meta: HnswMeta = {
      format: "md2pr-hnsw", version: 1, count: this.count, dim: this.dim, m: this.m, efConstruction: this.efConstruction,
      efSearch: this.efSearch, idsFile: IDS_FILE, graphFile: "hnsw.bin", ...this.info,
    };
    await atomicWriteDir(dir, async (tmp) => {
      await this.index.writeIndex(path.join(tmp, "hnsw.bin"));
      await fsp.writeFile(path.join(tmp, IDS_FILE), this.ids.length ? this.ids.join("\n") + "\n" : "");
      await fsp.writeFile(path.join(tmp, "hnsw.json"), JSON.stringify(meta, null, 2) + "\n");
    });
  }

  static async load(dir: string, opts: { expectedFingerprint?: string } = {}): Promise<HnswIndex> {
    const metaFile = path.join(dir, "hnsw.json");
    const meta = JSON.parse(await fsp.readFile(metaFile, "utf8")) as HnswMeta;
    if (meta.format !== "md2pr-hnsw" || meta.version !== 1) throw new Error(`${metaFile}: unknown format ${meta.format} v${meta.version}`);
    if (opts.expectedFingerprint !== undefined && meta.modelFingerprint !== opts.expectedFingerprint) {
      throw new Error(
        `${dir}: the HNSW index was built with model fingerprint "${meta.modelFingerprint}", but "${opts.expectedFingerprint}" ` +
          `was expected; rebuild it from embeddings of this model`,
      );
    }
    const idsFile = path.join(dir, meta.idsFile);
    const ids = parseIds(await fsp.readFile(idsFile, "utf8"), idsFile, meta.count);
    const index = new hnswlib.HierarchicalNSW("ip", meta.dim);
    await index.readIndex(path.join(dir, meta.graphFile));
    if (index.getCurrentCount() !== meta.count) throw new Error(`${dir}: hnsw.bin holds ${index.getCurrentCount()} points, hnsw.json says ${meta.count}`);
    const info: DenseIndexInfo = { modelFingerprint: meta.modelFingerprint, pooling: meta.pooling, normalized: meta.normalized };
    return new HnswIndex(index, ids, meta.dim, info, meta.m, meta.efConstruction, meta.efSearch);
  }
}

/** Mean over queries of |approx top-k ∩ exact top-k| / k (recall@k of an ANN index against exact search). */
export function recallAgainstExact(approx: TopKResult, exact: TopKResult, numQueries: number): number {
  if (exact.k === 0 || numQueries === 0) return 1;
  let sum = 0;
  for (let q = 0; q < numQueries; q++) {
    const truth = new Set<number>();
    for (let j = 0; j < exact.k; j++) truth.add(exact.indices[q * exact.k + j]!);
    let hit = 0;
    for (let j = 0; j < Math.min(approx.k, exact.k); j++) if (truth.has(approx.indices[q * approx.k + j]!)) hit++;
    sum += hit / exact.k;
  }
  return sum / numQueries;
}
