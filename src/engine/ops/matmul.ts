/** Matrix products: matmul with transposes, linear layers (HF weight layout [out, in]), and head-sliced attention products. */
import { gradTarget, record } from "../autograd.ts";
import { kernels } from "../kernels/index.ts";
import { Tensor, assertRank } from "../tensor.ts";

/**
 * C = op(A) @ op(B) for 2-D tensors. forward: C[m,n]; backward: dA = dC op(B)^T (transposed back if transA),
 * dB likewise.
 */
export function matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  assertRank("matmul", a, 2);
  assertRank("matmul", b, 2);
  const m = transA ? a.dim(1) : a.dim(0);
  const k = transA ? a.dim(0) : a.dim(1);
  const kb = transB ? b.dim(1) : b.dim(0);
  const n = transB ? b.dim(0) : b.dim(1);
  if (k !== kb) {
    throw new Error(`matmul: inner sizes differ: ${transA ? "A^T" : "A"}${a.label()} x ${transB ? "B^T" : "B"}${b.label()}`);
  }
  const lda = a.dim(1);
  const ldb = b.dim(1);
  const out = Tensor.empty([m, n]);
  kernels.sgemm(transA, transB, m, n, k, 1, a.data, 0, lda, b.data, 0, ldb, 0, out.data, 0, n);
  return record(out, [a, b], (g) => {
    if (a.requiresGrad) {
      // dA (shape of A): if !transA: dA[m,k] = g[m,n] op(B)^T ; if transA: dA[k,m] = op(B) g^T
      const [dst, beta] = gradTarget(a);
      if (!transA) kernels.sgemm(false, !transB, m, k, n, 1, g, 0, n, b.data, 0, ldb, beta, dst, 0, lda);
      else kernels.sgemm(transB, true, k, m, n, 1, b.data, 0, ldb, g, 0, n, beta, dst, 0, lda);
    }
    if (b.requiresGrad) {
      // dB: if !transB: dB[k,n] = op(A)^T g ; if transB: dB[n,k] = g^T op(A)
      const [dst, beta] = gradTarget(b);
      if (!transB) kernels.sgemm(!transA, false, k, n, m, 1, a.data, 0, lda, g, 0, n, beta, dst, 0, ldb);
      else kernels.sgemm(true, transA, n, k, m, 1, g, 0, n, a.data, 0, lda, beta, dst, 0, ldb);
    }
  });
}

/** y = x W^T + b with x [N, in], W [out, in] (PyTorch/HF layout), b [out] or null. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  assertRank("linear", x, 2);
  assertRank("linear", weight, 2);
  const rows = x.dim(0);
  const inF = x.dim(1);
  const outF = weight.dim(0);
  if (weight.dim(1) !== inF) throw new Error(`linear: input${x.label()} does not match weight${weight.label()}`);
  if (bias && bias.size !== outF) throw new Error(`linear: bias${bias.label()} does not match weight${weight.label()}`);
  const out = Tensor.empty([rows, outF]);
  kernels.sgemm(false, true, rows, outF, inF, 1, x.data, 0, inF, weight.data, 0, inF, 0, out.data, 0, outF);
  if (bias) kernels.addBias(out.data, bias.data, out.data, rows, outF);
  return record(out, [x, weight, bias], (g) => {
    if (x.requiresGrad) {
      const [dst, beta] = gradTarget(x);
      kernels.sgemm(false, false, rows, inF, outF, 1, g, 0, outF, weight.data, 0, inF, beta, dst, 0, inF);
    }
    if (weight.requiresGrad) {
      const [dW, beta] = gradTarget(weight);
      kernels.sgemm(true, false, outF, inF, rows, 1, g, 0, outF, x.data, 0, inF, beta, dW, 0, inF);
    }
    if (bias && bias.requiresGrad) {
      if (bias.grad === null) bias.grad = new Float32Array(outF);
      kernels.sumRows(g, bias.grad, rows, outF);
    }
  });
}

function headOffsets(batch: number, heads: number, seq: number, hidden: number, headDim: number): Int32Array {
  const offs = new Int32Array(batch * heads);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) offs[b * heads + h] = b * seq * hidden + h * headDim;
  }
  return offs;
}

function blockOffsets(count: number, blockSize: number): Int32Array {
  const offs = new Int32Array(count);
  for (let i = 0; i < count; i++) offs[i] = i * blockSize;
  return offs;
}

/**
 * Attention scores per head: q, k are [B*T, H] (heads side by side in H); returns S [B, heads, T, T] with
 * S[b,h] = Q_bh K_bh^T (unscaled; the softmax applies the scale).
 */
export function attentionScores(q: Tensor, k: Tensor, batch: number, seq: number, heads: number): Tensor {
  const hidden = q.dim(1);
  const headDim = hidden / heads;
  if (!Number.isInteger(headDim)) throw new Error(`attentionScores: hidden ${hidden} not divisible by ${heads} heads`);
  if (q.dim(0) !== batch * seq || k.dim(0) !== batch * seq || k.dim(1) !== hidden) {
    throw new Error(`attentionScores: q${q.label()} / k${k.label()} do not match batch ${batch} x seq ${seq}`);
  }
  const qkOffs = headOffsets(batch, heads, seq, hidden, headDim);
  const sOffs = blockOffsets(batch * heads, seq * seq);
  const out = Tensor.empty([batch, heads, seq, seq]);
  kernels.sgemmBatched(false, true, seq, seq, headDim, 1, q.data, qkOffs, hidden, k.data, qkOffs, hidden, 0, out.data, sOffs, seq);
  return record(out, [q, k], (g) => {
    // dQ_bh = dS_bh K_bh ; dK_bh = dS_bh^T Q_bh (head slices written in place: no temporaries overlap)
    if (q.requiresGrad) {
      const [dst, beta] = gradTarget(q);
      kernels.sgemmBatched(false, false, seq, headDim, seq, 1, g, sOffs, seq, k.data, qkOffs, hidden, beta, dst, qkOffs, hidden);
    }
    if (k.requiresGrad) {
      const [dst, beta] = gradTarget(k);
      kernels.sgemmBatched(true, false, seq, headDim, seq, 1, g, sOffs, seq, q.data, qkOffs, hidden, beta, dst, qkOffs, hidden);
    }
  });
}

/** Attention output: P [B, heads, T, T] times V [B*T, H] per head, heads concatenated: [B*T, H]. */
export function attentionContext(p: Tensor, v: Tensor, batch: number, seq: number, heads: number): Tensor {
  const hidden = v.dim(1);
  const headDim = hidden / heads;
  if (p.size !== batch * heads * seq * seq || v.dim(0) !== batch * seq) {
    throw new Error(`attentionContext: probs${p.label()} / v${v.label()} do not match batch ${batch}, seq ${seq}, heads ${heads}`);
  }
  const vOffs = headOffsets(batch, heads, seq, hidden, headDim);
  const pOffs = blockOffsets(batch * heads, seq * seq);
  const out = Tensor.empty([batch * seq, hidden]);
  kernels.sgemmBatched(false, false, seq, headDim, seq, 1, p.data, pOffs, seq, v.data, vOffs, hidden, 0, out.data, vOffs, hidden);
  return record(out, [p, v], (g) => {
    // dP_bh = dC_bh V_bh^T ; dV_bh = P_bh^T dC_bh
    if (p.requiresGrad) {
      const [dst, beta] = gradTarget(p);
      kernels.sgemmBatched(false, true, seq, seq, headDim, 1, g, vOffs, hidden, v.data, vOffs, hidden, beta, dst, pOffs, seq);
    }
    if (v.requiresGrad) {
      const [dst, beta] = gradTarget(v);
      kernels.sgemmBatched(true, false, seq, headDim, seq, 1, p.data, pOffs, seq, g, vOffs, hidden, beta, dst, vOffs, hidden);
    }
  });
}
