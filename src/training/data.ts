/**
 * Training examples: a query with its positive passage(s) and hard negatives, by passage id. On disk as JSONL,
 * one query per line (Tevatron-like, by id):
 *   {"query_id": "1", "query": "text", "positive_ids": ["31715818"], "negative_ids": ["13734012", ...]}
 * Reading validates every line and names file:line on error (a query without a positive, an unknown passage id,
 * an empty text).
 */
import { readLines } from "../retrieval/fs-util.ts";
import { writeFileAtomic } from "../util/atomic.ts";

export interface TrainingExample {
  queryId: string;
  query: string;
  positiveIds: string[];
  negativeIds: string[];
}

export async function readTrainingFile(file: string, corpusIds: ReadonlySet<string> | ReadonlyMap<string, unknown>): Promise<TrainingExample[]> {
  const out: TrainingExample[] = [];
  // readLines: a UTF-8 BOM is skipped, invalid UTF-8 is reported with file:line.
  for await (const { text: line, lineNo } of readLines(file)) {
    if (line.trim() === "") continue;
    const where = `${file}:${lineNo}`;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (err) {
      throw new Error(`${where}: malformed JSON (${(err as Error).message})`);
    }
    out.push(parseExample(raw, where, corpusIds));
  }
  if (out.length === 0) throw new Error(`${file}: no training examples`);
  return out;
}

function stringList(value: unknown, field: string, where: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string" && typeof v !== "number")) {
    throw new Error(`${where}: '${field}' must be a list of passage ids`);
  }
  return value.map(String);
}

export function parseExample(raw: unknown, where: string, corpusIds: ReadonlySet<string> | ReadonlyMap<string, unknown>): TrainingExample {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new Error(`${where}: expected a JSON object`);
  const r = raw as Record<string, unknown>;
  const query = r.query;
  if (typeof query !== "string" || query.trim() === "") throw new Error(`${where}: empty or missing 'query' text`);
  const queryId = r.query_id === undefined ? where : String(r.query_id);
  const positiveIds = stringList(r.positive_ids, "positive_ids", where);
  const negativeIds = stringList(r.negative_ids, "negative_ids", where);
  if (positiveIds.length === 0) throw new Error(`${where}: query '${queryId}' has no positive passage ('positive_ids' is empty)`);
  for (const id of [...positiveIds, ...negativeIds]) {
    if (!corpusIds.has(id)) throw new Error(`${where}: unknown passage id '${id}' (not in the corpus)`);
  }
  return { queryId, query, positiveIds, negativeIds };
}

export function writeTrainingFile(file: string, examples: readonly TrainingExample[]): void {
  const text = examples
    .map((e) => JSON.stringify({ query_id: e.queryId, query: e.query, positive_ids: e.positiveIds, negative_ids: e.negativeIds }))
    .join("\n");
  writeFileAtomic(file, `${text}\n`);
}

/** Examples from queries + qrels (grade > 0 = positive) + mined negatives per query. */
export function examplesFromQrels(
  queries: ReadonlyMap<string, string>, qrels: ReadonlyMap<string, ReadonlyMap<string, number>>,
  negatives: ReadonlyMap<string, readonly string[]>,
): TrainingExample[] {
  const out: TrainingExample[] = [];
  for (const [qid, judged] of qrels) {
    const query = queries.get(qid);
    if (query === undefined) throw new Error(`qrels name query '${qid}', which is not among the queries`);
    const positiveIds = [...judged].filter(([, g]) => g > 0).map(([d]) => d);
    if (positiveIds.length === 0) continue;
    out.push({ queryId: qid, query, positiveIds, negativeIds: [...(negatives.get(qid) ?? [])] });
  }
  return out;
}

/**
 * The candidate group of an example for one epoch: its positive (cycling through several) then n negatives
 * (cycling / wrapping through the mined list; padded with random corpus passages when too few were mined).
 */
export function candidateGroup(e: TrainingExample, n: number, epoch: number, pick: () => number, corpusIds: readonly string[]): string[] {
  const positive = e.positiveIds[epoch % e.positiveIds.length]!;
  const exclude = new Set(e.positiveIds);
  const group = [positive];
  const negs = e.negativeIds.filter((d) => !exclude.has(d));
  for (let j = 0; j < n; j++) {
    if (negs.length > 0 && j < negs.length) group.push(negs[(j + epoch * n) % negs.length]!);
    else {
      let d = corpusIds[pick()]!;
      while (exclude.has(d)) d = corpusIds[pick()]!;
      group.push(d);
    }
  }
  return group;
}
