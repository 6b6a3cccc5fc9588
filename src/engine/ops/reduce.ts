/** Reductions and row-wise ops used by pooling and losses: sum, mean, masked mean of rows, L2 normalisation. */
import { gradBuffer, record } from "../autograd.ts";
import { Tensor } from "../tensor.ts";

/** Sum of all elements: [1]. */
export function sum(x: Tensor): Tensor {
  let s = 0;
  for (let i = 0; i < x.size; i++) s += x.data[i]!;
  const out = Tensor.scalar(s);
  return record(out, [x], (g) => {
    const d = gradBuffer(x);
    const gv = g[0]!;
    for (let i = 0; i < x.size; i++) d[i] = d[i]! + gv;
  });
}

/** Mean of all elements: [1]. */
export function mean(x: Tensor): Tensor {
  let s = 0;
  for (let i = 0; i < x.size; i++) s += x.data[i]!;
  const n = x.size;
  const out = Tensor.scalar(s / n);
  return record(out, [x], (g) => {
    const d = gradBuffer(x);
    const gv = g[0]! / n;
    for (let i = 0; i < n; i++) d[i] = d[i]! + gv;
  });
}

/**
 * Masked mean pooling: x [B*T, H], mask [B*T] of 0/1 -> [B, H] with out[b] = sum_t m[b,t] x[b,t] / sum_t m[b,t].
 */
export function maskedMeanRows(x: Tensor, mask: Float32Array, batch: number): Tensor {
  const hidden = x.dim(1);
  const seq = x.dim(0) / batch;
  if (!Number.isInteger(seq) || mask.length !== x.dim(0)) throw new Error(`maskedMeanRows: x${x.label()}, mask ${mask.length}, batch ${batch}`);
  const out = Tensor.zeros([batch, hidden]);
  const counts = new Float32Array(batch);
  for (let b = 0; b < batch; b++) {
    let c = 0;
    for (let t = 0; t < seq; t++) {
      const m = mask[b * seq + t]!;
      if (m === 0) continue;
      c += m;
      const xo = (b * seq + t) * hidden;
      for (let h = 0; h < hidden; h++) out.data[b * hidden + h] = out.data[b * hidden + h]! + m * x.data[xo + h]!;
    }
    if (c === 0) throw new Error(`maskedMeanRows: sequence ${b} has no unmasked token`);
    counts[b] = c;
    for (let h = 0; h < hidden; h++) out.data[b * hidden + h] = out.data[b * hidden + h]! / c;
  }
  return record(out, [x], (g) => {
    const d = gradBuffer(x);
    for (let b = 0; b < batch; b++) {
      for (let t = 0; t < seq; t++) {
        const w = mask[b * seq + t]! / counts[b]!;
        if (w === 0) continue;
        const xo = (b * seq + t) * hidden;
        for (let h = 0; h < hidden; h++) d[xo + h] = d[xo + h]! + w * g[b * hidden + h]!;
      }
    }
  });
}

/** Rows scaled to unit L2 norm: y = x / max(||x||, eps). */
export function l2NormalizeRows(x: Tensor, eps = 1e-12): Tensor {
  const cols = x.dim(-1);
  const rows = x.size / cols;
  const out = Tensor.zeros(x.shape);
  const norms = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x.data[r * cols + c]! ** 2;
    const n = Math.max(Math.sqrt(s), eps);
    norms[r] = n;
    for (let c = 0; c < cols; c++) out.data[r * cols + c] = x.data[r * cols + c]! / n;
  }
  return record(out, [x], (g) => {
    const d = gradBuffer(x);
    for (let r = 0; r < rows; r++) {
      const n = norms[r]!;
      let dot = 0;
      for (let c = 0; c < cols; c++) dot += g[r * cols + c]! * out.data[r * cols + c]!;
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        d[i] = d[i]! + (g[i]! - out.data[i]! * dot) / n;
      }
    }
  });
}
