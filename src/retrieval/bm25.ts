/**
 * BM25 over an in-memory inverted index (CSR postings in typed arrays), scoring as Lucene's BM25Similarity:
 *   score(q, d) = sum over query terms t of  qtf(t) * idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))
 *   idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))
 * qtf is the count of t in the query (Anserini's bag-of-words query gives repeated terms that boost);
 * dl is the document's term count after analysis; with `luceneNorms` (default) dl is first passed through
 * Lucene's lossy one-byte norm encoding (SmallFloat.intToByte4 / byte4ToInt) exactly as Lucene stores it,
 * while avgdl = total terms / N is exact, as in Lucene. Defaults k1 = 0.9, b = 0.4 (Anserini).
 * Documents are indexed as `title + " " + text` (Anserini's BEIR "flat" convention).
 *
 * Results are ordered by score descending, ties by doc id descending (trec_eval's order).
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { Analyzer, tokenize, type AnalyzerConfig } from "./analyzer.ts";
import { atomicWriteDir, readTypedFile, typedBytes } from "./fs-util.ts";
import { writeArtifact, type MadeFrom } from "../util/provenance.ts";
import type { SearchHit } from "./metrics.ts";
import { TopK } from "./topk.ts";

export interface Bm25Params {
  readonly k1: number;
  readonly b: number;
  /** Quantize document lengths like Lucene's norms (default true). */
  readonly luceneNorms: boolean;
}

export const DEFAULT_BM25_PARAMS: Bm25Params = { k1: 0.9, b: 0.4, luceneNorms: true };

export interface Bm25Doc {
  readonly id: string;
  readonly title?: string;
  readonly text: string;
}

// Lucene SmallFloat.intToByte4 / byte4ToInt.
function longToInt4(i: number): number {
  const numBits = i === 0 ? 0 : 32 - Math.clz32(i);
  if (numBits < 4) return i;
  const shift = numBits - 4;
  let encoded = (i >>> shift) & 0x07;
  encoded |= (shift + 1) << 3;
  return encoded;
}
function int4ToLong(i: number): number {
  const bits = i & 0x07;
  const shift = (i >>> 3) - 1;
  return shift === -1 ? bits : (bits | 0x08) * 2 ** shift;
}
const NUM_FREE_VALUES = 255 - longToInt4(0x7fffffff);
/** Lucene's lossy doc-length encoding into one byte. */
export function luceneIntToByte4(i: number): number {
  if (i < 0) throw new Error("negative length");
  return i < NUM_FREE_VALUES ? i : NUM_FREE_VALUES + longToInt4(i - NUM_FREE_VALUES);
}
export function luceneByte4ToInt(b: number): number {
  return b < NUM_FREE_VALUES ? b : NUM_FREE_VALUES + int4ToLong(b - NUM_FREE_VALUES);
}

/** The text BM25 indexes for a document. */
export function docContents(d: Bm25Doc): string {
  return d.title ? `${d.title} ${d.text}` : d.text;
}

const FORMAT = "md2pr-bm25";
const FORMAT_VERSION = 1;

interface Bm25Meta {
  format: string;
  version: number;
  params: Bm25Params;
  analyzer: AnalyzerConfig;
  numDocs: number;
  numTerms: number;
  numPostings: number;
  sumDocLen: number;
}

export class Bm25Index {
  readonly params: Bm25Params;
  readonly analyzer: Analyzer;
  /** External doc ids by internal index. */
  readonly docIds: readonly string[];
  private readonly terms: Map<string, number>;
  private readonly termList: readonly string[];
  private readonly offsets: Int32Array; // [numTerms + 1]
  private readonly postDocs: Int32Array;
  private readonly postTfs: Int32Array;
  private readonly docLen: Int32Array; // exact term counts
  private readonly sumDocLen: number;
  /** Documents with at least one term (Lucene's docCount: the N of idf and avgdl). */
  readonly docCount: number;
  private readonly lenNorm: Float64Array; // k1 * (1 - b + b * dl / avgdl)
  private readonly idRank: Int32Array; // rank of each doc id in ascending id order (tie-breaking)
  private idIndex: Map<string, number> | null = null;

  private constructor(
    params: Bm25Params, analyzer: Analyzer, docIds: readonly string[], termList: readonly string[],
    offsets: Int32Array, postDocs: Int32Array, postTfs: Int32Array, docLen: Int32Array, sumDocLen: number,
  ) {
    this.params = params;
    this.analyzer = analyzer;
    this.docIds = docIds;
    this.termList = termList;
    this.terms = new Map();
    termList.forEach((t, i) => this.terms.set(t, i));
    this.offsets = offsets;
    this.postDocs = postDocs;
    this.postTfs = postTfs;
    this.docLen = docLen;
    this.sumDocLen = sumDocLen;
    const n = docIds.length;
    let docCount = 0;
    for (let d = 0; d < n; d++) if (docLen[d]! > 0) docCount++;
    this.docCount = docCount;
    const avgdl = docCount > 0 ? sumDocLen / docCount : 1;
    const { k1, b, luceneNorms } = params;
    this.lenNorm = new Float64Array(n);
    for (let d = 0; d < n; d++) {
      const dl = luceneNorms ? luceneByte4ToInt(luceneIntToByte4(docLen[d]!)) : docLen[d]!;
      this.lenNorm[d] = k1 * (1 - b + (b * dl) / avgdl);
    }
    const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => (docIds[x]! < docIds[y]! ? -1 : docIds[x]! > docIds[y]! ? 1 : 0));
    this.idRank = new Int32Array(n);
    order.forEach((d, r) => (this.idRank[d] = r));
  }

  /** Builds an index from documents (any iterable, sync or async). Duplicate doc ids are an error. */
  static async build(
    docs: Iterable<Bm25Doc> | AsyncIterable<Bm25Doc>,
    opts: { params?: Partial<Bm25Params>; analyzer?: Partial<AnalyzerConfig> } = {},
  ): Promise<Bm25Index> {
    const params = { ...DEFAULT_BM25_PARAMS, ...opts.params };
    const analyzer = new Analyzer(opts.analyzer);
    const termIds = new Map<string, number>();
    const termList: string[] = [];
    const docIds: string[] = [];
    const seen = new Set<string>();
    let pairTerm = new Int32Array(1 << 16);
    let pairTf = new Int32Array(1 << 16);
    let nPairs = 0;
    const docLenArr: number[] = [];
    let df = new Int32Array(1 << 12);
    let sumDocLen = 0;
    const docEnds: number[] = []; // end of each doc's (term, tf) pairs
    // raw token -> term id (-1: dropped by the analyzer); one hash lookup per token
    const rawToTerm = new Map<string, number>();
    let tfCount = new Int32Array(1 << 12);
    const docTerms: number[] = [];
    for await (const d of docs as AsyncIterable<Bm25Doc>) {
      if (seen.has(d.id)) throw new Error(`Bm25Index.build: duplicate document id "${d.id}"`);
      seen.add(d.id);
      docIds.push(d.id);
      docTerms.length = 0;
      let len = 0;
      for (const tok of tokenize(docContents(d))) {
        let id = rawToTerm.get(tok);
        if (id === undefined) {
          const t = analyzer.term(tok);
          if (t === null) id = -1;
          else {
            id = termIds.get(t);
            if (id === undefined) {
              id = termList.length;
              termIds.set(t, id);
              termList.push(t);
              if (id >= df.length) {
                const g = new Int32Array(df.length * 2);
                g.set(df);
                df = g;
                const h = new Int32Array(df.length);
                h.set(tfCount);
                tfCount = h;
              }
            }
          }
          if (rawToTerm.size < 4_000_000) rawToTerm.set(tok, id);
        }
        if (id < 0) continue;
        len++;
        if (tfCount[id]++ === 0) docTerms.push(id);
      }
      if (nPairs + docTerms.length > pairTerm.length) {
        const cap = Math.max(pairTerm.length * 2, nPairs + docTerms.length);
        const a = new Int32Array(cap);
        a.set(pairTerm.subarray(0, nPairs));
        pairTerm = a;
        const b = new Int32Array(cap);
        b.set(pairTf.subarray(0, nPairs));
        pairTf = b;
      }
      for (const t of docTerms) {
        pairTerm[nPairs] = t;
        pairTf[nPairs] = tfCount[t]!;
        tfCount[t] = 0;
        nPairs++;
        df[t]!++;
      }
      docLenArr.push(len);
      sumDocLen += len;
      docEnds.push(nPairs);
    }
    // CSR by term
    const numTerms = termList.length;
    const offsets = new Int32Array(numTerms + 1);
    for (let t = 0; t < numTerms; t++) offsets[t + 1] = offsets[t]! + df[t]!;
    const fill = offsets.slice(0, numTerms);
    const postDocs = new Int32Array(nPairs);
    const postTfs = new Int32Array(nPairs);
    let p = 0;
    for (let d = 0; d < docIds.length; d++) {
      const end = docEnds[d]!;
      for (; p < end; p++) {
        const t = pairTerm[p]!;
        const at = fill[t]!++;
        postDocs[at] = d;
        postTfs[at] = pairTf[p]!;
      }
    }
    return new Bm25Index(params, analyzer, docIds, termList, offsets, postDocs, postTfs, Int32Array.from(docLenArr), sumDocLen);
  }

  get numDocs(): number {
    return this.docIds.length;
  }
  get numTerms(): number {
    return this.termList.length;
  }
  get avgDocLen(): number {
    return this.docCount > 0 ? this.sumDocLen / this.docCount : 0;
  }

  /** Document frequency of an analyzed term (0 when unknown). */
  docFreq(term: string): number {
    const t = this.terms.get(term);
    return t === undefined ? 0 : this.offsets[t + 1]! - this.offsets[t]!;
  }

  /** Lucene's idf for a document frequency (N = docCount, the documents with at least one term). */
  idf(df: number): number {
    const n = this.docCount;
    return Math.log(1 + (n - df + 0.5) / (df + 0.5));
  }

  /** Internal index of an external doc id, or -1. */
  docIndex(id: string): number {
    if (!this.idIndex) {
      this.idIndex = new Map();
      this.docIds.forEach((d, i) => this.idIndex!.set(d, i));
    }
    return this.idIndex.get(id) ?? -1;
  }

  private scratch: Float64Array | null = null;
  private mark: Uint8Array | null = null;

  /**
   * Low-level scoring: adds `weight` x this index's BM25 score of `query` into `acc[d]` for every matching doc d.
   * A doc seen for the first time (mark[d] === 0) is marked, zeroed and pushed to `touched`. Used by
   * {@link search} and by {@link MultiFieldBm25} (several fields over the same doc order).
   */
  accumulate(query: string, acc: Float64Array, mark: Uint8Array, touched: number[], weight = 1): void {
    const qtf = new Map<number, number>();
    for (const t of this.analyzer.analyze(query)) {
      const id = this.terms.get(t);
      if (id !== undefined) qtf.set(id, (qtf.get(id) ?? 0) + 1);
    }
    const k1p1 = this.params.k1 + 1;
    for (const [t, boost] of qtf) {
      const s = this.offsets[t]!;
      const e = this.offsets[t + 1]!;
      const w = weight * boost * this.idf(e - s) * k1p1;
      for (let p = s; p < e; p++) {
        const d = this.postDocs[p]!;
        const tf = this.postTfs[p]!;
        if (mark[d] === 0) {
          mark[d] = 1;
          acc[d] = 0;
          touched.push(d);
        }
        acc[d]! += (w * tf) / (tf + this.lenNorm[d]!);
      }
    }
  }

  /** Top-k documents for a query text; an empty list when no query term is in the index. */
  search(query: string, k: number): SearchHit[] {
    const n = this.docIds.length;
    if (!this.scratch || this.scratch.length !== n) {
      this.scratch = new Float64Array(n);
      this.mark = new Uint8Array(n);
    }
    const touched: number[] = [];
    this.accumulate(query, this.scratch, this.mark!, touched);
    return selectTop(this.scratch, this.mark!, touched, k, this.idRank, this.docIds);
  }

  /** Rank of each doc id in ascending id order (for trec_eval tie-breaking). */
  get idOrder(): Int32Array {
    return this.idRank;
  }

  /** Searches many queries: query id -> hits. */
  searchAll(queries: Iterable<readonly [string, string]>, k: number): Map<string, SearchHit[]> {
    const run = new Map<string, SearchHit[]>();
    for (const [qid, text] of queries) run.set(qid, this.search(text, k));
    return run;
  }

  /**
   * Saves the index to a directory, atomically (built in a temp directory, then renamed). Files:
   * meta.json, terms.txt, docids.txt (one per line), offsets.i32, postings-docs.i32, postings-tfs.i32,
   * doclen.i32 (little-endian int32), and md2pr-artifact.json (what it was made from: the corpus, the parameters) when
   * `madeFrom` is given.
   */
  async save(dir: string, madeFrom?: MadeFrom): Promise<void> {
    for (const id of this.docIds) {
      if (/[\n\r]/.test(id)) throw new Error(`Bm25Index.save: doc id contains a line break: ${JSON.stringify(id)}`);
    }
    const meta: Bm25Meta = {
      format: FORMAT, version: FORMAT_VERSION, params: this.params, analyzer: this.analyzer.config,
      numDocs: this.numDocs, numTerms: this.numTerms, numPostings: this.postDocs.length, sumDocLen: this.sumDocLen,
    };
    await atomicWriteDir(dir, async (tmp) => {
      await fsp.writeFile(path.join(tmp, "terms.txt"), this.termList.join("\n"));
      await fsp.writeFile(path.join(tmp, "docids.txt"), this.docIds.join("\n"));
      await fsp.writeFile(path.join(tmp, "offsets.i32"), typedBytes(this.offsets));
      await fsp.writeFile(path.join(tmp, "postings-docs.i32"), typedBytes(this.postDocs));
      await fsp.writeFile(path.join(tmp, "postings-tfs.i32"), typedBytes(this.postTfs));
      await fsp.writeFile(path.join(tmp, "doclen.i32"), typedBytes(this.docLen));
      await fsp.writeFile(path.join(tmp, "meta.json"), JSON.stringify(meta, null, 2) + "\n");
      if (madeFrom) writeArtifact(tmp, "bm25-index", { ...madeFrom, settings: { params: this.params, analyzer: this.analyzer.config, ...madeFrom.settings } });
    });
  }

  /** Loads an index written by {@link save}; checks the format and every array length. */
  static async load(dir: string): Promise<Bm25Index> {
    const metaFile = path.join(dir, "meta.json");
    const meta = JSON.parse(await fsp.readFile(metaFile, "utf8")) as Bm25Meta;
    if (meta.format !== FORMAT || meta.version !== FORMAT_VERSION) {
      throw new Error(`${metaFile}: not a ${FORMAT} v${FORMAT_VERSION} index (format ${meta.format} v${meta.version})`);
    }
    const split = (s: string): string[] => (s === "" ? [] : s.split("\n"));
    const termList = split(await fsp.readFile(path.join(dir, "terms.txt"), "utf8"));
    const docIds = split(await fsp.readFile(path.join(dir, "docids.txt"), "utf8"));
    const offsets = await readTypedFile(path.join(dir, "offsets.i32"), Int32Array);
    const postDocs = await readTypedFile(path.join(dir, "postings-docs.i32"), Int32Array);
    const postTfs = await readTypedFile(path.join(dir, "postings-tfs.i32"), Int32Array);
    const docLen = await readTypedFile(path.join(dir, "doclen.i32"), Int32Array);
    const bad =
      termList.length !== meta.numTerms || docIds.length !== meta.numDocs || offsets.length !== meta.numTerms + 1 ||
      postDocs.length !== meta.numPostings || postTfs.length !== meta.numPostings || docLen.length !== meta.numDocs ||
      offsets[meta.numTerms] !== meta.numPostings;
    if (bad) throw new Error(`${dir}: BM25 index files are inconsistent with meta.json (truncated or mixed files)`);
    return new Bm25Index(meta.params, new Analyzer(meta.analyzer), docIds, termList, offsets, postDocs, postTfs, docLen, meta.sumDocLen);
  }
}

function selectTop(acc: Float64Array, mark: Uint8Array, touched: readonly number[], k: number, idRank: Int32Array, docIds: readonly string[]): SearchHit[] {
  if (touched.length === 0 || !(k >= 1)) {
    for (const d of touched) mark[d] = 0;
    return [];
  }
  const top = new TopK(Math.min(k, touched.length), idRank);
  for (const d of touched) {
    const sc = acc[d]!;
    if (sc >= top.threshold()) top.push(sc, d);
    mark[d] = 0;
  }
  const { indices, scores } = top.sorted();
  const out: SearchHit[] = new Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = { id: docIds[indices[i]!]!, score: scores[i]! };
  return out;
}

/**
 * Anserini's BEIR "multifield" BM25: title and text indexed as separate fields, each with its own statistics
 * (df, docCount = docs with a non-empty field, avgdl); score = w_text * BM25_text + w_title * BM25_title
 * (Anserini `-fields contents=1.0 title=1.0`). Held in memory only (save the two field indexes to persist).
 */
export class MultiFieldBm25 {
  readonly text: Bm25Index;
  readonly title: Bm25Index;
  readonly weights: { readonly text: number; readonly title: number };
  private readonly acc: Float64Array;
  private readonly mark: Uint8Array;

  private constructor(text: Bm25Index, title: Bm25Index, weights: { text: number; title: number }) {
    this.text = text;
    this.title = title;
    this.weights = weights;
    this.acc = new Float64Array(text.numDocs);
    this.mark = new Uint8Array(text.numDocs);
  }

  static async build(
    docs: Iterable<Bm25Doc>,
    opts: { params?: Partial<Bm25Params>; analyzer?: Partial<AnalyzerConfig>; weights?: { text: number; title: number } } = {},
  ): Promise<MultiFieldBm25> {
    const list = [...docs];
    const text = await Bm25Index.build(list.map((d) => ({ id: d.id, text: d.text })), opts);
    const title = await Bm25Index.build(list.map((d) => ({ id: d.id, text: d.title ?? "" })), opts);
    return new MultiFieldBm25(text, title, opts.weights ?? { text: 1, title: 1 });
  }

  get numDocs(): number {
    return this.text.numDocs;
  }

  search(query: string, k: number): SearchHit[] {
    const touched: number[] = [];
    this.text.accumulate(query, this.acc, this.mark, touched, this.weights.text);
    this.title.accumulate(query, this.acc, this.mark, touched, this.weights.title);
    return selectTop(this.acc, this.mark, touched, k, this.text.idOrder, this.text.docIds);
  }

  searchAll(queries: Iterable<readonly [string, string]>, k: number): Map<string, SearchHit[]> {
    const run = new Map<string, SearchHit[]>();
    for (const [qid, text] of queries) run.set(qid, this.search(text, k));
    return run;
  }
}

/** Anything whose judged-relevant docs can be listed: a doc id list or set, or a doc id -> grade map (grade > 0). */
export type PositiveSet = readonly string[] | ReadonlySet<string> | ReadonlyMap<string, number>;

/**
 * Hard negatives: per query, the top-n BM25 doc ids excluding that query's positives.
 * `queries` maps query id -> text; `positives` maps query id -> its positive docs (a Qrels map works:
 * docs with grade > 0 are excluded). Queries without positives still get n negatives.
 */
export function mineNegatives(
  bm25: { search(query: string, k: number): SearchHit[] },
  queries: ReadonlyMap<string, string> | Iterable<readonly [string, string]>,
  positives: ReadonlyMap<string, PositiveSet>,
  n: number,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [qid, text] of queries) {
    const pos = positives.get(qid);
    const exclude = new Set<string>();
    if (pos) {
      if (pos instanceof Map) {
        for (const [d, g] of pos as ReadonlyMap<string, number>) if (g > 0) exclude.add(d);
      } else {
        for (const d of pos as Iterable<string>) exclude.add(d);
      }
    }
    const hits = bm25.search(text, n + exclude.size);
    const negs: string[] = [];
    for (const h of hits) {
      if (exclude.has(h.id)) continue;
      negs.push(h.id);
      if (negs.length === n) break;
    }
    out.set(qid, negs);
  }
  return out;
}
