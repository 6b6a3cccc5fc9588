/**
 * Encoding with the retriever: the corpus into a dense index on disk (batched, length-sorted to cut padding,
 * progress bar, resumable through EmbeddingWriter, stamped with the model fingerprint), and queries into a
 * matrix.
 */
import { noGrad } from "../engine/index.ts";
import { singleBatch } from "../models/batching.ts";
import type { DualEncoder } from "../models/dual-encoder.ts";
import { startProgress } from "../util/progress.ts";
import { DenseIndex, EmbeddingWriter } from "../retrieval/dense-index.ts";
import type { TokenizedCorpus } from "../retrieval/tokenized-corpus.ts";

export interface EncodeCorpusOptions {
  batchSize?: number;
  /** Progress label; null for silence. */
  label?: string | null;
}

/** Passage ids in encoding order: by word-piece length (then id), so batches hold similar lengths. */
export function encodingOrder(corpus: TokenizedCorpus, maxLength: number): string[] {
  const lengths = new Map(corpus.ids.map((id) => [id, Math.min(corpus.passage(id).length, maxLength)]));
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
  if (EmbeddingWriter.isComplete(dir)) return DenseIndex.load(dir, { expectedFingerprint: fingerprint });
  const batchSize = options.batchSize ?? 64;
  const order = encodingOrder(corpus, model.settings.maxPassageLength);
  const writer = await EmbeddingWriter.open(dir, {
    dim: model.config.hiddenSize,
    modelFingerprint: fingerprint,
    pooling: model.settings.pooling,
    normalized: model.settings.similarity === "cosine",
  });
  const label = options.label === undefined ? "encode" : options.label;
  const progress = label ? startProgress(label, order.length, writer.rowsDone, "passages") : null;
  try {
    // Chunks of several batches per durable append keep fsync cost low.
    const chunk = batchSize * 8;
    for (let start = writer.rowsDone; start < order.length; start += chunk) {
      const ids = order.slice(start, start + chunk);
      const rows = encodePieces(model, ids.map((id) => corpus.passage(id)), "passage", corpus.specials, batchSize);
      await writer.append(ids, rows);
      progress?.update(start + ids.length);
    }
    await writer.finish();
  } finally {
    progress?.stop();
    await writer.close();
  }
  return DenseIndex.load(dir, { expectedFingerprint: fingerprint });
}
