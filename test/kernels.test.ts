/**
 * Kernel tests: the TypeScript reference kernels against independent naive formulas (double precision,
 * finite differences, a high-precision erf, a scalar re-derivation of torch's AdamW), and the native
 * addon against the reference (skipped, with a message, when the addon is not built).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { loadNativeKernels, type NativeKernels } from "../src/engine/kernels/native.ts";
import { referenceKernels as R } from "../src/engine/kernels/reference.ts";
import { dropoutUniform, type Kernels } from "../src/engine/kernels/types.ts";

const loaded = loadNativeKernels();
const N: NativeKernels | null = loaded.ok ? loaded.kernels : null;
const skipNative = loaded.ok ? false : `native addon unavailable (${loaded.reason}); native comparisons skipped`;

// ---------------------------------------------------------------------------------------------
// helpers

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function rand(rng: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng();
  return a;
}

function assertClose(
  actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-5, atol = 1e-5,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.fail(`${what}: element ${i}: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)})`);
    }
  }
}

/** High-precision erf: Taylor series for |x| < 3, continued fraction for erfc beyond. */
function erfHP(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let sum = 0, term = ax, k = 0;
    while (Math.abs(term) > 1e-17 * Math.abs(sum) || k < 3) {
      sum += term / (2 * k + 1);
      k++;
      term *= (-ax * ax) / k;
      if (k > 200) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))) (Lentz-free backward evaluation)
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return x < 0 ? erfc - 1 : 1 - erfc;
}

const geluExactHP = (x: number) => 0.5 * x * (1 + erfHP(x / Math.SQRT2));
const geluTanhHP = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** Naive double-precision GEMM on row-major storage with offsets and leading dims. */
function naiveGemm(
  ta: boolean, tb: boolean, m: number, n: number, k: number, alpha: number,
  a: Float32Array, aOff: number, lda: number, b: Float32Array, bOff: number, ldb: number,
  beta: number, c: Float32Array, cOff: number, ldc: number,
): Float32Array {
  const out = c.slice();
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = ta ? a[aOff + p * lda + i]! : a[aOff + i * lda + p]!;
        const bv = tb ? b[bOff + j * ldb + p]! : b[bOff + p * ldb + j]!;
        s += av * bv;
      }
      const ci = cOff + i * ldc + j;
      out[ci] = alpha * s + (beta === 0 ? 0 : beta * c[ci]!);
    }
  }
  return out;
}

interface GemmCase {
  ta: boolean; tb: boolean; m: number; n: number; k: number; alpha: number; beta: number;
  a: Float32Array; aOff: number; lda: number; b: Float32Array; bOff: number; ldb: number;
  c: Float32Array; cOff: number; ldc: number;
}

function gemmCase(rng: () => number, ta: boolean, tb: boolean, m: number, n: number, k: number, pad: number,
  alpha: number, beta: number): GemmCase {
  const [ar, ac] = ta ? [k, m] : [m, k];
  const [br, bc] = tb ? [n, k] : [k, n];
  const lda = ac + pad, ldb = bc + 2 * pad, ldc = n + pad;
  const aOff = pad * 3, bOff = pad * 5, cOff = pad * 7;
  const a = rand(rng, aOff + ar * lda + 3);
  const b = rand(rng, bOff + br * ldb + 3);
  const c = rand(rng, cOff + m * ldc + 3);
  if (beta === 0) for (let i = cOff; i < cOff + m * ldc; i++) if (i % 3 === 0) c[i] = NaN;
  return { ta, tb, m, n, k, alpha, beta, a, aOff, lda, b, bOff, ldb, c, cOff, ldc };
}

function runGemm(K: Pick<Kernels, "sgemm">["sgemm"], g: GemmCase): Float32Array {
  const c = g.c.slice();
  K(g.ta, g.tb, g.m, g.n, g.k, g.alpha, g.a, g.aOff, g.lda, g.b, g.bOff, g.ldb, g.beta, c, g.cOff, g.ldc);
  return c;
}

/** Entries of C outside the written [m, n] tile must be untouched; NaN-aware comparison. */
function gemmTol(k: number): number {
  return 2e-6 * Math.max(1, k);
}

const SIZES: [number, number, number][] = [
  [1, 1, 1], [7, 1, 33], [1, 7, 130], [7, 33, 1], [33, 7, 130], [130, 33, 7], [33, 130, 64], [65, 17, 300],
];
const TRANS: [boolean, boolean][] = [[false, false], [false, true], [true, false], [true, true]];

/** Attention-style head slices: rows of Q/K/V have stride H = heads * d, head h at column h * d. */
function attentionOffsets(batch: number, heads: number, t: number, d: number) {
  const H = heads * d;
  const n = batch * heads;
  const qkv = new Int32Array(n), scores = new Int32Array(n);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      qkv[b * heads + h] = b * t * H + h * d;
      scores[b * heads + h] = (b * heads + h) * t * t;
    }
  }
  return { H, qkv, scores };
}

/**
 * DeBERTa relative-position index tables [T, T] with values in [0, P): "shift" is the unbucketed table (each row
 * reads a window of T of the 2T - 1 columns, as the native kernels' row windows expect), "bucket" a log-bucketed
 * one (P < T), "random" arbitrary values.
 */
function relIndex(rng: () => number, T: number, kind: "shift" | "bucket" | "random"): { c2p: Int32Array; p2c: Int32Array; P: number } {
  const c2p = new Int32Array(T * T), p2c = new Int32Array(T * T);
  const bucket = (d: number) => 5 + Math.sign(d) * Math.min(5, Math.ceil(Math.log2(1 + Math.abs(d))));
  const P = kind === "shift" ? 2 * T - 1 : kind === "bucket" ? 11 : 7;
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) {
      const e = i * T + j;
      if (kind === "shift") [c2p[e], p2c[e]] = [i - j + T - 1, j - i + T - 1];
      else if (kind === "bucket") [c2p[e], p2c[e]] = [bucket(i - j), bucket(j - i)];
      else [c2p[e], p2c[e]] = [Math.floor(rng() * P), Math.floor(rng() * P)];
    }
  }
  return { c2p, p2c, P };
}

/** relativeGatherForward in double precision: scores + c2p[i, c2pIndex[i, j]] + p2c[j, p2cIndex[j, i]] per block. */
function naiveRelGather(
  scores: Float32Array | null, c2p: Float32Array | null, ci: Int32Array, p2c: Float32Array | null, pi: Int32Array,
  n: number, T: number, P: number,
): Float64Array {
  const out = new Float64Array(n * T * T);
  for (let m = 0; m < n; m++) {
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        const e = m * T * T + i * T + j;
        out[e] = (scores ? scores[e]! : 0) + (c2p ? c2p[m * T * P + i * P + ci[i * T + j]!]! : 0) +
          (p2c ? p2c[m * T * P + j * P + pi[j * T + i]!]! : 0);
      }
    }
  }
  return out;
}

interface DisCase {
  batch: number; T: number; heads: number; H: number; P: number;
  q: Float32Array; k: Float32Array; kr: Float32Array; qr: Float32Array; ci: Int32Array; pi: Int32Array; g: Float32Array;
}

function disCase(rng: () => number, batch: number, T: number, heads: number, d: number, kind: "shift" | "bucket" | "random"): DisCase {
  const H = heads * d;
  const { c2p: ci, p2c: pi, P } = relIndex(rng, T, kind);
  return {
    batch, T, heads, H, P, ci, pi,
    q: rand(rng, batch * T * H), k: rand(rng, batch * T * H), kr: rand(rng, P * H), qr: rand(rng, P * H),
    g: rand(rng, batch * heads * T * T),
  };
}

/** disentangledScores forward and gradients in double precision, straight from the definition. */
function naiveDisentangled(c: DisCase, withC: boolean, withP: boolean) {
  const { batch, T, heads, H, P, q, k, kr, qr, ci, pi, g } = c;
  const d = H / heads;
  const dot = (a: Float32Array, ao: number, b: Float32Array, bo: number) => {
    let s = 0;
    for (let x = 0; x < d; x++) s += a[ao + x]! * b[bo + x]!;
    return s;
  };
  const out = new Float64Array(batch * heads * T * T);
  const dq = new Float64Array(batch * T * H), dk = new Float64Array(batch * T * H);
  const dkr = new Float64Array(P * H), dqr = new Float64Array(P * H);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < T; j++) {
          const e = ((b * heads + h) * T + i) * T + j;
          const qi = (b * T + i) * H + h * d, kj = (b * T + j) * H + h * d;
          const cp = ci[i * T + j]! * H + h * d, pp = pi[j * T + i]! * H + h * d;
          out[e] = dot(q, qi, k, kj) + (withC ? dot(q, qi, kr, cp) : 0) + (withP ? dot(k, kj, qr, pp) : 0);
          const ge = g[e]!;
          for (let x = 0; x < d; x++) {
            dq[qi + x]! += ge * (k[kj + x]! + (withC ? kr[cp + x]! : 0));
            dk[kj + x]! += ge * (q[qi + x]! + (withP ? qr[pp + x]! : 0));
            if (withC) dkr[cp + x]! += ge * q[qi + x]!;
            if (withP) dqr[pp + x]! += ge * k[kj + x]!;
          }
        }
      }
    }
  }
  return { out, dq, dk, dkr, dqr };
}

/** Runs both disentangledScores kernels of K on a case; outputs start as NaN (they must be overwritten). */
function runDisentangled(K: Kernels, c: DisCase, withC: boolean, withP: boolean, grads = { q: true, k: true, kr: true, qr: true }) {
  const { batch, T, heads, H, P } = c;
  const kr = withC ? c.kr : null, qr = withP ? c.qr : null;
  const out = new Float32Array(batch * heads * T * T).fill(NaN);
  K.disentangledScoresForward(c.q, c.k, kr, c.ci, qr, c.pi, out, batch, T, heads, H, P);
  const nan = (n: number, on: boolean) => (on ? new Float32Array(n).fill(NaN) : null);
  const dq = nan(batch * T * H, grads.q), dk = nan(batch * T * H, grads.k);
  const dkr = nan(P * H, withC && grads.kr), dqr = nan(P * H, withP && grads.qr);
  K.disentangledScoresBackward(c.g, c.q, c.k, kr, c.ci, qr, c.pi, dq, dk, dkr, dqr, batch, T, heads, H, P);
  return { out, dq, dk, dkr, dqr };
}

interface PackedDisCase {
  lens: Int32Array; ld: number; heads: number; H: number; P: number; rows: number; blockTotal: number;
  q: Float32Array; k: Float32Array; kr: Float32Array; qr: Float32Array; ci: Int32Array; pi: Int32Array; g: Float32Array;
}

/** Sequences of the given lengths back to back; index tables [ld, ld] (a sequence reads their top-left part). */
function packedDisCase(rng: () => number, lens: number[], ld: number, heads: number, d: number, kind: "shift" | "bucket" | "random"): PackedDisCase {
  const H = heads * d;
  const { c2p: ci, p2c: pi, P } = relIndex(rng, ld, kind);
  const rows = lens.reduce((a, b) => a + b, 0);
  const blockTotal = lens.reduce((a, L) => a + heads * L * L, 0);
  return {
    lens: Int32Array.from(lens), ld, heads, H, P, rows, blockTotal, ci, pi,
    q: rand(rng, rows * H), k: rand(rng, rows * H), kr: rand(rng, P * H), qr: rand(rng, P * H), g: rand(rng, blockTotal),
  };
}

/** disentangledScoresPacked forward and gradients in double precision, straight from the definition. */
function naivePackedDisentangled(c: PackedDisCase, withC: boolean, withP: boolean) {
  const { lens, ld, heads, H, P, q, k, kr, qr, ci, pi, g } = c;
  const d = H / heads;
  const dot = (a: Float32Array, ao: number, b: Float32Array, bo: number) => {
    let s = 0;
    for (let x = 0; x < d; x++) s += a[ao + x]! * b[bo + x]!;
    return s;
  };
  const out = new Float64Array(c.blockTotal);
  const dq = new Float64Array(c.rows * H), dk = new Float64Array(c.rows * H);
  const dkr = new Float64Array(P * H), dqr = new Float64Array(P * H);
  let row = 0, block = 0;
  for (const T of lens) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < T; j++) {
          const e = block + (h * T + i) * T + j;
          const qi = (row + i) * H + h * d, kj = (row + j) * H + h * d;
          const cp = ci[i * ld + j]! * H + h * d, pp = pi[j * ld + i]! * H + h * d;
          out[e] = dot(q, qi, k, kj) + (withC ? dot(q, qi, kr, cp) : 0) + (withP ? dot(k, kj, qr, pp) : 0);
          const ge = g[e]!;
          for (let x = 0; x < d; x++) {
            dq[qi + x]! += ge * (k[kj + x]! + (withC ? kr[cp + x]! : 0));
            dk[kj + x]! += ge * (q[qi + x]! + (withP ? qr[pp + x]! : 0));
            if (withC) dkr[cp + x]! += ge * q[qi + x]!;
            if (withP) dqr[pp + x]! += ge * k[kj + x]!;
          }
        }
      }
    }
    row += T;
    block += heads * T * T;
  }
  return { out, dq, dk, dkr, dqr };
}

/** Runs both disentangledScoresPacked kernels of K on a case; outputs start as NaN (they must be overwritten). */
function runPackedDisentangled(K: Kernels, c: PackedDisCase, withC: boolean, withP: boolean, grads = { q: true, k: true, kr: true, qr: true }) {
  const { lens, ld, heads, H, P } = c;
  const kr = withC ? c.kr : null, qr = withP ? c.qr : null;
  const out = new Float32Array(c.blockTotal).fill(NaN);
  K.disentangledScoresPackedForward(c.q, c.k, kr, c.ci, qr, c.pi, out, lens, ld, heads, H, P);
  const nan = (n: number, on: boolean) => (on ? new Float32Array(n).fill(NaN) : null);
  const dq = nan(c.rows * H, grads.q), dk = nan(c.rows * H, grads.k);
  const dkr = nan(P * H, withC && grads.kr), dqr = nan(P * H, withP && grads.qr);
  K.disentangledScoresPackedBackward(c.g, c.q, c.k, kr, c.ci, qr, c.pi, dq, dk, dkr, dqr, lens, ld, heads, H, P);
  return { out, dq, dk, dkr, dqr };
}

// ---------------------------------------------------------------------------------------------
// reference kernels against independent formulas

describe("reference kernels vs naive formulas", () => {
  it("sgemm: all transposes, offsets, leading dims, alpha, beta (beta = 0 ignores NaN in C)", () => {
    const rng = mulberry32(1);
    for (const [m, n, k] of SIZES) {
      for (const [ta, tb] of TRANS) {
        for (const [alpha, beta, pad] of [[1, 0, 0], [0.5, 1, 3], [-1.25, 0.75, 1], [0, 0.5, 2]] as const) {
          const g = gemmCase(rng, ta, tb, m, n, k, pad, alpha, beta);
          const expected = naiveGemm(g.ta, g.tb, m, n, k, alpha, g.a, g.aOff, g.lda, g.b, g.bOff, g.ldb, beta, g.c, g.cOff, g.ldc);
          assertClose(runGemm(R.sgemm, g), expected, `ref sgemm ${ta},${tb} ${m}x${n}x${k} a=${alpha} b=${beta}`, 1e-5, gemmTol(k));
        }
      }
    }
  });

  it("sgemm with k = 0 scales C by beta", () => {
    const c = new Float32Array([1, 2, NaN, 4]);
    R.sgemm(false, false, 2, 2, 0, 1, new Float32Array(0), 0, 1, new Float32Array(0), 0, 2, 0, c, 0, 2);
    assert.deepEqual([...c], [0, 0, 0, 0]);
    const d = new Float32Array([1, 2, 3, 4]);
    R.sgemm(false, false, 2, 2, 0, 1, new Float32Array(0), 0, 1, new Float32Array(0), 0, 2, 2, d, 0, 2);
    assert.deepEqual([...d], [2, 4, 6, 8]);
  });

  it("sgemmBatched: attention head slices (QK^T, PV and their backward)", () => {
    const rng = mulberry32(2);
    const [batch, heads, t, d] = [2, 3, 7, 5];
    const { H, qkv, scores } = attentionOffsets(batch, heads, t, d);
    const q = rand(rng, batch * t * H), kk = rand(rng, batch * t * H), p = rand(rng, batch * heads * t * t);
    // scores = Q K^T * 0.5
    const s = new Float32Array(batch * heads * t * t).fill(NaN);
    R.sgemmBatched(false, true, t, t, d, 0.5, q, qkv, H, kk, qkv, H, 0, s, scores, t);
    // ctx = P V (writes head slices of a [B*T, H] matrix), accumulating with beta = 1
    const ctx = rand(rng, batch * t * H);
    const ctx0 = ctx.slice();
    R.sgemmBatched(false, false, t, d, t, 1, p, scores, t, kk, qkv, H, 1, ctx, qkv, H);
    // dV = P^T dCtx
    const dv = new Float32Array(batch * t * H);
    R.sgemmBatched(true, false, t, d, t, 1, p, scores, t, q, qkv, H, 0, dv, qkv, H);
    for (let i = 0; i < batch * heads; i++) {
      let e = naiveGemm(false, true, t, t, d, 0.5, q, qkv[i]!, H, kk, qkv[i]!, H, 0, s, scores[i]!, t);
      for (let r = 0; r < t * t; r++) assert.ok(Math.abs(s[scores[i]! + r]! - e[scores[i]! + r]!) < 1e-5, "QK^T");
      e = naiveGemm(false, false, t, d, t, 1, p, scores[i]!, t, kk, qkv[i]!, H, 1, ctx0, qkv[i]!, H);
      for (let r = 0; r < t; r++) for (let c = 0; c < d; c++) {
        const j = qkv[i]! + r * H + c;
        assert.ok(Math.abs(ctx[j]! - e[j]!) < 1e-5, "PV");
      }
      e = naiveGemm(true, false, t, d, t, 1, p, scores[i]!, t, q, qkv[i]!, H, 0, dv, qkv[i]!, H);
      for (let r = 0; r < t; r++) for (let c = 0; c < d; c++) {
        const j = qkv[i]! + r * H + c;
        assert.ok(Math.abs(dv[j]! - e[j]!) < 1e-5, "P^T dCtx");
      }
    }
  });

  it("softmaxForward: scale, broadcast additive mask, -Infinity entries, fully masked rows", () => {
    const rng = mulberry32(3);
    for (const [rows, cols, rpm] of [[1, 1, 1], [7, 33, 7], [12, 130, 4], [6, 5, 2]] as const) {
      const x = rand(rng, rows * cols, -4, 4);
      const mask = rand(rng, Math.ceil(rows / rpm) * cols, -2, 0);
      mask[0] = -Infinity;
      if (rows === 6) for (let j = 0; j < cols; j++) mask[cols + j] = -Infinity; // mask row 1 -> rows 2,3 fully masked
      for (const m of [null, mask]) {
        const out = new Float32Array(rows * cols);
        R.softmaxForward(x, out, rows, cols, 0.7, m, rpm);
        const expected = new Float64Array(rows * cols);
        for (let r = 0; r < rows; r++) {
          const v = Array.from({ length: cols }, (_, j) => x[r * cols + j]! * 0.7 + (m ? m[Math.floor(r / rpm) * cols + j]! : 0));
          const mx = Math.max(...v);
          if (mx === -Infinity) continue; // all zeros
          const e = v.map((z) => Math.exp(z - mx));
          const sum = e.reduce((a, b) => a + b, 0);
          for (let j = 0; j < cols; j++) expected[r * cols + j] = e[j]! / sum;
        }
        assertClose(out, expected, `ref softmax ${rows}x${cols} mask=${m !== null}`, 1e-5, 1e-7);
      }
    }
  });

  it("softmaxBackward matches finite differences of softmax(scale * x)", () => {
    const rng = mulberry32(4);
    const [rows, cols, scale] = [3, 9, 0.6];
    const x = rand(rng, rows * cols, -2, 2), g = rand(rng, rows * cols);
    const sm = (row: number[]) => {
      const mx = Math.max(...row.map((v) => v * scale));
      const e = row.map((v) => Math.exp(v * scale - mx));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    };
    const p = new Float32Array(rows * cols);
    R.softmaxForward(x, p, rows, cols, scale, null, 1);
    const dx = new Float32Array(rows * cols);
    R.softmaxBackward(p, g, dx, rows, cols, scale);
    const h = 1e-5;
    for (let r = 0; r < rows; r++) {
      const row = Array.from(x.subarray(r * cols, r * cols + cols));
      for (let j = 0; j < cols; j++) {
        const up = row.slice(), dn = row.slice();
        up[j]! += h;
        dn[j]! -= h;
        const lu = sm(up).reduce((a, v, q) => a + v * g[r * cols + q]!, 0);
        const ld = sm(dn).reduce((a, v, q) => a + v * g[r * cols + q]!, 0);
        assert.ok(Math.abs(dx[r * cols + j]! - (lu - ld) / (2 * h)) < 1e-5, `softmax grad ${r},${j}`);
      }
    }
  });

  it("layerNorm forward matches a double formula, backward matches finite differences", () => {
    const rng = mulberry32(5);
    for (const [rows, cols] of [[1, 1], [3, 7], [4, 33], [2, 130]] as const) {
      const x = rand(rng, rows * cols, -3, 3), gamma = rand(rng, cols, 0.5, 1.5), beta = rand(rng, cols);
      const eps = 1e-5;
      const out = new Float32Array(rows * cols), mean = new Float32Array(rows), rstd = new Float32Array(rows);
      R.layerNormForward(x, gamma, beta, out, mean, rstd, rows, cols, eps);
      const ln = (row: number[]) => {
        const mu = row.reduce((a, b) => a + b, 0) / cols;
        const v = row.reduce((a, b) => a + (b - mu) ** 2, 0) / cols;
        return { y: row.map((z, j) => ((z - mu) / Math.sqrt(v + eps)) * gamma[j]! + beta[j]!), mu, rs: 1 / Math.sqrt(v + eps) };
      };
      const g = rand(rng, rows * cols);
      const dx = new Float32Array(rows * cols).fill(NaN);
      const dGamma = rand(rng, cols), dBeta = rand(rng, cols);
      const dGamma0 = Float64Array.from(dGamma), dBeta0 = Float64Array.from(dBeta);
      R.layerNormBackward(g, x, gamma, mean, rstd, dx, dGamma, dBeta, rows, cols);
      const h = 1e-5;
      for (let r = 0; r < rows; r++) {
        const row = Array.from(x.subarray(r * cols, (r + 1) * cols));
        const { y, mu, rs } = ln(row);
        assertClose(out.subarray(r * cols, (r + 1) * cols), y, "ln fwd", 1e-5, 1e-5);
        assert.ok(Math.abs(mean[r]! - mu) < 1e-6 && Math.abs(rstd[r]! - rs) < 1e-5 * rs, "mean/rstd");
        const loss = (rr: number[]) => ln(rr).y.reduce((a, v, j) => a + v * g[r * cols + j]!, 0);
        for (let j = 0; j < cols; j++) {
          const up = row.slice(), dn = row.slice();
          up[j]! += h;
          dn[j]! -= h;
          const fd = (loss(up) - loss(dn)) / (2 * h);
          assert.ok(Math.abs(dx[r * cols + j]! - fd) < 2e-4 * Math.max(1, Math.abs(fd)), `ln dx ${rows}x${cols} ${r},${j}: ${dx[r * cols + j]} vs ${fd}`);
        }
        for (let j = 0; j < cols; j++) {
          dGamma0[j]! += g[r * cols + j]! * (row[j]! - mu) * rs;
          dBeta0[j]! += g[r * cols + j]!;
        }
      }
      assertClose(dGamma, dGamma0, "dGamma accumulates", 1e-5, 1e-5);
      assertClose(dBeta, dBeta0, "dBeta accumulates", 1e-5, 1e-5);
    }
  });

  it("GELU exact matches a high-precision erf; tanh form matches its formula; derivatives match finite differences", () => {
    const xs = new Float32Array(2001);
    for (let i = 0; i < xs.length; i++) xs[i] = -10 + i * 0.01;
    xs[0] = -30; xs[1] = 30; xs[2] = 0; xs[3] = -1e-6;
    const out = new Float32Array(xs.length), dx = new Float32Array(xs.length), ones = new Float32Array(xs.length).fill(1);
    for (const approximate of [false, true]) {
      const f = approximate ? geluTanhHP : geluExactHP;
      R.geluForward(xs, out, xs.length, approximate);
      assertClose(out, Array.from(xs, f), `gelu approximate=${approximate}`, 2e-6, 1e-7);
      R.geluBackward(xs, ones, dx, xs.length, approximate);
      const h = 1e-5;
      assertClose(dx, Array.from(xs, (x) => (f(x + h) - f(x - h)) / (2 * h)), `gelu' approximate=${approximate}`, 1e-5, 1e-6);
    }
  });

  it("dropout: keep mask is dropoutUniform >= p, keep rate ~ 1 - p, scaling 1 / (1 - p), backward", () => {
    const rng = mulberry32(6);
    const n = 100_003;
    const x = rand(rng, n);
    for (const [p, seed] of [[0.1, 42], [0.5, 0xdeadbeef], [0, 7], [0.9, -3]] as const) {
      const out = new Float32Array(n), mask = new Uint8Array(n);
      R.dropoutForward(x, out, mask, n, p, seed);
      let kept = 0;
      for (let i = 0; i < n; i++) {
        const keep = dropoutUniform(seed, i) >= p;
        assert.equal(mask[i], keep ? 1 : 0);
        assert.equal(out[i], keep ? Math.fround(x[i]! / (1 - p)) : 0);
        kept += mask[i]!;
      }
      const sd = Math.sqrt(n * p * (1 - p));
      assert.ok(Math.abs(kept - n * (1 - p)) <= 5 * sd + 1, `keep rate for p=${p}: ${kept / n}`);
      const dx = new Float32Array(n).fill(NaN);
      R.dropoutBackward(x, mask, dx, n, p);
      for (let i = 0; i < n; i++) assert.equal(dx[i], mask[i] ? Math.fround(x[i]! / (1 - p)) : 0);
    }
    // p = 1 drops everything without NaN
    const out = new Float32Array(10), mask = new Uint8Array(10);
    R.dropoutForward(x, out, mask, 10, 1, 1);
    assert.deepEqual([...out], new Array(10).fill(0));
    assert.deepEqual([...mask], new Array(10).fill(0));
  });

  it("dropoutUniform matches the documented C++ hash for known values", () => {
    // h(seed=0, i=0) = lowbias32(0) = 0; seed 1, i 0 -> lowbias32(1)
    assert.equal(dropoutUniform(0, 0), 0);
    const lowbias32 = (x: bigint) => {
      const M = 0xffffffffn;
      x ^= x >> 16n; x = (x * 0x7feb352dn) & M; x ^= x >> 15n; x = (x * 0x846ca68bn) & M; x ^= x >> 16n;
      return x;
    };
    for (const [seed, i] of [[1, 0], [123, 456], [0xffffffff, 77777], [5, 2 ** 32 + 3]] as const) {
      const h = lowbias32((BigInt(seed >>> 0) ^ ((BigInt(i) * 0x9e3779b9n) & 0xffffffffn)) & 0xffffffffn);
      assert.equal(dropoutUniform(seed, i), Number(h) / 4294967296);
    }
  });

  it("embedding forward/backward (repeated ids accumulate)", () => {
    const rng = mulberry32(7);
    const [vocab, dim] = [11, 7];
    const table = rand(rng, vocab * dim);
    const ids = Int32Array.from([3, 0, 10, 3, 3, 5]);
    const out = new Float32Array(ids.length * dim).fill(NaN);
    R.embeddingForward(table, ids, out, ids.length, dim);
    for (let i = 0; i < ids.length; i++) for (let j = 0; j < dim; j++) assert.equal(out[i * dim + j], table[ids[i]! * dim + j]);
    const dOut = rand(rng, ids.length * dim), dTable = rand(rng, vocab * dim);
    const expected = Float64Array.from(dTable);
    for (let i = 0; i < ids.length; i++) for (let j = 0; j < dim; j++) expected[ids[i]! * dim + j]! += dOut[i * dim + j]!;
    R.embeddingBackward(dOut, ids, dTable, ids.length, dim);
    assertClose(dTable, expected, "embedding backward", 1e-6, 1e-6);
    assert.throws(() => R.embeddingForward(table, Int32Array.from([11]), out, 1, dim), /embeddingForward/);
  });

  it("addBias, sumRows, add (aliased), axpy, scale, sumSquares", () => {
    const rng = mulberry32(8);
    const [rows, cols] = [7, 33];
    const x = rand(rng, rows * cols), bias = rand(rng, cols);
    const out = new Float32Array(rows * cols);
    R.addBias(x, bias, out, rows, cols);
    assertClose(out, Array.from(x, (v, i) => v + bias[i % cols]!), "addBias", 1e-6, 1e-7);
    const xa = x.slice();
    R.addBias(xa, bias, xa, rows, cols);
    assert.deepEqual(xa, out);
    const db = rand(rng, cols), db0 = Float64Array.from(db);
    R.sumRows(x, db, rows, cols);
    for (let j = 0; j < cols; j++) for (let r = 0; r < rows; r++) db0[j]! += x[r * cols + j]!;
    assertClose(db, db0, "sumRows", 1e-5, 1e-6);
    const a = rand(rng, 130), b = rand(rng, 130), s = new Float32Array(130);
    R.add(a, b, s, 130);
    assertClose(s, Array.from(a, (v, i) => v + b[i]!), "add", 1e-6, 1e-7);
    const a2 = a.slice();
    R.add(a2, b, a2, 130);
    assert.deepEqual(a2, s);
    const d = b.slice();
    R.axpy(-0.3, a, d, 130);
    assertClose(d, Array.from(a, (v, i) => b[i]! - 0.3 * v), "axpy", 1e-6, 1e-7);
    R.scale(a, 2.5, s, 130);
    assertClose(s, Array.from(a, (v) => 2.5 * v), "scale", 1e-6, 0);
    const big = new Float32Array(4097).fill(1e4);
    big[0] = 1; // single precision accumulation would lose this
    assert.equal(R.sumSquares(big, 4097), 4096 * 1e8 + 1);
  });

  it("adamwStep follows torch.optim.AdamW (scalar re-derivation over several steps)", () => {
    const rng = mulberry32(9);
    const n = 37;
    const p = rand(rng, n), m = new Float32Array(n), v = new Float32Array(n);
    const [lr, b1, b2, eps, wd] = [1e-3, 0.9, 0.999, 1e-8, 0.01];
    const P = Array.from(p), M = new Array<number>(n).fill(0), V = new Array<number>(n).fill(0);
    const f = Math.fround;
    for (let t = 1; t <= 5; t++) {
      const g = rand(rng, n, -2, 2);
      if (t === 3) g[0] = 0;
      R.adamwStep(p, g, m, v, n, lr, b1, b2, eps, wd, 1 - b1 ** t, 1 - b2 ** t);
      for (let i = 0; i < n; i++) {
        // torch: param.mul_(1 - lr * wd); exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
        P[i] = f(P[i]! * (1 - lr * wd));
        M[i] = f(M[i]! + (1 - b1) * (g[i]! - M[i]!));
        V[i] = f(f(V[i]! * b2) + (1 - b2) * g[i]! * g[i]!);
        // step_size = lr / bias_correction1; denom = (exp_avg_sq.sqrt() / sqrt(bias_correction2)).add_(eps)
        const stepSize = lr / (1 - b1 ** t);
        const denom = f(f(f(Math.sqrt(V[i]!)) / Math.sqrt(1 - b2 ** t)) + eps);
        P[i] = f(P[i]! - stepSize * f(M[i]! / denom));
      }
      assertClose(m, M, `adamw m step ${t}`, 1e-6, 1e-9);
      assertClose(v, V, `adamw v step ${t}`, 1e-6, 1e-12);
      assertClose(p, P, `adamw p step ${t}`, 1e-5, 1e-7);
    }
  });

  it("relativeGather forward (c2p, transposed p2c, absent terms) and its scatter backward", () => {
    const rng = mulberry32(30);
    const [n, T] = [3, 6];
    for (const kind of ["shift", "bucket", "random"] as const) {
      const { c2p: ci, p2c: pi, P } = relIndex(rng, T, kind);
      const s = rand(rng, n * T * T), c = rand(rng, n * T * P), p = rand(rng, n * T * P);
      for (const [ss, cc, pp] of [[s, c, p], [s, c, null], [s, null, p], [null, c, null], [null, null, p], [null, null, null]] as const) {
        const out = new Float32Array(n * T * T).fill(NaN);
        R.relativeGatherForward(ss, cc, ci, pp, pi, out, n, T, P);
        assertClose(out, naiveRelGather(ss, cc, ci, pp, pi, n, T, P), `relativeGatherForward ${kind}`, 1e-6, 1e-6);
      }
      const g = rand(rng, n * T * T);
      const dc = new Float32Array(n * T * P).fill(NaN), dp = new Float32Array(n * T * P).fill(NaN);
      R.relativeGatherBackward(g, dc, ci, dp, pi, n, T, P);
      // the adjoint of the gather: <forward(c, p), g> = <c, dc> + <p, dp>
      const ec = new Float64Array(n * T * P), ep = new Float64Array(n * T * P);
      for (let m = 0; m < n; m++) {
        for (let i = 0; i < T; i++) {
          for (let j = 0; j < T; j++) {
            const ge = g[m * T * T + i * T + j]!;
            ec[m * T * P + i * P + ci[i * T + j]!]! += ge;
            ep[m * T * P + j * P + pi[j * T + i]!]! += ge;
          }
        }
      }
      assertClose(dc, ec, `relativeGatherBackward c2p ${kind}`, 1e-5, 1e-6);
      assertClose(dp, ep, `relativeGatherBackward p2c ${kind}`, 1e-5, 1e-6);
    }
    const bad = Int32Array.from({ length: 4 }, () => 3);
    assert.throws(() => R.relativeGatherForward(null, new Float32Array(6), bad, null, bad, new Float32Array(4), 1, 2, 3), /c2pIndex value 3 at 0 outside \[0, 3\)/);
    // an absent term's index is not read
    R.relativeGatherForward(null, new Float32Array(6), Int32Array.from([0, 1, 2, 0]), null, bad, new Float32Array(4), 1, 2, 3);
  });

  it("disentangledScores forward and gradients match their double-precision definition", () => {
    const rng = mulberry32(31);
    for (const [batch, T, heads, d, kind] of [[2, 5, 2, 3, "shift"], [3, 7, 1, 4, "bucket"], [1, 4, 3, 2, "random"]] as const) {
      const c = disCase(rng, batch, T, heads, d, kind);
      for (const [withC, withP] of [[true, true], [true, false], [false, true], [false, false]] as const) {
        const got = runDisentangled(R, c, withC, withP);
        const want = naiveDisentangled(c, withC, withP);
        const what = `disentangledScores ${kind} c2p=${withC} p2c=${withP}`;
        assertClose(got.out, want.out, `${what} forward`, 1e-5, 1e-5);
        assertClose(got.dq!, want.dq, `${what} dq`, 1e-5, 1e-5);
        assertClose(got.dk!, want.dk, `${what} dk`, 1e-5, 1e-5);
        if (withC) assertClose(got.dkr!, want.dkr, `${what} dkr`, 1e-5, 1e-5);
        if (withP) assertClose(got.dqr!, want.dqr, `${what} dqr`, 1e-5, 1e-5);
      }
    }
  });

  it("disentangledScoresPacked forward and gradients match their double-precision definition (lengths 0, 1, shorter than the tables)", () => {
    const rng = mulberry32(35);
    for (const [lens, ld, heads, d, kind] of [[[5, 0, 1, 7, 3], 8, 2, 3, "shift"], [[4, 7], 7, 1, 4, "bucket"], [[3, 2], 4, 3, 2, "random"]] as const) {
      const c = packedDisCase(rng, [...lens], ld, heads, d, kind);
      for (const [withC, withP] of [[true, true], [true, false], [false, true], [false, false]] as const) {
        const got = runPackedDisentangled(R, c, withC, withP);
        const want = naivePackedDisentangled(c, withC, withP);
        const what = `disentangledScoresPacked ${kind} lens ${lens.join("/")} c2p=${withC} p2c=${withP}`;
        assertClose(got.out, want.out, `${what} forward`, 1e-5, 1e-5);
        assertClose(got.dq!, want.dq, `${what} dq`, 1e-5, 1e-5);
        assertClose(got.dk!, want.dk, `${what} dk`, 1e-5, 1e-5);
        if (withC) assertClose(got.dkr!, want.dkr, `${what} dkr`, 1e-5, 1e-5);
        if (withP) assertClose(got.dqr!, want.dqr, `${what} dqr`, 1e-5, 1e-5);
      }
    }
    const c = packedDisCase(rng, [2, 5], 4, 1, 2, "shift");
    assert.throws(() => runPackedDisentangled(R, c, true, true), /disentangledScoresPackedForward: lens value 5 at 1 outside \[0, 4\]/);
  });

  it("rejects arrays that are too short", () => {
    assert.throws(() => R.sgemm(false, false, 2, 2, 2, 1, new Float32Array(3), 0, 2, new Float32Array(4), 0, 2, 0, new Float32Array(4), 0, 2), /sgemm/);
    assert.throws(() => R.add(new Float32Array(2), new Float32Array(3), new Float32Array(3), 3), /add/);
  });
});

// ---------------------------------------------------------------------------------------------
// native against reference

describe("native kernels vs reference", { skip: skipNative }, () => {
  const K = N!;

  it("reports its build", () => {
    assert.equal(K.backend, "native");
    assert.equal(K.blas, K.native.hasOpenBlas);
    assert.match(K.native.buildInfo(), /gemm=/);
  });

  for (const [label, pick] of [
    ["sgemm", () => K.sgemm],
    ["sgemmPortable", () => K.native.sgemmPortable],
  ] as const) {
    it(`${label}: all transposes, offsets, leading dims, alpha, beta (NaN in C with beta = 0)`, () => {
      const rng = mulberry32(11);
      const fn = pick();
      for (const [m, n, k] of [...SIZES, [200, 300, 270] as [number, number, number]]) {
        for (const [ta, tb] of TRANS) {
          for (const [alpha, beta, pad] of [[1, 0, 0], [0.5, 1, 3], [-1.25, 0.75, 1], [0, 0.5, 2]] as const) {
            const g = gemmCase(rng, ta, tb, m, n, k, pad, alpha, beta);
            const ref = runGemm(R.sgemm, g);
            assertClose(runGemm(fn, g), ref, `${label} ${ta},${tb} ${m}x${n}x${k} a=${alpha} b=${beta} pad=${pad}`, 1e-5, gemmTol(k));
          }
        }
      }
    });
  }

  it("sgemm honours TypedArray byte offsets (subarray views)", () => {
    const rng = mulberry32(12);
    const base = rand(rng, 1000);
    const a = base.subarray(13, 13 + 7 * 9), b = base.subarray(200, 200 + 9 * 5);
    const c1 = new Float32Array(40).subarray(5), c2 = new Float32Array(40).subarray(5);
    R.sgemm(false, false, 7, 5, 9, 1, a, 0, 9, b, 0, 5, 0, c1, 0, 5);
    K.sgemm(false, false, 7, 5, 9, 1, a, 0, 9, b, 0, 5, 0, c2, 0, 5);
    assertClose(c2, c1, "subarray sgemm", 1e-5, 1e-5);
    const x = base.subarray(3, 3 + 130), o1 = new Float32Array(131).subarray(1), o2 = new Float32Array(131).subarray(1);
    R.geluForward(x, o1, 130, false);
    K.geluForward(x, o2, 130, false);
    assertClose(o2, o1, "subarray gelu", 1e-5, 1e-6);
  });

  it("sgemm with k = 0 and with m = 0 / n = 0", () => {
    const c = new Float32Array([1, 2, NaN, 4]);
    K.sgemm(false, false, 2, 2, 0, 1, new Float32Array(0), 0, 1, new Float32Array(0), 0, 2, 0, c, 0, 2);
    assert.deepEqual([...c], [0, 0, 0, 0]);
    const d = new Float32Array([1, 2, 3, 4]);
    K.sgemm(false, false, 2, 2, 0, 1, new Float32Array(0), 0, 1, new Float32Array(0), 0, 2, 2, d, 0, 2);
    assert.deepEqual([...d], [2, 4, 6, 8]);
    K.sgemm(false, false, 0, 2, 3, 1, new Float32Array(0), 0, 3, new Float32Array(6), 0, 2, 0, new Float32Array(0), 0, 2);
  });

  it("sgemmBatched: attention head slices, every strategy, forward and backward shapes", () => {
    const rng = mulberry32(13);
    for (const [batch, heads, t, d] of [[2, 3, 7, 5], [2, 4, 33, 16], [1, 1, 1, 1], [3, 2, 130, 8]] as const) {
      const { H, qkv, scores } = attentionOffsets(batch, heads, t, d);
      const q = rand(rng, batch * t * H), k = rand(rng, batch * t * H), p = rand(rng, batch * heads * t * t);
      const calls: [string, (KK: Kernels, c: Float32Array) => void, () => Float32Array][] = [
        ["QK^T", (KK, c) => KK.sgemmBatched(false, true, t, t, d, 0.125, q, qkv, H, k, qkv, H, 0, c, scores, t),
          () => new Float32Array(batch * heads * t * t).fill(NaN)],
        ["PV", (KK, c) => KK.sgemmBatched(false, false, t, d, t, 1, p, scores, t, k, qkv, H, 0, c, qkv, H),
          () => new Float32Array(batch * t * H)],
        ["dP = dCtx V^T", (KK, c) => KK.sgemmBatched(false, true, t, t, d, 1, q, qkv, H, k, qkv, H, 0, c, scores, t),
          () => new Float32Array(batch * heads * t * t)],
        ["dV = P^T dCtx (beta 1)", (KK, c) => KK.sgemmBatched(true, false, t, d, t, 1, p, scores, t, q, qkv, H, 1, c, qkv, H),
          () => rand(mulberry32(99), batch * t * H)],
        ["dQ = dS K", (KK, c) => KK.sgemmBatched(false, false, t, d, t, 0.125, p, scores, t, k, qkv, H, 0, c, qkv, H),
          () => new Float32Array(batch * t * H)],
        ["dK = dS^T Q", (KK, c) => KK.sgemmBatched(true, false, t, d, t, 0.125, p, scores, t, q, qkv, H, 0, c, qkv, H),
          () => new Float32Array(batch * t * H)],
      ];
      for (const [name, call, init] of calls) {
        const ref = init();
        call(R, ref);
        for (const strategy of [0, 1, 2, 3]) {
          const prev = K.native.setBatchedStrategy(strategy);
          try {
            const c = init();
            call(K, c);
            assertClose(c, ref, `sgemmBatched ${name} B=${batch} h=${heads} T=${t} d=${d} strategy ${strategy}`, 1e-5, gemmTol(t));
          } finally {
            K.native.setBatchedStrategy(prev);
          }
        }
      }
    }
  });

  it("sgemmBatched with repeated C offsets accumulates sequentially", () => {
    const rng = mulberry32(14);
    const a = rand(rng, 8 * 16), b = rand(rng, 8 * 16);
    const offs = Int32Array.from([0, 16, 32, 48, 64, 80, 96, 112]);
    const cOffs = new Int32Array(8); // all into one C
    const ref = rand(rng, 16), c = ref.slice();
    R.sgemmBatched(false, false, 4, 4, 4, 1, a, offs, 4, b, offs, 4, 1, ref, cOffs, 4);
    K.sgemmBatched(false, false, 4, 4, 4, 1, a, offs, 4, b, offs, 4, 1, c, cOffs, 4);
    assertClose(c, ref, "accumulating batched", 1e-5, 1e-5);
  });

  it("softmax forward (mask, -Infinity, fully masked rows) and backward", () => {
    const rng = mulberry32(15);
    for (const [rows, cols, rpm] of [[1, 1, 1], [7, 7, 7], [33, 33, 11], [130, 130, 13], [64, 128, 16], [6, 5, 2]] as const) {
      const x = rand(rng, rows * cols, -8, 8);
      const mask = rand(rng, Math.ceil(rows / rpm) * cols, -3, 0);
      for (let j = 0; j < cols; j += 3) mask[j] = -10000;
      if (cols > 1) mask[1] = -Infinity;
      if (rows === 6) for (let j = 0; j < cols; j++) mask[cols + j] = -Infinity;
      for (const m of [null, mask]) {
        const o1 = new Float32Array(rows * cols), o2 = new Float32Array(rows * cols).fill(NaN);
        R.softmaxForward(x, o1, rows, cols, 0.125, m, rpm);
        K.softmaxForward(x, o2, rows, cols, 0.125, m, rpm);
        assertClose(o2, o1, `softmax ${rows}x${cols} mask=${m !== null}`, 1e-5, 1e-7);
        const g = rand(rng, rows * cols), d1 = new Float32Array(rows * cols), d2 = new Float32Array(rows * cols);
        R.softmaxBackward(o1, g, d1, rows, cols, 0.125);
        K.softmaxBackward(o1, g, d2, rows, cols, 0.125);
        assertClose(d2, d1, `softmaxBackward ${rows}x${cols}`, 1e-5, 1e-7);
      }
    }
    // in place (x === out)
    const x = rand(rng, 4 * 9), y = x.slice(), r = new Float32Array(36);
    R.softmaxForward(x, r, 4, 9, 1, null, 1);
    K.softmaxForward(y, y, 4, 9, 1, null, 1);
    assertClose(y, r, "softmax in place", 1e-5, 1e-7);
  });

  it("layerNorm forward and backward (accumulating dGamma/dBeta)", () => {
    const rng = mulberry32(16);
    for (const [rows, cols] of [[1, 1], [7, 7], [33, 33], [130, 130], [512, 256], [3, 1000]] as const) {
      const x = rand(rng, rows * cols, -3, 3), gamma = rand(rng, cols, 0.5, 1.5), beta = rand(rng, cols);
      const out1 = new Float32Array(rows * cols), mean1 = new Float32Array(rows), rstd1 = new Float32Array(rows);
      const out2 = out1.slice(), mean2 = mean1.slice(), rstd2 = rstd1.slice();
      // BERT's eps (1e-12), except for a single column, where the variance is exactly 0 and rstd = 1/sqrt(eps)
      // would amplify rounding noise (the true dX is 0).
      const eps = cols === 1 ? 1e-5 : 1e-12;
      R.layerNormForward(x, gamma, beta, out1, mean1, rstd1, rows, cols, eps);
      K.layerNormForward(x, gamma, beta, out2, mean2, rstd2, rows, cols, eps);
      assertClose(out2, out1, `ln fwd ${rows}x${cols}`, 1e-4, 1e-5);
      assertClose(mean2, mean1, "mean", 1e-5, 1e-6);
      assertClose(rstd2, rstd1, "rstd", 1e-4, 1e-6);
      const g = rand(rng, rows * cols), dg = rand(rng, cols), db = rand(rng, cols);
      const dx1 = new Float32Array(rows * cols), dx2 = new Float32Array(rows * cols).fill(NaN);
      const dg1 = dg.slice(), db1 = db.slice(), dg2 = dg.slice(), db2 = db.slice();
      R.layerNormBackward(g, x, gamma, mean1, rstd1, dx1, dg1, db1, rows, cols);
      K.layerNormBackward(g, x, gamma, mean1, rstd1, dx2, dg2, db2, rows, cols);
      assertClose(dx2, dx1, `ln dx ${rows}x${cols}`, 1e-4, 2e-5);
      assertClose(dg2, dg1, `ln dGamma ${rows}x${cols}`, 1e-4, 1e-4);
      assertClose(db2, db1, `ln dBeta ${rows}x${cols}`, 1e-4, 1e-4);
    }
  });

  it("GELU exact and tanh, forward and backward, including extreme inputs", () => {
    const rng = mulberry32(17);
    for (const n of [1, 7, 33, 130, 100_003]) {
      const x = rand(rng, n, -6, 6);
      if (n > 20) {
        x.set([0, -0, 1e-8, -1e-8, 20, -20, 100, -100, 1e30, -1e30, 3.4e38, -3.4e38], 0);
      }
      const g = rand(rng, n);
      for (const approximate of [false, true]) {
        const o1 = new Float32Array(n), o2 = new Float32Array(n);
        R.geluForward(x, o1, n, approximate);
        K.geluForward(x, o2, n, approximate);
        assertClose(o2, o1, `gelu n=${n} approximate=${approximate}`, 1e-5, 1e-6);
        R.geluBackward(x, g, o1, n, approximate);
        K.geluBackward(x, g, o2, n, approximate);
        assertClose(o2, o1, `gelu' n=${n} approximate=${approximate}`, 1e-5, 1e-6);
      }
    }
  });

  it("dropout: identical keep masks to the reference, bit for bit", () => {
    const rng = mulberry32(18);
    for (const n of [1, 7, 33, 130, 200_001]) {
      const x = rand(rng, n);
      for (const [p, seed] of [[0.1, 1], [0.5, 0xffffffff], [0.3, -12345], [0.25, 2 ** 32 + 17], [0.1, 123.75], [0, 5], [1, 5], [1e-9, 3]] as const) {
        const o1 = new Float32Array(n), m1 = new Uint8Array(n), o2 = new Float32Array(n).fill(NaN), m2 = new Uint8Array(n).fill(7);
        R.dropoutForward(x, o1, m1, n, p, seed);
        K.dropoutForward(x, o2, m2, n, p, seed);
        assert.deepEqual(m2, m1, `dropout mask n=${n} p=${p} seed=${seed}`);
        assertClose(o2, o1, `dropout out n=${n} p=${p}`, 1e-6, 0);
        const g = rand(rng, n), d1 = new Float32Array(n), d2 = new Float32Array(n).fill(NaN);
        R.dropoutBackward(g, m1, d1, n, p);
        K.dropoutBackward(g, m1, d2, n, p);
        assertClose(d2, d1, `dropout backward n=${n} p=${p}`, 1e-6, 0);
      }
    }
  });

  it("embedding forward/backward and id range checks", () => {
    const rng = mulberry32(19);
    const [vocab, dim, n] = [50, 33, 130];
    const table = rand(rng, vocab * dim);
    const ids = Int32Array.from({ length: n }, () => Math.floor(rng() * vocab));
    const o1 = new Float32Array(n * dim), o2 = new Float32Array(n * dim);
    R.embeddingForward(table, ids, o1, n, dim);
    K.embeddingForward(table, ids, o2, n, dim);
    assert.deepEqual(o2, o1);
    const g = rand(rng, n * dim), t1 = rand(rng, vocab * dim), t2 = t1.slice();
    R.embeddingBackward(g, ids, t1, n, dim);
    K.embeddingBackward(g, ids, t2, n, dim);
    assertClose(t2, t1, "embedding backward", 1e-6, 1e-6);
    assert.throws(() => K.embeddingForward(table, Int32Array.from([vocab]), o2, 1, dim), /embeddingForward/);
    assert.throws(() => K.embeddingBackward(g, Int32Array.from([-1]), t2, 1, dim), /embeddingBackward/);
  });

  it("addBias, sumRows, add, axpy, scale, sumSquares (small and multi-threaded sizes, aliasing)", () => {
    const rng = mulberry32(20);
    for (const [rows, cols] of [[1, 1], [7, 33], [130, 7], [1024, 256]] as const) {
      const n = rows * cols;
      const x = rand(rng, n), bias = rand(rng, cols), b = rand(rng, n);
      const o1 = new Float32Array(n), o2 = new Float32Array(n);
      R.addBias(x, bias, o1, rows, cols);
      K.addBias(x, bias, o2, rows, cols);
      assert.deepEqual(o2, o1, "addBias");
      const xa = x.slice();
      K.addBias(xa, bias, xa, rows, cols);
      assert.deepEqual(xa, o1, "addBias in place");
      const d1 = rand(rng, cols), d2 = d1.slice();
      R.sumRows(x, d1, rows, cols);
      K.sumRows(x, d2, rows, cols);
      assertClose(d2, d1, "sumRows", 1e-5, 1e-4);
      R.add(x, b, o1, n);
      K.add(x, b, o2, n);
      assert.deepEqual(o2, o1, "add");
      const a2 = x.slice();
      K.add(a2, b, a2, n);
      assert.deepEqual(a2, o1, "add aliasing a");
      const b2 = b.slice();
      K.add(x, b2, b2, n);
      assert.deepEqual(b2, o1, "add aliasing b");
      const y1 = b.slice(), y2 = b.slice();
      R.axpy(0.37, x, y1, n);
      K.axpy(0.37, x, y2, n);
      assertClose(y2, y1, "axpy", 1e-6, 1e-7);
      R.scale(x, -1.7, o1, n);
      K.scale(x, -1.7, o2, n);
      assertClose(o2, o1, "scale", 1e-6, 0);
      const xs = x.slice();
      K.scale(xs, -1.7, xs, n);
      assertClose(xs, o1, "scale in place", 1e-6, 0);
      const s1 = R.sumSquares(x, n), s2 = K.sumSquares(x, n);
      assert.ok(Math.abs(s1 - s2) <= 1e-12 * Math.max(1, s1), `sumSquares ${s1} vs ${s2}`);
    }
    const big = new Float32Array(100_001).fill(1e4);
    big[0] = 1;
    assert.equal(K.sumSquares(big, big.length), 100_000 * 1e8 + 1);
  });

  it("adamwStep matches the reference over several steps", () => {
    const rng = mulberry32(21);
    for (const n of [1, 7, 130, 100_003]) {
      const p1 = rand(rng, n), m1 = new Float32Array(n), v1 = new Float32Array(n);
      const p2 = p1.slice(), m2 = m1.slice(), v2 = v1.slice();
      for (let t = 1; t <= 4; t++) {
        const g = rand(rng, n, -3, 3);
        const args = [n, 2e-3, 0.9, 0.999, 1e-8, 0.01, 1 - 0.9 ** t, 1 - 0.999 ** t] as const;
        R.adamwStep(p1, g, m1, v1, ...args);
        K.adamwStep(p2, g, m2, v2, ...args);
      }
      assertClose(m2, m1, `adamw m n=${n}`, 1e-5, 1e-7);
      assertClose(v2, v1, `adamw v n=${n}`, 1e-5, 1e-9);
      assertClose(p2, p1, `adamw p n=${n}`, 1e-5, 1e-6);
    }
  });

  it("gives the same results with 1 and 2 threads", () => {
    const rng = mulberry32(22);
    const n = 1 << 18;
    const x = rand(rng, n), g = rand(rng, n);
    const run = () => {
      const o = new Float32Array(n), sm = new Float32Array(n), d = new Float32Array(n), m = new Uint8Array(n);
      K.geluForward(x, o, n, false);
      K.softmaxForward(x, sm, n / 128, 128, 0.5, null, 1);
      K.dropoutForward(x, d, m, n, 0.1, 77);
      const c = new Float32Array(256 * 256);
      K.native.sgemmPortable(false, true, 256, 256, 1024, 1, x, 0, 1024, g, 0, 1024, 0, c, 0, 256);
      return [o, sm, d, m, c] as const;
    };
    const prev = K.native.setNumThreads(1);
    let one;
    try {
      one = run();
    } finally {
      K.native.setNumThreads(Math.max(prev, 2));
    }
    const two = run();
    K.native.setNumThreads(prev);
    for (let i = 0; i < one.length; i++) assert.deepEqual(two[i], one[i], `output ${i}`);
  });

  it("relative gathers and disentangledScores (padded and packed) give the same results with 1 and 2 threads", () => {
    const rng = mulberry32(34);
    const { c2p: ci, p2c: pi, P } = relIndex(rng, 40, "shift");
    const n = 50;
    const s = rand(rng, n * 1600), c = rand(rng, n * 40 * P), p = rand(rng, n * 40 * P);
    // heads 1: more threads than heads (content and relative gradients in two passes); heads 4: one pass by head
    const cases = [disCase(rng, 5, 40, 1, 8, "shift"), disCase(rng, 3, 37, 4, 4, "bucket")];
    const packedCases = [packedDisCase(rng, [40, 3, 17, 33], 40, 1, 8, "shift"), packedDisCase(rng, [37, 5, 0, 20], 37, 4, 4, "bucket")];
    const run = () => {
      const o = new Float32Array(n * 1600), dc = new Float32Array(n * 40 * P), dp = new Float32Array(n * 40 * P);
      K.relativeGatherForward(s, c, ci, p, pi, o, n, 40, P);
      K.relativeGatherBackward(s, dc, ci, dp, pi, n, 40, P);
      return [o, dc, dp, ...cases.flatMap((dc) => Object.values(runDisentangled(K, dc, true, true))),
        ...packedCases.flatMap((pc) => Object.values(runPackedDisentangled(K, pc, true, true)))];
    };
    const prev = K.native.setNumThreads(1);
    let one;
    try {
      one = run();
    } finally {
      K.native.setNumThreads(Math.max(prev, 2));
    }
    const two = run();
    K.native.setNumThreads(prev);
    for (let i = 0; i < one.length; i++) assert.deepEqual(two[i], one[i], `output ${i}`);
  });

  it("relativeGather forward/backward: bit for bit the reference (n > 1, c2p and p2c, absent terms, in place)", () => {
    const rng = mulberry32(32);
    for (const [n, T, kind] of [[4, 9, "shift"], [3, 40, "bucket"], [2, 13, "random"], [70, 33, "shift"]] as const) {
      const { c2p: ci, p2c: pi, P } = relIndex(rng, T, kind);
      const s = rand(rng, n * T * T), c = rand(rng, n * T * P), p = rand(rng, n * T * P);
      for (const [ss, cc, pp] of [[s, c, p], [s, c, null], [s, null, p], [null, c, p], [null, c, null], [null, null, p]] as const) {
        const o1 = new Float32Array(n * T * T).fill(NaN), o2 = new Float32Array(n * T * T).fill(NaN);
        R.relativeGatherForward(ss, cc, ci, pp, pi, o1, n, T, P);
        K.relativeGatherForward(ss, cc, ci, pp, pi, o2, n, T, P);
        assert.deepEqual(o2, o1, `relativeGatherForward ${kind} n=${n}`);
      }
      const inPlace = s.slice();
      K.relativeGatherForward(inPlace, c, ci, p, pi, inPlace, n, T, P);
      const o1 = new Float32Array(n * T * T);
      R.relativeGatherForward(s, c, ci, p, pi, o1, n, T, P);
      assert.deepEqual(inPlace, o1, "relativeGatherForward in place");
      const g = rand(rng, n * T * T);
      const d = () => new Float32Array(n * T * P).fill(NaN);
      const [c1, p1, c2, p2] = [d(), d(), d(), d()];
      R.relativeGatherBackward(g, c1, ci, p1, pi, n, T, P);
      K.relativeGatherBackward(g, c2, ci, p2, pi, n, T, P);
      assert.deepEqual(c2, c1, `relativeGatherBackward c2p ${kind}`);
      assert.deepEqual(p2, p1, `relativeGatherBackward p2c ${kind}`);
      const p3 = d();
      K.relativeGatherBackward(g, null, ci, p3, pi, n, T, P);
      assert.deepEqual(p3, p1, "relativeGatherBackward p2c alone");
    }
    const bad = Int32Array.from({ length: 4 }, () => -1);
    assert.throws(() => K.relativeGatherForward(null, null, bad, new Float32Array(6), bad, new Float32Array(4), 1, 2, 3),
      (e: unknown) => e instanceof RangeError && /relativeGatherForward: p2cIndex value -1 at 0 outside \[0, 3\)/.test(String(e)));
    assert.throws(() => K.relativeGatherBackward(new Float32Array(4), new Float32Array(6), bad, null, bad, 1, 2, 3), /relativeGatherBackward: c2pIndex/);
    assert.throws(() => K.relativeGatherForward(null, new Float32Array(5), Int32Array.from([0, 0, 0, 0]), null, bad, new Float32Array(4), 1, 2, 3), /relativeGatherForward: c2p has 5 elements, needs 6/);
  });

  it("disentangledScores forward/backward match the reference (batch > 1, windowed and whole tables, c2p / p2c only, partial gradients)", () => {
    const rng = mulberry32(33);
    const cases: [number, number, number, number, "shift" | "bucket" | "random"][] = [
      [3, 5, 2, 4, "shift"], [2, 70, 3, 8, "shift"], [2, 45, 2, 5, "bucket"], [2, 33, 1, 6, "random"],
    ];
    for (const [batch, T, heads, d, kind] of cases) {
      const c = disCase(rng, batch, T, heads, d, kind);
      for (const [withC, withP] of [[true, true], [true, false], [false, true], [false, false]] as const) {
        const want = runDisentangled(R, c, withC, withP);
        const got = runDisentangled(K, c, withC, withP);
        const what = `disentangledScores ${kind} batch=${batch} T=${T} c2p=${withC} p2c=${withP}`;
        assertClose(got.out, want.out, `${what} forward`, 1e-5, 1e-5);
        for (const key of ["dq", "dk", "dkr", "dqr"] as const) {
          if (want[key]) assertClose(got[key]!, want[key]!, `${what} ${key}`, 1e-5, 1e-5);
        }
      }
      // only some gradients asked for: the same values
      const full = runDisentangled(K, c, true, true);
      for (const grads of [{ q: true, k: false, kr: false, qr: false }, { q: false, k: false, kr: true, qr: false }, { q: false, k: true, kr: false, qr: true }]) {
        const part = runDisentangled(K, c, true, true, grads);
        for (const key of ["q", "k", "kr", "qr"] as const) {
          const dk = `d${key}` as "dq" | "dk" | "dkr" | "dqr";
          if (grads[key]) assert.deepEqual(part[dk], full[dk], `partial gradients ${JSON.stringify(grads)} ${dk}`);
          else assert.equal(part[dk], null);
        }
      }
    }
    // batch 0: the relative gradients are zeros
    const c0 = disCase(rng, 0, 4, 2, 2, "shift");
    const z = runDisentangled(K, c0, true, true);
    assert.ok(z.dkr!.every((v) => v === 0) && z.dqr!.every((v) => v === 0));
    const c = disCase(rng, 1, 3, 2, 2, "shift");
    assert.throws(() => K.disentangledScoresForward(c.q, c.k, c.kr, c.ci, null, c.pi, new Float32Array(27), 1, 3, 3, c.H, c.P),
      (e: unknown) => e instanceof RangeError && /disentangledScoresForward: hidden 4 is not a multiple of heads 3/.test(String(e)));
    assert.throws(() => K.disentangledScoresForward(c.q, c.k, c.kr, c.ci, null, c.pi, new Float32Array(17), 1, 3, 2, c.H, c.P),
      /disentangledScoresForward: out has 17 elements, needs 18/);
    assert.throws(() => K.disentangledScoresForward(c.q, c.k, c.kr, Int32Array.from(c.ci, () => c.P), null, c.pi, new Float32Array(18), 1, 3, 2, c.H, c.P),
      /disentangledScoresForward: c2pIndex value 5 at 0 outside \[0, 5\)/);
    assert.throws(() => K.disentangledScoresBackward(c.g, c.q, c.k, null, c.ci, null, c.pi, null, null, new Float32Array(c.P * c.H), null, 1, 3, 2, c.H, c.P),
      (e: unknown) => e instanceof TypeError && /dkr \/ dqr given without kr \/ qr/.test(String(e)));
  });

  it("disentangledScoresPacked forward/backward match the reference (mixed lengths, windowed and whole tables, c2p / p2c only, partial gradients)", () => {
    const rng = mulberry32(36);
    const cases: [number[], number, number, number, "shift" | "bucket" | "random"][] = [
      [[70, 1, 0, 33, 45, 5], 72, 3, 8, "shift"], [[40, 17, 3, 40], 45, 2, 5, "bucket"], [[12, 33], 33, 1, 6, "random"], [[1], 1, 2, 2, "shift"],
    ];
    for (const [lens, ld, heads, d, kind] of cases) {
      const c = packedDisCase(rng, lens, ld, heads, d, kind);
      for (const [withC, withP] of [[true, true], [true, false], [false, true], [false, false]] as const) {
        const want = runPackedDisentangled(R, c, withC, withP);
        const got = runPackedDisentangled(K, c, withC, withP);
        const what = `disentangledScoresPacked ${kind} lens ${lens.join("/")} c2p=${withC} p2c=${withP}`;
        assertClose(got.out, want.out, `${what} forward`, 1e-5, 1e-5);
        for (const key of ["dq", "dk", "dkr", "dqr"] as const) {
          if (want[key]) assertClose(got[key]!, want[key]!, `${what} ${key}`, 1e-5, 1e-5);
        }
      }
      const full = runPackedDisentangled(K, c, true, true);
      for (const grads of [{ q: true, k: false, kr: false, qr: false }, { q: false, k: false, kr: true, qr: false }, { q: false, k: true, kr: false, qr: true }]) {
        const part = runPackedDisentangled(K, c, true, true, grads);
        for (const key of ["q", "k", "kr", "qr"] as const) {
          const dk = `d${key}` as "dq" | "dk" | "dkr" | "dqr";
          if (grads[key]) assert.deepEqual(part[dk], full[dk], `partial gradients ${JSON.stringify(grads)} ${dk}`);
          else assert.equal(part[dk], null);
        }
      }
    }
    // equal lengths: exactly the padded kernels
    const p = disCase(rng, 3, 37, 2, 4, "bucket");
    const padded = runDisentangled(K, p, true, true);
    const asPacked = runPackedDisentangled(K, { ...p, lens: Int32Array.from([37, 37, 37]), ld: 37, rows: 3 * 37, blockTotal: 3 * 2 * 37 * 37 }, true, true);
    for (const key of ["out", "dq", "dk", "dkr", "dqr"] as const) assert.deepEqual(asPacked[key], padded[key], `equal lengths: ${key}`);
    // no sequences: zero relative gradients
    const z = runPackedDisentangled(K, packedDisCase(rng, [], 4, 2, 2, "shift"), true, true);
    assert.ok(z.dkr!.every((v) => v === 0) && z.dqr!.every((v) => v === 0));
    const bad = packedDisCase(rng, [2, 5], 4, 1, 2, "shift");
    assert.throws(() => runPackedDisentangled(K, bad, true, true),
      (e: unknown) => e instanceof RangeError && /disentangledScoresPackedForward: lens value 5 at 1 outside \[0, 4\]/.test(String(e)));
    const c = packedDisCase(rng, [2, 3], 4, 1, 2, "shift");
    assert.throws(() => K.disentangledScoresPackedForward(c.q, c.k, c.kr, c.ci, null, c.pi, new Float32Array(c.blockTotal - 1), c.lens, 4, 1, c.H, c.P),
      /disentangledScoresPackedForward: out has 12 elements, needs 13/);
    assert.throws(() => K.disentangledScoresPackedBackward(c.g, c.q.subarray(1), c.k, c.kr, c.ci, null, c.pi, null, null, null, null, c.lens, 4, 1, c.H, c.P),
      /disentangledScoresPackedBackward: q has 9 elements, needs 10/);
  });

  it("throws a TypeError naming the kernel on misuse, RangeError on short arrays", () => {
    assert.throws(() => (K.add as unknown as (...a: unknown[]) => void)(new Float32Array(2)), (e: unknown) => e instanceof TypeError && /add/.test(String(e)));
    assert.throws(() => K.scale(new Float64Array(4) as unknown as Float32Array, 1, new Float32Array(4), 4), (e: unknown) => e instanceof TypeError && /scale: x/.test(String(e)));
    assert.throws(() => K.embeddingForward(new Float32Array(4), new Float32Array(1) as unknown as Int32Array, new Float32Array(4), 1, 4), (e: unknown) => e instanceof TypeError && /embeddingForward: ids/.test(String(e)));
    assert.throws(() => K.sgemm("no" as unknown as boolean, false, 1, 1, 1, 1, new Float32Array(1), 0, 1, new Float32Array(1), 0, 1, 0, new Float32Array(1), 0, 1), (e: unknown) => e instanceof TypeError && /sgemm: transA/.test(String(e)));
    assert.throws(() => K.geluForward(new Float32Array(3), new Float32Array(4), 4, false), (e: unknown) => e instanceof RangeError && /geluForward: x/.test(String(e)));
    assert.throws(() => K.sgemm(false, false, 2, 2, 2, 1, new Float32Array(4), 1, 2, new Float32Array(4), 0, 2, 0, new Float32Array(4), 0, 2), (e: unknown) => e instanceof RangeError && /sgemm: a/.test(String(e)));
    assert.throws(() => K.sgemm(false, false, 2, 2, 2, 1, new Float32Array(4), 0, 1, new Float32Array(4), 0, 2, 0, new Float32Array(4), 0, 2), /leading dimension/);
    assert.throws(() => K.softmaxForward(new Float32Array(4), new Float32Array(4), 2, 2, 1, new Float32Array(2), 1), /softmaxForward: mask/);
    assert.throws(() => K.add(new Float32Array(2), new Float32Array(2), new Float32Array(2), -1), /add: n/);
  });
});

// ---------------------------------------------------------------------------------------------
// backend selection (index.ts), in child processes so the environment can vary

describe("kernel selection", () => {
  const probe = (env: Record<string, string>) => {
    const code = 'const m = await import("./src/engine/kernels/index.ts"); console.log(m.kernels.backend + "|" + m.kernelsInfo());';
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      cwd: new URL("..", import.meta.url).pathname, env: { ...process.env, ...env }, encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    return { out: r.stdout.trim(), err: r.stderr };
  };

  it("falls back to TypeScript with exactly one warning line when the addon cannot load", () => {
    const { out, err } = probe({ MD2PR_NATIVE_ADDON: "/nonexistent/md2pr_native.node", MD2PR_KERNELS: "" });
    assert.match(out, /^typescript\|typescript \(native unavailable: /);
    const lines = err.split("\n").filter((l) => l.length > 0);
    assert.equal(lines.length, 1, err);
    assert.match(lines[0]!, /^md2pr: native kernels unavailable \(.+\); using TypeScript kernels$/);
  });

  it("MD2PR_KERNELS=typescript selects the reference kernels silently", () => {
    const { out, err } = probe({ MD2PR_KERNELS: "typescript" });
    assert.equal(out, "typescript|typescript (MD2PR_KERNELS=typescript)");
    assert.equal(err, "");
  });

  it("selects the native kernels when the addon loads", { skip: skipNative }, () => {
    const { out, err } = probe({ MD2PR_KERNELS: "" });
    assert.match(out, /^native\|native \(/);
    assert.equal(err, "");
  });
});
