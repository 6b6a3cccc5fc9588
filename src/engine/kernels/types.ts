/**
 * The kernel interface: every numeric inner loop the engine runs goes through one of these functions.
 * Two implementations exist with identical results (up to float rounding): `reference.ts` (plain TypeScript,
 * kept for tests and as the fallback) and `native.ts` (the C++ N-API addon in `native/`, GEMM via OpenBLAS).
 *
 * Conventions: all matrices are row-major Float32Array views addressed by (array, offset, leading dimension).
 * "overwrite" outputs are fully written; "accumulate" outputs get `+=`. Lengths are element counts.
 */
export interface Kernels {
  readonly backend: "native" | "typescript";
  /** True when GEMM runs in OpenBLAS. */
  readonly blas: boolean;

  /** C = alpha * op(A) @ op(B) + beta * C. op(A) is [m,k], op(B) is [k,n], C is [m,n]; row-major. */
  sgemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, aOff: number, lda: number,
    b: Float32Array, bOff: number, ldb: number,
    beta: number, c: Float32Array, cOff: number, ldc: number,
  ): void;

  /** The same GEMM for each i in 0..aOffs.length: A at aOffs[i], B at bOffs[i], C at cOffs[i]. */
  sgemmBatched(
    transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, aOffs: Int32Array, lda: number,
    b: Float32Array, bOffs: Int32Array, ldb: number,
    beta: number, c: Float32Array, cOffs: Int32Array, ldc: number,
  ): void;

  /**
   * Row softmax of (x * scale + mask): x and out are [rows, cols]. When mask is given it is additive,
   * [rows / rowsPerMaskRow, cols]: row r uses mask row floor(r / rowsPerMaskRow). Overwrites out.
   */
  softmaxForward(
    x: Float32Array, out: Float32Array, rows: number, cols: number, scale: number,
    mask: Float32Array | null, rowsPerMaskRow: number,
  ): void;
  /** dX = scale * p * (dOut - sum_j dOut_j p_j) per row. Overwrites dX. */
  softmaxBackward(p: Float32Array, dOut: Float32Array, dX: Float32Array, rows: number, cols: number, scale: number): void;

  /** out = (x - mean) * rstd * gamma + beta per row; writes mean[rows], rstd[rows] (1/sqrt(var + eps), biased var). */
  layerNormForward(
    x: Float32Array, gamma: Float32Array, beta: Float32Array, out: Float32Array,
    mean: Float32Array, rstd: Float32Array, rows: number, cols: number, eps: number,
  ): void;
  /** dX overwritten; dGamma and dBeta accumulated. */
  layerNormBackward(
    dOut: Float32Array, x: Float32Array, gamma: Float32Array, mean: Float32Array, rstd: Float32Array,
    dX: Float32Array, dGamma: Float32Array, dBeta: Float32Array, rows: number, cols: number,
  ): void;

  /** GELU: exact x * 0.5 * (1 + erf(x / sqrt 2)) when approximate is false, else the tanh form. Overwrites out. */
  geluForward(x: Float32Array, out: Float32Array, n: number, approximate: boolean): void;
  /** dX = dOut * gelu'(x). Overwrites dX. */
  geluBackward(x: Float32Array, dOut: Float32Array, dX: Float32Array, n: number, approximate: boolean): void;

  /**
   * Inverted dropout with a counter-based RNG: element i is kept when dropoutUniform(seed, i) >= p;
   * out[i] = keep ? x[i] / (1 - p) : 0; keepMask[i] = keep ? 1 : 0. Overwrites out and keepMask.
   */
  dropoutForward(x: Float32Array, out: Float32Array, keepMask: Uint8Array, n: number, p: number, seed: number): void;
  /** dX[i] = keepMask[i] ? dOut[i] / (1 - p) : 0. Overwrites dX. */
  dropoutBackward(dOut: Float32Array, keepMask: Uint8Array, dX: Float32Array, n: number, p: number): void;

  /** out[i, :] = table[ids[i], :] for i < n; table is [vocab, dim]. Overwrites out. */
  embeddingForward(table: Float32Array, ids: Int32Array, out: Float32Array, n: number, dim: number): void;
  /** dTable[ids[i], :] += dOut[i, :]. Accumulates. */
  embeddingBackward(dOut: Float32Array, ids: Int32Array, dTable: Float32Array, n: number, dim: number): void;

  /** out[r, c] = x[r, c] + bias[c]. Overwrites out (out may be x). */
  addBias(x: Float32Array, bias: Float32Array, out: Float32Array, rows: number, cols: number): void;
  /** dBias[c] += sum_r dOut[r, c]. Accumulates. */
  sumRows(dOut: Float32Array, dBias: Float32Array, rows: number, cols: number): void;
  /** out[i] = a[i] + b[i]. Overwrites out (out may alias a or b). */
  add(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void;
  /** dst[i] += alpha * src[i]. */
  axpy(alpha: number, src: Float32Array, dst: Float32Array, n: number): void;
  /** out[i] = alpha * x[i]. Overwrites out (out may be x). */
  scale(x: Float32Array, alpha: number, out: Float32Array, n: number): void;
  /** sum_i x[i]^2, accumulated in double precision. */
  sumSquares(x: Float32Array, n: number): number;

  /**
   * DeBERTa's relative-position score terms over n blocks: scores and out [n, seq, seq], c2p and p2c [n, seq, P],
   * index tables [seq, seq] with values in [0, P) (a RangeError otherwise):
   *   out[m, i, j] = scores[m, i, j] + c2p[m, i, c2pIndex[i, j]] + p2c[m, j, p2cIndex[j, i]]
   * added in that order; a null term is left out (all null: zeros). Overwrites out (out may be scores; the index
   * of an absent term is not read).
   */
  relativeGatherForward(
    scores: Float32Array | null, c2p: Float32Array | null, c2pIndex: Int32Array, p2c: Float32Array | null,
    p2cIndex: Int32Array, out: Float32Array, n: number, seq: number, P: number,
  ): void;
  /**
   * The gradients of the gathered terms: dC2p[m, i, c2pIndex[i, j]] and dP2c[m, j, p2cIndex[j, i]] are the sums
   * of dOut[m, i, j] over the (i, j) that read them (0 where none does), accumulated from 0 in order of increasing
   * j (dC2p) and increasing i (dP2c). Overwrites dC2p and dP2c; a null one is skipped.
   */
  relativeGatherBackward(
    dOut: Float32Array, dC2p: Float32Array | null, c2pIndex: Int32Array, dP2c: Float32Array | null,
    p2cIndex: Int32Array, n: number, seq: number, P: number,
  ): void;

  /**
   * DeBERTa's disentangled attention logits (unscaled), fused: per batch element b and head h, with q_i, k_j the
   * rows of the (b, h) slices of q, k [batch*seq, hidden] and kr_p, qr_p those of head h of kr, qr [P, hidden]
   * (head h is columns h*d .. h*d+d-1, d = hidden / heads):
   *   out[b, h, i, j] = q_i.k_j + q_i.kr_{c2pIndex[i, j]} + k_j.qr_{p2cIndex[j, i]}
   * each dot product a GEMM result and the terms added in that order, i.e. exactly relativeGatherForward of the
   * [T, T] content block and the [T, P] tables S_c = Q Kr^T, S_p = K Qr^T, without materialising those tables.
   * A null kr / qr leaves its term out. out is [batch, heads, seq, seq]; overwritten.
   */
  disentangledScoresForward(
    q: Float32Array, k: Float32Array, kr: Float32Array | null, c2pIndex: Int32Array, qr: Float32Array | null,
    p2cIndex: Int32Array, out: Float32Array, batch: number, seq: number, heads: number, hidden: number, P: number,
  ): void;
  /**
   * Its gradients, per (b, h) with G the dOut block and C, R the relativeGatherBackward scatters of G through the
   * c2p and p2c index ([T, P]): dq = G K + C Kr, dk = G^T Q + R Qr, dkr = sum over b of C^T Q, dqr = sum over b of
   * R^T K (summed in order of b). Overwrites the non-null outputs (dkr / dqr need kr / qr).
   */
  disentangledScoresBackward(
    dOut: Float32Array, q: Float32Array, k: Float32Array, kr: Float32Array | null, c2pIndex: Int32Array,
    qr: Float32Array | null, p2cIndex: Int32Array, dq: Float32Array | null, dk: Float32Array | null,
    dkr: Float32Array | null, dqr: Float32Array | null, batch: number, seq: number, heads: number, hidden: number, P: number,
  ): void;
  /**
   * disentangledScoresForward over sequences of different lengths stored back to back (the packed, padding-free
   * layout of ops/packed.ts): sequence b has lens[b] rows (0 <= lens[b] <= indexSeq, a RangeError otherwise)
   * starting after the rows of the sequences before it in q, k [sum lens, hidden], and its [heads, L, L] block
   * starts after theirs in out [sum heads * lens^2]; a sequence of length L reads the top-left [L, L] part of the
   * index tables [indexSeq, indexSeq]:
   *   out_b[h, i, j] = q_i.k_j + q_i.kr_{c2pIndex[i * indexSeq + j]} + k_j.qr_{p2cIndex[j * indexSeq + i]}
   * (disentangledScoresForward is the case of equal lengths indexSeq). Overwrites out.
   */
  disentangledScoresPackedForward(
    q: Float32Array, k: Float32Array, kr: Float32Array | null, c2pIndex: Int32Array, qr: Float32Array | null,
    p2cIndex: Int32Array, out: Float32Array, lens: Int32Array, indexSeq: number, heads: number, hidden: number, P: number,
  ): void;
  /** Its gradients, as disentangledScoresBackward's (dkr / dqr summed in order of b). Overwrites the non-null outputs. */
  disentangledScoresPackedBackward(
    dOut: Float32Array, q: Float32Array, k: Float32Array, kr: Float32Array | null, c2pIndex: Int32Array,
    qr: Float32Array | null, p2cIndex: Int32Array, dq: Float32Array | null, dk: Float32Array | null,
    dkr: Float32Array | null, dqr: Float32Array | null, lens: Int32Array, indexSeq: number, heads: number, hidden: number, P: number,
  ): void;

  /**
   * One AdamW step exactly as torch.optim.AdamW (decoupled weight decay):
   *   p -= lr * weightDecay * p
   *   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
   *   p -= (lr / bias1) * m / (sqrt(v) / sqrt(bias2) + eps)
   * with bias1 = 1 - beta1^t and bias2 = 1 - beta2^t for step t >= 1. Updates p, m, v in place.
   */
  adamwStep(
    p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, bias1: number, bias2: number,
  ): void;
}

/**
 * The dropout RNG shared by both backends (so native and TypeScript runs drop the same elements):
 * a 32-bit integer hash (lowbias32) of seed ^ (i * 0x9E3779B9), mapped to [0, 1) by / 2^32.
 * In C++: uint32_t h = seed ^ (uint32_t)(i * 0x9E3779B9u); h ^= h >> 16; h *= 0x7feb352du; h ^= h >> 15;
 * h *= 0x846ca68bu; h ^= h >> 16; return h * (1.0 / 4294967296.0);  (i taken modulo 2^32)
 */
export function dropoutUniform(seed: number, i: number): number {
  let h = (seed ^ Math.imul(i, 0x9e3779b9)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}
