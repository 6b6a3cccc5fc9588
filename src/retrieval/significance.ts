/**
 * Paired comparisons of two systems: a 95% confidence interval of the mean difference over seeds (Student's t),
 * and a paired randomization (sign-flip) test over queries (Smucker, Allan & Carterette, CIKM 2007: the
 * randomization test is the one to use for IR metrics).
 */
import { Rng } from "../engine/rng.ts";

/** Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (beyond: 1.96). */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export interface MeanInterval {
  mean: number;
  /** Sample standard deviation (n - 1). */
  std: number;
  low: number;
  high: number;
}

/** Mean, sample std and the 95% t interval of the mean (a single value: an interval of zero width). */
export function tInterval95(values: readonly number[]): MeanInterval {
  const n = values.length;
  if (n === 0) throw new Error("tInterval95: no values");
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, std: 0, low: mean, high: mean };
  const std = Math.sqrt(values.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const t = T975[n - 2] ?? 1.96;
  const half = (t * std) / Math.sqrt(n);
  return { mean, std, low: mean - half, high: mean + half };
}

/**
 * Two-sided paired randomization test: the p-value of the observed mean of per-query differences under random sign
 * flips (`permutations` draws, seeded; the observed assignment counts as one, so p >= 1 / (permutations + 1)).
 */
export function pairedRandomizationTest(differences: readonly number[], options: { permutations?: number; seed?: number } = {}): number {
  const n = differences.length;
  if (n === 0) throw new Error("pairedRandomizationTest: no differences");
  const permutations = options.permutations ?? 10000;
  const rng = new Rng(options.seed ?? 0);
  const observed = Math.abs(differences.reduce((a, b) => a + b, 0) / n);
  let atLeast = 1;
  for (let p = 0; p < permutations; p++) {
    let sum = 0;
    for (const d of differences) sum += rng.uniform() < 0.5 ? -d : d;
    if (Math.abs(sum / n) >= observed - 1e-12) atLeast++;
  }
  return atLeast / (permutations + 1);
}
