/** `evaluate(run, qrels, options)`: a run's metrics against qrels, trec_eval definitions (retrieval/metrics.ts). */
import { evaluateRun, type EvaluateOptions, type Evaluation, type SearchHit } from "../retrieval/metrics.ts";
import type { Qrels } from "../retrieval/readers.ts";

/** The metrics reported when none are asked for. */
export const DEFAULT_METRICS: readonly string[] = ["ndcg@10", "mrr@10", "recall@100", "map"];

export interface EvaluateRunOptions extends EvaluateOptions {
  /** Metric names: ndcg@k, mrr@k, recall@k, p@k, map, mrr (default {@link DEFAULT_METRICS}). */
  readonly metrics?: readonly string[];
}

/**
 * Scores a run (query id -> hits with id and score, any order: they are sorted trec_eval style) against qrels
 * (query id -> passage id -> grade). Returns the mean of each metric and the per-query values.
 */
export function evaluate(
  run: ReadonlyMap<string, readonly SearchHit[]>, qrels: Qrels, options: EvaluateRunOptions = {},
): Evaluation {
  const { metrics = DEFAULT_METRICS, ...rest } = options;
  return evaluateRun(run as Map<string, readonly SearchHit[]>, qrels, metrics, rest);
}
