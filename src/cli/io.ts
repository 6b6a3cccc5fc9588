/**
 * Input files of the commands, with the format chosen from the extension or the first line: corpora (BEIR
 * corpus.jsonl, MS MARCO collection.tsv, DPR psgs_w100.tsv), queries (BEIR queries.jsonl or `qid TAB text`),
 * qrels (BEIR tsv with or without header, or TREC `qid iter docid rel`) and TREC runs. Every reader names the
 * file (and the line, for a bad record) in its errors.
 */
import { DataFormatError, readLines } from "../retrieval/fs-util.ts";
import { readMsMarcoRun, readTrecRun, type Run } from "../retrieval/metrics.ts";
import {
  loadQrels, loadQueries, readBeirCorpus, readDprPassages, readMsMarcoCollection, type CorpusDoc, type Qrels,
} from "../retrieval/readers.ts";
import type { CorpusText } from "../retrieval/tokenized-corpus.ts";
import { CliError, requireFile } from "./util.ts";

export type CorpusFormat = "beir" | "msmarco" | "dpr";

async function firstLine(file: string, skipComments = false): Promise<{ text: string; lineNo: number } | null> {
  for await (const line of readLines(file)) {
    const t = line.text.trim();
    if (t !== "" && !(skipComments && t.startsWith("#"))) return line;
  }
  return null;
}

/** BEIR for .jsonl; for .tsv, DPR when the first line is `id TAB text TAB title` (or has 3 fields), else MS MARCO. */
export async function corpusFormat(file: string): Promise<CorpusFormat> {
  if (file.endsWith(".jsonl")) return "beir";
  if (file.endsWith(".tsv")) {
    const first = await firstLine(file);
    return first && first.text.split("\t").length === 3 ? "dpr" : "msmarco";
  }
  throw new CliError(`${file}: unknown corpus format (expected a BEIR .jsonl or an MS MARCO / DPR .tsv file)`);
}

/** Streams the documents of a corpus file (format from {@link corpusFormat}). */
export async function* readCorpusFile(file: string): AsyncGenerator<CorpusDoc> {
  requireFile(file, "corpus file");
  const format = await corpusFormat(file);
  if (format === "beir") yield* readBeirCorpus(file);
  else if (format === "dpr") yield* readDprPassages(file);
  else for await (const p of readMsMarcoCollection(file)) yield { id: p.id, title: "", text: p.text };
}

/** Reads a whole corpus file into memory; a repeated id is an error. */
export async function loadCorpusFile(file: string): Promise<Map<string, CorpusText>> {
  const docs = new Map<string, CorpusText>();
  for await (const d of readCorpusFile(file)) {
    if (docs.has(d.id)) throw new CliError(`${file}: duplicate document id "${d.id}"`);
    docs.set(d.id, { title: d.title, text: d.text });
  }
  if (docs.size === 0) throw new CliError(`${file}: the corpus is empty`);
  return docs;
}

/** Reads a queries file: BEIR queries.jsonl (by extension) or `qid TAB text` lines. */
export async function loadQueriesFile(file: string): Promise<Map<string, string>> {
  requireFile(file, "queries file");
  const queries = await loadQueries(file);
  if (queries.size === 0) throw new CliError(`${file}: no queries`);
  return queries;
}

/** BEIR (tab-separated `qid docid score`, optional `query-id` header) or TREC (`qid iter docid rel`), from the first line. */
export async function qrelsFormat(file: string): Promise<"beir" | "trec"> {
  const first = await firstLine(file, true);
  if (!first) throw new CliError(`${file}: the qrels file is empty`);
  if (first.text.startsWith("query-id") || first.text.split("\t").length === 3) return "beir";
  if (first.text.trim().split(/\s+/).length === 4) return "trec";
  throw new DataFormatError(file, first.lineNo, `not a qrels line (expected "qid TAB docid TAB score" or "qid iter docid rel"): "${first.text}"`);
}

export async function loadQrelsFile(file: string): Promise<Qrels> {
  requireFile(file, "qrels file");
  return loadQrels(file, await qrelsFormat(file));
}

/** A TREC run (`qid Q0 docid rank score tag`), or MS MARCO's `qid TAB pid TAB rank` when the first line has 3 fields. */
export async function loadRunFile(file: string): Promise<Run> {
  requireFile(file, "run file");
  const first = await firstLine(file, true);
  return first && first.text.trim().split(/\s+/).length === 3 ? readMsMarcoRun(file) : readTrecRun(file);
}
