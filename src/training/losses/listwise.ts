/**
 * Listwise softmax cross-entropy for the ranker (localized contrastive estimation):
 *
 *   L_rank = mean_q -log( exp(s_C(q, d+)) / sum_{d in {d+, d1-..dn-}} exp(s_C(q, d)) )
 *
 * scores: [B, n+1] with the positive in column 0.
 */
import { crossEntropy, type Tensor } from "../../engine/index.ts";

export function listwiseLoss(scores: Tensor): Tensor {
  return crossEntropy(scores, new Int32Array(scores.dim(0)));
}
