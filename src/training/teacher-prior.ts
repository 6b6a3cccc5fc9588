/**
 * Round two's teacher with a dense prior (issue 8's "learned prior over BM25 and the retriever's score"):
 *
 *   s_T(q, d) = s_C(q, d) + mu * s_R1(q, d)
 *
 * the cross-encoder's score (with its own BM25 prior when it has one) plus mu times the round-one retriever's score.
 * mu is chosen on the dev split, reranking BM25's top `depth` with s_T, rather than learned on the training queries,
 * where the round-one retriever's scores are fitted (its positives score high there and a learned mu would trust it too
 * much). The grid is scale-free: mu = f * c for f in PRIOR_FACTORS, with c the mean over dev queries of
 * std(s_C) / std(s_R1) over that query's candidates, so f 1 gives both terms the same spread.
 */
import type { DualEncoder } from "../models/dual-encoder.ts";
import type { PairCorpus, PairRanker } from "../models/pair-ranker.ts";
import type { DenseIndex } from "../retrieval/dense-index.ts";
import { evaluateRun, type SearchHit } from "../retrieval/metrics.ts";
import type { Qrels } from "../retrieval/readers.ts";
import type { TokenizedCorpus } from "../retrieval/tokenized-corpus.ts";
import { encodeQueries } from "../encoding/encode-corpus.ts";
import { scorePairs, type LexicalScorer, type PairLengths } from "./ranker-stage.ts";

/** An additive prior on the teacher's score: s_T = s_C + weight * score(q, d). */
export interface TeacherPrior {
  readonly weight: number;
  readonly score: LexicalScorer;
}

/** Multiples of the spread-matching scale c tried on dev (0: the cross-encoder alone). */
export const PRIOR_FACTORS: readonly number[] = [0, 0.125, 0.25, 0.5, 1, 2, 4, 8, 16];

export interface TeacherPriorChoice {
  /** The chosen mu (0 when the prior does not help on dev). */
  weight: number;
  /** c: mean per-query std(s_C) / std(prior) over dev's candidates. */
  scale: number;
  depth: number;
  trials: { factor: number; weight: number; "ndcg@10": number }[];
}

/**
 * The retriever's score of (query, passage) as a scorer: query vectors encoded once per text, passage vectors read
 * from `index` (made by the same model: dot product, or cosine through the index's normalised rows).
 */
export function densePriorScorer(model: DualEncoder, index: DenseIndex, corpus: TokenizedCorpus): LexicalScorer {
  const row = new Map(index.ids.map((id, i) => [id, i]));
  const dim = index.dim;
  const queryVectors = new Map<string, Float32Array>();
  return (query, ids) => {
    let q = queryVectors.get(query);
    if (!q) queryVectors.set(query, (q = encodeQueries(model, corpus, [query])));
    const out = new Float32Array(ids.length);
    ids.forEach((id, k) => {
      const r = row.get(id);
      if (r === undefined) throw new Error(`dense prior: passage "${id}" is not in the retriever's index`);
      let s = 0;
      const o = r * dim;
      for (let j = 0; j < dim; j++) s += q![j]! * index.embeddings[o + j]!;
      out[k] = s;
    });
    return out;
  };
}

/** Chooses mu on dev: reranks each query's first-stage top `depth` (e.g. BM25's) by s_C + mu * prior. */
export function chooseTeacherPriorWeight(
  ranker: PairRanker, pairCorpus: PairCorpus, lengths: PairLengths, lexical: LexicalScorer | undefined, prior: LexicalScorer,
  queries: ReadonlyMap<string, string>, first: ReadonlyMap<string, readonly SearchHit[]>, qrels: Qrels, depth: number,
): TeacherPriorChoice {
  const lists: { qid: string; ids: string[]; ranker: Float32Array; prior: Float32Array }[] = [];
  for (const [qid, hits] of first) {
    const query = queries.get(qid);
    if (query === undefined) continue;
    const ids = hits.slice(0, depth).map((h) => h.id);
    lists.push({ qid, ids, ranker: scorePairs(ranker, pairCorpus, query, ids, lengths, 64, lexical), prior: prior(query, ids) });
  }
  const ratios = lists.map((l) => std(l.ranker) / std(l.prior)).filter((r) => Number.isFinite(r) && r > 0);
  const scale = ratios.length > 0 ? ratios.reduce((a, b) => a + b, 0) / ratios.length : 1;
  const trials = PRIOR_FACTORS.map((factor) => {
    const weight = factor * scale;
    const run = new Map(lists.map((l) => [l.qid, l.ids.map((id, i): SearchHit => ({ id, score: l.ranker[i]! + weight * l.prior[i]! }))]));
    return { factor, weight, "ndcg@10": evaluateRun(run, qrels, ["ndcg@10"]).mean["ndcg@10"]! };
  });
  const best = trials.reduce((b, t) => (t["ndcg@10"] > b["ndcg@10"] ? t : b), trials[0]!);
  return { weight: best.weight, scale, depth, trials };
}

function std(x: Float32Array): number {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let s = 0;
  for (const v of x) s += (v - mean) ** 2;
  return Math.sqrt(s / x.length);
}
