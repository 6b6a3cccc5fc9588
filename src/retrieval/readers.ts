/**
 * Streaming readers for the retrieval data formats (BEIR, MS MARCO, DPR / Natural Questions) and in-memory
 * loaders for small data sets. Every reader is an async generator over lines (readline), so files larger
 * than memory can be processed; every record is validated and a bad one raises a {@link DataFormatError}
 * whose message starts with `file:line:`. Blank lines are skipped.
 */
import { DataFormatError, readLines } from "./fs-util.ts";
import * as path from "node:path";
import { existsSync } from "node:fs";

export { DataFormatError } from "./fs-util.ts";

export interface CorpusDoc {
  readonly id: string;
  readonly title: string;
  readonly text: string;
}
export interface Query {
  readonly id: string;
  readonly text: string;
}
export interface QrelEntry {
  readonly queryId: string;
  readonly docId: string;
  readonly rel: number;
}
/** query id -> (doc id -> relevance grade). */
export type Qrels = Map<string, Map<string, number>>;

// ---------------------------------------------------------------------------------------------------------
// BEIR

function parseJsonLine(file: string, lineNo: number, text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new DataFormatError(file, lineNo, `malformed JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new DataFormatError(file, lineNo, "expected a JSON object");
  }
  return v as Record<string, unknown>;
}

function idField(file: string, lineNo: number, obj: Record<string, unknown>, key: string): string {
  const v = obj[key];
  if (typeof v === "string" && v.length > 0) return v;
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (v === undefined) throw new DataFormatError(file, lineNo, `missing field "${key}"`);
  throw new DataFormatError(file, lineNo, `field "${key}" must be a non-empty string`);
}

function stringField(file: string, lineNo: number, obj: Record<string, unknown>, key: string, optional: boolean): string {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (optional) return "";
    throw new DataFormatError(file, lineNo, `missing field "${key}"`);
  }
  if (typeof v !== "string") throw new DataFormatError(file, lineNo, `field "${key}" must be a string`);
  return v;
}

async function* readBeirCorpusLocated(file: string): AsyncGenerator<{ doc: CorpusDoc; lineNo: number }> {
  for await (const { text, lineNo } of readLines(file)) {
    if (text.trim() === "") continue;
    const o = parseJsonLine(file, lineNo, text);
    const id = idField(file, lineNo, o, "_id");
    const title = stringField(file, lineNo, o, "title", true);
    const body = stringField(file, lineNo, o, "text", false);
    if (title.trim() === "" && body.trim() === "") throw new DataFormatError(file, lineNo, `document "${id}" is empty`);
    yield { doc: { id, title, text: body }, lineNo };
  }
}

/** BEIR `corpus.jsonl`: one `{"_id", "title", "text"}` object per line ("title" may be absent; "text" may not). */
export async function* readBeirCorpus(file: string): AsyncGenerator<CorpusDoc> {
  for await (const { doc } of readBeirCorpusLocated(file)) yield doc;
}

async function* readBeirQueriesLocated(file: string): AsyncGenerator<{ query: Query; lineNo: number }> {
  for await (const { text, lineNo } of readLines(file)) {
    if (text.trim() === "") continue;
    const o = parseJsonLine(file, lineNo, text);
    const id = idField(file, lineNo, o, "_id");
    const q = stringField(file, lineNo, o, "text", false);
    if (q.trim() === "") throw new DataFormatError(file, lineNo, `query "${id}" has empty text`);
    yield { query: { id, text: q }, lineNo };
  }
}

/** BEIR `queries.jsonl`: one `{"_id", "text"}` object per line; the text must not be empty. */
export async function* readBeirQueries(file: string): AsyncGenerator<Query> {
  for await (const { query } of readBeirQueriesLocated(file)) yield query;
}

function parseRel(file: string, lineNo: number, s: string): number {
  if (!/^-?\d+$/.test(s)) throw new DataFormatError(file, lineNo, `relevance "${s}" is not an integer`);
  return Number(s);
}

/** BEIR `qrels/<split>.tsv`: header `query-id corpus-id score`, then `qid TAB docid TAB score`. */
export async function* readBeirQrels(file: string): AsyncGenerator<QrelEntry> {
  for await (const { entry } of readBeirQrelsLocated(file)) yield entry;
}

export interface BeirDataset {
  readonly corpus: Map<string, { readonly title: string; readonly text: string }>;
  readonly queries: Map<string, string>;
  readonly qrels: Qrels;
}

export interface LoadBeirOptions {
  /** Keep only the queries named in the split's qrels (default true). */
  readonly onlyJudgedQueries?: boolean;
}

/**
 * Reads a whole (small) BEIR data set into memory: `dir/corpus.jsonl`, `dir/queries.jsonl`,
 * `dir/qrels/<split>.tsv`. Duplicate ids, and qrels naming an unknown query or document, are errors.
 */
export async function loadBeir(dir: string, split: string, opts: LoadBeirOptions = {}): Promise<BeirDataset> {
  const corpusFile = path.join(dir, "corpus.jsonl");
  const queriesFile = path.join(dir, "queries.jsonl");
  const qrelsFile = path.join(dir, "qrels", `${split}.tsv`);
  for (const f of [corpusFile, queriesFile, qrelsFile]) {
    if (!existsSync(f)) throw new Error(`loadBeir: missing file ${f}`);
  }
  const corpus = new Map<string, { title: string; text: string }>();
  for await (const { doc: d, lineNo } of readBeirCorpusLocated(corpusFile)) {
    if (corpus.has(d.id)) throw new DataFormatError(corpusFile, lineNo, `duplicate document id "${d.id}"`);
    corpus.set(d.id, { title: d.title, text: d.text });
  }
  const allQueries = new Map<string, string>();
  for await (const { query: q, lineNo } of readBeirQueriesLocated(queriesFile)) {
    if (allQueries.has(q.id)) throw new DataFormatError(queriesFile, lineNo, `duplicate query id "${q.id}"`);
    allQueries.set(q.id, q.text);
  }
  const qrels = await loadQrels(qrelsFile, "beir", { queryIds: allQueries, docIds: corpus });
  let queries = allQueries;
  if (opts.onlyJudgedQueries ?? true) {
    queries = new Map();
    for (const qid of qrels.keys()) queries.set(qid, allQueries.get(qid)!);
  }
  return { corpus, queries, qrels };
}

export interface QrelsCheck {
  readonly queryIds?: { has(id: string): boolean };
  readonly docIds?: { has(id: string): boolean };
}

/**
 * Reads a qrels file (`beir` tsv with header, or `trec` `qid iter docid rel`) into a {@link Qrels} map.
 * When `check` gives the known query / doc ids, an entry naming an unknown one is an error with file:line.
 * A repeated (query, doc) pair is an error too.
 */
export async function loadQrels(file: string, format: "beir" | "trec", check: QrelsCheck = {}): Promise<Qrels> {
  const qrels: Qrels = new Map();
  const gen = format === "beir" ? readBeirQrelsLocated(file) : readTrecQrelsLocated(file);
  for await (const { entry: e, lineNo } of gen) {
    if (check.queryIds && !check.queryIds.has(e.queryId)) {
      throw new DataFormatError(file, lineNo, `qrels name unknown query id "${e.queryId}"`);
    }
    if (check.docIds && !check.docIds.has(e.docId)) {
      throw new DataFormatError(file, lineNo, `qrels name unknown document id "${e.docId}"`);
    }
    let m = qrels.get(e.queryId);
    if (!m) qrels.set(e.queryId, (m = new Map()));
    if (m.has(e.docId)) throw new DataFormatError(file, lineNo, `duplicate judgement for ("${e.queryId}", "${e.docId}")`);
    m.set(e.docId, e.rel);
  }
  return qrels;
}

async function* readBeirQrelsLocated(file: string): AsyncGenerator<{ entry: QrelEntry; lineNo: number }> {
  let sawHeader = false;
  for await (const { text, lineNo } of readLines(file)) {
    if (text.trim() === "") continue;
    const f = text.split("\t");
    if (!sawHeader) {
      sawHeader = true;
      if (f[0] === "query-id") {
        if (f.length !== 3 || f[1] !== "corpus-id" || f[2] !== "score") {
          throw new DataFormatError(file, lineNo, `bad header "${text}" (expected "query-id\\tcorpus-id\\tscore")`);
        }
        continue;
      }
    }
    if (f.length !== 3) throw new DataFormatError(file, lineNo, `expected 3 tab-separated fields, got ${f.length}`);
    const [q, d, s] = f as [string, string, string];
    if (q === "" || d === "") throw new DataFormatError(file, lineNo, "empty query or corpus id");
    yield { entry: { queryId: q, docId: d, rel: parseRel(file, lineNo, s.trim()) }, lineNo };
  }
}

// ---------------------------------------------------------------------------------------------------------
// MS MARCO / TREC

export interface Passage {
  readonly id: string;
  readonly text: string;
}

function splitTsv(file: string, lineNo: number, text: string, n: number, what: string): string[] {
  const f = text.split("\t");
  if (f.length !== n) throw new DataFormatError(file, lineNo, `${what}: expected ${n} tab-separated fields, got ${f.length}`);
  return f;
}

/** MS MARCO `collection.tsv`: `pid TAB text`. Empty passages are allowed only when `allowEmpty` is set. */
export async function* readMsMarcoCollection(file: string, opts: { allowEmpty?: boolean } = {}): AsyncGenerator<Passage> {
  for await (const { text, lineNo } of readLines(file)) {
    if (text.trim() === "") continue;
    const [id, body] = splitTsv(file, lineNo, text, 2, "collection") as [string, string];
    if (id.trim() === "") throw new DataFormatError(file, lineNo, "empty passage id");
    if (!opts.allowEmpty && body.trim() === "") throw new DataFormatError(file, lineNo, `passage "${id}" is empty`);
    yield { id: id.trim(), text: body };
  }
}

/** MS MARCO `queries.*.tsv` and Anserini topics files: `qid TAB text`; empty query text is an error. */
export async function* readTsvQueries(file: string): AsyncGenerator<Query> {
  for await (const { text, lineNo } of readLines(file)) {
    if (text.trim() === "") continue;
    const [id, q] = splitTsv(file, lineNo, text, 2, "query") as [string, string];
    if (id.trim() === "") throw new DataFormatError(file, lineNo, "empty query id");
    if (q.trim() === "") throw new DataFormatError(file, lineNo, `query "${id}" has empty text`);
    yield { id: id.trim(), text: q.trim() };
  }
}

async function* readTrecQrelsLocated(file: string): AsyncGenerator<{ entry: QrelEntry; lineNo: number }> {
  for await (const { text, lineNo } of readLines(file)) {
    if (text.trim() === "" || text.trim().startsWith("#")) continue; // blank and comment lines, as trec_eval
    const f = text.trim().split(/\s+/);
    if (f.length !== 4) throw new DataFormatError(file, lineNo, `TREC qrels: expected "qid iter docid rel", got ${f.length} fields`);
    const [q, , d, r] = f as [string, string, string, string];
    yield { entry: { queryId: q, docId: d, rel: parseRel(file, lineNo, r) }, lineNo };
  }
}

/** TREC qrels: `qid iter docid rel` separated by white space (iter, "0" or "Q0", is ignored). */
export async function* readTrecQrels(file: string): AsyncGenerator<QrelEntry> {
  for await (const { entry } of readTrecQrelsLocated(file)) yield entry;
}

export type Triple =
  | { readonly form: "text"; readonly query: string; readonly pos: string; readonly neg: string }
  | { readonly form: "ids"; readonly queryId: string; readonly posId: string; readonly negId: string };

/**
 * MS MARCO training triples, `query TAB positive TAB negative`, either as text (`triples.train.small.tsv`)
 * or as ids (`qidpidtriples.train.full.tsv`). `form: "auto"` (default) decides per line: three integers
 * are ids. Empty fields are errors.
 */
export async function* readTriples(file: string, opts: { form?: "text" | "ids" | "auto" } = {}): AsyncGenerator<Triple> {
  const form = opts.form ?? "auto";
  const intRe = /^\d+$/;
  for await (const { text, lineNo } of readLines(file)) {
    if (text.trim() === "") continue;
    const [a, b, c] = splitTsv(file, lineNo, text, 3, "triple") as [string, string, string];
    if (a.trim() === "" || b.trim() === "" || c.trim() === "") throw new DataFormatError(file, lineNo, "empty field in triple");
    const isIds = form === "ids" || (form === "auto" && intRe.test(a.trim()) && intRe.test(b.trim()) && intRe.test(c.trim()));
    if (isIds) {
      if (!intRe.test(a.trim()) || !intRe.test(b.trim()) || !intRe.test(c.trim())) {
        throw new DataFormatError(file, lineNo, "id triple: expected three integer ids");
      }
      yield { form: "ids", queryId: a.trim(), posId: b.trim(), negId: c.trim() };
    } else {
      yield { form: "text", query: a, pos: b, neg: c };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// DPR / Natural Questions

/** Removes one level of CSV quoting (`"..."` with `""` for a quote) when the field is wrapped in quotes. */
export function unquoteCsvField(s: string): string {
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) return s.slice(1, -1).replace(/""/g, '"');
  return s;
}

/**
 * Parses a Python list literal of strings, e.g. `['a', "b's", 'caf\u00e9']`, without eval. Supports single,
 * double and triple quotes, optional u/r/b-less prefixes `u` and `r`, the escapes \\ \' \" \n \t \r \b \f \v \0
 * \xHH \uHHHH \UHHHHHHHH \ooo and line continuation, a trailing comma, and implicit concatenation of adjacent
 * literals. Throws an Error describing the position on anything else.
 */
export function parsePythonStringList(src: string): string[] {
  let i = 0;
  const n = src.length;
  const fail = (msg: string): never => {
    throw new Error(`python list literal: ${msg} at offset ${i} in ${JSON.stringify(src.length > 80 ? src.slice(0, 80) + "..." : src)}`);
  };
  const ws = () => {
    while (i < n && /\s/.test(src[i]!)) i++;
  };
  const parseOne = (): string => {
    let raw = false;
    while (i < n && /[uUrR]/.test(src[i]!)) {
      if (src[i] === "r" || src[i] === "R") raw = true;
      i++;
    }
    const q = src[i];
    if (q !== "'" && q !== '"') fail("expected a string");
    const triple = src.startsWith(q!.repeat(3), i);
    const delim = triple ? q!.repeat(3) : q!;
    i += delim.length;
    let out = "";
    for (;;) {
      if (i >= n) fail("unterminated string");
      if (src.startsWith(delim, i)) {
        i += delim.length;
        return out;
      }
      const c = src[i]!;
      if (!triple && (c === "\n" || c === "\r")) fail("newline in string");
      if (c !== "\\") {
        out += c;
        i++;
        continue;
      }
      if (raw) {
        out += c + (src[i + 1] ?? "");
        i += 2;
        continue;
      }
      const e = src[i + 1];
      if (e === undefined) fail("dangling backslash");
      i += 2;
      switch (e) {
        case "\\": out += "\\"; break;
        case "'": out += "'"; break;
        case '"': out += '"'; break;
        case "n": out += "\n"; break;
        case "t": out += "\t"; break;
        case "r": out += "\r"; break;
        case "b": out += "\b"; break;
        case "f": out += "\f"; break;
        case "v": out += "\v"; break;
        case "a": out += "\x07"; break;
        case "\n": break;
        case "x": case "u": case "U": {
          const len = e === "x" ? 2 : e === "u" ? 4 : 8;
          const hex = src.slice(i, i + len);
          if (hex.length !== len || !/^[0-9a-fA-F]+$/.test(hex)) fail(`bad \\${e} escape`);
          const cp = parseInt(hex, 16);
          if (cp > 0x10ffff) fail("code point out of range");
          out += String.fromCodePoint(cp);
          i += len;
          break;
        }
        default:
          if (e! >= "0" && e! <= "7") {
            let j = i - 1;
            let oct = "";
            while (j < n && oct.length < 3 && src[j]! >= "0" && src[j]! <= "7") oct += src[j++];
            out += String.fromCharCode(parseInt(oct, 8));
            i = j;
          } else {
            out += "\\" + e; // Python keeps unknown escapes verbatim
          }
      }
    }
  };
  ws();
  if (src[i] !== "[") fail("expected '['");
  i++;
  const items: string[] = [];
  ws();
  if (src[i] === "]") {
    i++;
  } else {
    for (;;) {
      ws();
      let s = parseOne();
      for (;;) {
        ws();
        if (i < n && /['"uUrR]/.test(src[i]!)) s += parseOne();
        else break;
      }
      items.push(s);
      ws();
      if (src[i] === ",") {
        i++;
        ws();
        if (src[i] === "]") {
          i++;
          break;
        }
        continue;
      }
      if (src[i] === "]") {
        i++;
        break;
      }
      fail("expected ',' or ']'");
    }
  }
  ws();
  if (i !== n) fail("trailing characters");
  return items;
}

export interface QaTopic {
  readonly question: string;
  readonly answers: readonly string[];
}

/**
 * DPR-style QA topics (`topics.dpr.nq.test.txt`, also the DPR `nq-test.qa.csv`): `question TAB answers`,
 * answers a Python list literal, possibly CSV-quoted (`"[""Destiny 's Child""]"`). Parsed without eval.
 */
export async function* readDprQaTopics(file: string): AsyncGenerator<QaTopic> {
  for await (const { text, lineNo } of readLines(file)) {
    if (text.trim() === "") continue;
    const [q, a] = splitTsv(file, lineNo, text, 2, "QA topic") as [string, string];
    const question = unquoteCsvField(q).trim();
    if (question === "") throw new DataFormatError(file, lineNo, "empty question");
    let answers: string[];
    try {
      answers = parsePythonStringList(unquoteCsvField(a.trim()));
    } catch (e) {
      throw new DataFormatError(file, lineNo, (e as Error).message);
    }
    yield { question, answers };
  }
}

/** DPR passages (`psgs_w100.tsv`): header `id TAB text TAB title`, then one passage per line (CSV-quoted text allowed). */
export async function* readDprPassages(file: string): AsyncGenerator<CorpusDoc> {
  let first = true;
  for await (const { text, lineNo } of readLines(file)) {
    if (text.trim() === "") continue;
    const f = splitTsv(file, lineNo, text, 3, "DPR passage") as [string, string, string];
    if (first) {
      first = false;
      if (f[0] === "id" && f[1] === "text" && f[2] === "title") continue;
    }
    const id = f[0].trim();
    if (id === "") throw new DataFormatError(file, lineNo, "empty passage id");
    const body = unquoteCsvField(f[1]);
    if (body.trim() === "") throw new DataFormatError(file, lineNo, `passage "${id}" is empty`);
    yield { id, text: body, title: unquoteCsvField(f[2]) };
  }
}

/** Collects an async iterable into an array (convenience for small files). */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/**
 * Reads a whole queries file into memory: BEIR `queries.jsonl` (by the .jsonl extension) or a
 * `qid TAB text` file (MS MARCO queries / Anserini topics). Duplicate query ids are errors.
 */
export async function loadQueries(file: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const gen = file.endsWith(".jsonl") ? readBeirQueries(file) : readTsvQueries(file);
  for await (const q of gen) {
    if (out.has(q.id)) throw new Error(`${file}: duplicate query id "${q.id}"`);
    out.set(q.id, q.text);
  }
  return out;
}
