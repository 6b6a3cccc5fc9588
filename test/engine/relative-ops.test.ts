/** Finite-difference gradients and direct-formula forwards of the relative-position attention ops (DeBERTa). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  Rng, Tensor, addRelativeScores, attentionScores, backward, disentangledScores, headScoresShared, mul, noGrad, packedDisentangledScores,
  relativeGather, scaleRows, sliceRows, sum,
} from "../../src/engine/index.ts";
import { makeAttentionPacking } from "../../src/engine/ops/packed.ts";
import { gradcheck, randomTensor } from "../helpers/gradcheck.ts";

const rng = new Rng(99);
const r = (...shape: number[]): Tensor => randomTensor(rng, shape);

describe("relative-position ops", () => {
  it("headScoresShared: S[b,h,t,p] = sum_d X[b*T+t, h*dh+d] R[p, h*dh+d], and its gradients", () => {
    const batch = 2, seq = 3, heads = 2, hidden = 4, P = 5;
    const x = r(batch * seq, hidden);
    const rr = r(P, hidden);
    const s = noGrad(() => headScoresShared(x, rr, batch, seq, heads));
    assert.deepEqual(s.shape, [batch, heads, seq, P]);
    const dh = hidden / heads;
    for (let b = 0; b < batch; b++) for (let h = 0; h < heads; h++) for (let t = 0; t < seq; t++) for (let p = 0; p < P; p++) {
      let e = 0;
      for (let d = 0; d < dh; d++) e += x.data[(b * seq + t) * hidden + h * dh + d]! * rr.data[p * hidden + h * dh + d]!;
      assert.ok(Math.abs(s.data[((b * heads + h) * seq + t) * P + p]! - e) < 1e-5);
    }
    gradcheck("headScoresShared", [x, rr], ([a, b]) => headScoresShared(a!, b!, batch, seq, heads), { eps: 1e-3 });
  });
  it("relativeGather (c2p and transposed p2c) picks the indexed elements and scatters gradients back", () => {
    const n = 3, seq = 4, P = 6;
    const index = Int32Array.from({ length: seq * seq }, (_, e) => (e * 7 + 1) % P);
    const full = r(n, seq, P);
    for (const transposed of [false, true]) {
      const out = noGrad(() => relativeGather(full, index, seq, transposed));
      for (let m = 0; m < n; m++) for (let i = 0; i < seq; i++) for (let j = 0; j < seq; j++) {
        const want = transposed ? full.data[(m * seq + j) * P + index[j * seq + i]!]! : full.data[(m * seq + i) * P + index[i * seq + j]!]!;
        assert.equal(out.data[(m * seq + i) * seq + j], want);
      }
      gradcheck(`relativeGather transposed=${transposed}`, [full], ([f]) => relativeGather(f!, index, seq, transposed));
    }
    assert.throws(() => relativeGather(full, Int32Array.from(index, () => P), seq, false), /outside \[0, 6\)/);
  });
  it("addRelativeScores = scores + c2p gather + transposed p2c gather, with gradients to all three", () => {
    const n = 2, seq = 3, P = 5;
    const ci = Int32Array.from({ length: seq * seq }, (_, e) => (e * 3 + 2) % P);
    const pi = Int32Array.from({ length: seq * seq }, (_, e) => (e * 2 + 1) % P);
    const [s, c, p] = [r(n, seq, seq), r(n, seq, P), r(n, seq, P)];
    const out = noGrad(() => addRelativeScores(s, c, ci, p, pi, seq));
    const sum = noGrad(() => [s.data, relativeGather(c, ci, seq, false).data, relativeGather(p, pi, seq, true).data]);
    for (let e = 0; e < out.size; e++) assert.ok(Math.abs(out.data[e]! - (sum[0]![e]! + sum[1]![e]! + sum[2]![e]!)) < 1e-6);
    gradcheck("addRelativeScores", [s, c, p], ([a, b, d]) => addRelativeScores(a!, b!, ci, d!, pi, seq));
    gradcheck("addRelativeScores c2p only", [s, c], ([a, b]) => addRelativeScores(a!, b!, ci, null, pi, seq));
  });
  it("disentangledScores = attentionScores + the c2p / p2c gathers of headScoresShared, forward and gradients", () => {
    // seq 40 > the kernels' 32-row windows: the windowed tables; unbucketed indices as DeBERTa's (P = 2 seq - 1)
    for (const [batch, seq, heads, hidden] of [[3, 5, 2, 6], [2, 40, 2, 8]] as const) {
      const P = 2 * seq - 1;
      const ci = Int32Array.from({ length: seq * seq }, (_, e) => Math.floor(e / seq) - (e % seq) + seq - 1);
      const pi = Int32Array.from({ length: seq * seq }, (_, e) => (e % seq) - Math.floor(e / seq) + seq - 1);
      const [q, k, kr, qr] = [r(batch * seq, hidden), r(batch * seq, hidden), r(P, hidden), r(P, hidden)];
      const weights = r(batch, heads, seq, seq);
      for (const [withC, withP] of [[true, true], [true, false], [false, true]] as const) {
        const what = `batch ${batch} seq ${seq} c2p=${withC} p2c=${withP}`;
        const run = (fused: boolean): Float32Array[] => {
          for (const t of [q, k, kr, qr]) t.grad = null;
          const out = fused
            ? disentangledScores(q, k, withC ? kr : null, ci, withP ? qr : null, pi, batch, seq, heads)
            : addRelativeScores(attentionScores(q, k, batch, seq, heads), withC ? headScoresShared(q, kr, batch, seq, heads) : null, ci,
              withP ? headScoresShared(k, qr, batch, seq, heads) : null, pi, seq);
          assert.deepEqual(out.shape, [batch, heads, seq, seq]);
          const data = out.data.slice();
          backward(sum(mul(out, weights)));
          return [data, q.grad!, k.grad!, ...(withC ? [kr.grad!] : []), ...(withP ? [qr.grad!] : [])];
        };
        const [want, got] = [run(false), run(true)];
        want.forEach((w, i) => {
          for (let e = 0; e < w.length; e++) {
            assert.ok(Math.abs(got[i]![e]! - w[e]!) <= 1e-5 * Math.max(1, Math.abs(w[e]!)), `${what}: output ${i} element ${e}: ${got[i]![e]} vs ${w[e]}`);
          }
        });
      }
      if (seq < 10) {
        gradcheck("disentangledScores", [q, k, kr, qr], ([a, b, c, d]) => disentangledScores(a!, b!, c!, ci, d!, pi, batch, seq, heads), { eps: 1e-3 });
      }
    }
  });
  it("packedDisentangledScores = disentangledScores of each sequence alone (its length's index table), forward and gradients", () => {
    const heads = 2, hidden = 8, ld = 40;
    const lens = [40, 1, 7, 33];
    const P = 2 * ld - 1;
    const shift = (T: number, sign: number): Int32Array =>
      Int32Array.from({ length: T * T }, (_, e) => sign * (Math.floor(e / T) - (e % T)) + ld - 1);
    const pack = makeAttentionPacking(Int32Array.from(lens), heads, hidden);
    const [q, k, kr, qr] = [r(pack.rows, hidden), r(pack.rows, hidden), r(P, hidden), r(P, hidden)];
    const weights = r(pack.blockTotal);
    for (const t of [q, k, kr, qr]) t.grad = null;
    const out = packedDisentangledScores(q, k, kr, shift(ld, 1), qr, shift(ld, -1), ld, pack);
    assert.deepEqual(out.shape, [pack.blockTotal]);
    backward(sum(mul(out, weights)));
    const got = [q.grad!.slice(), k.grad!.slice(), kr.grad!.slice(), qr.grad!.slice()];
    // each sequence alone through the padded op (batch 1, its own length's tables: the same values i - j + ld - 1)
    for (const t of [q, k, kr, qr]) t.grad = null;
    lens.forEach((L, b) => {
      const s0 = pack.starts[b]!;
      const one = disentangledScores(sliceRows(q, s0, s0 + L), sliceRows(k, s0, s0 + L), kr, shift(L, 1), qr, shift(L, -1), 1, L, heads);
      const o = pack.blockStarts[b]!;
      for (let e = 0; e < one.size; e++) assert.ok(Math.abs(one.data[e]! - out.data[o + e]!) <= 1e-5, `sequence ${b} element ${e}`);
      backward(sum(mul(one, new Tensor(weights.data.slice(o, o + one.size), one.shape))));
    });
    [q, k, kr, qr].forEach((t, i) => {
      for (let e = 0; e < t.size; e++) assert.ok(Math.abs(t.grad![e]! - got[i]![e]!) <= 1e-5 * Math.max(1, Math.abs(got[i]![e]!)), `gradient ${i} element ${e}`);
    });
    const small = makeAttentionPacking(Int32Array.from([3, 1, 2]), 2, 4);
    const sci = shift(3, 1).map((v) => v - ld + 3), spi = shift(3, -1).map((v) => v - ld + 3);
    gradcheck("packedDisentangledScores", [r(6, 4), r(6, 4), r(5, 4), r(5, 4)],
      ([a, b, c, d]) => packedDisentangledScores(a!, b!, c!, sci, d!, spi, 3, small), { eps: 1e-3 });
  });
  it("scaleRows", () => {
    gradcheck("scaleRows", [r(3, 4)], ([x]) => scaleRows(x!, Float32Array.from([1, 0, 0.5])));
  });
});
