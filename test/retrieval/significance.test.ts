import { test } from "node:test";
import assert from "node:assert/strict";
import { pairedRandomizationTest, tInterval95 } from "../../src/retrieval/significance.ts";

test("tInterval95: hand computed (n 5, t 2.776)", () => {
  // values 1..5: mean 3, sample std sqrt(2.5) = 1.5811; half width 2.776 * 1.5811 / sqrt(5) = 1.9630
  const ci = tInterval95([1, 2, 3, 4, 5]);
  assert.equal(ci.mean, 3);
  assert.ok(Math.abs(ci.std - Math.sqrt(2.5)) < 1e-12);
  assert.ok(Math.abs(ci.low - (3 - 1.96299)) < 1e-4, `${ci.low}`);
  assert.ok(Math.abs(ci.high - (3 + 1.96299)) < 1e-4);
  assert.deepEqual(tInterval95([0.5]), { mean: 0.5, std: 0, low: 0.5, high: 0.5 });
  assert.throws(() => tInterval95([]), /no values/);
});

test("pairedRandomizationTest: exact for a tiny case, small for a consistent shift, large for noise", () => {
  // differences [1, 1]: the 4 sign patterns give |mean| 1, 0, 0, 1 -> p = 0.5 in the limit
  const p2 = pairedRandomizationTest([1, 1], { permutations: 20000, seed: 1 });
  assert.ok(Math.abs(p2 - 0.5) < 0.02, `${p2}`);
  const shift = Array.from({ length: 300 }, (_, i) => 0.05 + 0.01 * Math.sin(i));
  assert.ok(pairedRandomizationTest(shift, { permutations: 2000 }) < 0.001);
  const noise = Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? 0.1 : -0.1));
  assert.ok(pairedRandomizationTest(noise, { permutations: 2000 }) > 0.5);
  // seeded: the same p twice
  assert.equal(pairedRandomizationTest(shift.map((x, i) => (i % 3 ? x : -x)), { seed: 3, permutations: 500 }),
    pairedRandomizationTest(shift.map((x, i) => (i % 3 ? x : -x)), { seed: 3, permutations: 500 }));
});
