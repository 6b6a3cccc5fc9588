/**
 * Word-level attention distillation (docs/method.md, loss 3a):
 *
 *   A_R = softmax_rows( H_q H_d^T / sqrt(H) )   over the passage's real tokens
 *   L_att = sum_{valid (i, j)} (A_R[i, j] - A_C[i, j])^2 / #valid
 *
 * H_q: [P*Tq, H] retriever query token states, H_d: [P*Td, H] passage token states (P aligned pairs, padded);
 * qMask [P*Tq], dMask [P*Td]: 1 = real aligned token. A_C: [P*Tq*Td] the ranker's query-to-passage attention
 * (heads averaged, rows renormalised over real passage tokens). Valid (i, j) = qMask[i] * dMask[j].
 */
import { Tensor, concatRows, matmul, mse, sliceRows, softmax } from "../../engine/index.ts";
import { MASK_VALUE } from "../../models/bert.ts";

export function attentionDistillationLoss(
  hq: Tensor, hd: Tensor, qMask: Float32Array, dMask: Float32Array, teacher: Float32Array,
  pairs: number, tq: number, td: number,
): Tensor {
  const hidden = hq.dim(1);
  if (hq.dim(0) !== pairs * tq || hd.dim(0) !== pairs * td || hd.dim(1) !== hidden || teacher.length !== pairs * tq * td) {
    throw new Error(`attentionDistillationLoss: Hq${hq.label()}, Hd${hd.label()}, A_C ${teacher.length} do not fit ${pairs} pairs x ${tq} x ${td}`);
  }
  const blocks: Tensor[] = [];
  for (let p = 0; p < pairs; p++) {
    blocks.push(matmul(sliceRows(hq, p * tq, (p + 1) * tq), sliceRows(hd, p * td, (p + 1) * td), false, true));
  }
  const additive = new Float32Array(pairs * td);
  for (let i = 0; i < additive.length; i++) additive[i] = dMask[i] ? 0 : MASK_VALUE;
  const studentAttention = softmax(concatRows(blocks), 1 / Math.sqrt(hidden), additive, tq);
  const weights = new Float32Array(pairs * tq * td);
  for (let p = 0; p < pairs; p++) {
    for (let i = 0; i < tq; i++) {
      if (!qMask[p * tq + i]) continue;
      for (let j = 0; j < td; j++) weights[(p * tq + i) * td + j] = dMask[p * td + j]!;
    }
  }
  return mse(studentAttention, new Tensor(teacher, studentAttention.shape), weights);
}
