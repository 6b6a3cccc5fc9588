/**
 * Dynamic false-negative filter (docs/method.md): a hard negative d of query q is masked out of the contrastive loss
 * when the ranker scores it far above the positive:
 *
 *   mask d  iff  s_C(q, d) - s_C(q, d+) > theta_t
 *
 * theta_t is recomputed every `updateEvery` steps as the (1 - rho) quantile of the gaps s_C(q, d-) - s_C(q, d+)
 * seen since the last update, floored at thetaMin (default 0: the seed's rule, "never a negative the ranker
 * prefers to the positive"). So the filter follows the ranker's calibration and removes at most about rho of the
 * negatives. Before the first update theta is, with `calibrateFirstWindow` (default), the same quantile of the gaps
 * seen so far (this step's included), so the rho bound holds from the first step; without it theta starts at
 * thetaMin (a BM25-like teacher then masks a third of the hard negatives for the first K steps, measured on
 * SciFact). Only each query's own hard negatives are scored by the ranker; in-batch negatives of other queries are
 * never masked. Switch it off with enabled = false (ablations).
 *
 * Two other strategies stand beside it for the ablation (the seed's open question on false negatives):
 * - "static" (RocketQA's denoising): mask d iff s_C(q, d) > tau, one fixed threshold on the ranker's score of the
 *   negative alone; tau = `staticThreshold`, or, when that is null, the (1 - rho) quantile of the negatives' scores
 *   in the first step, then never updated;
 * - "margin" (the relative margin of sentence-transformers' hard-negative miner): mask d iff
 *   s_C(q, d) > s_C(q, d+) - m * |s_C(q, d+)|, m = `relativeMargin` (0.05: a negative must score at most 95% of the
 *   positive's score), no quantiles.
 */
export type FalseNegativeStrategy = "dynamic" | "static" | "margin";

export const FALSE_NEGATIVE_STRATEGIES: readonly FalseNegativeStrategy[] = ["dynamic", "static", "margin"];

export interface FalseNegativeFilterOptions {
  enabled: boolean;
  /** Upper bound on the fraction of negatives masked (default 0.1). */
  rho: number;
  /** Steps between threshold updates, K (default 50). */
  updateEvery: number;
  /** Floor of the threshold (default 0). */
  thetaMin: number;
  /** Before the first update, theta is the (1 - rho) quantile of the gaps seen so far (default true); else thetaMin. */
  calibrateFirstWindow: boolean;
  /** Which rule masks (default "dynamic", the method's filter). */
  strategy?: FalseNegativeStrategy;
  /** "static": the fixed threshold on the ranker's score (null: calibrated on the first step, then fixed). */
  staticThreshold?: number | null;
  /** "margin": the relative margin m (default 0.05). */
  relativeMargin?: number;
}

export const DEFAULT_FALSE_NEGATIVE_FILTER: FalseNegativeFilterOptions = {
  enabled: true,
  rho: 0.1,
  updateEvery: 50,
  thetaMin: 0,
  calibrateFirstWindow: true,
  strategy: "dynamic",
  staticThreshold: null,
  relativeMargin: 0.05,
};

export interface FilterState {
  theta: number;
  stepsSinceUpdate: number;
  window: number[];
  /**
   * Whether theta has had its first update. Absent in checkpoints written before calibrateFirstWindow existed: those
   * resume with the old rule (no calibration), as they were trained.
   */
  updated?: boolean;
}

export interface FilterDecision {
  /** [B * (n+1)] 1 = keep, 0 = masked, over each query's own candidates (positive first, never masked). */
  keepOwn: Uint8Array;
  maskedFraction: number;
  theta: number;
}

export class DynamicFalseNegativeFilter {
  state: FilterState;

  constructor(readonly options: FalseNegativeFilterOptions = DEFAULT_FALSE_NEGATIVE_FILTER) {
    if (!(options.rho >= 0 && options.rho <= 1)) throw new Error(`false-negative filter: rho must be in [0, 1], got ${options.rho}`);
    if (!(options.updateEvery >= 1)) throw new Error(`false-negative filter: updateEvery must be >= 1, got ${options.updateEvery}`);
    this.state = { theta: options.thetaMin, stepsSinceUpdate: 0, window: [], updated: false };
  }

  /**
   * Decides the mask for one step from the teacher's scores [B, groupSize] (positive in column 0), then records
   * the gaps and updates theta every K steps.
   */
  step(teacherScores: Float32Array, batch: number, groupSize: number): FilterDecision {
    const strategy = this.options.strategy ?? "dynamic";
    if (strategy !== "dynamic") return this.fixedRuleStep(strategy, teacherScores, batch, groupSize);
    const keepOwn = new Uint8Array(batch * groupSize).fill(1);
    let masked = 0;
    const negatives = batch * (groupSize - 1);
    const gapOf = (i: number, j: number): number => teacherScores[i * groupSize + j]! - teacherScores[i * groupSize]!;
    for (let i = 0; i < batch; i++) for (let j = 1; j < groupSize; j++) this.state.window.push(gapOf(i, j));
    if (this.options.calibrateFirstWindow && this.state.updated === false) this.state.theta = this.windowTheta();
    for (let i = 0; i < batch; i++) {
      for (let j = 1; j < groupSize; j++) {
        const gap = gapOf(i, j);
        if (this.options.enabled && gap > this.state.theta) {
          keepOwn[i * groupSize + j] = 0;
          masked++;
        }
      }
    }
    const decision = { keepOwn, maskedFraction: negatives > 0 ? masked / negatives : 0, theta: this.state.theta };
    this.state.stepsSinceUpdate += 1;
    if (this.state.stepsSinceUpdate >= this.options.updateEvery) {
      this.state.theta = this.windowTheta();
      this.state.window = [];
      this.state.stepsSinceUpdate = 0;
      this.state.updated = true;
    }
    return decision;
  }

  /**
   * The "static" and "margin" rules: no window, no updates (theta reports the static threshold, or the margin rule's
   * mean threshold gap m * |s(d+)| for the log).
   */
  private fixedRuleStep(strategy: "static" | "margin", teacherScores: Float32Array, batch: number, groupSize: number): FilterDecision {
    const keepOwn = new Uint8Array(batch * groupSize).fill(1);
    const negatives = batch * (groupSize - 1);
    const score = (i: number, j: number): number => teacherScores[i * groupSize + j]!;
    if (strategy === "static" && this.state.updated === false) {
      const firstScores: number[] = [];
      for (let i = 0; i < batch; i++) for (let j = 1; j < groupSize; j++) firstScores.push(score(i, j));
      this.state.theta = this.options.staticThreshold ?? quantile(firstScores, 1 - this.options.rho);
      this.state.updated = true;
    }
    const margin = this.options.relativeMargin ?? 0.05;
    let masked = 0;
    let meanGap = 0;
    for (let i = 0; i < batch; i++) {
      const positive = score(i, 0);
      const gap = margin * Math.abs(positive);
      meanGap += gap / batch;
      for (let j = 1; j < groupSize; j++) {
        const drop = strategy === "static" ? score(i, j) > this.state.theta : score(i, j) > positive - gap;
        if (this.options.enabled && drop) {
          keepOwn[i * groupSize + j] = 0;
          masked++;
        }
      }
    }
    if (strategy === "margin") this.state.theta = meanGap;
    return { keepOwn, maskedFraction: negatives > 0 ? masked / negatives : 0, theta: this.state.theta };
  }

  /** The (1 - rho) quantile of the gaps in the window, floored at thetaMin. */
  private windowTheta(): number {
    return Math.max(this.options.thetaMin, quantile(this.state.window, 1 - this.options.rho));
  }
}

/** The q-quantile (linear interpolation, as numpy's default) of values; -Infinity for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return -Infinity;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Expands the own-candidate mask to the [B, B*(n+1)] contrastive mask: query i keeps every passage of other
 * queries (in-batch negatives) and its own candidates as decided.
 */
export function contrastiveKeepMask(keepOwn: Uint8Array, batch: number, groupSize: number): Uint8Array {
  const cols = batch * groupSize;
  const keep = new Uint8Array(batch * cols).fill(1);
  for (let i = 0; i < batch; i++) {
    for (let j = 0; j < groupSize; j++) keep[i * cols + i * groupSize + j] = keepOwn[i * groupSize + j]!;
  }
  return keep;
}
