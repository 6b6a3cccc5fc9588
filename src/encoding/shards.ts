/**
 * Sharded encoding: N processes (or machines) encode disjoint parts of one corpus, then one merge writes the
 * dense index a single run would have written, byte for byte.
 *
 * Layout under the output directory `out`:
 *   out/shards/<i>-of-<n>/   a dense index directory of shard i (EmbeddingWriter format, resumable) + shard.json
 *   out/index.json, embeddings.f32, ids.txt   written by {@link mergeShards} (the shards are removed after it)
 *
 * Why the merge is identical to one run: every shard computes the same encoding order (passages by word-piece
 * length, then id) and takes a contiguous range of whole batches of it, so each passage is encoded in the same
 * batch, with the same padding, as in a single run (see `encodeIds`); the merge concatenates the shards in order.
 * This holds for the same model, corpus, batch size and kernels (the same md2pr build on the same kind of CPU);
 * shard.json records the first three and the merge refuses shards that disagree.
 */
import { createHash } from "node:crypto";
import { existsSync, promises as fsp } from "node:fs";
import * as path from "node:path";
import type { DualEncoder } from "../models/dual-encoder.ts";
import type { WordPieceTokenizer } from "../models/tokenizer.ts";
import { DenseIndex, EmbeddingWriter, type DenseIndexMeta } from "../retrieval/dense-index.ts";
import { passageText, TokenizedCorpus, type CorpusText } from "../retrieval/tokenized-corpus.ts";
import { retrieverFingerprint } from "../models/fingerprint.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { checkMadeFrom, corpusFingerprint, CorpusFingerprinter, writeArtifact } from "../util/provenance.ts";
import { encodeIds, encodingOrder, type EncodeCorpusOptions } from "./encode-corpus.ts";

export interface ShardSpec {
  /** 0-based shard number. */
  readonly index: number;
  /** Number of shards. */
  readonly count: number;
}

/** Parses "I/N" (0 <= I < N); the error names the bad value. */
export function parseShardSpec(text: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new Error(`--shard: expected I/N (e.g. 0/4), got "${text}"`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) throw new Error(`--shard: need 0 <= I < N, got "${text}"`);
  return { index, count };
}

/**
 * Rows [start, end) of the encoding order that shard `spec` encodes: the order is cut into batches of
 * `batchSize`, and shard i takes batches [floor(i B / N), floor((i + 1) B / N)) of the B batches. Shards may be
 * empty when N exceeds B.
 */
export function shardRange(total: number, batchSize: number, spec: ShardSpec): { start: number; end: number } {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`shardRange: bad batch size ${batchSize}`);
  const batches = Math.ceil(total / batchSize);
  const first = Math.floor((spec.index * batches) / spec.count);
  const last = Math.floor(((spec.index + 1) * batches) / spec.count);
  return { start: Math.min(total, first * batchSize), end: Math.min(total, last * batchSize) };
}

/** SHA-256 of the ids in encoding order: shards of different corpora (or orders) never merge. */
export function orderDigest(ids: readonly string[]): string {
  const h = createHash("sha256");
  for (const id of ids) h.update(id).update("\n");
  return h.digest("hex");
}

export interface ShardInfo {
  readonly format: "md2pr-encode-shard";
  readonly version: 1;
  readonly shard: number;
  readonly shards: number;
  readonly rowStart: number;
  readonly rowEnd: number;
  readonly totalRows: number;
  readonly batchSize: number;
  readonly orderDigest: string;
  readonly modelFingerprint: string;
  /** The provenance record's fingerprints (util/provenance.ts): the merged index gets the record a single run writes. */
  readonly madeFrom: { readonly model: string; readonly corpus: string };
}

const SHARD_FILE = "shard.json";

/** The directory of shard `spec` under the output directory. */
export function shardDir(out: string, spec: ShardSpec): string {
  return path.join(out, "shards", `${spec.index}-of-${spec.count}`);
}

async function readShardInfo(dir: string): Promise<ShardInfo> {
  const file = path.join(dir, SHARD_FILE);
  let info: ShardInfo;
  try {
    info = JSON.parse(await fsp.readFile(file, "utf8")) as ShardInfo;
  } catch (err) {
    throw new Error(`${file}: cannot read shard info (${(err as Error).message})`);
  }
  if (info.format !== "md2pr-encode-shard" || info.version !== 1) throw new Error(`${file}: not an md2pr shard file`);
  return info;
}

function describeMismatch(a: ShardInfo, b: Omit<ShardInfo, "format" | "version">): string | null {
  for (const key of ["shard", "shards", "rowStart", "rowEnd", "totalRows", "batchSize", "orderDigest", "modelFingerprint"] as const) {
    if (a[key] !== b[key]) return `${key} ${JSON.stringify(a[key])} vs ${JSON.stringify(b[key])}`;
  }
  for (const key of ["model", "corpus"] as const) {
    if (a.madeFrom?.[key] !== b.madeFrom[key]) return `madeFrom.${key} ${JSON.stringify(a.madeFrom?.[key])} vs ${JSON.stringify(b.madeFrom[key])}`;
  }
  return null;
}

export interface ShardResult {
  readonly dir: string;
  readonly info: ShardInfo;
  /** Shards of the same run (same N) that are finished, this one included. */
  readonly shardsDone: number;
}

/**
 * Encodes shard `spec` of the corpus into `out/shards/<i>-of-<n>` (resumable; a finished shard is kept as is).
 * Refuses a shard directory made for another corpus order, batch size, shard count or model.
 */
export async function encodeShard(
  model: DualEncoder, corpus: TokenizedCorpus, out: string, spec: ShardSpec, options: EncodeCorpusOptions = {},
): Promise<ShardResult> {
  const order = encodingOrder(corpus, model.settings.maxPassageLength, options.cachePieces ?? true);
  const madeFrom = { model: retrieverFingerprint(model, corpus.tokenizer), corpus: corpusFingerprint(corpus.docs) };
  return encodeShardOfOrder(model, corpus, order, madeFrom, out, spec, options);
}

/** Streams a corpus's documents; called once per pass over it (e.g. `() => readCorpusFile(file)`). */
export type CorpusStream = () => AsyncIterable<{ readonly id: string; readonly title: string; readonly text: string }>;

/**
 * {@link encodeShard} reading the corpus twice instead of holding it: a first pass tokenizes every passage for its
 * length only (the encoding order needs them all), a second keeps the text of this shard's passages alone. Memory
 * is the ids and lengths of the whole corpus plus 1/N of its text; the vectors are the same bytes.
 */
export async function encodeShardFromStream(
  model: DualEncoder, tokenizer: WordPieceTokenizer, stream: CorpusStream, out: string, spec: ShardSpec, options: EncodeCorpusOptions = {},
): Promise<ShardResult> {
  const maxPieces = 512; // TokenizedCorpus's default cut, which encodeIds applies to the pieces it encodes
  const { order, corpusFingerprint: corpusFp } = await streamOrder(stream, tokenizer, Math.min(maxPieces, model.settings.maxPassageLength));
  const { start, end } = shardRange(order.length, options.batchSize ?? 64, spec);
  const mine = new Set(order.slice(start, end));
  const docs = new Map<string, CorpusText>();
  if (!EmbeddingWriter.isComplete(shardDir(out, spec))) {
    for await (const doc of stream()) if (mine.has(doc.id)) docs.set(doc.id, { title: doc.title, text: doc.text });
  }
  const corpus = new TokenizedCorpus(docs, tokenizer, maxPieces);
  const madeFrom = { model: retrieverFingerprint(model, tokenizer), corpus: corpusFp };
  return encodeShardOfOrder(model, corpus, order, madeFrom, out, spec, { ...options, cachePieces: false });
}

/**
 * The first pass: every passage's word-piece count (cut at `cut`) for the encoding order of `encodingOrder`
 * (length, then id), and the corpus fingerprint in the stream's order (as `corpusFingerprint` of the loaded
 * corpus); no text is kept. Duplicate ids and an empty corpus are errors.
 */
async function streamOrder(stream: CorpusStream, tokenizer: WordPieceTokenizer, cut: number): Promise<{ order: string[]; corpusFingerprint: string }> {
  const ids: string[] = [];
  const lengths: number[] = [];
  const seen = new Set<string>();
  const fingerprint = new CorpusFingerprinter();
  for await (const doc of stream()) {
    if (seen.has(doc.id)) throw new Error(`duplicate document id "${doc.id}"`);
    seen.add(doc.id);
    fingerprint.add(doc.id, doc.title, doc.text);
    ids.push(doc.id);
    lengths.push(Math.min(tokenizer.tokenizeToIds(passageText(doc)).length, cut));
  }
  if (ids.length === 0) throw new Error("the corpus is empty");
  seen.clear();
  const rows = ids.map((_, i) => i);
  rows.sort((a, b) => lengths[a]! - lengths[b]! || (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : 0));
  return { order: rows.map((i) => ids[i]!), corpusFingerprint: fingerprint.digest() };
}

/** Encodes rows [start, end) of shard `spec` of `order`; `corpus` needs only those passages. */
async function encodeShardOfOrder(
  model: DualEncoder, corpus: TokenizedCorpus, order: readonly string[], madeFrom: ShardInfo["madeFrom"], out: string, spec: ShardSpec,
  options: EncodeCorpusOptions,
): Promise<ShardResult> {
  const batchSize = options.batchSize ?? 64;
  const { start, end } = shardRange(order.length, batchSize, spec);
  const want = {
    shard: spec.index, shards: spec.count, rowStart: start, rowEnd: end, totalRows: order.length, batchSize,
    orderDigest: orderDigest(order), modelFingerprint: model.fingerprint(), madeFrom,
  };
  const dir = shardDir(out, spec);
  if (existsSync(path.join(dir, SHARD_FILE))) {
    const have = await readShardInfo(dir);
    const diff = describeMismatch(have, want);
    if (diff) throw new Error(`${dir}: made by another encode (${diff}); remove it or use another --out`);
  } else {
    await fsp.mkdir(dir, { recursive: true });
    const info: ShardInfo = { format: "md2pr-encode-shard", version: 1, ...want };
    writeJsonAtomic(path.join(dir, SHARD_FILE), info);
  }
  if (!EmbeddingWriter.isComplete(dir)) {
    const label = options.label === undefined ? `encode shard ${spec.index}/${spec.count}` : options.label;
    await encodeIds(model, corpus, order.slice(start, end), dir, { ...options, label });
  }
  let done = 0;
  for (let i = 0; i < spec.count; i++) if (EmbeddingWriter.isComplete(shardDir(out, { index: i, count: spec.count }))) done++;
  return { dir, info: await readShardInfo(dir), shardsDone: done };
}

/** Finds the shard directories under `out/shards` and checks they form one complete, consistent run. */
async function completeShards(out: string): Promise<{ dir: string; info: ShardInfo; meta: DenseIndexMeta }[]> {
  const root = path.join(out, "shards");
  if (!existsSync(root)) throw new Error(`${out}: no shards/ directory; encode with --shard I/N first`);
  const names = (await fsp.readdir(root)).filter((n) => /^\d+-of-\d+$/.test(n));
  if (names.length === 0) throw new Error(`${root}: no shard directories (<i>-of-<n>)`);
  const counts = new Set(names.map((n) => Number(n.split("-of-")[1])));
  if (counts.size !== 1) throw new Error(`${root}: shards of different runs (${[...counts].map((c) => `of-${c}`).join(", ")}); keep one`);
  const count = [...counts][0]!;
  const shards = [];
  for (let i = 0; i < count; i++) {
    const dir = shardDir(out, { index: i, count });
    if (!existsSync(dir)) throw new Error(`${dir}: missing; encode it with --shard ${i}/${count}`);
    if (!EmbeddingWriter.isComplete(dir)) throw new Error(`${dir}: not finished; run --shard ${i}/${count} again to resume it`);
    shards.push({ dir, info: await readShardInfo(dir), meta: await DenseIndex.readMeta(dir) });
  }
  const first = shards[0]!;
  let row = 0;
  for (const s of shards) {
    for (const key of ["totalRows", "batchSize", "orderDigest", "modelFingerprint"] as const) {
      if (s.info[key] !== first.info[key]) throw new Error(`${s.dir}: ${key} ${JSON.stringify(s.info[key])} differs from shard 0's ${JSON.stringify(first.info[key])}`);
    }
    for (const key of ["model", "corpus"] as const) {
      if (s.info.madeFrom?.[key] !== first.info.madeFrom?.[key]) throw new Error(`${s.dir}: made from another ${key} than shard 0`);
    }
    for (const key of ["dim", "pooling", "normalized", "modelFingerprint"] as const) {
      if (s.meta[key] !== first.meta[key]) throw new Error(`${s.dir}: index ${key} ${JSON.stringify(s.meta[key])} differs from shard 0's`);
    }
    if (s.info.rowStart !== row || s.meta.count !== s.info.rowEnd - s.info.rowStart) {
      throw new Error(`${s.dir}: holds rows ${s.info.rowStart}..${s.info.rowStart + s.meta.count}, expected to start at ${row} and hold ${s.info.rowEnd - s.info.rowStart}`);
    }
    row = s.info.rowEnd;
  }
  if (row !== first.info.totalRows) throw new Error(`${out}: the shards hold ${row} rows, the corpus has ${first.info.totalRows}`);
  return shards;
}

async function readIds(file: string, count: number): Promise<string[]> {
  const text = await fsp.readFile(file, "utf8");
  const ids = text === "" ? [] : text.slice(0, text.endsWith("\n") ? -1 : undefined).split("\n");
  if (ids.length !== count) throw new Error(`${file}: ${ids.length} ids, index.json says ${count}`);
  return ids;
}

/**
 * Merges the finished shards under `out/shards` into the dense index `out` (streamed in chunks of `chunkRows`
 * rows; resumable: an interrupted merge continues where it stopped), then removes `out/shards`. Returns the
 * merged index's metadata.
 */
export async function mergeShards(out: string, chunkRows = 65536): Promise<DenseIndexMeta> {
  if (EmbeddingWriter.isComplete(out)) throw new Error(`${out}: already holds a finished dense index`);
  const shards = await completeShards(out);
  const madeFrom = shards[0]!.info.madeFrom;
  const rebuild = `md2pr encode --shard I/N --out NEW_DIR, then --merge (or remove ${out})`;
  checkMadeFrom(out, { model: { fingerprint: madeFrom.model, name: "of the shards" }, corpus: { fingerprint: madeFrom.corpus, name: "of the shards" } }, rebuild);
  const first = shards[0]!.meta;
  const writer = await EmbeddingWriter.open(out, { dim: first.dim, modelFingerprint: first.modelFingerprint, pooling: first.pooling, normalized: first.normalized });
  try {
    const dim = first.dim;
    for (const s of shards) {
      const from = Math.max(0, writer.rowsDone - s.info.rowStart);
      if (from >= s.meta.count) continue;
      const ids = await readIds(path.join(s.dir, s.meta.idsFile), s.meta.count);
      const fh = await fsp.open(path.join(s.dir, s.meta.embeddingsFile), "r");
      try {
        for (let r = from; r < s.meta.count; r += chunkRows) {
          const n = Math.min(chunkRows, s.meta.count - r);
          const rows = new Float32Array(n * dim);
          const bytes = new Uint8Array(rows.buffer);
          const { bytesRead } = await fh.read(bytes, 0, bytes.byteLength, r * dim * 4);
          if (bytesRead !== bytes.byteLength) throw new Error(`${s.dir}/${s.meta.embeddingsFile}: short read at row ${r}`);
          await writer.append(ids.slice(r, r + n), rows);
        }
      } finally {
        await fh.close();
      }
    }
    const meta = await writer.finish();
    writeArtifact(out, "dense-index", { model: madeFrom.model, corpus: madeFrom.corpus }); // the record a single run writes
    await fsp.rm(path.join(out, "shards"), { recursive: true, force: true });
    return meta;
  } finally {
    await writer.close();
  }
}
