import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DynamicFalseNegativeFilter, contrastiveKeepMask, quantile } from "../../src/training/false-negatives.ts";

describe("dynamic false-negative filter", () => {
  it("starts with the seed's rule: masks negatives the ranker scores above the positive", () => {
    const f = new DynamicFalseNegativeFilter({ enabled: true, rho: 0.1, updateEvery: 100, thetaMin: 0, calibrateFirstWindow: false });
    // query 0: positive 1.0, negatives 2.0 (above: masked), 0.5 (kept); query 1: positive 3, negatives 3 (gap 0: kept), 4 (masked)
    const d = f.step(Float32Array.from([1, 2, 0.5, 3, 3, 4]), 2, 3);
    assert.deepEqual(Array.from(d.keepOwn), [1, 0, 1, 1, 1, 0]);
    assert.equal(d.maskedFraction, 0.5);
  });
  it("updates theta every K steps to the (1 - rho) quantile of the window, floored at thetaMin", () => {
    const f = new DynamicFalseNegativeFilter({ enabled: true, rho: 0.25, updateEvery: 2, thetaMin: 0, calibrateFirstWindow: false });
    f.step(Float32Array.from([0, 1, 2]), 1, 3); // gaps 1, 2
    f.step(Float32Array.from([0, 3, 4]), 1, 3); // gaps 3, 4 -> window [1,2,3,4], 0.75 quantile = 3.25
    assert.ok(Math.abs(f.state.theta - 3.25) < 1e-12);
    const d = f.step(Float32Array.from([0, 3, 4]), 1, 3);
    assert.deepEqual(Array.from(d.keepOwn), [1, 1, 0]);
    const g = new DynamicFalseNegativeFilter({ enabled: true, rho: 0.5, updateEvery: 1, thetaMin: 0, calibrateFirstWindow: false });
    g.step(Float32Array.from([0, -5, -3]), 1, 3);
    assert.equal(g.state.theta, 0, "negative quantile is floored at thetaMin");
  });
  it("with calibrateFirstWindow, bounds the masked fraction by rho from the first step", () => {
    const f = new DynamicFalseNegativeFilter({ enabled: true, rho: 0.25, updateEvery: 3, thetaMin: 0, calibrateFirstWindow: true });
    // gaps 1..8 (all above the positive): the seed's rule would mask all 8; the 0.75 quantile 6.25 masks 7 and 8
    const d = f.step(Float32Array.from([0, 1, 2, 3, 4, 0, 5, 6, 7, 8]), 2, 5);
    assert.deepEqual(Array.from(d.keepOwn), [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    assert.ok(Math.abs(d.theta - 6.25) < 1e-12);
    // second step: window [1..8, -4..-1] (12 gaps), 0.75 quantile = 5.25 -> nothing masked among -4..-1
    const e = f.step(Float32Array.from([0, -1, -2, -3, -4]), 1, 5);
    assert.ok(Math.abs(e.theta - 5.25) < 1e-12);
    assert.equal(e.maskedFraction, 0);
    // a quantile below thetaMin is floored
    const g = new DynamicFalseNegativeFilter({ enabled: true, rho: 0.25, updateEvery: 3, thetaMin: 0, calibrateFirstWindow: true });
    assert.equal(g.step(Float32Array.from([0, -3, -2, -1]), 1, 4).theta, 0);
    // a state from a checkpoint written before the option existed (no `updated`) resumes with the old rule
    const old = new DynamicFalseNegativeFilter({ enabled: true, rho: 0.25, updateEvery: 3, thetaMin: 0, calibrateFirstWindow: true });
    old.state = { theta: 0, stepsSinceUpdate: 1, window: [] };
    assert.equal(old.step(Float32Array.from([0, 1, 2, 3, 4]), 1, 5).maskedFraction, 1);
  });
  it("masks nothing when disabled but still reports theta", () => {
    const f = new DynamicFalseNegativeFilter({ enabled: false, rho: 0.1, updateEvery: 10, thetaMin: 0, calibrateFirstWindow: false });
    const d = f.step(Float32Array.from([0, 5, 6]), 1, 3);
    assert.deepEqual(Array.from(d.keepOwn), [1, 1, 1]);
    assert.equal(d.maskedFraction, 0);
  });
  it("expands to the contrastive mask without touching in-batch negatives", () => {
    const keep = contrastiveKeepMask(Uint8Array.from([1, 0, 1, 1]), 2, 2);
    assert.deepEqual(Array.from(keep), [1, 0, 1, 1, 1, 1, 1, 1]);
  });
  it("quantile interpolates like numpy", () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(quantile([5], 0.9), 5);
  });
});

describe("other false-negative strategies (ablation)", () => {
  // two queries x [d+, 3 negatives]
  const scores = Float32Array.from([10, 9.8, 5, 11, /* q2 */ -4, -3.9, -4.1, -8]);
  const base = { enabled: true, rho: 0.25, updateEvery: 1, thetaMin: 0, calibrateFirstWindow: true };
  it("margin: masks a negative scoring above s+ - m|s+| (no quantile, no state)", () => {
    const f = new DynamicFalseNegativeFilter({ ...base, strategy: "margin", relativeMargin: 0.05 });
    // q1: threshold 10 - 0.5 = 9.5 -> 9.8 and 11 masked; q2: -4 - 0.2 = -4.2 -> -3.9 and -4.1 masked
    const d = f.step(scores, 2, 4);
    assert.deepEqual([...d.keepOwn], [1, 0, 1, 0, 1, 0, 0, 1]);
    assert.equal(d.maskedFraction, 4 / 6);
    assert.deepEqual([...f.step(scores, 2, 4).keepOwn], [...d.keepOwn]);
  });
  it("static: one threshold on the negative's own score, fixed after the first step", () => {
    const fixed = new DynamicFalseNegativeFilter({ ...base, strategy: "static", staticThreshold: 0 });
    assert.deepEqual([...fixed.step(scores, 2, 4).keepOwn], [1, 0, 0, 0, 1, 1, 1, 1]);
    // calibrated: the 0.75 quantile of the first step's negatives [9.8, 5, 11, -3.9, -4.1, -8] = 8.6 (numpy linear)
    const cal = new DynamicFalseNegativeFilter({ ...base, strategy: "static", staticThreshold: null });
    const first = cal.step(scores, 2, 4);
    assert.ok(Math.abs(first.theta - 8.6) < 1e-5, `${first.theta}`);
    assert.deepEqual([...first.keepOwn], [1, 0, 1, 0, 1, 1, 1, 1]);
    // a later step with other scores keeps the first threshold
    const later = cal.step(Float32Array.from([0, 8.7, 8.5, 1, 0, 0, 0, 0]), 2, 4);
    assert.ok(Math.abs(later.theta - 8.6) < 1e-5);
    assert.deepEqual([...later.keepOwn], [1, 0, 1, 1, 1, 1, 1, 1]);
  });
});
