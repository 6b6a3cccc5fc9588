/**
 * The on-disk format of a dense index directory (all written through a temp name + rename):
 *   index.json       {"format":"md2pr-dense","version":1,"count":N,"dim":D,"dtype":"float32","byteOrder":"little",
 *                     "embeddingsFile":"embeddings.f32","idsFile":"ids.txt","modelFingerprint":"...",
 *                     "pooling":"cls"|"mean"|...,"normalized":true|false}
 *   embeddings.f32   N * D raw little-endian float32 values, row-major (row i = document i), no header
 *   ids.txt          N lines, line i = the external id of row i (UTF-8, "\n"-terminated)
 * `index.json` is written last: a directory without it is incomplete. While an EmbeddingWriter is encoding,
 * the directory holds `embeddings.f32.partial`, `ids.txt.partial` and `progress.json` instead.
 * Shared by the exact index, the resumable writer and the HNSW index.
 */
import { promises as fsp } from "node:fs";
import { typedBytes } from "./fs-util.ts";
import type { SearchHit } from "./metrics.ts";

/** Top-k results of a batch of queries over row numbers. */
export interface TopKResult {
  /** Results per query: k (or fewer when N < k). */
  readonly k: number;
  /** [numQueries * k] row indices, best first per query. */
  readonly indices: Int32Array;
  /** [numQueries * k] inner products, best first per query. */
  readonly scores: Float32Array;
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

export const EMB_FILE = "embeddings.f32";
export const IDS_FILE = "ids.txt";
export const META_FILE = "index.json";
export const PROGRESS_FILE = "progress.json";

export function checkIds(ids: readonly string[]): void {
  for (const id of ids) {
    if (id === "" || /[\n\r]/.test(id)) throw new Error(`dense index: invalid id ${JSON.stringify(id)} (empty or with a line break)`);
  }
}

export async function readFloat32File(file: string, count: number): Promise<Float32Array> {
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

export async function writeFloat32File(file: string, data: Float32Array): Promise<void> {
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

export function parseIds(text: string, file: string, count: number): string[] {
  const ids = text === "" ? [] : text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
  if (ids.length !== count) throw new Error(`${file}: ${ids.length} ids, index.json says ${count}`);
  return ids;
}

export function makeMeta(count: number, dim: number, info: DenseIndexInfo): DenseIndexMeta {
  return {
    format: "md2pr-dense", version: 1, count, dim, dtype: "float32", byteOrder: "little",
    embeddingsFile: EMB_FILE, idsFile: IDS_FILE,
    modelFingerprint: info.modelFingerprint, pooling: info.pooling, normalized: info.normalized,
  };
}

export function hitsFromTopK(r: TopKResult, numQueries: number, ids: readonly string[]): SearchHit[][] {
  const out: SearchHit[][] = [];
  for (let q = 0; q < numQueries; q++) {
    const hits: SearchHit[] = [];
    for (let j = 0; j < r.k; j++) hits.push({ id: ids[r.indices[q * r.k + j]!]!, score: r.scores[q * r.k + j]! });
    out.push(hits);
  }
  return out;
}
