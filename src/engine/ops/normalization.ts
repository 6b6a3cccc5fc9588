/** Softmax (masked, scaled), log-softmax, layer norm, dropout. */
import { accumulateGrad, gradBuffer, record } from "../autograd.ts";
import { kernels } from "../kernels/index.ts";
import { Tensor } from "../tensor.ts";

/**
 * Row softmax over the last dimension of (x * scale + mask). mask is additive, one row per rowsPerMaskRow rows
 * of x (attention: mask [B, T] with rowsPerMaskRow = heads * T); null for none.
 */
export function softmax(x: Tensor, scale = 1, mask: Float32Array | null = null, rowsPerMaskRow = 1): Tensor {
  const cols = x.dim(-1);
  const rows = x.size / cols;
  if (mask && mask.length * rowsPerMaskRow !== rows * cols) {
    throw new Error(`softmax: mask of ${mask.length} values does not fit x${x.label()} with ${rowsPerMaskRow} rows per mask row`);
  }
  const out = Tensor.empty(x.shape);
  kernels.softmaxForward(x.data, out.data, rows, cols, scale, mask, rowsPerMaskRow);
  return record(out, [x], (g) => {
    accumulateGrad(x, (dst) => kernels.softmaxBackward(out.data, g, dst, rows, cols, scale));
  });
}

/**
 * Row log-softmax over the last dimension: x - max - log(sum exp(x - max)). Entries equal to -Infinity stay
 * -Infinity and get zero gradient. Backward: dx = g - softmax * sum(g).
 */
export function logSoftmax(x: Tensor): Tensor {
  const cols = x.dim(-1);
  const rows = x.size / cols;
  const out = Tensor.empty(x.shape);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, x.data[o + c]!);
    if (max === -Infinity) throw new Error(`logSoftmax: row ${r} of${x.label()} is entirely -Infinity (every candidate masked)`);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp(x.data[o + c]! - max);
    const lse = max + Math.log(sum);
    for (let c = 0; c < cols; c++) out.data[o + c] = x.data[o + c]! - lse;
  }
  return record(out, [x], (g) => {
    const d = gradBuffer(x);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let gs = 0;
      for (let c = 0; c < cols; c++) gs += g[o + c]!;
      for (let c = 0; c < cols; c++) d[o + c] = d[o + c]! + g[o + c]! - Math.exp(out.data[o + c]!) * gs;
    }
  });
}

/** Layer norm over the last dimension with affine gamma, beta. */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  const cols = gamma.size;
  if (x.dim(-1) !== cols || beta.size !== cols) {
    throw new Error(`layerNorm: x${x.label()} vs gamma${gamma.label()} / beta${beta.label()}`);
  }
  const rows = x.size / cols;
  const out = Tensor.empty(x.shape);
  const mean = new Float32Array(rows);
  const rstd = new Float32Array(rows);
  kernels.layerNormForward(x.data, gamma.data, beta.data, out.data, mean, rstd, rows, cols, eps);
  return record(out, [x, gamma, beta], (g) => {
    const dGamma = gamma.requiresGrad ? gradBuffer(gamma) : new Float32Array(cols);
    const dBeta = beta.requiresGrad ? gradBuffer(beta) : new Float32Array(cols);
    if (x.requiresGrad) {
      accumulateGrad(x, (dst) => kernels.layerNormBackward(g, x.data, gamma.data, mean, rstd, dst, dGamma, dBeta, rows, cols));
    } else {
      const scratch = new Float32Array(x.size);
      kernels.layerNormBackward(g, x.data, gamma.data, mean, rstd, scratch, dGamma, dBeta, rows, cols);
    }
  });
}

/** Source of dropout seeds: anything with nextUint32 (see rng.ts). */
export interface SeedSource {
  nextUint32(): number;
}

/**
 * Inverted dropout with probability p, active whenever `training` is true (also under noGrad, like PyTorch's
 * train mode); the identity otherwise. Each call draws a fresh seed from rng, so a run is reproducible.
 */
export function dropout(x: Tensor, p: number, training: boolean, rng: SeedSource): Tensor {
  if (!training || p === 0) return x;
  if (!(p > 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  const n = x.size;
  const out = Tensor.empty(x.shape);
  const keep = new Uint8Array(n);
  kernels.dropoutForward(x.data, out.data, keep, n, p, rng.nextUint32());
  return record(out, [x], (g) => {
    accumulateGrad(x, (dst) => kernels.dropoutBackward(g, keep, dst, n, p));
  });
}
