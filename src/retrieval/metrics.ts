/**
 * Ranking metrics with trec_eval 10.0's definitions, and TREC run files.
 *
 * Ordering (trec_eval's `comp_sim_docno`, form_res_rels.c): the ranks written in a run are ignored; each query's
 * results are sorted by score descending, the scores first rounded to float32 (trec_eval stores a run's scores as
 * C `float`, so 0.30000001 and 0.3 tie there and here), and ties are broken by docid DEScending in byte (strcmp)
 * order: among equal scores "doc9" comes before "doc10". (JS compares UTF-16 code units; this equals strcmp on
 * UTF-8 bytes for every id without characters above U+FFFF mixed with U+E000..U+FFFF, i.e. all real ids.)
 *
 * Relevance level L (trec_eval `-l`, default 1): a document is relevant when its judgement is >= L. It decides
 * P, recall, MAP, R-precision, success and reciprocal rank. nDCG ignores it: its gains are the judgements > 0
 * and its ideal ranking holds every judged document with a judgement > 0 (as trec_eval's ndcg_cut, which TREC DL
 * reports beside MAP/recall/MRR at `-l 2`). Documents the qrels do not name are non-relevant at every level.
 *
 * Measures (name here = trec_eval's name, which is accepted too):
 *  - ndcg@k   = ndcg_cut.k: sum over ranks i <= k of gain_i / log2(i + 1), over the same for the ideal ranking.
 *  - ndcg     = ndcg (no cutoff, default gains = judgements).
 *  - p@k      = P.k: relevant in the top k / k.            - recall@k = recall.k: relevant in the top k / R.
 *  - map      = map: sum of precision at each relevant retrieved doc / R.   - map@k = map_cut.k (top k only).
 *  - mrr      = recip_rank: 1 / rank of the first relevant doc (0 if none).
 *  - rprec    = Rprec: relevant in the top R / R.            - success@k = success.k: 1 if a relevant doc is in the top k.
 *  (R = number of relevant judgements; a measure divided by R is 0 when R = 0.)
 *  - mrr@k    (no trec_eval name): reciprocal rank counting only the top k, in trec_eval order.
 *  - mrr10_msmarco: MS MARCO's official MRR@10 (ms_marco_eval.py): the results ordered by the run's RANK column
 *             (not by score; a repeated rank: the later line wins), the first relevant doc among ranks 1..10, and
 *             the sum divided by the number of qrels queries whatever the averaging mode. (The official script
 *             counts every qrels line as relevant; MS MARCO's own qrels only hold grade 1, where that equals L = 1.)
 *
 * Averaging (trec_eval): the mean over the queries that are in both the run and the qrels (trec_eval's default),
 * or with `complete` (trec_eval -c) over every qrels query, a query absent from the run scoring 0. A qrels query
 * whose judgements are all below L (e.g. all 0) is evaluated like any other: it is counted and scores 0 on every
 * measure (trec_eval has done so since 8.0; "queries with no relevance information are ignored", not queries with
 * no relevant docs). Run queries that the qrels do not name are ignored.
 */
import { atomicWriteFile, DataFormatError, readLines } from "./fs-util.ts";
import type { Qrels } from "./readers.ts";

export interface SearchHit {
  readonly id: string;
  readonly score: number;
  /** The rank column of a run file (1 = first), when the hit was read from one; only mrr10_msmarco uses it. */
  readonly rank?: number;
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

/** trec_eval's evaluation order exactly: as {@link compareHits}, on scores rounded to float32 first. */
export function sortHitsForEval(hits: readonly SearchHit[]): SearchHit[] {
  const keyed = hits.map((h) => ({ h, s: Math.fround(h.score) }));
  keyed.sort((a, b) => (a.s > b.s ? -1 : a.s < b.s ? 1 : a.h.id < b.h.id ? 1 : a.h.id > b.h.id ? -1 : 0));
  return keyed.map((k) => k.h);
}

export type MetricName =
  | `ndcg@${number}` | `mrr@${number}` | `recall@${number}` | `p@${number}` | `map@${number}` | `success@${number}`
  | "map" | "mrr" | "ndcg" | "rprec" | "mrr10_msmarco";

/** The metrics `md2pr eval` reports by default. */
export const DEFAULT_METRICS: readonly MetricName[] = ["ndcg@10", "mrr@10", "recall@100", "map"];

/** The default relevance level (trec_eval's). */
export const DEFAULT_RELEVANCE_LEVEL = 1;

type Kind = "ndcg" | "mrr" | "recall" | "p" | "map" | "success" | "rprec" | "mrr10_msmarco";

interface MetricSpec {
  readonly kind: Kind;
  /** Cutoff; Infinity for none. */
  readonly k: number;
}

/** Cutoff measures by md2pr name (`ndcg@10`) and by trec_eval name (`ndcg_cut.10`, `ndcg_cut_10`). */
const OUR_CUT_KINDS: Readonly<Record<string, Kind>> = { ndcg: "ndcg", mrr: "mrr", recall: "recall", p: "p", map: "map", success: "success" };
const TREC_CUT_KINDS: Readonly<Record<string, Kind>> = { ndcg_cut: "ndcg", P: "p", recall: "recall", map_cut: "map", success: "success" };

/**
 * Parses a metric name: md2pr's (`ndcg@10`, `p@5`, `recall@100`, `map`, `map@10`, `mrr`, `mrr@10`, `ndcg`,
 * `rprec`, `success@5`, `mrr10_msmarco`) or trec_eval's (`ndcg_cut.10` / `ndcg_cut_10`, `P.5` / `P_5`,
 * `recall.100`, `map_cut.10`, `recip_rank`, `Rprec`, `success.5`).
 */
export function parseMetric(name: string): MetricSpec {
  const fixed: Record<string, MetricSpec> = {
    map: { kind: "map", k: Infinity }, mrr: { kind: "mrr", k: Infinity }, recip_rank: { kind: "mrr", k: Infinity },
    ndcg: { kind: "ndcg", k: Infinity }, rprec: { kind: "rprec", k: Infinity }, Rprec: { kind: "rprec", k: Infinity },
    mrr10_msmarco: { kind: "mrr10_msmarco", k: 10 },
  };
  const f = fixed[name];
  if (f) return f;
  const ours = /^(ndcg|mrr|recall|p|map|success)@(\d+)$/.exec(name);
  const theirs = /^(ndcg_cut|P|recall|map_cut|success)[._](\d+)$/.exec(name);
  const m = ours ?? theirs;
  const kind = ours ? OUR_CUT_KINDS[ours[1]!] : theirs ? TREC_CUT_KINDS[theirs[1]!] : undefined;
  if (!m || !kind || Number(m[2]) <= 0) {
    throw new Error(
      `unknown metric "${name}" (use ndcg@k, p@k, recall@k, map, map@k, mrr, mrr@k, ndcg, rprec, success@k, mrr10_msmarco, ` +
        `or trec_eval's ndcg_cut.k, P.k, recall.k, map_cut.k, recip_rank, Rprec, success.k)`,
    );
  }
  return { kind, k: Number(m[2]) };
}

/** Whether `grade` (undefined: not judged) makes a document relevant at `level`. */
function isRelevant(grade: number | undefined, level: number): boolean {
  return grade !== undefined && grade >= level;
}

function numRelevant(rels: ReadonlyMap<string, number>, level: number): number {
  let n = 0;
  for (const g of rels.values()) if (g >= level) n++;
  return n;
}

function relevantInTop(ranked: readonly string[], rels: ReadonlyMap<string, number>, k: number, level: number): number {
  let hit = 0;
  const m = Math.min(k, ranked.length);
  for (let i = 0; i < m; i++) if (isRelevant(rels.get(ranked[i]!), level)) hit++;
  return hit;
}

/** nDCG@k of a ranked id list (already in final order); 0 when no judgement is > 0. Ignores the relevance level. */
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
export function reciprocalRankAtK(ranked: readonly string[], rels: ReadonlyMap<string, number>, k: number, level = DEFAULT_RELEVANCE_LEVEL): number {
  const m = Math.min(k, ranked.length);
  for (let i = 0; i < m; i++) if (isRelevant(rels.get(ranked[i]!), level)) return 1 / (i + 1);
  return 0;
}

/** Relevant docs in the top k / all relevant docs of the query (0 when there are none). */
export function recallAtK(ranked: readonly string[], rels: ReadonlyMap<string, number>, k: number, level = DEFAULT_RELEVANCE_LEVEL): number {
  const total = numRelevant(rels, level);
  return total === 0 ? 0 : relevantInTop(ranked, rels, k, level) / total;
}

/** Relevant docs in the top k / k. */
export function precisionAtK(ranked: readonly string[], rels: ReadonlyMap<string, number>, k: number, level = DEFAULT_RELEVANCE_LEVEL): number {
  return relevantInTop(ranked, rels, k, level) / k;
}

/** Average precision over the top k (k = Infinity: trec_eval map; else map_cut.k), divided by all relevant docs. */
export function averagePrecision(ranked: readonly string[], rels: ReadonlyMap<string, number>, level = DEFAULT_RELEVANCE_LEVEL, k = Infinity): number {
  const total = numRelevant(rels, level);
  if (total === 0) return 0;
  let hit = 0;
  let sum = 0;
  const m = Math.min(k, ranked.length);
  for (let i = 0; i < m; i++) {
    if (isRelevant(rels.get(ranked[i]!), level)) {
      hit++;
      sum += hit / (i + 1);
    }
  }
  return sum / total;
}

/** R-precision: relevant docs in the top R / R, R = number of relevant docs (0 when R = 0). */
export function rPrecision(ranked: readonly string[], rels: ReadonlyMap<string, number>, level = DEFAULT_RELEVANCE_LEVEL): number {
  const total = numRelevant(rels, level);
  return total === 0 ? 0 : relevantInTop(ranked, rels, total, level) / total;
}

/**
 * MS MARCO's official MRR@10 for one query: `hits` in run-file order, ordered by their rank column (hits without
 * one: by position); among ranks 1..10 (a rank given twice: the later hit), 1 / the first relevant one's rank.
 */
export function msMarcoReciprocalRank(hits: readonly SearchHit[], rels: ReadonlyMap<string, number>, level = DEFAULT_RELEVANCE_LEVEL): number {
  const byRank = new Map<number, string>();
  hits.forEach((h, i) => byRank.set(h.rank ?? i + 1, h.id));
  for (let r = 1; r <= 10; r++) {
    const id = byRank.get(r);
    if (id !== undefined && isRelevant(rels.get(id), level)) return 1 / r;
  }
  return 0;
}

/** One metric on one query's ranked id list (trec_eval order; mrr10_msmarco takes this order as the ranks). */
export function computeMetric(name: MetricName | string, ranked: readonly string[], rels: ReadonlyMap<string, number>, level = DEFAULT_RELEVANCE_LEVEL): number {
  return metricValue(parseMetric(name), ranked, ranked.map((id) => ({ id, score: 0 })), rels, level);
}

function metricValue(spec: MetricSpec, ranked: readonly string[], fileOrder: readonly SearchHit[], rels: ReadonlyMap<string, number>, level: number): number {
  const { kind, k } = spec;
  switch (kind) {
    case "ndcg": return ndcgAtK(ranked, rels, k);
    case "mrr": return reciprocalRankAtK(ranked, rels, k, level);
    case "recall": return recallAtK(ranked, rels, k, level);
    case "p": return precisionAtK(ranked, rels, k, level);
    case "map": return averagePrecision(ranked, rels, level, k);
    case "rprec": return rPrecision(ranked, rels, level);
    case "success": return relevantInTop(ranked, rels, k, level) > 0 ? 1 : 0;
    case "mrr10_msmarco": return msMarcoReciprocalRank(fileOrder, rels, level);
  }
}

export interface Evaluation {
  /** Mean of each metric over the evaluated queries (mrr10_msmarco: over all qrels queries). */
  readonly mean: Record<string, number>;
  /** Per evaluated query: metric -> value. */
  readonly perQuery: Map<string, Record<string, number>>;
  /** Number of evaluated queries, the divisor of the means (trec_eval's num_q). */
  readonly numQueries: number;
  /** Qrels queries absent from the run: skipped by default, scored 0 with `complete`. */
  readonly missingQueries: number;
  /** Evaluated queries without any judgement >= the relevance level: counted, scoring 0 (as trec_eval). */
  readonly queriesWithoutRelevant: number;
  /** Queries in the qrels (the divisor of mrr10_msmarco). */
  readonly qrelsQueries: number;
  /** The relevance level used. */
  readonly relevanceLevel: number;
  /** Whether every qrels query was averaged over (trec_eval -c). */
  readonly complete: boolean;
}

export interface EvaluateOptions {
  /** Metric names (see {@link parseMetric}); default {@link DEFAULT_METRICS}. */
  readonly metrics?: readonly (MetricName | string)[];
  /** Relevance level (trec_eval -l): relevant = judgement >= it. Default 1. nDCG ignores it. */
  readonly relevanceLevel?: number;
  /**
   * Average over every qrels query, absent ones scoring 0 (trec_eval -c). Default false: over the queries in both
   * the run and the qrels, trec_eval's default, so that `md2pr eval` reproduces published trec_eval numbers.
   */
  readonly complete?: boolean;
  /** Evaluate only the first N results of each query after sorting (trec_eval -M). Default: all. */
  readonly maxDocsPerQuery?: number;
  /** Keep the hits in the order given instead of re-sorting them trec_eval style. Default false. */
  readonly keepOrder?: boolean;
}

function checkOptions(opts: EvaluateOptions): { metrics: readonly string[]; level: number; maxDocs: number } {
  const metrics = [...new Set(opts.metrics ?? DEFAULT_METRICS)]; // a name given twice is reported once
  if (metrics.length === 0) throw new Error("evaluate: no metrics given");
  for (const m of metrics) parseMetric(m);
  const level = opts.relevanceLevel ?? DEFAULT_RELEVANCE_LEVEL;
  if (!Number.isInteger(level) || level < 0) throw new Error(`evaluate: relevance level must be an integer >= 0, got ${level}`);
  const maxDocs = opts.maxDocsPerQuery ?? Infinity;
  if (maxDocs !== Infinity && (!Number.isInteger(maxDocs) || maxDocs < 1)) throw new Error(`evaluate: maxDocsPerQuery must be a positive integer, got ${maxDocs}`);
  return { metrics, level, maxDocs };
}

/**
 * Evaluates a run against qrels with trec_eval's semantics (see the module comment): relevance level, averaging
 * over the queries in both (default) or every qrels query (`complete`), trec_eval's ordering.
 */
export function evaluate(run: Run, qrels: Qrels, options: EvaluateOptions = {}): Evaluation {
  const { metrics, level, maxDocs } = checkOptions(options);
  const specs = metrics.map((m) => [m, parseMetric(m)] as const);
  const complete = options.complete ?? false;
  const sums: Record<string, number> = {};
  for (const m of metrics) sums[m] = 0;
  const perQuery = new Map<string, Record<string, number>>();
  let missing = 0;
  let withoutRelevant = 0;
  for (const [qid, rels] of qrels) {
    const hits = run.get(qid);
    if (!hits) {
      missing++;
      if (!complete) continue;
    }
    const fileOrder = hits ?? [];
    const ordered = options.keepOrder ? fileOrder : sortHitsForEval(fileOrder);
    const ranked = ordered.slice(0, maxDocs).map((h) => h.id);
    const seen = new Set<string>();
    for (const id of ranked) {
      if (seen.has(id)) throw new Error(`evaluate: query "${qid}" retrieves document "${id}" twice`);
      seen.add(id);
    }
    if (numRelevant(rels, level) === 0) withoutRelevant++;
    const row: Record<string, number> = {};
    for (const [m, spec] of specs) {
      const v = metricValue(spec, ranked, fileOrder, rels, level);
      row[m] = v;
      sums[m] += v;
    }
    perQuery.set(qid, row);
  }
  const n = perQuery.size;
  const mean: Record<string, number> = {};
  for (const [m, spec] of specs) {
    const divisor = spec.kind === "mrr10_msmarco" ? qrels.size : n;
    mean[m] = divisor > 0 ? sums[m]! / divisor : 0;
  }
  return { mean, perQuery, numQueries: n, missingQueries: missing, queriesWithoutRelevant: withoutRelevant, qrelsQueries: qrels.size, relevanceLevel: level, complete };
}

/** {@link evaluate} with the metrics as a separate argument (the older form). */
export function evaluateRun(run: Run, qrels: Qrels, metrics: readonly (MetricName | string)[], opts: Omit<EvaluateOptions, "metrics"> = {}): Evaluation {
  return evaluate(run, qrels, { ...opts, metrics });
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

/**
 * Reads a TREC run file (`qid Q0 docid rank score tag`, white-space separated) with trec_eval's leniency: blank
 * lines and lines whose first non-blank character is `#` are skipped, and fields after the sixth are ignored.
 * Errors (fewer than six fields, a rank that is not an integer, a score that is not a number, a document twice
 * for one query) name file:line.
 */
export async function readTrecRun(file: string): Promise<Run> {
  const run = new Map<string, SearchHit[]>();
  const seen = new Map<string, Set<string>>();
  for await (const { fields: f, lineNo } of runFileFields(file)) {
    if (f.length < 6) throw new DataFormatError(file, lineNo, `TREC run: expected 6 fields "qid Q0 docid rank score tag", got ${f.length}`);
    const [qid, , docid, rank, score] = f as [string, string, string, string, string];
    if (!/^-?\d+$/.test(rank)) throw new DataFormatError(file, lineNo, `rank "${rank}" is not an integer`);
    const s = Number(score);
    if (!Number.isFinite(s)) throw new DataFormatError(file, lineNo, `score "${score}" is not a number`);
    addRunHit(run, seen, qid, { id: docid, score: s, rank: Number(rank) }, "document", file, lineNo);
  }
  return run;
}

/** A run file's white-space separated fields per line, blank lines and `#` comment lines skipped (trec_eval's leniency). */
async function* runFileFields(file: string): AsyncGenerator<{ fields: string[]; lineNo: number }> {
  for await (const { text, lineNo } of readLines(file)) {
    const line = text.trim();
    if (line !== "" && !line.startsWith("#")) yield { fields: line.split(/\s+/), lineNo };
  }
}

/** Appends a run file's hit to its query's list; a document listed twice for one query is an error naming the line. */
function addRunHit(
  run: Map<string, SearchHit[]>, seen: Map<string, Set<string>>, qid: string, hit: SearchHit, noun: string, file: string, lineNo: number,
): void {
  let hits = run.get(qid);
  let ids = seen.get(qid);
  if (!hits || !ids) {
    run.set(qid, (hits = []));
    seen.set(qid, (ids = new Set()));
  }
  if (ids.has(hit.id)) throw new DataFormatError(file, lineNo, `${noun} "${hit.id}" appears twice for query "${qid}"`);
  ids.add(hit.id);
  hits.push(hit);
}

/**
 * Reads a run in MS MARCO's official format, `qid TAB pid TAB rank` (what ms_marco_eval.py reads); `#` comment
 * and blank lines skipped. Each hit's score is minus its rank, so trec_eval's order is the rank order.
 */
export async function readMsMarcoRun(file: string): Promise<Run> {
  const run = new Map<string, SearchHit[]>();
  const seen = new Map<string, Set<string>>();
  for await (const { fields: f, lineNo } of runFileFields(file)) {
    if (f.length !== 3) throw new DataFormatError(file, lineNo, `MS MARCO run: expected 3 fields "qid pid rank", got ${f.length}`);
    const [qid, pid, rank] = f as [string, string, string];
    if (!/^\d+$/.test(rank) || Number(rank) < 1) throw new DataFormatError(file, lineNo, `rank "${rank}" is not a positive integer`);
    addRunHit(run, seen, qid, { id: pid, score: -Number(rank), rank: Number(rank) }, "passage", file, lineNo);
  }
  return run;
}
