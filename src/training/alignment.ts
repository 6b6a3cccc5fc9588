/**
 * Token alignment between the ranker's joint input [CLS] q [SEP] d [SEP] and the retriever's separate inputs
 * [CLS] q [SEP] and [CLS] d [SEP] (docs/method.md, word level): query piece k sits at position 1 + k in both; passage
 * piece j at 1 + j in the passage input and at |q| + 2 + j in the joint input. Only pieces present in both count
 * (the joint input may cut the passage shorter). [CLS] and [SEP] are not distilled.
 *
 * From this it builds the word-level targets: the ranker's query-to-passage attention block (heads averaged,
 * rows renormalised over real passage tokens) and its hidden states at the aligned tokens.
 */
import type { BertInput } from "../models/bert.ts";

export interface AlignedPairs {
  pairs: number;
  /** Padded number of query / passage pieces per pair. */
  tq: number;
  td: number;
  /** [pairs * tq] rows of the retriever's query states (row index into [B*Tq_in, H]); 0 where masked. */
  queryRows: Int32Array;
  /** [pairs * td] rows of the retriever's passage states. */
  passageRows: Int32Array;
  /** [pairs * tq] rows of the ranker's joint states for query tokens; [pairs * td] for passage tokens. */
  jointQueryRows: Int32Array;
  jointPassageRows: Int32Array;
  queryMask: Float32Array;
  passageMask: Float32Array;
}

/**
 * pairQueryRow[p] / pairPassageRow[p]: which row of the retriever's query / passage batch pair p uses.
 * queryLengths / passageLengths: the pieces kept in the joint input (PairBatch).
 */
export function alignPairs(
  queryInput: BertInput, passageInput: BertInput, jointSeq: number,
  pairQueryRow: readonly number[], pairPassageRow: readonly number[],
  queryLengths: Int32Array, passageLengths: Int32Array,
): AlignedPairs {
  const pairs = pairQueryRow.length;
  const tq = Math.max(1, queryInput.seq - 2);
  const td = Math.max(1, passageInput.seq - 2);
  const out: AlignedPairs = {
    pairs, tq, td,
    queryRows: new Int32Array(pairs * tq),
    passageRows: new Int32Array(pairs * td),
    jointQueryRows: new Int32Array(pairs * tq),
    jointPassageRows: new Int32Array(pairs * td),
    queryMask: new Float32Array(pairs * tq),
    passageMask: new Float32Array(pairs * td),
  };
  for (let p = 0; p < pairs; p++) {
    const qRow = pairQueryRow[p]!;
    const dRow = pairPassageRow[p]!;
    const qLen = queryLengths[p]!;
    const dLen = passageLengths[p]!;
    const qSeparate = realLength(queryInput, qRow) - 2;
    const dSeparate = realLength(passageInput, dRow) - 2;
    if (qLen !== qSeparate) throw new Error(`alignPairs: pair ${p} keeps ${qLen} query pieces jointly but ${qSeparate} separately`);
    if (dLen > dSeparate) throw new Error(`alignPairs: pair ${p} keeps ${dLen} passage pieces jointly but only ${dSeparate} separately`);
    for (let k = 0; k < qLen && k < tq; k++) {
      out.queryRows[p * tq + k] = qRow * queryInput.seq + 1 + k;
      out.jointQueryRows[p * tq + k] = p * jointSeq + 1 + k;
      out.queryMask[p * tq + k] = 1;
    }
    for (let j = 0; j < dLen && j < td; j++) {
      out.passageRows[p * td + j] = dRow * passageInput.seq + 1 + j;
      out.jointPassageRows[p * td + j] = p * jointSeq + qLen + 2 + j;
      out.passageMask[p * td + j] = 1;
    }
  }
  return out;
}

function realLength(input: BertInput, row: number): number {
  let n = 0;
  for (let t = 0; t < input.seq; t++) n += input.attentionMask[row * input.seq + t]!;
  return n;
}

/**
 * The ranker's attention target A_C [pairs * tq * td]: from attention probabilities [pairs, heads, T, T] of the
 * chosen layers (averaged over layers and heads), the aligned query rows and passage columns, each row
 * renormalised over the real passage tokens (zeros on masked rows and columns).
 */
export function teacherAttentionTarget(attentions: readonly Float32Array[], heads: number, jointSeq: number, a: AlignedPairs): Float32Array {
  const target = new Float32Array(a.pairs * a.tq * a.td);
  const scale = 1 / (heads * attentions.length);
  for (let p = 0; p < a.pairs; p++) {
    for (let k = 0; k < a.tq; k++) {
      if (!a.queryMask[p * a.tq + k]) continue;
      const row = a.jointQueryRows[p * a.tq + k]! - p * jointSeq;
      const o = (p * a.tq + k) * a.td;
      let total = 0;
      for (let j = 0; j < a.td; j++) {
        if (!a.passageMask[p * a.td + j]) continue;
        const col = a.jointPassageRows[p * a.td + j]! - p * jointSeq;
        let v = 0;
        for (const att of attentions) {
          for (let h = 0; h < heads; h++) v += att[((p * heads + h) * jointSeq + row) * jointSeq + col]!;
        }
        v *= scale;
        target[o + j] = v;
        total += v;
      }
      if (total > 0) for (let j = 0; j < a.td; j++) target[o + j] = target[o + j]! / total;
    }
  }
  return target;
}

/** Rows of a [N, H] matrix by index: [rows.length * H]. */
export function gatherRowsData(data: Float32Array, hidden: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * hidden);
  for (let i = 0; i < rows.length; i++) out.set(data.subarray(rows[i]! * hidden, (rows[i]! + 1) * hidden), i * hidden);
  return out;
}
