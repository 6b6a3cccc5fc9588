/**
 * Choosing a fusion on the dev split (never on test): every fusion of a grid (RRF and the convex combination of
 * min-max or z-score normalized scores, at several weights) is applied query by query to two dev runs, and the
 * one with the best dev nDCG@10 (ties: the first in grid order) is kept. Used for the hybrid first stage (BM25 +
 * dense) and for the final score of hybrid+rerank (first stage + ranker).
 */
import { describeFusion, SCORE_NORMALIZATIONS, type Fusion } from "../retrieval/fusion.ts";
import { evaluateRun, sortHits, type Run, type SearchHit } from "../retrieval/metrics.ts";
import type { Qrels } from "../retrieval/readers.ts";
import { hybridRun } from "./evaluation.ts";

export interface FusionTrial {
  fusion: string;
  "ndcg@10": number;
  "mrr@10": number;
  "recall@100": number;
}

export interface FusionChoice {
  fusion: Fusion;
  /** Dev metrics of the chosen fusion. */
  dev: Record<string, number>;
  /** Every fusion tried, in grid order, with its dev metrics. */
  trials: FusionTrial[];
}

const steps = (from: number, to: number, step: number): number[] => {
  const out: number[] = [];
  for (let i = 0; from + i * step <= to + 1e-9; i++) out.push(Math.round((from + i * step) * 1e6) / 1e6);
  return out;
};

/**
 * The grid: RRF (k 60) with the second list's weight 0.1 .. 0.9, and the convex combination with min-max and z-score
 * normalization at weights 0 .. 1 in steps of 0.05 (weight 0: the first list alone; 1: the second alone).
 */
export function fusionGrid(): Fusion[] {
  const grid: Fusion[] = steps(0.1, 0.9, 0.1).map((weight) => ({ method: "rrf", k: 60, weight }));
  for (const normalization of SCORE_NORMALIZATIONS) {
    for (const weight of steps(0, 1, 0.05)) grid.push({ method: "convex", normalization, weight });
  }
  return grid;
}

/** Tries every fusion of `grid` on the dev runs and returns the best by nDCG@10 (ties: the earlier). */
export function chooseFusion(first: Run, second: Run, devQrels: Qrels, grid: readonly Fusion[] = fusionGrid(), depth = 1000): FusionChoice {
  if (grid.length === 0) throw new Error("chooseFusion: empty grid");
  const metrics = ["ndcg@10", "mrr@10", "recall@100"] as const;
  const trials: FusionTrial[] = [];
  let best = -1;
  for (const fusion of grid) {
    const mean = evaluateRun(hybridRun(first, second, depth, fusion), devQrels, [...metrics]).mean;
    trials.push({ fusion: describeFusion(fusion), "ndcg@10": mean["ndcg@10"]!, "mrr@10": mean["mrr@10"]!, "recall@100": mean["recall@100"]! });
    if (best < 0 || mean["ndcg@10"]! > trials[best]!["ndcg@10"]) best = trials.length - 1;
  }
  const { fusion: _label, ...dev } = trials[best]!;
  return { fusion: grid[best]!, dev, trials };
}

/** The top `depth` hits of each query of a run, in trec_eval order. */
export function truncateRun(run: Run, depth: number): Map<string, SearchHit[]> {
  return new Map([...run].map(([qid, hits]) => [qid, sortHits(hits).slice(0, depth)]));
}
