/**
 * Packed (padding-free) attention: activations hold only the real tokens of a batch, [N, H] with sequence b in
 * rows starts[b] .. starts[b] + lens[b]. Attention runs per sequence on head slices (no padded keys, so no
 * mask); score blocks of all sequences are stored back to back: sequence b's [heads, L_b, L_b] block starts at
 * blockStarts[b]. Also the layout of a padded batch (planPacking) and the row scatter between packed and padded
 * layouts.
 */
import { gradTarget, record } from "../autograd.ts";
import { kernels } from "../kernels/index.ts";
import { Tensor, emptyFloat32 } from "../tensor.ts";

/** The layout of a packed batch for attention with `heads` heads over `hidden` features. */
export interface AttentionPacking {
  readonly heads: number;
  readonly hidden: number;
  readonly headDim: number;
  /** First packed row of each sequence. */
  readonly starts: Int32Array;
  /** Real length of each sequence (>= 1). */
  readonly lens: Int32Array;
  /** Offset of each sequence's [heads, L, L] score block. */
  readonly blockStarts: Int32Array;
  /** Total score elements: sum_b heads * L_b^2. */
  readonly blockTotal: number;
  /** Total packed rows N. */
  readonly rows: number;
  /** Per sequence: element offsets of its head slices in [N, H] (heads values). */
  readonly rowOffs: readonly Int32Array[];
  /** Per sequence: element offsets of its per-head score blocks (heads values). */
  readonly blockOffs: readonly Int32Array[];
}

export function makeAttentionPacking(lens: Int32Array, heads: number, hidden: number): AttentionPacking {
  const headDim = hidden / heads;
  if (!Number.isInteger(headDim)) throw new Error(`attention packing: hidden ${hidden} not divisible by ${heads} heads`);
  const n = lens.length;
  const starts = new Int32Array(n);
  const blockStarts = new Int32Array(n);
  const rowOffs: Int32Array[] = [];
  const blockOffs: Int32Array[] = [];
  let row = 0;
  let block = 0;
  for (let b = 0; b < n; b++) {
    const L = lens[b]!;
    if (!(L >= 1)) throw new Error(`attention packing: sequence ${b} has length ${L}`);
    starts[b] = row;
    blockStarts[b] = block;
    const ro = new Int32Array(heads);
    const bo = new Int32Array(heads);
    for (let h = 0; h < heads; h++) {
      ro[h] = row * hidden + h * headDim;
      bo[h] = block + h * L * L;
    }
    rowOffs.push(ro);
    blockOffs.push(bo);
    row += L;
    block += heads * L * L;
  }
  return { heads, hidden, headDim, starts, lens: Int32Array.from(lens), blockStarts, blockTotal: block, rows: row, rowOffs, blockOffs };
}

/** The packed layout of a padded batch: the padded row (b * seq + t) of each real token in order, and the packing. */
export interface Packing {
  rows: Int32Array;
  pack: AttentionPacking;
}

/**
 * The packed layout of a padded batch from its attention mask [batch * seq] (1 real token, 0 padding), or null
 * when it cannot be packed: a mask value other than 0 and 1, a sequence without real tokens, or (`contiguous`) a
 * sequence whose real tokens are not one run of positions (relative positions would then differ from the padded
 * ones).
 */
export function planPacking(
  attentionMask: Float32Array, batch: number, seq: number, heads: number, hidden: number, contiguous = false,
): Packing | null {
  const lens = new Int32Array(batch);
  let n = 0;
  for (let i = 0; i < attentionMask.length; i++) {
    const m = attentionMask[i]!;
    if (m === 1) n++;
    else if (m !== 0) return null;
  }
  const rows = new Int32Array(n);
  let j = 0;
  for (let b = 0; b < batch; b++) {
    let last = -1;
    for (let t = 0; t < seq; t++) {
      if (attentionMask[b * seq + t] === 1) {
        if (contiguous && last >= 0 && t !== last + 1) return null;
        last = t;
        rows[j++] = b * seq + t;
        lens[b]++;
      }
    }
    if (lens[b] === 0) return null;
  }
  return { rows, pack: makeAttentionPacking(lens, heads, hidden) };
}

function checkRows(op: string, t: Tensor, pack: AttentionPacking): void {
  if (t.shape.length !== 2 || t.dim(0) !== pack.rows || t.dim(1) !== pack.hidden) {
    throw new Error(`${op}:${t.label()} does not match the packing [${pack.rows}, ${pack.hidden}]`);
  }
}

/** Per sequence and head: S = Q K^T (unscaled), [blockTotal] back to back. */
export function packedAttentionScores(q: Tensor, k: Tensor, pack: AttentionPacking): Tensor {
  checkRows("packedAttentionScores", q, pack);
  checkRows("packedAttentionScores", k, pack);
  const { hidden: H, headDim: d, lens, rowOffs, blockOffs } = pack;
  const out = Tensor.empty([pack.blockTotal]);
  for (let b = 0; b < lens.length; b++) {
    const L = lens[b]!;
    kernels.sgemmBatched(false, true, L, L, d, 1, q.data, rowOffs[b]!, H, k.data, rowOffs[b]!, H, 0, out.data, blockOffs[b]!, L);
  }
  return record(out, [q, k], (g) => {
    // dQ = dS K ; dK = dS^T Q per sequence and head (the sequences cover every row, so beta 0 overwrites all)
    if (q.requiresGrad) {
      const [dst, beta] = gradTarget(q);
      for (let b = 0; b < lens.length; b++) {
        const L = lens[b]!;
        kernels.sgemmBatched(false, false, L, d, L, 1, g, blockOffs[b]!, L, k.data, rowOffs[b]!, H, beta, dst, rowOffs[b]!, H);
      }
    }
    if (k.requiresGrad) {
      const [dst, beta] = gradTarget(k);
      for (let b = 0; b < lens.length; b++) {
        const L = lens[b]!;
        kernels.sgemmBatched(true, false, L, d, L, 1, g, blockOffs[b]!, L, q.data, rowOffs[b]!, H, beta, dst, rowOffs[b]!, H);
      }
    }
  });
}

/** Row softmax of scale * S within every sequence's block (rows heads * L_b, columns L_b). */
export function packedSoftmax(s: Tensor, pack: AttentionPacking, scale: number): Tensor {
  if (s.size !== pack.blockTotal) throw new Error(`packedSoftmax:${s.label()} does not match ${pack.blockTotal} score elements`);
  const { heads, lens, blockStarts } = pack;
  const out = Tensor.empty(s.shape);
  for (let b = 0; b < lens.length; b++) {
    const L = lens[b]!;
    const o = blockStarts[b]!;
    const n = heads * L * L;
    kernels.softmaxForward(s.data.subarray(o, o + n), out.data.subarray(o, o + n), heads * L, L, scale, null, 1);
  }
  return record(out, [s], (g) => {
    // Every element belongs to one block, so the kernel's overwrite covers dst; add when s already has a gradient.
    const had = s.grad !== null;
    const dst = had ? emptyFloat32(s.size) : (s.grad = emptyFloat32(s.size));
    for (let b = 0; b < lens.length; b++) {
      const L = lens[b]!;
      const o = blockStarts[b]!;
      const n = heads * L * L;
      kernels.softmaxBackward(out.data.subarray(o, o + n), g.subarray(o, o + n), dst.subarray(o, o + n), heads * L, L, scale);
    }
    if (had) kernels.axpy(1, dst, s.grad!, s.size);
  });
}

/** Per sequence and head: C = P V, heads side by side: [N, H]. */
export function packedAttentionContext(p: Tensor, v: Tensor, pack: AttentionPacking): Tensor {
  if (p.size !== pack.blockTotal) throw new Error(`packedAttentionContext: probs${p.label()} do not match ${pack.blockTotal} score elements`);
  checkRows("packedAttentionContext", v, pack);
  const { hidden: H, headDim: d, lens, rowOffs, blockOffs } = pack;
  const out = Tensor.empty([pack.rows, H]);
  for (let b = 0; b < lens.length; b++) {
    const L = lens[b]!;
    kernels.sgemmBatched(false, false, L, d, L, 1, p.data, blockOffs[b]!, L, v.data, rowOffs[b]!, H, 0, out.data, rowOffs[b]!, H);
  }
  return record(out, [p, v], (g) => {
    // dP = dC V^T ; dV = P^T dC
    if (p.requiresGrad) {
      const [dst, beta] = gradTarget(p);
      for (let b = 0; b < lens.length; b++) {
        const L = lens[b]!;
        kernels.sgemmBatched(false, true, L, L, d, 1, g, rowOffs[b]!, H, v.data, rowOffs[b]!, H, beta, dst, blockOffs[b]!, L);
      }
    }
    if (v.requiresGrad) {
      const [dst, beta] = gradTarget(v);
      for (let b = 0; b < lens.length; b++) {
        const L = lens[b]!;
        kernels.sgemmBatched(true, false, L, d, L, 1, p.data, blockOffs[b]!, L, g, rowOffs[b]!, H, beta, dst, rowOffs[b]!, H);
      }
    }
  });
}

/**
 * Scatters the rows of x [N, C] to rows `rows[i]` of a zero [outRows, C] tensor (rows distinct); the gradient
 * gathers them back. Packed -> padded layout.
 */
export function scatterRows(x: Tensor, rows: Int32Array, outRows: number): Tensor {
  const cols = x.dim(1);
  if (rows.length !== x.dim(0)) throw new Error(`scatterRows: ${rows.length} row indices for x${x.label()}`);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (r < 0 || r >= outRows) throw new Error(`scatterRows: row ${r} outside [0, ${outRows})`);
  }
  const out = Tensor.zeros([outRows, cols]);
  kernels.embeddingBackward(x.data, rows, out.data, rows.length, cols);
  return record(out, [x], (g) => {
    if (x.grad === null) {
      x.grad = emptyFloat32(x.size);
      kernels.embeddingForward(g, rows, x.grad, rows.length, cols);
    } else {
      const tmp = emptyFloat32(x.size);
      kernels.embeddingForward(g, rows, tmp, rows.length, cols);
      kernels.axpy(1, tmp, x.grad, x.size);
    }
  });
}
