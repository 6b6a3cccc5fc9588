/**
 * Word-level hidden-state distillation (docs/method.md, loss 3b):
 *
 *   L_hid = sum_{valid tokens t} || H_R[t] W - H_C[t] ||^2 / (#valid tokens * H_C)
 *
 * H_R: [N, H_R] retriever token states, H_C: [N, H_C] the ranker's states at the same tokens inside the joint
 * input (constant), W: [H_R, H_C] a learned projection (null = identity, when the sizes agree).
 * tokenMask [N]: 1 = aligned real token.
 */
import { Tensor, matmul, mse } from "../../engine/index.ts";

export function hiddenDistillationLoss(hr: Tensor, hc: Float32Array, projection: Tensor | null, tokenMask: Float32Array): Tensor {
  const n = hr.dim(0);
  const student = projection ? matmul(hr, projection) : hr;
  const width = student.dim(1);
  if (hc.length !== n * width || tokenMask.length !== n) {
    throw new Error(`hiddenDistillationLoss: H_R W is [${n}, ${width}] but H_C has ${hc.length} values and the mask ${tokenMask.length}`);
  }
  const weights = new Float32Array(n * width);
  for (let t = 0; t < n; t++) if (tokenMask[t]) weights.fill(1, t * width, (t + 1) * width);
  return mse(student, new Tensor(hc, student.shape), weights);
}
