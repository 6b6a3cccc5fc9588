/**
 * Combining ranked lists: reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009), a hybrid
 * BM25 + dense helper, and a two-stage re-ranking helper whose scorer (e.g. a cross-encoder living in a
 * higher layer) is passed in.
 */
import { compareHits, sortHits, type SearchHit } from "./metrics.ts";

export interface RrfOptions {
  /** The RRF constant (default 60, as in Cormack et al.). */
  readonly k?: number;
  /** Only the top `depth` of each list take part (default: all). */
  readonly depth?: number;
  /** Per-list weights (default 1 each). */
  readonly weights?: readonly number[];
  /** Keep the top `topK` fused results (default: all). */
  readonly topK?: number;
}

/**
 * RRF: score(d) = sum over lists i containing d of w_i / (k + rank_i(d)), ranks from 1. Each list is first
 * put in trec_eval order (score desc, id desc) so the ranks do not depend on how the caller sorted it.
 * Output sorted by fused score desc, ties by id desc.
 */
export function reciprocalRankFusion(lists: readonly (readonly SearchHit[])[], opts: RrfOptions = {}): SearchHit[] {
  const k = opts.k ?? 60;
  if (!(k >= 0)) throw new Error(`reciprocalRankFusion: k must be >= 0, got ${k}`);
  if (opts.weights && opts.weights.length !== lists.length) throw new Error("reciprocalRankFusion: one weight per list");
  const fused = new Map<string, number>();
  lists.forEach((list, li) => {
    const w = opts.weights?.[li] ?? 1;
    const sorted = sortHits(list);
    const depth = Math.min(sorted.length, opts.depth ?? Infinity);
    const seen = new Set<string>();
    for (let r = 0; r < depth; r++) {
      const id = sorted[r]!.id;
      if (seen.has(id)) throw new Error(`reciprocalRankFusion: list ${li} contains "${id}" twice`);
      seen.add(id);
      fused.set(id, (fused.get(id) ?? 0) + w / (k + r + 1));
    }
  });
  const out: SearchHit[] = [...fused].map(([id, score]) => ({ id, score }));
  out.sort(compareHits);
  return opts.topK !== undefined ? out.slice(0, opts.topK) : out;
}

/** Min-max normalizes scores to [0, 1] (all-equal scores map to 1). */
export function minMaxNormalize(hits: readonly SearchHit[]): SearchHit[] {
  if (hits.length === 0) return [];
  let lo = Infinity;
  let hi = -Infinity;
  for (const h of hits) {
    lo = Math.min(lo, h.score);
    hi = Math.max(hi, h.score);
  }
  const span = hi - lo;
  return hits.map((h) => ({ id: h.id, score: span > 0 ? (h.score - lo) / span : 1 }));
}

export type HybridOptions =
  | ({ readonly method?: "rrf" } & RrfOptions)
  | {
      readonly method: "linear";
      /** Weight of the dense side: alpha * dense + (1 - alpha) * bm25 after min-max normalization (default 0.5). */
      readonly alpha?: number;
      readonly topK?: number;
    };

/**
 * Hybrid lexical + dense ranking of one query's two result lists: RRF (default) or a min-max normalized
 * linear interpolation (a doc missing from one list gets 0 on that side).
 */
export function hybridFuse(bm25: readonly SearchHit[], dense: readonly SearchHit[], opts: HybridOptions = {}): SearchHit[] {
  if (opts.method === "linear") {
    const alpha = opts.alpha ?? 0.5;
    const s = new Map<string, number>();
    for (const h of minMaxNormalize(bm25)) s.set(h.id, (1 - alpha) * h.score);
    for (const h of minMaxNormalize(dense)) s.set(h.id, (s.get(h.id) ?? 0) + alpha * h.score);
    const out = [...s].map(([id, score]) => ({ id, score })).sort(compareHits);
    return opts.topK !== undefined ? out.slice(0, opts.topK) : out;
  }
  return reciprocalRankFusion([bm25, dense], opts);
}

/** Runs two retrievers for many queries and fuses per query (query id -> fused hits). */
export async function hybridSearch(
  queryIds: readonly string[],
  bm25Search: (qid: string) => readonly SearchHit[] | Promise<readonly SearchHit[]>,
  denseSearch: (qids: readonly string[]) => Promise<ReadonlyMap<string, readonly SearchHit[]>> | ReadonlyMap<string, readonly SearchHit[]>,
  opts: HybridOptions = {},
): Promise<Map<string, SearchHit[]>> {
  const dense = await denseSearch(queryIds);
  const out = new Map<string, SearchHit[]>();
  for (const qid of queryIds) out.set(qid, hybridFuse(await bm25Search(qid), dense.get(qid) ?? [], opts));
  return out;
}

/** Scores a batch of candidates (e.g. a cross-encoder over (query, passage) pairs); one score per candidate. */
export type BatchScorer<C> = (batch: readonly C[]) => Promise<ArrayLike<number>>;

export interface RerankOptions {
  /** Candidates per scoreFn call (default 32). */
  readonly batchSize?: number;
  /** Re-rank only the first `depth` candidates (in the given order); the rest follow unchanged (default: all). */
  readonly depth?: number;
}

/**
 * Two-stage ranking: scores the first `depth` candidates with `scoreFn` in batches, sorts them by the new
 * score (desc; ties keep the first-stage order), and appends the candidates beyond `depth` in their given
 * order. Each result carries the new `score` (candidates beyond depth keep their own score) and
 * `firstStageScore`.
 */
export async function rerank<C extends SearchHit>(
  candidates: readonly C[],
  scoreFn: BatchScorer<C>,
  opts: RerankOptions = {},
): Promise<Array<C & { readonly firstStageScore: number }>> {
  const bs = opts.batchSize ?? 32;
  if (!Number.isInteger(bs) || bs <= 0) throw new Error(`rerank: batchSize must be a positive integer, got ${bs}`);
  const depth = Math.min(candidates.length, opts.depth ?? candidates.length);
  const head = candidates.slice(0, depth);
  const scores = new Float64Array(depth);
  for (let s = 0; s < depth; s += bs) {
    const batch = head.slice(s, s + bs);
    const got = await scoreFn(batch);
    if (got.length !== batch.length) throw new Error(`rerank: scoreFn returned ${got.length} scores for ${batch.length} candidates`);
    for (let i = 0; i < batch.length; i++) {
      const v = got[i]!;
      if (Number.isNaN(v)) throw new Error(`rerank: scoreFn returned NaN for candidate "${batch[i]!.id}"`);
      scores[s + i] = v;
    }
  }
  const order = Array.from({ length: depth }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const out: Array<C & { firstStageScore: number }> = order.map((i) => ({ ...head[i]!, score: scores[i]!, firstStageScore: head[i]!.score }));
  for (let i = depth; i < candidates.length; i++) out.push({ ...candidates[i]!, firstStageScore: candidates[i]!.score });
  return out;
}
