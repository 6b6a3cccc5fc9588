/**
 * Ops for relative-position attention (DeBERTa's disentangled attention): per-head scores of the tokens against
 * a table of position embeddings shared by the whole batch, the gather of those scores along the relative
 * position axis (content-to-position and position-to-content), the whole logit computation fused
 * (disentangledScores, what the model runs; packedDisentangledScores on a padding-free batch), and a per-row
 * scaling (masking of rows).
 */
import { addGrad, gradBuffer, gradTarget, record } from "../autograd.ts";
import { kernels } from "../kernels/index.ts";
import { Tensor, emptyFloat32 } from "../tensor.ts";
import type { AttentionPacking } from "./packed.ts";

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
  const out = Tensor.empty(shape ?? [n, seq, seq]);
  if (out.size !== n * seq * seq) throw new Error(`relativeGather: shape [${shape?.join(", ")}] does not hold ${n} x ${seq} x ${seq}`);
  const [c2p, p2c] = transposed ? [null, full.data] : [full.data, null];
  kernels.relativeGatherForward(null, c2p, index, p2c, index, out.data, n, seq, P);
  return record(out, [full], (g) => {
    const d = gradSink(full);
    const [dc, dp] = transposed ? [null, d] : [d, null];
    kernels.relativeGatherBackward(g, dc, index, dp, index, n, seq, P);
    finishGrad(full, d);
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
 * c2p / p2c get g scattered back (kernels relativeGatherForward / relativeGatherBackward).
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
  }
  const out = Tensor.empty(scores.shape);
  kernels.relativeGatherForward(scores.data, c2p?.data ?? null, c2pIndex, p2c?.data ?? null, p2cIndex, out.data, n, seq, P);
  return record(out, [scores, c2p, p2c], (g) => {
    addGrad(scores, g);
    const dc = gradSink(c2p);
    const dp = gradSink(p2c);
    if (dc || dp) kernels.relativeGatherBackward(g, dc, c2pIndex, dp, p2cIndex, n, seq, P);
    finishGrad(c2p, dc);
    finishGrad(p2c, dp);
  });
}

/**
 * DeBERTa's attention logits before scaling, fused: per batch element b and head h (heads side by side in H),
 *   out[b, h, i, j] = q_i.k_j + q_i.kr[c2pIndex[i, j]] + k_j.qr[p2cIndex[j, i]]
 * with q, k [B*T, H] and the projected relative embeddings kr, qr [P, H] shared by the batch (either null leaves
 * its term out). The values of addRelativeScores(attentionScores(q, k), headScoresShared(q, kr), c2pIndex,
 * headScoresShared(k, qr), p2cIndex), but the [B, heads, T, P] tables are never materialised: each (b, h) block
 * is computed in a scratch block and gathered (kernels disentangledScoresForward / disentangledScoresBackward;
 * the native ones compute each table only over the columns its rows read, so past 32 rows float rounding may
 * differ from the unfused ops). Returns [B, heads, T, T].
 */
export function disentangledScores(
  q: Tensor, k: Tensor, kr: Tensor | null, c2pIndex: Int32Array, qr: Tensor | null, p2cIndex: Int32Array,
  batch: number, seq: number, heads: number,
): Tensor {
  const hidden = q.dim(1);
  if (!Number.isInteger(hidden / heads)) throw new Error(`disentangledScores: hidden ${hidden} not divisible by ${heads} heads`);
  if (q.shape.length !== 2 || q.dim(0) !== batch * seq || k.shape.length !== 2 || k.dim(0) !== batch * seq || k.dim(1) !== hidden) {
    throw new Error(`disentangledScores: q${q.label()} / k${k.label()} do not match batch ${batch} x seq ${seq} x hidden ${hidden}`);
  }
  const P = (kr ?? qr)?.dim(0) ?? 1;
  for (const [t, idx, what] of [[kr, c2pIndex, "kr"], [qr, p2cIndex, "qr"]] as const) {
    if (!t) continue;
    if (t.shape.length !== 2 || t.dim(0) !== P || t.dim(1) !== hidden) throw new Error(`disentangledScores: ${what}${t.label()} is not [${P}, ${hidden}]`);
    if (idx.length !== seq * seq) throw new Error(`disentangledScores: ${what} index of ${idx.length} values for seq ${seq}`);
  }
  const out = Tensor.empty([batch, heads, seq, seq]);
  kernels.disentangledScoresForward(q.data, k.data, kr?.data ?? null, c2pIndex, qr?.data ?? null, p2cIndex, out.data, batch, seq, heads, hidden, P);
  return record(out, [q, k, kr, qr], (g) => {
    const dq = gradSink(q);
    const dk = gradSink(k);
    const dkr = gradSink(kr);
    const dqr = gradSink(qr);
    kernels.disentangledScoresBackward(
      g, q.data, k.data, kr?.data ?? null, c2pIndex, qr?.data ?? null, p2cIndex, dq, dk, dkr, dqr, batch, seq, heads, hidden, P,
    );
    finishGrad(q, dq);
    finishGrad(k, dk);
    finishGrad(kr, dkr);
    finishGrad(qr, dqr);
  });
}

/**
 * disentangledScores over a packed (padding-free) batch: q, k [N, H] hold the real tokens of the sequences of
 * `pack` back to back; each sequence attends within itself, with relative positions within itself: a sequence of
 * length L uses the top-left [L, L] part of the index tables [indexSeq, indexSeq] (indexSeq >= the longest
 * length; the tables depend on i - j only, so this part is the table of length L). kr, qr [P, H] as there.
 * Returns the score blocks [pack.blockTotal] (sequence b's [heads, L_b, L_b] block at pack.blockStarts[b]), as
 * packedAttentionScores, for packedSoftmax / packedAttentionContext (kernels disentangledScoresPacked*).
 */
export function packedDisentangledScores(
  q: Tensor, k: Tensor, kr: Tensor | null, c2pIndex: Int32Array, qr: Tensor | null, p2cIndex: Int32Array,
  indexSeq: number, pack: AttentionPacking,
): Tensor {
  const { hidden, heads } = pack;
  for (const [t, what] of [[q, "q"], [k, "k"]] as const) {
    if (t.shape.length !== 2 || t.dim(0) !== pack.rows || t.dim(1) !== hidden) {
      throw new Error(`packedDisentangledScores: ${what}${t.label()} does not match the packing [${pack.rows}, ${hidden}]`);
    }
  }
  const P = (kr ?? qr)?.dim(0) ?? 1;
  for (const [t, idx, what] of [[kr, c2pIndex, "kr"], [qr, p2cIndex, "qr"]] as const) {
    if (!t) continue;
    if (t.shape.length !== 2 || t.dim(0) !== P || t.dim(1) !== hidden) throw new Error(`packedDisentangledScores: ${what}${t.label()} is not [${P}, ${hidden}]`);
    if (idx.length !== indexSeq * indexSeq) throw new Error(`packedDisentangledScores: ${what} index of ${idx.length} values for indexSeq ${indexSeq}`);
  }
  const out = Tensor.empty([pack.blockTotal]);
  kernels.disentangledScoresPackedForward(q.data, k.data, kr?.data ?? null, c2pIndex, qr?.data ?? null, p2cIndex, out.data, pack.lens, indexSeq, heads, hidden, P);
  return record(out, [q, k, kr, qr], (g) => {
    const dq = gradSink(q);
    const dk = gradSink(k);
    const dkr = gradSink(kr);
    const dqr = gradSink(qr);
    kernels.disentangledScoresPackedBackward(
      g, q.data, k.data, kr?.data ?? null, c2pIndex, qr?.data ?? null, p2cIndex, dq, dk, dkr, dqr, pack.lens, indexSeq, heads, hidden, P,
    );
    finishGrad(q, dq);
    finishGrad(k, dk);
    finishGrad(kr, dkr);
    finishGrad(qr, dqr);
  });
}

/**
 * Where a kernel that overwrites its output should put t's gradient contribution: t's gradient itself when it has
 * none yet (no zero-fill, no add), else a temporary that finishGrad adds. Null when t needs no gradient.
 */
function gradSink(t: Tensor | null): Float32Array | null {
  if (!t?.requiresGrad) return null;
  if (t.grad === null) {
    t.grad = emptyFloat32(t.size);
    return t.grad;
  }
  return emptyFloat32(t.size);
}

function finishGrad(t: Tensor | null, sink: Float32Array | null): void {
  if (t && sink && t.grad !== sink) kernels.axpy(1, sink, t.grad!, t.size);
}
