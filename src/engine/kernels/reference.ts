/**
 * Reference kernels in plain TypeScript: the fallback when the native addon is unavailable and the
 * ground truth the native kernels are tested against. Loops are written for clarity first, but with
 * cache-friendly loop orders so the fallback stays usable for small models.
 */
import { dropoutUniform, type Kernels } from "./types.ts";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2 = 1 / Math.SQRT2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const GELU_C = 0.044715;

/**
 * erf(x) in double precision, |error| < 1.2e-7 everywhere (Numerical Recipes' erfc Chebyshev fit),
 * which is below float32 resolution for the GELU values computed from it.
 */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(
    -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
      t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
  );
  return x >= 0 ? 1 - r : r - 1;
}

function checkLen(kernel: string, name: string, arr: { length: number }, need: number): void {
  if (need > arr.length) {
    throw new RangeError(`${kernel}: ${name} has ${arr.length} elements, needs ${need}`);
  }
}

/** An index table [seq, seq] with values in [0, P). */
function checkIndex(kernel: string, name: string, index: Int32Array, seq: number, P: number): void {
  checkLen(kernel, name, index, seq * seq);
  for (let e = 0; e < seq * seq; e++) {
    const p = index[e]!;
    if (p < 0 || p >= P) throw new RangeError(`${kernel}: ${name} value ${p} at ${e} outside [0, ${P})`);
  }
}

/** src[i * seq + j] = j * P + index[j * seq + i]: where element (i, j) of a transposed (p2c) gather reads. */
function transposedOffsets(index: Int32Array, seq: number, P: number): Int32Array {
  const src = new Int32Array(seq * seq);
  for (let i = 0; i < seq; i++) for (let j = 0; j < seq; j++) src[i * seq + j] = j * P + index[j * seq + i]!;
  return src;
}

/** The layout of the disentangledScores kernels: sequences of lens[b] rows back to back, [heads, L, L] blocks likewise. */
interface DisentangledLayout {
  d: number;
  rowStarts: Int32Array;
  blockStarts: Int32Array;
  rows: number;
  blockTotal: number;
}

/** The shared checks of the disentangledScores kernels (index tables [ld, ld]); returns the layout. */
function checkDisentangled(
  kernel: string, q: Float32Array, k: Float32Array, kr: Float32Array | null, c2pIndex: Int32Array,
  qr: Float32Array | null, p2cIndex: Int32Array, lens: Int32Array, ld: number, heads: number, hidden: number, P: number,
): DisentangledLayout {
  if (!(heads > 0) || hidden % heads !== 0) throw new RangeError(`${kernel}: hidden ${hidden} is not a multiple of heads ${heads}`);
  const rowStarts = new Int32Array(lens.length);
  const blockStarts = new Int32Array(lens.length);
  let rows = 0;
  let blockTotal = 0;
  lens.forEach((L, b) => {
    if (L < 0 || L > ld) throw new RangeError(`${kernel}: lens value ${L} at ${b} outside [0, ${ld}]`);
    rowStarts[b] = rows;
    blockStarts[b] = blockTotal;
    rows += L;
    blockTotal += heads * L * L;
  });
  checkLen(kernel, "q", q, rows * hidden);
  checkLen(kernel, "k", k, rows * hidden);
  if (kr) checkLen(kernel, "kr", kr, P * hidden);
  if (qr) checkLen(kernel, "qr", qr, P * hidden);
  if (kr) checkIndex(kernel, "c2pIndex", c2pIndex, ld, P);
  if (qr) checkIndex(kernel, "p2cIndex", p2cIndex, ld, P);
  return { d: hidden / heads, rowStarts, blockStarts, rows, blockTotal };
}

/** disentangledScores(Packed)Forward: per sequence b (length L, index tables read at stride ld) and head h. */
function disentangledForward(
  kernel: string, q: Float32Array, k: Float32Array, kr: Float32Array | null, c2pIndex: Int32Array, qr: Float32Array | null,
  p2cIndex: Int32Array, out: Float32Array, lens: Int32Array, ld: number, heads: number, hidden: number, P: number,
): void {
  const { d, rowStarts, blockStarts, blockTotal } = checkDisentangled(kernel, q, k, kr, c2pIndex, qr, p2cIndex, lens, ld, heads, hidden, P);
  checkLen(kernel, "out", out, blockTotal);
  const f = Math.fround;
  let s = new Float32Array(0);
  lens.forEach((T, b) => {
    if (T === 0) return;
    if (s.length < T * P) s = new Float32Array(T * P);
    for (let h = 0; h < heads; h++) {
      const x = rowStarts[b]! * hidden + h * d;
      const o = blockStarts[b]! + h * T * T;
      sgemmImpl(false, true, T, T, d, 1, q, x, hidden, k, x, hidden, 0, out, o, T);
      if (kr) {
        sgemmImpl(false, true, T, P, d, 1, q, x, hidden, kr, h * d, hidden, 0, s, 0, P);
        for (let i = 0; i < T; i++) {
          for (let j = 0; j < T; j++) out[o + i * T + j] = f(out[o + i * T + j]! + s[i * P + c2pIndex[i * ld + j]!]!);
        }
      }
      if (qr) {
        sgemmImpl(false, true, T, P, d, 1, k, x, hidden, qr, h * d, hidden, 0, s, 0, P);
        for (let i = 0; i < T; i++) {
          for (let j = 0; j < T; j++) out[o + i * T + j] = f(out[o + i * T + j]! + s[j * P + p2cIndex[j * ld + i]!]!);
        }
      }
    }
  });
}

/** disentangledScores(Packed)Backward. */
function disentangledBackward(
  kernel: string, dOut: Float32Array, q: Float32Array, k: Float32Array, kr: Float32Array | null, c2pIndex: Int32Array,
  qr: Float32Array | null, p2cIndex: Int32Array, dq: Float32Array | null, dk: Float32Array | null, dkr: Float32Array | null,
  dqr: Float32Array | null, lens: Int32Array, ld: number, heads: number, hidden: number, P: number,
): void {
  const { d, rowStarts, blockStarts, rows, blockTotal } = checkDisentangled(kernel, q, k, kr, c2pIndex, qr, p2cIndex, lens, ld, heads, hidden, P);
  checkLen(kernel, "dOut", dOut, blockTotal);
  if (dq) checkLen(kernel, "dq", dq, rows * hidden);
  if (dk) checkLen(kernel, "dk", dk, rows * hidden);
  if (dkr) checkLen(kernel, "dkr", dkr, P * hidden);
  if (dqr) checkLen(kernel, "dqr", dqr, P * hidden);
  if ((dkr && !kr) || (dqr && !qr)) throw new TypeError(`${kernel}: dkr / dqr given without kr / qr`);
  dkr?.fill(0, 0, P * hidden);
  dqr?.fill(0, 0, P * hidden);
  let s = new Float32Array(0);
  // s = 0, then the scatter of the dOut block at g through the index (transposed: element (i, j) lands in row j)
  const scatter = (g: number, T: number, index: Int32Array, transposed: boolean): void => {
    s.fill(0);
    for (let r = 0; r < T; r++) {
      for (let c = 0; c < T; c++) {
        const t = r * P + index[r * ld + c]!;
        s[t] = s[t]! + dOut[g + (transposed ? c * T + r : r * T + c)]!;
      }
    }
  };
  for (let h = 0; h < heads; h++) {
    lens.forEach((T, b) => {
      if (T === 0) return;
      if (s.length !== T * P) s = new Float32Array(T * P);
      const x = rowStarts[b]! * hidden + h * d;
      const g = blockStarts[b]! + h * T * T;
      if (dq) sgemmImpl(false, false, T, d, T, 1, dOut, g, T, k, x, hidden, 0, dq, x, hidden);
      if (dk) sgemmImpl(true, false, T, d, T, 1, dOut, g, T, q, x, hidden, 0, dk, x, hidden);
      if (kr && (dq || dkr)) {
        scatter(g, T, c2pIndex, false);
        if (dq) sgemmImpl(false, false, T, d, P, 1, s, 0, P, kr, h * d, hidden, 1, dq, x, hidden);
        if (dkr) sgemmImpl(true, false, P, d, T, 1, s, 0, P, q, x, hidden, 1, dkr, h * d, hidden);
      }
      if (qr && (dk || dqr)) {
        scatter(g, T, p2cIndex, true);
        if (dk) sgemmImpl(false, false, T, d, P, 1, s, 0, P, qr, h * d, hidden, 1, dk, x, hidden);
        if (dqr) sgemmImpl(true, false, P, d, T, 1, s, 0, P, k, x, hidden, 1, dqr, h * d, hidden);
      }
    });
  }
}

/** Number of elements a row-major [rows, cols] view at (off, ld) spans. */
function span(rows: number, cols: number, off: number, ld: number): number {
  return rows === 0 || cols === 0 ? 0 : off + (rows - 1) * ld + cols;
}

function sgemmImpl(
  transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
  a: Float32Array, aOff: number, lda: number,
  b: Float32Array, bOff: number, ldb: number,
  beta: number, c: Float32Array, cOff: number, ldc: number,
): void {
  // C = beta * C (beta = 0 overwrites, so NaN/garbage in C is ignored, as in BLAS).
  for (let i = 0; i < m; i++) {
    const row = cOff + i * ldc;
    if (beta === 0) c.fill(0, row, row + n);
    else if (beta !== 1) for (let j = row; j < row + n; j++) c[j] = beta * c[j]!;
  }
  if (alpha === 0 || k === 0) return;
  if (!transA && !transB) {
    // C[i, :] += alpha * A[i, p] * B[p, :]
    for (let i = 0; i < m; i++) {
      const cr = cOff + i * ldc;
      const ar = aOff + i * lda;
      for (let p = 0; p < k; p++) {
        const av = alpha * a[ar + p]!;
        const br = bOff + p * ldb;
        for (let j = 0; j < n; j++) c[cr + j]! += av * b[br + j]!;
      }
    }
  } else if (!transA && transB) {
    // C[i, j] += alpha * dot(A[i, :], B[j, :])
    for (let i = 0; i < m; i++) {
      const cr = cOff + i * ldc;
      const ar = aOff + i * lda;
      for (let j = 0; j < n; j++) {
        const br = bOff + j * ldb;
        let s = 0;
        for (let p = 0; p < k; p++) s += a[ar + p]! * b[br + p]!;
        c[cr + j]! += alpha * s;
      }
    }
  } else if (transA && !transB) {
    // C[i, :] += alpha * A[p, i] * B[p, :]  (A stored [k, m])
    for (let p = 0; p < k; p++) {
      const ar = aOff + p * lda;
      const br = bOff + p * ldb;
      for (let i = 0; i < m; i++) {
        const av = alpha * a[ar + i]!;
        const cr = cOff + i * ldc;
        for (let j = 0; j < n; j++) c[cr + j]! += av * b[br + j]!;
      }
    }
  } else {
    // C[i, j] += alpha * sum_p A[p, i] * B[j, p]  (A stored [k, m], B stored [n, k])
    for (let i = 0; i < m; i++) {
      const cr = cOff + i * ldc;
      for (let j = 0; j < n; j++) {
        const br = bOff + j * ldb;
        let s = 0;
        for (let p = 0; p < k; p++) s += a[aOff + p * lda + i]! * b[br + p]!;
        c[cr + j]! += alpha * s;
      }
    }
  }
}

function checkGemm(
  kernel: string, transA: boolean, transB: boolean, m: number, n: number, k: number,
  a: Float32Array, aOff: number, lda: number, b: Float32Array, bOff: number, ldb: number,
  c: Float32Array, cOff: number, ldc: number,
): void {
  const [ar, ac] = transA ? [k, m] : [m, k];
  const [br, bc] = transB ? [n, k] : [k, n];
  if (lda < Math.max(1, ac) || ldb < Math.max(1, bc) || ldc < Math.max(1, n)) {
    throw new RangeError(`${kernel}: leading dimension too small (lda=${lda}, ldb=${ldb}, ldc=${ldc})`);
  }
  checkLen(kernel, "a", a, span(ar, ac, aOff, lda));
  checkLen(kernel, "b", b, span(br, bc, bOff, ldb));
  checkLen(kernel, "c", c, span(m, n, cOff, ldc));
}

export const referenceKernels: Kernels = {
  backend: "typescript",
  blas: false,

  sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc) {
    checkGemm("sgemm", transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
    sgemmImpl(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
  },

  sgemmBatched(transA, transB, m, n, k, alpha, a, aOffs, lda, b, bOffs, ldb, beta, c, cOffs, ldc) {
    const batch = aOffs.length;
    if (bOffs.length !== batch || cOffs.length !== batch) {
      throw new RangeError("sgemmBatched: aOffs, bOffs and cOffs must have the same length");
    }
    for (let i = 0; i < batch; i++) {
      checkGemm("sgemmBatched", transA, transB, m, n, k, a, aOffs[i]!, lda, b, bOffs[i]!, ldb, c, cOffs[i]!, ldc);
      sgemmImpl(transA, transB, m, n, k, alpha, a, aOffs[i]!, lda, b, bOffs[i]!, ldb, beta, c, cOffs[i]!, ldc);
    }
  },

  softmaxForward(x, out, rows, cols, scale, mask, rowsPerMaskRow) {
    checkLen("softmaxForward", "x", x, rows * cols);
    checkLen("softmaxForward", "out", out, rows * cols);
    if (mask) checkLen("softmaxForward", "mask", mask, Math.ceil(rows / rowsPerMaskRow) * cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const mo = mask ? Math.floor(r / rowsPerMaskRow) * cols : 0;
      let max = -Infinity;
      for (let j = 0; j < cols; j++) {
        const v = Math.fround(x[o + j]! * scale + (mask ? mask[mo + j]! : 0));
        out[o + j] = v;
        if (v > max) max = v;
      }
      if (max === -Infinity) {
        // Fully masked row: define the result as all zeros rather than NaN.
        out.fill(0, o, o + cols);
        continue;
      }
      let sum = 0;
      for (let j = 0; j < cols; j++) {
        const e = Math.exp(out[o + j]! - max);
        out[o + j] = e;
        sum += out[o + j]!;
      }
      const inv = 1 / sum;
      for (let j = 0; j < cols; j++) out[o + j]! *= inv;
    }
  },

  softmaxBackward(p, dOut, dX, rows, cols, scale) {
    for (const [nm, arr] of [["p", p], ["dOut", dOut], ["dX", dX]] as const) checkLen("softmaxBackward", nm, arr, rows * cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let dot = 0;
      for (let j = 0; j < cols; j++) dot += dOut[o + j]! * p[o + j]!;
      for (let j = 0; j < cols; j++) dX[o + j] = scale * p[o + j]! * (dOut[o + j]! - dot);
    }
  },

  layerNormForward(x, gamma, beta, out, mean, rstd, rows, cols, eps) {
    checkLen("layerNormForward", "x", x, rows * cols);
    checkLen("layerNormForward", "out", out, rows * cols);
    checkLen("layerNormForward", "gamma", gamma, cols);
    checkLen("layerNormForward", "beta", beta, cols);
    checkLen("layerNormForward", "mean", mean, rows);
    checkLen("layerNormForward", "rstd", rstd, rows);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      for (let j = 0; j < cols; j++) s += x[o + j]!;
      const mu = s / cols;
      let v = 0;
      for (let j = 0; j < cols; j++) {
        const d = x[o + j]! - mu;
        v += d * d;
      }
      const rs = 1 / Math.sqrt(v / cols + eps);
      mean[r] = mu;
      rstd[r] = rs;
      for (let j = 0; j < cols; j++) out[o + j] = (x[o + j]! - mu) * rs * gamma[j]! + beta[j]!;
    }
  },

  layerNormBackward(dOut, x, gamma, mean, rstd, dX, dGamma, dBeta, rows, cols) {
    checkLen("layerNormBackward", "dOut", dOut, rows * cols);
    checkLen("layerNormBackward", "x", x, rows * cols);
    checkLen("layerNormBackward", "dX", dX, rows * cols);
    checkLen("layerNormBackward", "gamma", gamma, cols);
    checkLen("layerNormBackward", "dGamma", dGamma, cols);
    checkLen("layerNormBackward", "dBeta", dBeta, cols);
    checkLen("layerNormBackward", "mean", mean, rows);
    checkLen("layerNormBackward", "rstd", rstd, rows);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const mu = mean[r]!;
      const rs = rstd[r]!;
      // dxhat = dOut * gamma; dX = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
      let sumD = 0;
      let sumDX = 0;
      for (let j = 0; j < cols; j++) {
        const xh = (x[o + j]! - mu) * rs;
        const dxh = dOut[o + j]! * gamma[j]!;
        sumD += dxh;
        sumDX += dxh * xh;
        dGamma[j]! += dOut[o + j]! * xh;
        dBeta[j]! += dOut[o + j]!;
      }
      const mD = sumD / cols;
      const mDX = sumDX / cols;
      for (let j = 0; j < cols; j++) {
        const xh = (x[o + j]! - mu) * rs;
        dX[o + j] = rs * (dOut[o + j]! * gamma[j]! - mD - xh * mDX);
      }
    }
  },

  geluForward(x, out, n, approximate) {
    checkLen("geluForward", "x", x, n);
    checkLen("geluForward", "out", out, n);
    if (approximate) {
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        out[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v)));
      }
    } else {
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        out[i] = 0.5 * v * (1 + erf(v * INV_SQRT_2));
      }
    }
  },

  geluBackward(x, dOut, dX, n, approximate) {
    checkLen("geluBackward", "x", x, n);
    checkLen("geluBackward", "dOut", dOut, n);
    checkLen("geluBackward", "dX", dX, n);
    if (approximate) {
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        const t = Math.tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
        const d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_C * v * v);
        dX[i] = dOut[i]! * d;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        const d = 0.5 * (1 + erf(v * INV_SQRT_2)) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v);
        dX[i] = dOut[i]! * d;
      }
    }
  },

  dropoutForward(x, out, keepMask, n, p, seed) {
    checkLen("dropoutForward", "x", x, n);
    checkLen("dropoutForward", "out", out, n);
    checkLen("dropoutForward", "keepMask", keepMask, n);
    const s = 1 / (1 - p);
    for (let i = 0; i < n; i++) {
      const keep = dropoutUniform(seed, i) >= p;
      out[i] = keep ? x[i]! * s : 0;
      keepMask[i] = keep ? 1 : 0;
    }
  },

  dropoutBackward(dOut, keepMask, dX, n, p) {
    checkLen("dropoutBackward", "dOut", dOut, n);
    checkLen("dropoutBackward", "keepMask", keepMask, n);
    checkLen("dropoutBackward", "dX", dX, n);
    const s = 1 / (1 - p);
    for (let i = 0; i < n; i++) dX[i] = keepMask[i] ? dOut[i]! * s : 0;
  },

  embeddingForward(table, ids, out, n, dim) {
    checkLen("embeddingForward", "ids", ids, n);
    checkLen("embeddingForward", "out", out, n * dim);
    const vocab = Math.floor(table.length / dim);
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      if (id < 0 || id >= vocab) throw new RangeError(`embeddingForward: id ${id} at ${i} out of range [0, ${vocab})`);
      out.set(table.subarray(id * dim, id * dim + dim), i * dim);
    }
  },

  embeddingBackward(dOut, ids, dTable, n, dim) {
    checkLen("embeddingBackward", "ids", ids, n);
    checkLen("embeddingBackward", "dOut", dOut, n * dim);
    const vocab = Math.floor(dTable.length / dim);
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      if (id < 0 || id >= vocab) throw new RangeError(`embeddingBackward: id ${id} at ${i} out of range [0, ${vocab})`);
      const t = id * dim;
      const o = i * dim;
      for (let j = 0; j < dim; j++) dTable[t + j]! += dOut[o + j]!;
    }
  },

  addBias(x, bias, out, rows, cols) {
    checkLen("addBias", "x", x, rows * cols);
    checkLen("addBias", "out", out, rows * cols);
    checkLen("addBias", "bias", bias, cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let j = 0; j < cols; j++) out[o + j] = x[o + j]! + bias[j]!;
    }
  },

  sumRows(dOut, dBias, rows, cols) {
    checkLen("sumRows", "dOut", dOut, rows * cols);
    checkLen("sumRows", "dBias", dBias, cols);
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += dOut[r * cols + j]!;
      dBias[j]! += s;
    }
  },

  add(a, b, out, n) {
    checkLen("add", "a", a, n);
    checkLen("add", "b", b, n);
    checkLen("add", "out", out, n);
    for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
  },

  axpy(alpha, src, dst, n) {
    checkLen("axpy", "src", src, n);
    checkLen("axpy", "dst", dst, n);
    for (let i = 0; i < n; i++) dst[i]! += alpha * src[i]!;
  },

  scale(x, alpha, out, n) {
    checkLen("scale", "x", x, n);
    checkLen("scale", "out", out, n);
    for (let i = 0; i < n; i++) out[i] = alpha * x[i]!;
  },

  sumSquares(x, n) {
    checkLen("sumSquares", "x", x, n);
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i]! * x[i]!;
    return s;
  },

  relativeGatherForward(scores, c2p, c2pIndex, p2c, p2cIndex, out, n, seq, P) {
    const block = seq * seq;
    const fblock = seq * P;
    if (scores) checkLen("relativeGatherForward", "scores", scores, n * block);
    if (c2p) checkLen("relativeGatherForward", "c2p", c2p, n * fblock);
    if (p2c) checkLen("relativeGatherForward", "p2c", p2c, n * fblock);
    checkLen("relativeGatherForward", "out", out, n * block);
    if (c2p) checkIndex("relativeGatherForward", "c2pIndex", c2pIndex, seq, P);
    if (p2c) checkIndex("relativeGatherForward", "p2cIndex", p2cIndex, seq, P);
    // flat offsets within one [seq, P] block of the elements that element e = i * seq + j reads
    const cSrc = new Int32Array(block);
    if (c2p) for (let e = 0; e < block; e++) cSrc[e] = Math.floor(e / seq) * P + c2pIndex[e]!;
    const pSrc = p2c ? transposedOffsets(p2cIndex, seq, P) : cSrc;
    const f = Math.fround;
    for (let m = 0; m < n; m++) {
      const ob = m * block;
      const fb = m * fblock;
      for (let e = 0; e < block; e++) {
        // float32 additions in order, like the C++ (an absent term is left out, not added as 0)
        let v = 0;
        let any = false;
        if (scores) {
          v = scores[ob + e]!;
          any = true;
        }
        if (c2p) {
          const t = c2p[fb + cSrc[e]!]!;
          v = any ? f(v + t) : t;
          any = true;
        }
        if (p2c) {
          const t = p2c[fb + pSrc[e]!]!;
          v = any ? f(v + t) : t;
        }
        out[ob + e] = v;
      }
    }
  },

  relativeGatherBackward(dOut, dC2p, c2pIndex, dP2c, p2cIndex, n, seq, P) {
    const block = seq * seq;
    const fblock = seq * P;
    checkLen("relativeGatherBackward", "dOut", dOut, n * block);
    if (dC2p) checkLen("relativeGatherBackward", "dC2p", dC2p, n * fblock);
    if (dP2c) checkLen("relativeGatherBackward", "dP2c", dP2c, n * fblock);
    if (dC2p) checkIndex("relativeGatherBackward", "c2pIndex", c2pIndex, seq, P);
    if (dP2c) checkIndex("relativeGatherBackward", "p2cIndex", p2cIndex, seq, P);
    for (let m = 0; m < n; m++) {
      const ob = m * block;
      const fb = m * fblock;
      if (dC2p) {
        dC2p.fill(0, fb, fb + fblock);
        for (let i = 0; i < seq; i++) {
          for (let j = 0; j < seq; j++) {
            const t = fb + i * P + c2pIndex[i * seq + j]!;
            dC2p[t] = dC2p[t]! + dOut[ob + i * seq + j]!;
          }
        }
      }
      if (dP2c) {
        dP2c.fill(0, fb, fb + fblock);
        for (let j = 0; j < seq; j++) {
          for (let i = 0; i < seq; i++) {
            const t = fb + j * P + p2cIndex[j * seq + i]!;
            dP2c[t] = dP2c[t]! + dOut[ob + i * seq + j]!;
          }
        }
      }
    }
  },

  disentangledScoresForward(q, k, kr, c2pIndex, qr, p2cIndex, out, batch, seq, heads, hidden, P) {
    disentangledForward("disentangledScoresForward", q, k, kr, c2pIndex, qr, p2cIndex, out, new Int32Array(batch).fill(seq), seq, heads, hidden, P);
  },

  disentangledScoresBackward(dOut, q, k, kr, c2pIndex, qr, p2cIndex, dq, dk, dkr, dqr, batch, seq, heads, hidden, P) {
    disentangledBackward("disentangledScoresBackward", dOut, q, k, kr, c2pIndex, qr, p2cIndex, dq, dk, dkr, dqr,
      new Int32Array(batch).fill(seq), seq, heads, hidden, P);
  },

  disentangledScoresPackedForward(q, k, kr, c2pIndex, qr, p2cIndex, out, lens, indexSeq, heads, hidden, P) {
    disentangledForward("disentangledScoresPackedForward", q, k, kr, c2pIndex, qr, p2cIndex, out, lens, indexSeq, heads, hidden, P);
  },

  disentangledScoresPackedBackward(dOut, q, k, kr, c2pIndex, qr, p2cIndex, dq, dk, dkr, dqr, lens, indexSeq, heads, hidden, P) {
    disentangledBackward("disentangledScoresPackedBackward", dOut, q, k, kr, c2pIndex, qr, p2cIndex, dq, dk, dkr, dqr, lens, indexSeq, heads, hidden, P);
  },

  adamwStep(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, bias1, bias2) {
    for (const [nm, arr] of [["p", p], ["g", g], ["m", m], ["v", v]] as const) checkLen("adamwStep", nm, arr, n);
    const decay = 1 - lr * weightDecay;
    const stepSize = lr / bias1;
    const bias2Sqrt = Math.sqrt(bias2);
    for (let i = 0; i < n; i++) {
      const gi = g[i]!;
      const mi = (m[i] = beta1 * m[i]! + (1 - beta1) * gi);
      const vi = (v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi);
      p[i] = p[i]! * decay - stepSize * (mi / (Math.sqrt(vi) / bias2Sqrt + eps));
    }
  },
};
