/**
 * Ops for relative-position attention (DeBERTa's disentangled attention): per-head scores of the tokens against
 * a table of position embeddings shared by the whole batch, the gather of those scores along the relative
 * position axis (content-to-position and position-to-content), and a per-row scaling (masking of rows).
 */
import { addGrad, gradBuffer, gradTarget, record } from "../autograd.ts";
import { kernels } from "../kernels/index.ts";
import { Tensor } from "../tensor.ts";

/**
 * Per batch element and head: S[b, h] = X_bh R_h^T, with X [B*T, H] and R [P, H] (heads side by side in H; R is
 * shared by the batch). Returns [B, heads, T, P] (unscaled).
 */
export function headScoresShared(x: Tensor, r: Tensor, batch: number, seq: number, heads: number): Tensor {
  const hidden = x.dim(1);
  const headDim = hidden / heads;
  if (!Number.isInteger(headDim)) throw new Error(`headScoresShared: hidden ${hidden} not divisible by ${heads} heads`);
  if (x.shape.length !== 2 || x.dim(0) !== batch * seq || r.shape.length !== 2 || r.dim(1) !== hidden) {
    throw new Error(`headScoresShared: x${x.label()} / r${r.label()} do not match batch ${batch} x seq ${seq} x hidden ${hidden}`);
  }
  const P = r.dim(0);
  const bh = batch * heads;
  const xOffs = new Int32Array(bh);
  const rOffs = new Int32Array(bh);
  const sOffs = new Int32Array(bh);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const i = b * heads + h;
      xOffs[i] = b * seq * hidden + h * headDim;
      rOffs[i] = h * headDim;
      sOffs[i] = i * seq * P;
    }
  }
  const out = Tensor.empty([batch, heads, seq, P]);
  kernels.sgemmBatched(false, true, seq, P, headDim, 1, x.data, xOffs, hidden, r.data, rOffs, hidden, 0, out.data, sOffs, P);
  return record(out, [x, r], (g) => {
    // dX_bh = dS_bh R_h (distinct head slices of dX)
    if (x.requiresGrad) {
      const [dst, beta] = gradTarget(x);
      kernels.sgemmBatched(false, false, seq, headDim, P, 1, g, sOffs, P, r.data, rOffs, hidden, beta, dst, xOffs, hidden);
    }
    // dR_h = sum_b dS_bh^T X_bh: one batched call per b (the heads' slices are distinct within a call)
    if (r.requiresGrad) {
      const [dst, beta0] = gradTarget(r);
      for (let b = 0; b < batch; b++) {
        const part = (o: Int32Array): Int32Array => o.slice(b * heads, (b + 1) * heads);
        kernels.sgemmBatched(true, false, P, headDim, seq, 1, g, part(sOffs), P, x.data, part(xOffs), hidden,
          b === 0 ? beta0 : 1, dst, part(rOffs), hidden);
      }
    }
  });
}

/**
 * Gathers along the last axis of full [N, T, P] with a [T, T] index table (values in [0, P)):
 * not transposed: out[n, i, j] = full[n, i, index[i, j]] (content-to-position);
 * transposed:     out[n, i, j] = full[n, j, index[j, i]] (position-to-content, HF's gather then transpose).
 * Returns [N, T, T] viewed with `shape` (for example [B, heads, T, T]); the gradient is scattered back.
 */
export function relativeGather(full: Tensor, index: Int32Array, seq: number, transposed: boolean, shape?: readonly number[]): Tensor {
  const P = full.dim(-1);
  const n = full.size / (seq * P);
  if (!Number.isInteger(n) || index.length !== seq * seq) {
    throw new Error(`relativeGather: full${full.label()} and an index of ${index.length} values do not fit seq ${seq}`);
  }
  for (let i = 0; i < index.length; i++) {
    const p = index[i]!;
    if (p < 0 || p >= P) throw new Error(`relativeGather: index ${p} at ${i} outside [0, ${P})`);
  }
  // src[e] = flat offset within one [T, P] block of the element that lands at e = i * T + j
  const src = new Int32Array(seq * seq);
  for (let i = 0; i < seq; i++) {
    for (let j = 0; j < seq; j++) src[i * seq + j] = transposed ? j * P + index[j * seq + i]! : i * P + index[i * seq + j]!;
  }
  const out = Tensor.empty(shape ?? [n, seq, seq]);
  if (out.size !== n * seq * seq) throw new Error(`relativeGather: shape [${shape?.join(", ")}] does not hold ${n} x ${seq} x ${seq}`);
  const block = seq * seq;
  const fblock = seq * P;
  const o = out.data;
  const f = full.data;
  for (let m = 0; m < n; m++) {
    const ob = m * block;
    const fb = m * fblock;
    for (let e = 0; e < block; e++) o[ob + e] = f[fb + src[e]!]!;
  }
  return record(out, [full], (g) => {
    const d = gradBuffer(full);
    for (let m = 0; m < n; m++) {
      const ob = m * block;
      const fb = m * fblock;
      for (let e = 0; e < block; e++) d[fb + src[e]!] = d[fb + src[e]!]! + g[ob + e]!;
    }
  });
}

/** Row r of x [R, C] times w[r] (constants, e.g. a 0/1 mask); the gradient is scaled likewise. */
export function scaleRows(x: Tensor, w: Float32Array): Tensor {
  const cols = x.dim(-1);
  const rows = x.size / cols;
  if (w.length !== rows) throw new Error(`scaleRows: ${w.length} row weights for x${x.label()}`);
  const out = Tensor.empty(x.shape);
  for (let r = 0; r < rows; r++) {
    const s = w[r]!;
    const o = r * cols;
    for (let c = 0; c < cols; c++) out.data[o + c] = x.data[o + c]! * s;
  }
  return record(out, [x], (g) => {
    const d = gradBuffer(x);
    for (let r = 0; r < rows; r++) {
      const s = w[r]!;
      const o = r * cols;
      if (s !== 0) for (let c = 0; c < cols; c++) d[o + c] = d[o + c]! + g[o + c]! * s;
    }
  });
}

/**
 * DeBERTa's attention logits before scaling: scores [N, T, T] plus the content-to-position and position-to-content
 * terms gathered from c2p [N, T, P] and p2c [N, T, P] (either may be null):
 *   out[n, i, j] = scores[n, i, j] + c2p[n, i, c2pIndex[i, j]] + p2c[n, j, p2cIndex[j, i]]
 * One pass and one output, instead of two relativeGather results and two adds; gradients: scores gets g,
 * c2p / p2c get g scattered back.
 */
export function addRelativeScores(
  scores: Tensor, c2p: Tensor | null, c2pIndex: Int32Array, p2c: Tensor | null, p2cIndex: Int32Array, seq: number,
): Tensor {
  const block = seq * seq;
  const n = scores.size / block;
  if (!Number.isInteger(n)) throw new Error(`addRelativeScores: scores${scores.label()} are not blocks of ${seq} x ${seq}`);
  const P = (c2p ?? p2c)?.dim(-1) ?? 1;
  for (const [t, idx, what] of [[c2p, c2pIndex, "c2p"], [p2c, p2cIndex, "p2c"]] as const) {
    if (!t) continue;
    if (t.size !== n * seq * P || t.dim(-1) !== P) throw new Error(`addRelativeScores: ${what}${t.label()} does not match ${n} x ${seq} x ${P}`);
    if (idx.length !== block) throw new Error(`addRelativeScores: ${what} index of ${idx.length} values for seq ${seq}`);
    for (let e = 0; e < block; e++) if (idx[e]! < 0 || idx[e]! >= P) throw new Error(`addRelativeScores: ${what} index ${idx[e]} at ${e} outside [0, ${P})`);
  }
  // p2c read transposed: element (i, j) comes from row j; precompute the flat source offsets within one block
  const c2pSrc = new Int32Array(block);
  const p2cSrc = new Int32Array(block);
  for (let i = 0; i < seq; i++) {
    for (let j = 0; j < seq; j++) {
      c2pSrc[i * seq + j] = i * P + c2pIndex[i * seq + j]!;
      p2cSrc[i * seq + j] = j * P + p2cIndex[j * seq + i]!;
    }
  }
  const out = Tensor.empty(scores.shape);
  const o = out.data;
  o.set(scores.data);
  const fblock = seq * P;
  const gatherAdd = (full: Float32Array, src: Int32Array): void => {
    for (let m = 0; m < n; m++) {
      const ob = m * block;
      const fb = m * fblock;
      for (let e = 0; e < block; e++) o[ob + e] = o[ob + e]! + full[fb + src[e]!]!;
    }
  };
  if (c2p) gatherAdd(c2p.data, c2pSrc);
  if (p2c) gatherAdd(p2c.data, p2cSrc);
  return record(out, [scores, c2p, p2c], (g) => {
    addGrad(scores, g);
    const scatter = (t: Tensor, src: Int32Array): void => {
      const d = gradBuffer(t);
      for (let m = 0; m < n; m++) {
        const ob = m * block;
        const fb = m * fblock;
        for (let e = 0; e < block; e++) d[fb + src[e]!] = d[fb + src[e]!]! + g[ob + e]!;
      }
    };
    if (c2p?.requiresGrad) scatter(c2p, c2pSrc);
    if (p2c?.requiresGrad) scatter(p2c, p2cSrc);
  });
}
