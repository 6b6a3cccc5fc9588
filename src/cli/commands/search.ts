/**
 * `md2pr search`: dense (exact, HNSW or LanceDB), BM25, or hybrid retrieval of a queries file, optionally reranked by
 * the ranker, into a TREC run; through the library's Searcher (api/searcher.ts), the path `md2pr serve` uses too.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { Option, type Command } from "commander";
import { Searcher, type SearchMode, type SearchResult } from "../../api/searcher.ts";
import type { DenseSearchOptions } from "../../api/vector-index.ts";
import { DEFAULT_FUSION, describeFusion, readRecordedFusion, validateFusion, type Fusion } from "../../retrieval/fusion.ts";
import { writeTrecRun } from "../../retrieval/metrics.ts";
import { loadCorpusFile, loadQrelsFile, loadQueriesFile } from "../io.ts";
import { writeFileAtomicAsync } from "../../util/atomic.ts";
import { claimOutput, looksLikeTrecRun } from "../../util/output.ts";
import { notARanker } from "../../models/fingerprint.ts";
import { checkArtifactSet, corpusFingerprint } from "../../util/provenance.ts";
import { action, CliError, log, newCommand, parseFloatArg, parsePositiveIntArg, requireDir } from "../util.ts";

interface SearchOptions {
  model?: string;
  index?: string;
  hnsw?: string;
  bm25?: string;
  queries: string;
  qrels?: string;
  topK: number;
  out: string;
  tag?: string;
  batchSize: number;
  efSearch?: number;
  nprobes?: number;
  refineFactor?: number;
  exactScan?: boolean;
  ranker?: string;
  rerankDepth: number;
  mode?: SearchMode;
  format: "trec" | "jsonl";
  corpus?: string;
  fusionDepth: number;
  fusion?: string;
  weight?: number;
  normalization: string;
  rrfK: number;
  overwrite?: boolean;
}

/**
 * The hybrid's fusion: --fusion/--weight when given, else the one the pipeline chose on dev and recorded next to the
 * retriever (`<model>/fusion.json`), else plain RRF (k 60).
 */
function hybridFusion(o: SearchOptions): { fusion: Fusion; source: string } {
  if (o.fusion === undefined && o.weight === undefined) {
    const recorded = readRecordedFusion(o.model!);
    if (recorded) return { fusion: recorded.hybrid, source: `${o.model}/fusion.json (chosen on dev)` };
  }
  const method = o.fusion ?? DEFAULT_FUSION.method;
  const weight = o.weight ?? DEFAULT_FUSION.weight;
  try {
    return { fusion: validateFusion({ method, k: o.rrfK, normalization: o.normalization, weight }, "options"), source: "options" };
  } catch (err) {
    throw new CliError((err as Error).message.replace(/^options: /, "").replace("fusion method", "--fusion").replace("fusion weight", "--weight").replace("convex normalization", "--normalization"));
  }
}

/** Whether `file` starts like the JSONL `--format jsonl` writes (so that a rerun may replace it). */
function looksLikeHitsJsonl(file: string): boolean {
  const fd = openSync(file, "r");
  const buf = Buffer.alloc(1 << 16);
  const n = readSync(fd, buf, 0, buf.length, 0);
  closeSync(fd);
  const first = buf.subarray(0, n).toString("utf8").split("\n", 1)[0]!;
  try {
    const row = JSON.parse(first) as Record<string, unknown>;
    return typeof row.qid === "string" && typeof row.id === "string" && typeof row.rank === "number";
  } catch {
    return false;
  }
}

export function searchCommand(): Command {
  const cmd = newCommand(
    "search",
    "Searches a queries file (BEIR queries.jsonl, or `qid TAB text` lines) and writes the top-k passages of each query " +
      "as a TREC run. With --model and --index, the retriever encodes the queries and searches the dense index there: a " +
      "directory from `md2pr encode` (exact inner-product search), a LanceDB table from `md2pr index` (a directory or " +
      "URI; IVF-PQ with --nprobes/--refine-factor, or --exact-scan) or an HNSW graph; it must come from the same model. With --bm25 alone it is BM25 search of an index " +
      "from `md2pr bm25`; with --bm25 and a model, the two rankings (each --fusion-depth deep) are fused: by the fusion " +
      "the pipeline chose on the dev split (recorded in <model>/fusion.json), or as --fusion/--weight say (reciprocal rank " +
      "fusion, or the convex combination of per-query normalized scores). --ranker reranks the top --rerank-depth. " +
      "--qrels restricts the search to the judged queries.",
    "md2pr search --model runs/scifact/retriever --index runs/scifact/index --queries data/scifact/queries.jsonl " +
      "--qrels data/scifact/qrels/test.tsv --top-k 100 --out runs/scifact/test.trec",
  );
  cmd
    .option("--model <dir>", "retriever directory (dense or hybrid search)")
    .option("--index <dir|uri>", "dense index: a directory from `md2pr encode` (exact), or from `md2pr index` (LanceDB or HNSW), or a LanceDB URI")
    .option("--hnsw <dir>", "HNSW index directory from `md2pr index --backend hnsw` (the same as --index DIR)")
    .option("--bm25 <dir>", "BM25 index directory from `md2pr bm25` (alone: BM25; with --model: hybrid)")
    .requiredOption("--queries <file>", "queries file (.jsonl BEIR, else qid TAB text)")
    .option("--qrels <file>", "search only the queries judged in this qrels file")
    .option("--top-k <n>", "results per query", parsePositiveIntArg, 100)
    .requiredOption("--out <file>", "TREC run file to write (or JSONL with --format jsonl)")
    .addOption(new Option("--format <format>", "trec (a run file) or jsonl (one line per hit: qid, rank, id, score, title, text; the text from a LanceDB index or --corpus)").choices(["trec", "jsonl"]).default("trec"))
    .option("--tag <word>", "run tag in the TREC file (default md2pr-dense, md2pr-bm25 or md2pr-hybrid)")
    .option("--batch-size <n>", "queries per encoder forward pass", parsePositiveIntArg, 64)
    .option("--ef-search <n>", "HNSW (and LanceDB IVF-HNSW): query-time candidate list size", parsePositiveIntArg)
    .option("--nprobes <n>", "LanceDB: IVF partitions probed per query (default 20)", parsePositiveIntArg)
    .option("--refine-factor <n>", "LanceDB IVF-PQ: re-score k * n candidates with the full vectors", parsePositiveIntArg)
    .option("--exact-scan", "LanceDB: scan every row instead of using the ANN index")
    .option("--ranker <dir>", "rerank the top --rerank-depth of the first stage with this ranker (needs passage text: a LanceDB index or --corpus)")
    .addOption(new Option("--mode <mode>", "first stage (default: hybrid with --model and --bm25, else the one given); e.g. dense with --bm25 for a ranker's lexical prior").choices(["dense", "bm25", "hybrid"]))
    .option("--rerank-depth <n>", "first-stage results the ranker rescores", parsePositiveIntArg, 100)
    .option("--corpus <file>", "the passages' text for --ranker when the index stores none (exact, HNSW, BM25)")
    .option("--fusion-depth <n>", "hybrid: results taken from each retriever before fusion", parsePositiveIntArg, 1000)
    .option("--fusion <method>", "hybrid: rrf or convex (default: the fusion recorded in <model>/fusion.json, else rrf)")
    .option("--weight <w>", "hybrid: the dense side's weight in [0, 1] (default 0.5, or the recorded one)", parseFloatArg)
    .option("--normalization <n>", "hybrid, convex: per-query score normalization, minmax or zscore", "zscore")
    .option("--rrf-k <x>", "hybrid: the RRF constant", parseFloatArg, 60)
    .option("--overwrite", "replace an --out file that is not a TREC run (default: refuse)")
    .action(action("search", async () => {
      const o = cmd.opts<SearchOptions>();
      const jsonl = o.format === "jsonl";
      claimOutput(o.out, jsonl ? { type: "file", recognize: looksLikeHitsJsonl, what: "JSONL of hits" } : { type: "file", recognize: looksLikeTrecRun, what: "TREC run" }, { overwrite: o.overwrite });
      if (!o.model && !o.bm25) throw new CliError("give --model with --index or --hnsw (dense), --bm25 (BM25), or both (hybrid)");
      if (o.model && !o.index && !o.hnsw) throw new CliError("--model needs --index (an md2pr index directory or a LanceDB location) or --hnsw");
      if (o.index && o.hnsw) throw new CliError("give --index or --hnsw, not both");
      if (!o.model && (o.index || o.hnsw)) throw new CliError("--index and --hnsw need --model (the query encoder)");
      let queries = await loadQueriesFile(o.queries);
      if (o.qrels) {
        const qrels = await loadQrelsFile(o.qrels);
        const unknown = [...qrels.keys()].filter((q) => !queries.has(q));
        if (unknown.length === qrels.size) throw new CliError(`${o.qrels}: none of its queries is in ${o.queries}`);
        if (unknown.length > 0) log(`search: ${unknown.length} judged queries are not in ${o.queries} (e.g. "${unknown[0]}")`);
        queries = new Map([...queries].filter(([q]) => qrels.has(q)));
      }
      const qids = [...queries.keys()];
      const t0 = Date.now();
      const mode: SearchMode = o.mode ?? (o.model && o.bm25 ? "hybrid" : o.model ? "dense" : "bm25");
      if (o.model) requireDir(o.model, "model directory");
      if (o.bm25) requireDir(o.bm25, "BM25 index directory");
      if (o.ranker) requireDir(o.ranker, "ranker directory");
      const docs = o.corpus ? await loadCorpusFile(o.corpus) : undefined;
      // The artifacts must belong together (util/provenance.ts): the index made with this retriever, one corpus.
      checkArtifactSet({ retriever: o.model, index: o.index ?? o.hnsw, bm25: o.bm25, corpus: docs && { fingerprint: corpusFingerprint(docs), name: o.corpus! } });
      const notRanker = o.ranker ? notARanker(o.ranker) : null;
      if (notRanker) throw new CliError(`--ranker: ${notRanker}; give a folder from \`md2pr train-ranker\``);
      const searcher = await Searcher.open({
        retriever: o.model, index: o.index ?? o.hnsw, bm25: o.bm25, ranker: o.ranker, corpus: docs,
      });
      let fusion: Fusion | undefined;
      if (mode === "hybrid") {
        const chosen = hybridFusion(o);
        fusion = chosen.fusion;
        log(`search: hybrid fusion ${describeFusion(fusion)} (from ${chosen.source})`);
      }
      const dense: DenseSearchOptions = { ef: o.efSearch, nprobes: o.nprobes, refineFactor: o.refineFactor, exact: o.exactScan };
      let run: Map<string, SearchResult[]>;
      try {
        run = await searcher.searchBatch(queries, {
          k: o.topK, mode, fusion, fusionDepth: o.fusionDepth, rerank: Boolean(o.ranker), rerankDepth: o.rerankDepth,
          dense, withText: jsonl, batchSize: o.batchSize,
        });
      } finally {
        searcher.close();
      }
      const tag = `md2pr-${mode}${o.ranker ? "+rerank" : ""}`;
      if (jsonl) {
        const lines = [...run].flatMap(([qid, hits]) => hits.map((h) => JSON.stringify({ qid, rank: h.rank, id: h.id, score: h.score, title: h.title, text: h.text })));
        await writeFileAtomicAsync(o.out, lines.length ? `${lines.join("\n")}\n` : "");
      } else await writeTrecRun(o.out, run, o.tag ?? tag);
      log(`search: ${qids.length} queries, top ${o.topK}, ${tag.slice(6)}${searcher.index ? ` (${searcher.index.kind} index)` : ""} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      process.stdout.write(`${o.out}\n`);
    }));
  return cmd;
}
