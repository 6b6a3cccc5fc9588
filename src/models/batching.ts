/**
 * Turning word-piece id lists into padded BERT batches: single texts ([CLS] t [SEP]) for the dual encoder, and
 * pairs ([CLS] q [SEP] d [SEP]) for the cross-encoder, truncated so that every query and passage token of a pair
 * sits at a known position in both the separate and the joint input (word-level distillation aligns on it).
 */
import type { BertInput } from "./bert.ts";

export interface SpecialIds {
  cls: number;
  sep: number;
  pad: number;
}

/** Pieces of a single text kept under maxLength (room for [CLS] and [SEP]). */
export function truncateSingle(pieces: readonly number[], maxLength: number): readonly number[] {
  const room = maxLength - 2;
  if (room < 1) throw new Error(`maxLength ${maxLength} leaves no room for tokens besides [CLS] and [SEP]`);
  return pieces.length > room ? pieces.slice(0, room) : pieces;
}

function allocate(batch: number, seq: number): BertInput {
  return {
    inputIds: new Int32Array(batch * seq),
    tokenTypeIds: new Int32Array(batch * seq),
    attentionMask: new Float32Array(batch * seq),
    batch,
    seq,
  };
}

/** [CLS] t [SEP] per text, each truncated to maxLength, padded to the longest row. */
export function singleBatch(texts: readonly (readonly number[])[], maxLength: number, ids: SpecialIds): BertInput {
  const kept = texts.map((t) => truncateSingle(t, maxLength));
  const seq = Math.max(1, ...kept.map((t) => t.length + 2));
  const input = allocate(kept.length, seq);
  input.inputIds.fill(ids.pad);
  kept.forEach((t, b) => {
    const o = b * seq;
    input.inputIds[o] = ids.cls;
    for (let i = 0; i < t.length; i++) input.inputIds[o + 1 + i] = t[i]!;
    input.inputIds[o + 1 + t.length] = ids.sep;
    input.attentionMask.fill(1, o, o + t.length + 2);
  });
  return input;
}

export interface PairBatch {
  input: BertInput;
  /** Query pieces kept in each joint row (the same as in the separate query input). */
  queryLengths: Int32Array;
  /** Passage pieces kept in each joint row (a prefix of those in the separate passage input). */
  passageLengths: Int32Array;
}

/**
 * [CLS] q [SEP] d [SEP] per pair. The query keeps exactly the pieces of its separate input (truncated to
 * maxQueryLength); the passage is truncated to its separate length and further to fit maxPairLength.
 */
export function pairBatch(
  queries: readonly (readonly number[])[], passages: readonly (readonly number[])[],
  lengths: { maxQueryLength: number; maxPassageLength: number; maxPairLength: number }, ids: SpecialIds,
): PairBatch {
  if (queries.length !== passages.length) throw new Error(`pairBatch: ${queries.length} queries vs ${passages.length} passages`);
  const n = queries.length;
  const qKept = queries.map((q) => truncateSingle(q, lengths.maxQueryLength));
  const dKept = passages.map((d, i) => {
    const separate = truncateSingle(d, lengths.maxPassageLength);
    const room = lengths.maxPairLength - qKept[i]!.length - 3;
    if (room < 1) throw new Error(`pairBatch: maxPairLength ${lengths.maxPairLength} leaves no room for the passage of pair ${i}`);
    return separate.length > room ? separate.slice(0, room) : separate;
  });
  let seq = 1;
  for (let i = 0; i < n; i++) seq = Math.max(seq, qKept[i]!.length + dKept[i]!.length + 3);
  const input = allocate(n, seq);
  input.inputIds.fill(ids.pad);
  const queryLengths = new Int32Array(n);
  const passageLengths = new Int32Array(n);
  for (let b = 0; b < n; b++) {
    const q = qKept[b]!;
    const d = dKept[b]!;
    const o = b * seq;
    input.inputIds[o] = ids.cls;
    for (let i = 0; i < q.length; i++) input.inputIds[o + 1 + i] = q[i]!;
    input.inputIds[o + 1 + q.length] = ids.sep;
    const dStart = o + q.length + 2;
    for (let j = 0; j < d.length; j++) input.inputIds[dStart + j] = d[j]!;
    input.inputIds[dStart + d.length] = ids.sep;
    input.tokenTypeIds.fill(1, dStart, dStart + d.length + 1);
    input.attentionMask.fill(1, o, o + q.length + d.length + 3);
    queryLengths[b] = q.length;
    passageLengths[b] = d.length;
  }
  return { input, queryLengths, passageLengths };
}

/** Selects rows of a padded batch (for example the positives out of a query's candidate list). */
export function selectRows(input: BertInput, rows: readonly number[]): BertInput {
  const out = allocate(rows.length, input.seq);
  rows.forEach((r, i) => {
    const from = r * input.seq;
    out.inputIds.set(input.inputIds.subarray(from, from + input.seq), i * input.seq);
    out.tokenTypeIds.set(input.tokenTypeIds.subarray(from, from + input.seq), i * input.seq);
    out.attentionMask.set(input.attentionMask.subarray(from, from + input.seq), i * input.seq);
  });
  return out;
}
