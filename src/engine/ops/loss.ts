/** Loss primitives: negative log-likelihood, cross-entropy, KL divergence in log space, masked MSE. */
import { gradBuffer, record } from "../autograd.ts";
import { Tensor, assertSameShape } from "../tensor.ts";
import { logSoftmax } from "./normalization.ts";

/** -mean_r logProbs[r, targets[r]] over rows of a [R, C] tensor. */
export function nllLoss(logProbs: Tensor, targets: Int32Array): Tensor {
  const cols = logProbs.dim(-1);
  const rows = logProbs.size / cols;
  if (targets.length !== rows) throw new Error(`nllLoss: ${targets.length} targets for ${rows} rows of${logProbs.label()}`);
  let s = 0;
  for (let r = 0; r < rows; r++) {
    const t = targets[r]!;
    if (t < 0 || t >= cols) throw new Error(`nllLoss: target ${t} of row ${r} outside [0, ${cols})`);
    const v = logProbs.data[r * cols + t]!;
    if (v === -Infinity) throw new Error(`nllLoss: the target of row ${r} has probability 0 (masked?)`);
    s -= v;
  }
  const out = Tensor.scalar(s / rows);
  return record(out, [logProbs], (g) => {
    const d = gradBuffer(logProbs);
    const gv = g[0]! / rows;
    for (let r = 0; r < rows; r++) d[r * cols + targets[r]!] = d[r * cols + targets[r]!]! - gv;
  });
}

/** Softmax cross-entropy of logits [R, C] against class indices, mean over rows. */
export function crossEntropy(logits: Tensor, targets: Int32Array): Tensor {
  return nllLoss(logSoftmax(logits), targets);
}

/**
 * KL(P || Q) from log-probabilities, mean over rows: mean_r sum_c P(c) (log P(c) - log Q(c)) with P = exp(logP).
 * Terms with P = 0 contribute 0. Gradients: d/dlogQ = -P / R; d/dlogP = P (logP - logQ + 1) / R.
 */
export function klDivergence(logP: Tensor, logQ: Tensor): Tensor {
  assertSameShape("klDivergence", logP, logQ);
  const cols = logP.dim(-1);
  const rows = logP.size / cols;
  let s = 0;
  for (let i = 0; i < logP.size; i++) {
    const lp = logP.data[i]!;
    if (lp === -Infinity) continue;
    s += Math.exp(lp) * (lp - logQ.data[i]!);
  }
  const out = Tensor.scalar(s / rows);
  return record(out, [logP, logQ], (g) => {
    const gv = g[0]! / rows;
    if (logQ.requiresGrad) {
      const d = gradBuffer(logQ);
      for (let i = 0; i < logQ.size; i++) {
        const lp = logP.data[i]!;
        if (lp !== -Infinity) d[i] = d[i]! - gv * Math.exp(lp);
      }
    }
    if (logP.requiresGrad) {
      const d = gradBuffer(logP);
      for (let i = 0; i < logP.size; i++) {
        const lp = logP.data[i]!;
        if (lp !== -Infinity) d[i] = d[i]! + gv * Math.exp(lp) * (lp - logQ.data[i]! + 1);
      }
    }
  });
}

/**
 * Mean squared error over the elements with weight[i] != 0: sum_i w_i (a_i - b_i)^2 / sum_i w_i
 * (weights null: plain mean over all elements).
 */
export function mse(a: Tensor, b: Tensor, weights: Float32Array | null = null): Tensor {
  assertSameShape("mse", a, b);
  const n = a.size;
  if (weights && weights.length !== n) throw new Error(`mse: ${weights.length} weights for${a.label()}`);
  let total = 0;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const w = weights ? weights[i]! : 1;
    if (w === 0) continue;
    const diff = a.data[i]! - b.data[i]!;
    s += w * diff * diff;
    total += w;
  }
  if (total === 0) throw new Error("mse: every element is masked out");
  const out = Tensor.scalar(s / total);
  return record(out, [a, b], (g) => {
    const gv = (2 * g[0]!) / total;
    const da = a.requiresGrad ? gradBuffer(a) : null;
    const db = b.requiresGrad ? gradBuffer(b) : null;
    for (let i = 0; i < n; i++) {
      const w = weights ? weights[i]! : 1;
      if (w === 0) continue;
      const d = gv * w * (a.data[i]! - b.data[i]!);
      if (da) da[i] = da[i]! + d;
      if (db) db[i] = db[i]! - d;
    }
  });
}
