/** Approximate search: HNSW (hnswlib-node, inner-product space) over a dense index's embeddings. */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import hnswlib from "hnswlib-node";
import type { DenseIndex } from "./dense-exact.ts";
import { checkIds, hitsFromTopK, IDS_FILE, parseIds, type DenseIndexInfo, type TopKResult } from "./dense-format.ts";
import { atomicWriteDir } from "./fs-util.ts";
import type { SearchHit } from "./metrics.ts";

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

  /** The query-time candidate list size in use. */
  get ef(): number {
    return this.efSearch;
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
