/**
 * Encoding with the retriever: the corpus into a dense index on disk (batched, length-sorted to cut padding,
 * progress bar, resumable through EmbeddingWriter, stamped with the model fingerprint), and queries into a
 * matrix.
 */
import { noGrad } from "../engine/index.ts";
import { singleBatch } from "../models/batching.ts";
import type { DualEncoder } from "../models/dual-encoder.ts";
import { retrieverFingerprint } from "../models/fingerprint.ts";
import { corpusFingerprint, stampOrCheck } from "../util/provenance.ts";
import { startProgress } from "../util/progress.ts";
import { DenseIndex, EmbeddingWriter, type DenseIndexInfo, type DenseIndexMeta } from "../retrieval/dense-index.ts";
import { passageText, type TokenizedCorpus } from "../retrieval/tokenized-corpus.ts";

export interface EncodeCorpusOptions {
  batchSize?: number;
  /** Progress label; null for silence. */
  label?: string | null;
  /**
   * Keep every passage's word pieces in the TokenizedCorpus cache (default true: training re-encodes the same
   * corpus at each evaluation). False tokenizes on the fly and caches nothing, so a large corpus (MS MARCO: 8.8M
   * passages, some 5 GB of cached pieces) holds only its text in memory; the vectors are the same.
   */
  cachePieces?: boolean;
}

/** A passage's word pieces, from the corpus cache or (cache false) freshly tokenized and not kept. */
function passagePieces(corpus: TokenizedCorpus, id: string, cache: boolean): readonly number[] {
  if (cache) return corpus.passage(id);
  const doc = corpus.docs.get(id);
  if (!doc) throw new Error(`unknown passage id '${id}'`);
  return corpus.tokenizer.tokenizeToIds(passageText(doc)).slice(0, corpus.maxPieces);
}

/** Passage ids in encoding order: by word-piece length (then id), so batches hold similar lengths. */
export function encodingOrder(corpus: TokenizedCorpus, maxLength: number, cachePieces = true): string[] {
  const lengths = new Map(corpus.ids.map((id) => [id, Math.min(passagePieces(corpus, id, cachePieces).length, maxLength)]));
  return [...corpus.ids].sort((a, b) => lengths.get(a)! - lengths.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
}

/** Encodes texts given as word pieces into a [n, H] matrix (eval mode, no grad). */
export function encodePieces(model: DualEncoder, pieces: readonly (readonly number[])[], side: "query" | "passage", specials: { cls: number; sep: number; pad: number }, batchSize = 64): Float32Array {
  const dim = model.config.hiddenSize;
  const out = new Float32Array(pieces.length * dim);
  const maxLength = side === "query" ? model.settings.maxQueryLength : model.settings.maxPassageLength;
  for (let start = 0; start < pieces.length; start += batchSize) {
    const batch = singleBatch(pieces.slice(start, start + batchSize), maxLength, specials);
    const emb = noGrad(() => model.encode(batch, side).embeddings);
    out.set(emb.data, start * dim);
  }
  return out;
}

/** Query vectors [n, H] for texts. */
export function encodeQueries(model: DualEncoder, corpus: TokenizedCorpus, texts: readonly string[], batchSize = 64): Float32Array {
  return encodePieces(model, texts.map((t) => corpus.text(t)), "query", corpus.specials, batchSize);
}

/**
 * Encodes every passage of the corpus into `dir` and returns the loaded index. An interrupted encode of the same
 * model resumes where it stopped; a directory made with another model is refused.
 */
export async function encodeCorpus(model: DualEncoder, corpus: TokenizedCorpus, dir: string, options: EncodeCorpusOptions = {}): Promise<DenseIndex> {
  const fingerprint = model.fingerprint();
  // What the index is made from (the model with its tokenizer, the corpus): a finished or interrupted index made
  // from other partners is refused (util/provenance.ts), never reused or resumed.
  const madeFrom = { model: retrieverFingerprint(model, corpus.tokenizer), corpus: corpusFingerprint(corpus.docs) };
  stampOrCheck(dir, "dense-index", madeFrom, {
    model: { fingerprint: madeFrom.model, name: "given" }, corpus: { fingerprint: madeFrom.corpus, name: "given" },
  }, `md2pr encode --model MODEL --corpus CORPUS --out NEW_DIR (or remove ${dir})`);
  if (EmbeddingWriter.isComplete(dir)) return DenseIndex.load(dir, { expectedFingerprint: fingerprint });
  const order = encodingOrder(corpus, model.settings.maxPassageLength, options.cachePieces ?? true);
  await encodeIds(model, corpus, order, dir, options);
  return DenseIndex.load(dir, { expectedFingerprint: fingerprint });
}

/** What a dense index written by `model` records about it. */
export function indexInfo(model: DualEncoder): DenseIndexInfo & { dim: number } {
  return {
    dim: model.config.hiddenSize,
    modelFingerprint: model.fingerprint(),
    pooling: model.settings.pooling,
    normalized: model.settings.similarity === "cosine",
  };
}

/**
 * Encodes the passages `ids`, in this order, into the dense index directory `dir` (resumable through
 * EmbeddingWriter) and returns its metadata. Batches are `batchSize` consecutive ids counted from the first id, so
 * a passage's batch (and so its vector, bit for bit) is the same whether `ids` is a whole encoding order or a
 * slice of it that starts at a multiple of `batchSize`: what sharded encoding relies on.
 */
export async function encodeIds(model: DualEncoder, corpus: TokenizedCorpus, ids: readonly string[], dir: string, options: EncodeCorpusOptions = {}): Promise<DenseIndexMeta> {
  const batchSize = options.batchSize ?? 64;
  const writer = await EmbeddingWriter.open(dir, indexInfo(model));
  const label = options.label === undefined ? "encode" : options.label;
  const progress = label ? startProgress(label, ids.length, writer.rowsDone, "passages") : null;
  try {
    // Chunks of several batches per durable append keep fsync cost low; a chunk is whole batches, so a resumed
    // encode (rowsDone = a multiple of the chunk) keeps the batch boundaries of an uninterrupted one.
    const chunk = batchSize * 8;
    for (let start = writer.rowsDone; start < ids.length; start += chunk) {
      const part = ids.slice(start, start + chunk);
      const rows = encodePieces(model, part.map((id) => passagePieces(corpus, id, options.cachePieces ?? true)), "passage", corpus.specials, batchSize);
      await writer.append(part, rows);
      progress?.update(start + part.length);
    }
    return await writer.finish();
  } finally {
    progress?.stop();
    await writer.close();
  }
}
