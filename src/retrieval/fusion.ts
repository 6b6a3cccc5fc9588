/**
 * Combining ranked lists: reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009), the convex combination
 * of normalized scores (min-max or z-score per query), a hybrid BM25 + dense helper, and a two-stage re-ranking helper whose scorer (e.g. a cross-encoder living in a
 * higher layer) is passed in.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
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

/** Z-score normalizes scores: (s - mean) / std over the list (population std; all-equal scores map to 0). */
export function zScoreNormalize(hits: readonly SearchHit[]): SearchHit[] {
  if (hits.length === 0) return [];
  let mean = 0;
  for (const h of hits) mean += h.score;
  mean /= hits.length;
  let variance = 0;
  for (const h of hits) variance += (h.score - mean) ** 2;
  const std = Math.sqrt(variance / hits.length);
  return hits.map((h) => ({ id: h.id, score: std > 0 ? (h.score - mean) / std : 0 }));
}

/** Per-query score normalization before a convex combination. */
export type ScoreNormalization = "minmax" | "zscore";

export const SCORE_NORMALIZATIONS: readonly ScoreNormalization[] = ["minmax", "zscore"];

export function normalizeScores(hits: readonly SearchHit[], normalization: ScoreNormalization): SearchHit[] {
  return normalization === "minmax" ? minMaxNormalize(hits) : zScoreNormalize(hits);
}

/**
 * How two ranked lists of one query are combined, the first (e.g. BM25) and the second (e.g. the dense retriever
 * or a ranker). `weight` in [0, 1] is the second list's share:
 * - rrf: score(d) = (1 - w) / (k + rank_1(d)) + w / (k + rank_2(d)) (w 0.5 ranks as plain RRF);
 * - convex: score(d) = (1 - w) * n_1(d) + w * n_2(d), n_i the per-query normalized score of d in list i, or
 *   list i's minimum normalized score when d is not in it (Bruch et al. 2022, "An Analysis of Fusion Functions
 *   for Hybrid Retrieval").
 */
export type Fusion =
  | { readonly method: "rrf"; readonly k: number; readonly weight: number }
  | { readonly method: "convex"; readonly normalization: ScoreNormalization; readonly weight: number };

/** Plain RRF, k 60, equal weights: the fusion used when nothing was chosen on a dev split. */
export const DEFAULT_FUSION: Fusion = { method: "rrf", k: 60, weight: 0.5 };

/** Checks a fusion's fields (e.g. one read from a file); returns it or throws naming `where`. */
export function validateFusion(value: unknown, where: string): Fusion {
  const f = value as Partial<Record<string, unknown>> | null;
  const fail = (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
  if (typeof f !== "object" || f === null) return fail("expected a fusion object");
  const weight = f.weight;
  if (typeof weight !== "number" || !(weight >= 0 && weight <= 1)) fail(`fusion weight must be a number in [0, 1], got ${JSON.stringify(weight)}`);
  if (f.method === "rrf") {
    if (typeof f.k !== "number" || !(f.k >= 0)) fail(`rrf k must be a number >= 0, got ${JSON.stringify(f.k)}`);
    return { method: "rrf", k: f.k as number, weight: weight as number };
  }
  if (f.method === "convex") {
    if (!SCORE_NORMALIZATIONS.includes(f.normalization as ScoreNormalization)) {
      fail(`convex normalization must be one of ${SCORE_NORMALIZATIONS.join(", ")}, got ${JSON.stringify(f.normalization)}`);
    }
    return { method: "convex", normalization: f.normalization as ScoreNormalization, weight: weight as number };
  }
  return fail(`fusion method must be "rrf" or "convex", got ${JSON.stringify(f.method)}`);
}

/** A short label of a fusion, e.g. "convex-zscore w=0.30" or "rrf k=60 w=0.50". */
export function describeFusion(f: Fusion): string {
  return f.method === "rrf" ? `rrf k=${f.k} w=${f.weight.toFixed(2)}` : `convex-${f.normalization} w=${f.weight.toFixed(2)}`;
}

/** The convex combination of two lists' normalized scores (see `Fusion`); sorted by score desc, ties by id desc. */
export function convexFusion(
  first: readonly SearchHit[], second: readonly SearchHit[], normalization: ScoreNormalization, weight: number, topK?: number,
): SearchHit[] {
  const a = normalizeScores(first, normalization);
  const b = normalizeScores(second, normalization);
  const floorA = a.reduce((m, h) => Math.min(m, h.score), Infinity);
  const floorB = b.reduce((m, h) => Math.min(m, h.score), Infinity);
  const sa = new Map(a.map((h) => [h.id, h.score]));
  const sb = new Map(b.map((h) => [h.id, h.score]));
  const ids = new Set([...sa.keys(), ...sb.keys()]);
  const out: SearchHit[] = [];
  for (const id of ids) out.push({ id, score: (1 - weight) * (sa.get(id) ?? floorA) + weight * (sb.get(id) ?? floorB) });
  out.sort(compareHits);
  return topK !== undefined ? out.slice(0, topK) : out;
}

/** Fuses one query's two lists (the first lexical, the second dense, by convention) as `fusion` says. */
export function fuseTwo(first: readonly SearchHit[], second: readonly SearchHit[], fusion: Fusion = DEFAULT_FUSION, topK?: number): SearchHit[] {
  if (!(fusion.weight >= 0 && fusion.weight <= 1)) throw new Error(`fusion: weight must be in [0, 1], got ${fusion.weight}`);
  if (fusion.method === "convex") return convexFusion(first, second, fusion.normalization, fusion.weight, topK);
  return reciprocalRankFusion([first, second], { k: fusion.k, weights: [1 - fusion.weight, fusion.weight], topK });
}

/** Hybrid lexical + dense ranking of one query's two result lists (RRF k 60 unless a fusion is given). */
export function hybridFuse(bm25: readonly SearchHit[], dense: readonly SearchHit[], fusion: Fusion = DEFAULT_FUSION, topK?: number): SearchHit[] {
  return fuseTwo(bm25, dense, fusion, topK);
}

/** Runs two retrievers for many queries and fuses per query (query id -> fused hits). */
export async function hybridSearch(
  queryIds: readonly string[],
  bm25Search: (qid: string) => readonly SearchHit[] | Promise<readonly SearchHit[]>,
  denseSearch: (qids: readonly string[]) => Promise<ReadonlyMap<string, readonly SearchHit[]>> | ReadonlyMap<string, readonly SearchHit[]>,
  fusion: Fusion = DEFAULT_FUSION,
  topK?: number,
): Promise<Map<string, SearchHit[]>> {
  const dense = await denseSearch(queryIds);
  const out = new Map<string, SearchHit[]>();
  for (const qid of queryIds) out.set(qid, hybridFuse(await bm25Search(qid), dense.get(qid) ?? [], fusion, topK));
  return out;
}

/** Scores a batch of candidates (e.g. a cross-encoder over (query, passage) pairs); one score per candidate. */
export type BatchScorer<C> = (batch: readonly C[]) => Promise<ArrayLike<number>>;

export interface RerankOptions {
  /** Candidates per scoreFn call (default 32). */
  readonly batchSize?: number;
  /** Re-rank only the first `depth` candidates (in the given order); the rest follow unchanged (default: all). */
  readonly depth?: number;
  /**
   * Combine the new score with the first-stage score instead of replacing it: the head is ordered by
   * `fuseTwo(firstStage, newScores, fusion)` (the fusion's weight is the new score's share; weight 1 with a convex
   * fusion orders by the new score alone; weight 0 orders by the first stage's and does not call scoreFn). Default:
   * the new score alone.
   */
  readonly fusion?: Fusion;
}

/**
 * Two-stage ranking: scores the first `depth` candidates with `scoreFn` in batches, sorts them by the new
 * score (desc; ties keep the first-stage order), or by its fusion with the first-stage score when `fusion` is given,
 * and appends the candidates beyond `depth` in their given order. Each result carries the new `score` (the fused
 * score with `fusion`; candidates beyond depth keep their own score) and `firstStageScore`.
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
  // A fusion that gives the new score weight 0 orders by the first stage alone: (1 - 0) * a + 0 * b = a exactly, and
  // RRF's weight-0 term is 0 too, so scoring would change nothing (the dev choice can give a ranker weight 0).
  const scoreless = opts.fusion?.weight === 0;
  for (let s = 0; s < depth && !scoreless; s += bs) {
    const batch = head.slice(s, s + bs);
    const got = await scoreFn(batch);
    if (got.length !== batch.length) throw new Error(`rerank: scoreFn returned ${got.length} scores for ${batch.length} candidates`);
    for (let i = 0; i < batch.length; i++) {
      const v = got[i]!;
      if (Number.isNaN(v)) throw new Error(`rerank: scoreFn returned NaN for candidate "${batch[i]!.id}"`);
      scores[s + i] = v;
    }
  }
  if (opts.fusion) {
    const fused = new Map(fuseTwo(head, head.map((h, i) => ({ id: h.id, score: scores[i]! })), opts.fusion).map((h) => [h.id, h.score]));
    head.forEach((h, i) => (scores[i] = fused.get(h.id)!));
  }
  const order = Array.from({ length: depth }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const out: Array<C & { firstStageScore: number }> = order.map((i) => ({ ...head[i]!, score: scores[i]!, firstStageScore: head[i]!.score }));
  for (let i = depth; i < candidates.length; i++) out.push({ ...candidates[i]!, firstStageScore: candidates[i]!.score });
  return out;
}

/** What `readRecordedFusion` returns: the chosen fusions and the list depth they were chosen at. */
export interface RecordedFusion {
  hybrid: Fusion;
  rerank: Fusion | null;
  /** Results taken from each list before fusion when the choice was made (null: not recorded). */
  fusionDepth: number | null;
}

/** The file, next to a retriever, where the pipeline records the fusions it chose on the dev split. */
export const FUSION_FILE = "fusion.json";

/**
 * Reads the fusions recorded in `<dir>/fusion.json` (the hybrid's, and the ranker's over the hybrid when there was
 * a ranker); null when the file does not exist. A malformed file is an error naming it and the field.
 */
export function readRecordedFusion(dir: string): RecordedFusion | null {
  const file = join(dir, FUSION_FILE);
  if (!existsSync(file)) return null;
  let json: { hybrid?: { fusion?: unknown }; rerank?: { fusion?: unknown } | null; fusionDepth?: unknown };
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  return {
    hybrid: validateFusion(json.hybrid?.fusion, `${file}: hybrid.fusion`),
    rerank: json.rerank ? validateFusion(json.rerank.fusion, `${file}: rerank.fusion`) : null,
    fusionDepth: typeof json.fusionDepth === "number" && Number.isInteger(json.fusionDepth) && json.fusionDepth > 0 ? json.fusionDepth : null,
  };
}
