/**
 * Ranking metrics with trec_eval's definitions, and TREC run files.
 *
 * Ordering (as trec_eval's `comp_sim_docno` in form_res_rels.c): the ranks written in a run are ignored;
 * each query's results are sorted by score descending and ties are broken by docid DEScending in byte
 * (strcmp) order: among equal scores "doc9" comes before "doc10" comes before... i.e. `b.localeCompare`-free
 * plain code-unit comparison, larger id first. (JS compares UTF-16 code units; this equals strcmp on UTF-8
 * bytes for every id without characters above U+FFFF mixed with U+E000..U+FFFF, i.e. all real ids.)
 *
 * Relevance: a document is relevant when its qrels grade is >= 1 (trec_eval's default relevance_level 1).
 *  - nDCG@k  (trec_eval ndcg_cut.k): DCG = sum over ranks i=1..k of gain_i / log2(i + 1), gain = the qrels
 *            grade when > 0 else 0; ideal DCG from the grades of *all* judged relevant docs of the query,
 *            sorted descending, cut at k. nDCG = DCG / IDCG.
 *  - MRR@k   (MS MARCO MRR@10): 1 / rank of the first relevant doc within the top k, else 0.
 *  - Recall@k (trec_eval recall.k): relevant docs in the top k / number of relevant docs.
 *  - MAP     (trec_eval map): sum over relevant retrieved docs of precision at their rank / number relevant.
 *  - P@k     (trec_eval P.k): relevant docs in the top k / k.
 * Aggregation: arithmetic mean over the queries that have at least one relevant doc in the qrels (rel > 0);
 * such a query missing from the run counts as 0 (trec_eval -c). Queries without relevant docs, and run
 * queries absent from the qrels, are skipped.
 */
import { atomicWriteFile, DataFormatError, readLines } from "./fs-util.ts";
import type { Qrels } from "./readers.ts";

export interface SearchHit {
  readonly id: string;
  readonly score: number;
}

/** query id -> results (any order; see {@link sortHits}). */
export type Run = Map<string, readonly SearchHit[]>;

/** trec_eval order: score descending, then docid descending (code-unit order). */
export function compareHits(a: SearchHit, b: SearchHit): number {
  if (a.score > b.score) return -1;
  if (a.score < b.score) return 1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** A sorted copy of the hits in trec_eval order. */
export function sortHits(hits: readonly SearchHit[]): SearchHit[] {
  return [...hits].sort(compareHits);
}

export type MetricName = `ndcg@${number}` | `mrr@${number}` | `recall@${number}` | `p@${number}` | "map" | "mrr";

/** nDCG@k of a ranked id list (already in final order). Returns 0 when the query has no relevant doc. */
export function ndcgAtK(ranked: readonly string[], rels: ReadonlyMap<string, number>, k: number): number {
  let dcg = 0;
  const m = Math.min(k, ranked.length);
  for (let i = 0; i < m; i++) {
    const g = rels.get(ranked[i]!) ?? 0;
    if (g > 0) dcg += g / Math.log2(i + 2);
  }
  const ideal: number[] = [];
  for (const g of rels.values()) if (g > 0) ideal.push(g);
  ideal.sort((a, b) => b - a);
  let idcg = 0;
  for (let i = 0; i < Math.min(k, ideal.length); i++) idcg += ideal[i]! / Math.log2(i + 2);
  return idcg > 0 ? dcg / idcg : 0;
}

/** Reciprocal rank of the first relevant doc within the top k (k = Infinity for trec_eval recip_rank). */
export function reciprocalRankAtK(ranked: readonly string[], rels: ReadonlyMap<string, number>, k: number): number {
  const m = Math.min(k, ranked.length);
  for (let i = 0; i < m; i++) if ((rels.get(ranked[i]!) ?? 0) > 0) return 1 / (i + 1);
  return 0;
}

function numRelevant(rels: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const g of rels.values()) if (g > 0) n++;
  return n;
}

/** Relevant docs in the top k / all relevant docs of the query (0 when there are none). */
export function recallAtK(ranked: readonly string[], rels: ReadonlyMap<string, number>, k: number): number {
  const total = numRelevant(rels);
  if (total === 0) return 0;
  let hit = 0;
  const m = Math.min(k, ranked.length);
  for (let i = 0; i < m; i++) if ((rels.get(ranked[i]!) ?? 0) > 0) hit++;
  return hit / total;
}

/** Relevant docs in the top k / k. */
export function precisionAtK(ranked: readonly string[], rels: ReadonlyMap<string, number>, k: number): number {
  let hit = 0;
  const m = Math.min(k, ranked.length);
  for (let i = 0; i < m; i++) if ((rels.get(ranked[i]!) ?? 0) > 0) hit++;
  return hit / k;
}

/** Average precision over the whole ranked list (trec_eval map). */
export function averagePrecision(ranked: readonly string[], rels: ReadonlyMap<string, number>): number {
  const total = numRelevant(rels);
  if (total === 0) return 0;
  let hit = 0;
  let sum = 0;
  for (let i = 0; i < ranked.length; i++) {
    if ((rels.get(ranked[i]!) ?? 0) > 0) {
      hit++;
      sum += hit / (i + 1);
    }
  }
  return sum / total;
}

function parseMetric(name: string): { kind: "ndcg" | "mrr" | "recall" | "p" | "map"; k: number } {
  if (name === "map") return { kind: "map", k: Infinity };
  if (name === "mrr") return { kind: "mrr", k: Infinity };
  const m = /^(ndcg|mrr|recall|p)@(\d+)$/.exec(name);
  if (!m || Number(m[2]) <= 0) throw new Error(`unknown metric "${name}" (use ndcg@k, mrr@k, recall@k, p@k, map, mrr)`);
  return { kind: m[1] as "ndcg" | "mrr" | "recall" | "p", k: Number(m[2]) };
}

/** One metric on one query's ranked id list. */
export function computeMetric(name: MetricName | string, ranked: readonly string[], rels: ReadonlyMap<string, number>): number {
  const { kind, k } = parseMetric(name);
  switch (kind) {
    case "ndcg": return ndcgAtK(ranked, rels, k);
    case "mrr": return reciprocalRankAtK(ranked, rels, k);
    case "recall": return recallAtK(ranked, rels, k);
    case "p": return precisionAtK(ranked, rels, k);
    case "map": return averagePrecision(ranked, rels);
  }
}

export interface Evaluation {
  /** Mean of each metric over the evaluated queries. */
  readonly mean: Record<string, number>;
  /** Per evaluated query: metric -> value. */
  readonly perQuery: Map<string, Record<string, number>>;
  /** Number of evaluated queries (qrels queries with at least one relevant doc). */
  readonly numQueries: number;
  /** Evaluated queries that were absent from the run (scored 0). */
  readonly missingQueries: number;
}

export interface EvaluateOptions {
  /**
   * Keep the hits in the order given instead of re-sorting them trec_eval style (score desc, docid desc).
   * Default false.
   */
  readonly keepOrder?: boolean;
}

/** Evaluates a run against qrels; see the module comment for the exact definitions. */
export function evaluateRun(run: Run, qrels: Qrels, metrics: readonly (MetricName | string)[], opts: EvaluateOptions = {}): Evaluation {
  for (const m of metrics) parseMetric(m);
  const sums: Record<string, number> = {};
  for (const m of metrics) sums[m] = 0;
  const perQuery = new Map<string, Record<string, number>>();
  let missing = 0;
  for (const [qid, rels] of qrels) {
    if (numRelevant(rels) === 0) continue;
    const hits = run.get(qid);
    if (!hits) missing++;
    const ranked = hits ? (opts.keepOrder ? hits : sortHits(hits)).map((h) => h.id) : [];
    const seen = new Set<string>();
    for (const id of ranked) {
      if (seen.has(id)) throw new Error(`evaluateRun: query "${qid}" retrieves document "${id}" twice`);
      seen.add(id);
    }
    const row: Record<string, number> = {};
    for (const m of metrics) {
      const v = computeMetric(m, ranked, rels);
      row[m] = v;
      sums[m] += v;
    }
    perQuery.set(qid, row);
  }
  const n = perQuery.size;
  const mean: Record<string, number> = {};
  for (const m of metrics) mean[m] = n > 0 ? sums[m]! / n : 0;
  return { mean, perQuery, numQueries: n, missingQueries: missing };
}

// ---------------------------------------------------------------------------------------------------------
// TREC run files: `qid Q0 docid rank score tag`

/** Formats a run as TREC lines (hits sorted trec_eval style, ranks from 1, scores with 6 decimals by default). */
export function formatTrecRun(run: Run, tag: string, opts: { precision?: number; sortQueries?: boolean } = {}): string {
  if (/\s/.test(tag) || tag === "") throw new Error(`run tag must be a non-empty word, got "${tag}"`);
  const prec = opts.precision ?? 6;
  const qids = [...run.keys()];
  if (opts.sortQueries ?? false) qids.sort();
  const lines: string[] = [];
  for (const qid of qids) {
    const hits = sortHits(run.get(qid)!);
    for (let i = 0; i < hits.length; i++) {
      const h = hits[i]!;
      if (/\s/.test(h.id) || /\s/.test(qid)) throw new Error(`ids in a TREC run cannot contain white space: "${qid}" "${h.id}"`);
      lines.push(`${qid} Q0 ${h.id} ${i + 1} ${h.score.toFixed(prec)} ${tag}`);
    }
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}

/** Writes a TREC run file atomically. */
export async function writeTrecRun(file: string, run: Run, tag: string, opts: { precision?: number; sortQueries?: boolean } = {}): Promise<void> {
  await atomicWriteFile(file, formatTrecRun(run, tag, opts));
}

/** Reads a TREC run file (`qid Q0 docid rank score tag`, white-space separated); errors name file:line. */
export async function readTrecRun(file: string): Promise<Run> {
  const run = new Map<string, SearchHit[]>();
  const seen = new Map<string, Set<string>>();
  for await (const { text, lineNo } of readLines(file)) {
    if (text.trim() === "") continue;
    const f = text.trim().split(/\s+/);
    if (f.length !== 6) throw new DataFormatError(file, lineNo, `TREC run: expected 6 fields "qid Q0 docid rank score tag", got ${f.length}`);
    const [qid, , docid, rank, score] = f as [string, string, string, string, string];
    if (!/^-?\d+$/.test(rank)) throw new DataFormatError(file, lineNo, `rank "${rank}" is not an integer`);
    const s = Number(score);
    if (score.trim() === "" || !Number.isFinite(s)) throw new DataFormatError(file, lineNo, `score "${score}" is not a number`);
    let hits = run.get(qid);
    let ids = seen.get(qid);
    if (!hits || !ids) {
      run.set(qid, (hits = []));
      seen.set(qid, (ids = new Set()));
    }
    if (ids.has(docid)) throw new DataFormatError(file, lineNo, `document "${docid}" appears twice for query "${qid}"`);
    ids.add(docid);
    hits.push({ id: docid, score: s });
  }
  return run;
}
