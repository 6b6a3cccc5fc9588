/** Finite-difference gradients and direct-formula forwards of the relative-position attention ops (DeBERTa). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Rng, Tensor, addRelativeScores, headScoresShared, noGrad, relativeGather, scaleRows } from "../../src/engine/index.ts";
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
  it("scaleRows", () => {
    gradcheck("scaleRows", [r(3, 4)], ([x]) => scaleRows(x!, Float32Array.from([1, 0, 0.5])));
  });
});
