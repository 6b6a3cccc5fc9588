/** Finite-difference gradient checks for every engine op, plus forward checks against direct formulas. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  Rng, Tensor, add, addBias, attentionContext, attentionScores, backward, concatRows, crossEntropy, dropout,
  embedding, gatherRows, gelu, klDivergence, l2NormalizeRows, layerNorm, linear, logSoftmax, maskedFill,
  maskedMeanRows, matmul, mean, mse, mul, noGrad, nllLoss, reshape, scale, sliceRows, softmax, sum, tanh,
  transpose, weightedSum,
} from "../../src/engine/index.ts";
import { gradcheck, randomTensor } from "../helpers/gradcheck.ts";

const rng = new Rng(1234);
const r = (...shape: number[]): Tensor => randomTensor(rng, shape);

describe("engine ops: finite-difference gradients", () => {
  it("matmul in all four transpose combinations", () => {
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const a = ta ? r(4, 3) : r(3, 4);
      const b = tb ? r(5, 4) : r(4, 5);
      gradcheck(`matmul ta=${ta} tb=${tb}`, [a, b], ([x, y]) => matmul(x!, y!, ta, tb));
    }
  });
  it("linear with and without bias", () => {
    gradcheck("linear", [r(5, 4), r(3, 4), r(3)], ([x, w, b]) => linear(x!, w!, b!));
    gradcheck("linear no bias", [r(5, 4), r(3, 4)], ([x, w]) => linear(x!, w!, null));
  });
  it("attention scores and context on head slices", () => {
    const batch = 2, seq = 3, heads = 2, hidden = 4;
    gradcheck("attentionScores", [r(batch * seq, hidden), r(batch * seq, hidden)], ([q, k]) => attentionScores(q!, k!, batch, seq, heads));
    gradcheck("attentionContext", [r(batch, heads, seq, seq), r(batch * seq, hidden)], ([p, v]) => attentionContext(p!, v!, batch, seq, heads));
  });
  it("elementwise: add, addBias, scale, mul, weightedSum, gelu (both forms), tanh", () => {
    gradcheck("add", [r(3, 4), r(3, 4)], ([a, b]) => add(a!, b!));
    gradcheck("addBias", [r(3, 4), r(4)], ([a, b]) => addBias(a!, b!));
    gradcheck("scale", [r(3, 4)], ([a]) => scale(a!, -1.7));
    gradcheck("mul", [r(3, 4), r(3, 4)], ([a, b]) => mul(a!, b!));
    gradcheck("weightedSum", [r(1), r(1)], ([a, b]) => weightedSum([a!, b!], [0.3, 2]));
    gradcheck("gelu erf", [r(3, 5)], ([a]) => gelu(a!, false), { eps: 1e-3 });
    gradcheck("gelu tanh", [r(3, 5)], ([a]) => gelu(a!, true), { eps: 1e-3 });
    gradcheck("tanh", [r(3, 5)], ([a]) => tanh(a!), { eps: 1e-3 });
  });
  it("softmax (scaled, masked), log-softmax, layer norm", () => {
    const mask = Float32Array.from([0, 0, -1e9, 0, 0, 0, 0, -1e9]);
    gradcheck("softmax masked", [r(2, 2, 4)], ([x]) => softmax(x!, 0.5, mask, 2), { eps: 1e-3 });
    gradcheck("logSoftmax", [r(3, 5)], ([x]) => logSoftmax(x!), { eps: 1e-3 });
    gradcheck("layerNorm", [r(4, 6), r(6), r(6)], ([x, g, b]) => layerNorm(x!, g!, b!, 1e-5), { eps: 1e-3 });
  });
  it("dropout (fixed seed) is linear in x with the kept mask", () => {
    const seedFor = (): { nextUint32(): number } => ({ nextUint32: () => 99 });
    gradcheck("dropout", [r(4, 8)], ([x]) => dropout(x!, 0.25, true, seedFor()));
  });
  it("indexing: embedding, gatherRows, reshape, concatRows, sliceRows, transpose, maskedFill", () => {
    const ids = Int32Array.from([2, 0, 2, 1]);
    gradcheck("embedding", [r(3, 4)], ([t]) => embedding(t!, ids));
    gradcheck("gatherRows", [r(3, 4)], ([t]) => gatherRows(t!, Int32Array.from([1, 1])));
    gradcheck("reshape", [r(3, 4)], ([t]) => reshape(t!, [2, 6]));
    gradcheck("concatRows", [r(2, 3), r(1, 3)], ([a, b]) => concatRows([a!, b!]));
    gradcheck("sliceRows", [r(4, 3)], ([a]) => sliceRows(a!, 1, 3));
    gradcheck("transpose", [r(2, 3)], ([a]) => transpose(a!));
    gradcheck("maskedFill", [r(2, 3)], ([a]) => maskedFill(a!, Uint8Array.from([1, 0, 1, 1, 1, 0]), -5));
  });
  it("reductions: sum, mean, masked mean rows, L2 normalisation", () => {
    gradcheck("sum", [r(2, 3)], ([a]) => sum(a!));
    gradcheck("mean", [r(2, 3)], ([a]) => mean(a!));
    gradcheck("maskedMeanRows", [r(6, 3)], ([a]) => maskedMeanRows(a!, Float32Array.from([1, 1, 0, 1, 0, 0]), 2));
    gradcheck("l2NormalizeRows", [r(3, 4)], ([a]) => l2NormalizeRows(a!), { eps: 1e-3 });
  });
  it("losses: nll, cross-entropy, KL (both arguments), MSE (weighted)", () => {
    const targets = Int32Array.from([0, 2, 1]);
    gradcheck("crossEntropy", [r(3, 4)], ([x]) => crossEntropy(x!, targets), { eps: 1e-3 });
    gradcheck("nllLoss", [r(3, 4)], ([x]) => nllLoss(x!, targets));
    gradcheck("klDivergence", [r(3, 4), r(3, 4)], ([p, q]) => klDivergence(logSoftmax(p!), logSoftmax(q!)), { eps: 1e-3 });
    gradcheck("mse", [r(3, 4), r(3, 4)], ([a, b]) => mse(a!, b!, Float32Array.from([1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1])));
  });
});

describe("engine ops: forward values", () => {
  it("matmul equals the textbook product", () => {
    const a = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = Tensor.from([7, 8, 9, 10, 11, 12], [3, 2]);
    assert.deepEqual(Array.from(matmul(a, b).data), [58, 64, 139, 154]);
  });
  it("softmax with a -inf-like mask puts zero probability on masked keys and rows sum to 1", () => {
    const x = r(2, 3, 4);
    const mask = Float32Array.from([0, 0, -3.4e38, -3.4e38, 0, 0, 0, -3.4e38]);
    const p = noGrad(() => softmax(x, 0.3, mask, 3));
    for (let row = 0; row < 6; row++) {
      const rowSum = p.data.slice(row * 4, row * 4 + 4).reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(rowSum - 1) < 1e-6);
    }
    assert.equal(p.data[2], 0);
    assert.equal(p.data[3], 0);
    assert.equal(p.data[3 * 4 + 3], 0);
  });
  it("cross-entropy of uniform logits is log(C)", () => {
    const loss = noGrad(() => crossEntropy(Tensor.zeros([2, 5]), Int32Array.from([1, 3])));
    assert.ok(Math.abs(loss.item() - Math.log(5)) < 1e-6);
  });
  it("KL of a distribution with itself is 0", () => {
    const p = noGrad(() => logSoftmax(r(2, 4)));
    assert.ok(Math.abs(noGrad(() => klDivergence(p, p)).item()) < 1e-7);
  });
  it("backward accumulates into leaves used twice", () => {
    const x = Tensor.from([1, 2, 3], [3], true);
    backward(sum(add(x, x)));
    assert.deepEqual(Array.from(x.grad!), [2, 2, 2]);
  });
  it("shape mismatch errors name the op and both shapes", () => {
    assert.throws(() => add(Tensor.zeros([2, 3]), Tensor.zeros([3, 2])), /add: shape mismatch: \[2, 3\] vs \[3, 2\]/);
    assert.throws(() => matmul(Tensor.zeros([2, 3]), Tensor.zeros([2, 3])), /matmul: inner sizes differ/);
  });
});
