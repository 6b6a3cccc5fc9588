/**
 * Contrastive loss (InfoNCE) with in-batch and hard negatives and a false-negative mask (docs/method.md, loss 1):
 *
 *   L_c = mean_i -log( exp(s(q_i, d_i+)/tau) / sum_{d in C(q_i)} M(q_i, d) exp(s(q_i, d)/tau) )
 *
 * q: [B, H] query vectors; p: [B * (n+1), H] passage vectors where query i's own candidates are rows
 * i*(n+1) .. i*(n+1)+n, positive first; every passage of the batch is a candidate of every query.
 * keep: [B, B*(n+1)] 1 = keep, 0 = masked (an -inf logit); null keeps everything. The positive is never masked.
 */
import { crossEntropy, matmul, maskedFill, scale, type Tensor } from "../../engine/index.ts";

export interface ContrastiveOptions {
  /** Temperature tau (default 1, for dot-product scores). */
  temperature?: number;
}

/** The [B, B*(n+1)] score matrix s(q_i, d_j) = q_i . d_j (before temperature). */
export function scoreMatrix(q: Tensor, p: Tensor): Tensor {
  return matmul(q, p, false, true);
}

export function contrastiveLoss(scores: Tensor, groupSize: number, keep: Uint8Array | null, options: ContrastiveOptions = {}): Tensor {
  const batch = scores.dim(0);
  if (scores.dim(1) !== batch * groupSize) {
    throw new Error(`contrastiveLoss: scores${scores.label()} should be [${batch}, ${batch * groupSize}] for groups of ${groupSize}`);
  }
  const targets = new Int32Array(batch);
  for (let i = 0; i < batch; i++) {
    targets[i] = i * groupSize;
    if (keep && keep[i * batch * groupSize + i * groupSize] === 0) throw new Error(`contrastiveLoss: the positive of query ${i} is masked`);
  }
  const tau = options.temperature ?? 1;
  let logits = tau === 1 ? scores : scale(scores, 1 / tau);
  if (keep) logits = maskedFill(logits, keep, -Infinity);
  return crossEntropy(logits, targets);
}
