/**
 * Finite-difference gradient check: for f(inputs) -> Tensor, compares d/dx sum(f * R) (R fixed random) computed
 * by the tape against central differences, element by element (a sample of elements for large inputs).
 */
import assert from "node:assert/strict";
import { Rng, Tensor, backward, mul, noGrad, sum } from "../../src/engine/index.ts";

export function randomTensor(rng: Rng, shape: number[], scale = 1, requiresGrad = true): Tensor {
  const t = Tensor.zeros(shape, requiresGrad);
  for (let i = 0; i < t.size; i++) t.data[i] = rng.normal() * scale;
  return t;
}

export interface GradcheckOptions {
  eps?: number;
  /** Allowed |analytic - numeric| / max(1, |analytic|, |numeric|)... see tolerance below. */
  tolerance?: number;
  maxElements?: number;
  seed?: number;
}

export function gradcheck(name: string, inputs: Tensor[], f: (xs: Tensor[]) => Tensor, options: GradcheckOptions = {}): void {
  const eps = options.eps ?? 1e-2;
  const tol = options.tolerance ?? 2e-2;
  const rng = new Rng(options.seed ?? 7);
  const probe = noGrad(() => f(inputs));
  const weights = randomTensor(rng, [...probe.shape], 1, false);
  const objective = (): number => noGrad(() => {
    const out = f(inputs);
    let s = 0;
    for (let i = 0; i < out.size; i++) s += out.data[i]! * weights.data[i]!;
    return s;
  });
  for (const x of inputs) x.grad = null;
  backward(sum(mul(f(inputs), weights)));
  inputs.forEach((x, xi) => {
    if (!x.requiresGrad) return;
    const analytic = x.grad ?? new Float32Array(x.size);
    const count = Math.min(x.size, options.maxElements ?? 64);
    for (let c = 0; c < count; c++) {
      const i = x.size <= count ? c : rng.int(x.size);
      const orig = x.data[i]!;
      x.data[i] = orig + eps;
      const plus = objective();
      x.data[i] = orig - eps;
      const minus = objective();
      x.data[i] = orig;
      const numeric = (plus - minus) / (2 * eps);
      const a = analytic[i]!;
      const err = Math.abs(a - numeric) / Math.max(1, Math.abs(a), Math.abs(numeric));
      assert.ok(err <= tol, `${name}: input ${xi} element ${i}: analytic ${a} vs numeric ${numeric} (err ${err.toExponential(2)})`);
    }
  });
}
