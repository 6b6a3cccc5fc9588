/**
 * What every tokenizer's encodings share: the encoded types, HF's pair truncation, `[CLS] a [SEP]` /
 * `[CLS] a [SEP] b [SEP]` assembly (token type 1 for `b [SEP]`) and padding into flat batches.
 */

/** One encoded sequence. All three arrays have the same length. */
export interface Encoding {
  readonly ids: Int32Array;
  readonly tokenTypeIds: Int32Array;
  readonly attentionMask: Int32Array;
}

/** A padded batch: flat row-major [batchSize * seqLen] arrays. */
export interface BatchEncoding {
  readonly ids: Int32Array;
  readonly tokenTypeIds: Int32Array;
  /** 1 for real tokens, 0 for padding. */
  readonly attentionMask: Int32Array;
  readonly batchSize: number;
  /** T: the padded sequence length. */
  readonly seqLen: number;
  /** Unpadded length of each row. */
  readonly lengths: Int32Array;
}

export interface EncodeOptions {
  /** Maximum length including special tokens (default: the tokenizer's modelMaxLength, 512). */
  readonly maxLength?: number;
}

/**
 * Pair truncation, as in HF: "longest_first" removes one token at a time from the end of the currently
 * longer sequence (from the second one when they are equally long); "only_first" / "only_second" truncate
 * just that sequence and throw when that is not enough.
 */
export type PairTruncation = "longest_first" | "only_first" | "only_second";

export interface EncodePairOptions extends EncodeOptions {
  readonly truncation?: PairTruncation;
}

export interface BatchOptions extends EncodeOptions {
  /**
   * "longest" (default): pad to the longest row of the batch; a number N: every row is truncated to at most
   * min(N, maxLength) tokens and padded to exactly N.
   */
  readonly padTo?: "longest" | number;
}

export interface PairBatchOptions extends BatchOptions {
  readonly truncation?: PairTruncation;
}

/**
 * HF pair truncation of token lists `a` and `b` so that a.length + b.length <= budget.
 * longest_first: one token at a time from the longer list (from `b` on ties).
 */
export function truncatePair(a: readonly number[], b: readonly number[], budget: number, strategy: PairTruncation): [number[], number[]] {
  let la = a.length;
  let lb = b.length;
  const excess = la + lb - budget;
  if (excess > 0) {
    if (strategy === "longest_first") {
      // Repeatedly drop from the longer, ties from b (same result as HF's slow and fast tokenizers).
      for (let k = 0; k < excess; k++) {
        if (la > lb) la--;
        else lb--;
      }
    } else if (strategy === "only_second") {
      if (excess > lb) throw new Error(`WordPieceTokenizer: only_second truncation cannot fit: first sequence has ${la} tokens, budget ${budget}`);
      lb -= excess;
    } else if (strategy === "only_first") {
      if (excess > la) throw new Error(`WordPieceTokenizer: only_first truncation cannot fit: second sequence has ${lb} tokens, budget ${budget}`);
      la -= excess;
    } else {
      throw new Error(`WordPieceTokenizer: unknown truncation strategy ${String(strategy)}`);
    }
  }
  return [a.slice(0, la), b.slice(0, lb)];
}

/** `[CLS] ids [SEP]` with the text truncated to maxLength - 2 tokens. */
export function assembleSingle(ids: readonly number[], maxLength: number, clsId: number, sepId: number): Encoding {
  const n = Math.min(ids.length, maxLength - 2);
  const out = new Int32Array(n + 2);
  out[0] = clsId;
  for (let i = 0; i < n; i++) out[i + 1] = ids[i]!;
  out[n + 1] = sepId;
  return { ids: out, tokenTypeIds: new Int32Array(n + 2), attentionMask: new Int32Array(n + 2).fill(1) };
}

/** `[CLS] a [SEP] b [SEP]` (already truncated) with token types 0 through the first [SEP], then 1. */
export function assemblePair(ia: readonly number[], ib: readonly number[], clsId: number, sepId: number): Encoding {
  const total = ia.length + ib.length + 3;
  const ids = new Int32Array(total);
  const tt = new Int32Array(total);
  let p = 0;
  ids[p++] = clsId;
  for (const x of ia) ids[p++] = x;
  ids[p++] = sepId;
  const secondStart = p;
  for (const x of ib) ids[p++] = x;
  ids[p++] = sepId;
  tt.fill(1, secondStart);
  return { ids, tokenTypeIds: tt, attentionMask: new Int32Array(total).fill(1) };
}

/**
 * Pads encoded sequences into a batch: to the longest (default) or to exactly `padTo` tokens (throws, naming
 * `who`, if a sequence is longer than `padTo`).
 */
export function padEncodings(encodings: readonly Encoding[], padTo: "longest" | number, padId: number, who: string): BatchEncoding {
  let T = 0;
  for (const e of encodings) if (e.ids.length > T) T = e.ids.length;
  if (typeof padTo === "number") {
    if (T > padTo) throw new Error(`${who}: a sequence of ${T} tokens exceeds padTo=${padTo}`);
    T = padTo;
  }
  const B = encodings.length;
  const ids = new Int32Array(B * T).fill(padId);
  const tt = new Int32Array(B * T);
  const mask = new Int32Array(B * T);
  const lengths = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const e = encodings[b]!;
    ids.set(e.ids, b * T);
    tt.set(e.tokenTypeIds, b * T);
    mask.set(e.attentionMask, b * T);
    lengths[b] = e.ids.length;
  }
  return { ids, tokenTypeIds: tt, attentionMask: mask, batchSize: B, seqLen: T, lengths };
}
