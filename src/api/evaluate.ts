/**
 * `evaluate(run, qrels, options)`: a run's metrics against qrels with trec_eval's semantics (relevance level,
 * averaging mode, ordering); retrieval/metrics.ts's `evaluate`, with a read-only run type for library callers.
 */
import { DEFAULT_METRICS, evaluate as evaluateTrec, type EvaluateOptions, type Evaluation, type SearchHit } from "../retrieval/metrics.ts";
import type { Qrels } from "../retrieval/readers.ts";

export { DEFAULT_METRICS };

/** Options of {@link evaluate}: metric names (ndcg@k, mrr@k, recall@k, p@k, map, mrr, trec_eval's names...), level... */
export type EvaluateRunOptions = EvaluateOptions;

/**
 * Scores a run (query id -> hits with id and score, any order: they are sorted trec_eval style) against qrels
 * (query id -> passage id -> grade). Returns the mean of each metric and the per-query values.
 */
export function evaluate(run: ReadonlyMap<string, readonly SearchHit[]>, qrels: Qrels, options: EvaluateRunOptions = {}): Evaluation {
  return evaluateTrec(run as Map<string, readonly SearchHit[]>, qrels, options);
}
