/**
 * Deterministic batch sampling: item i of the stream (i = micro * batchSize + b) is example perm_e[i mod N] of
 * epoch e = floor(i / N), where perm_e is a seeded shuffle. The position in the data is therefore a function of
 * the micro-batch counter alone, which is what makes resume exact.
 */
import { Rng } from "../engine/rng.ts";

export class EpochSampler {
  private cachedEpoch = -1;
  private perm: number[] = [];

  constructor(readonly size: number, readonly seed: number) {
    if (size <= 0) throw new Error("EpochSampler: no examples to sample from");
  }

  /** The example indices of micro-batch `micro` and the epoch of each. */
  batch(micro: number, batchSize: number): { index: number; epoch: number }[] {
    const out: { index: number; epoch: number }[] = [];
    for (let b = 0; b < batchSize; b++) {
      const i = micro * batchSize + b;
      const epoch = Math.floor(i / this.size);
      out.push({ index: this.permutation(epoch)[i % this.size]!, epoch });
    }
    return out;
  }

  private permutation(epoch: number): number[] {
    if (epoch !== this.cachedEpoch) {
      const rng = new Rng((this.seed * 1000003 + epoch) >>> 0);
      this.perm = rng.shuffle(Array.from({ length: this.size }, (_, i) => i));
      this.cachedEpoch = epoch;
    }
    return this.perm;
  }
}

/** A per-micro-batch RNG (for negative padding and similar choices) independent of the global stream. */
export function microRng(seed: number, micro: number): Rng {
  return new Rng((Math.imul(seed ^ 0x5bd1e995, 2654435761) + micro * 97 + 13) >>> 0);
}
