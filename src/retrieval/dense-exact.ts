/**
 * Exact dense retrieval: inner-product top-k over an embeddings matrix (blocked GEMM) and the exact index
 * (embeddings + ids) in the on-disk format of dense-format.ts.
 */
import { promises as fsp, existsSync } from "node:fs";
import * as path from "node:path";
import { kernels as defaultKernels } from "../engine/kernels/index.ts";
import type { Kernels } from "../engine/kernels/types.ts";
import {
  checkIds, EMB_FILE, hitsFromTopK, IDS_FILE, makeMeta, META_FILE, parseIds, PROGRESS_FILE, readFloat32File,
  writeFloat32File, type DenseIndexInfo, type DenseIndexMeta, type TopKResult,
} from "./dense-format.ts";
import { atomicWriteDir } from "./fs-util.ts";
import type { SearchHit } from "./metrics.ts";
import { TopK } from "./topk.ts";

export type Gemm = Pick<Kernels, "sgemm">;

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
