/** `md2pr search`: dense (exact or HNSW), BM25, or hybrid (RRF) retrieval of a queries file into a TREC run. */
import type { Command } from "commander";
import { Bm25Index } from "../../retrieval/bm25.ts";
import { DenseIndex, HnswIndex } from "../../retrieval/dense-index.ts";
import { encodeQueries } from "../../encoding/encode-corpus.ts";
import { DEFAULT_FUSION, describeFusion, hybridFuse, readRecordedFusion, validateFusion, type Fusion } from "../../retrieval/fusion.ts";
import { writeTrecRun, type SearchHit } from "../../retrieval/metrics.ts";
import { TokenizedCorpus } from "../../retrieval/tokenized-corpus.ts";
import { loadQrelsFile, loadQueriesFile } from "../io.ts";
import { loadRetriever } from "../models.ts";
import { claimOutput, looksLikeTrecRun } from "../../util/output.ts";
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

export function searchCommand(): Command {
  const cmd = newCommand(
    "search",
    "Searches a queries file (BEIR queries.jsonl, or `qid TAB text` lines) and writes the top-k passages of each query " +
      "as a TREC run. With --model and --index (exact inner-product search) or --hnsw (approximate), the retriever " +
      "encodes the queries; the index must come from the same model. With --bm25 alone it is BM25 search of an index " +
      "from `md2pr bm25`; with --bm25 and a model, the two rankings (each --fusion-depth deep) are fused: by the fusion " +
      "the pipeline chose on the dev split (recorded in <model>/fusion.json), or as --fusion/--weight say (reciprocal rank " +
      "fusion, or the convex combination of per-query normalized scores). --qrels restricts the search to the judged queries.",
    "md2pr search --model runs/scifact/retriever --index runs/scifact/index --queries data/scifact/queries.jsonl " +
      "--qrels data/scifact/qrels/test.tsv --top-k 100 --out runs/scifact/test.trec",
  );
  cmd
    .option("--model <dir>", "retriever directory (dense or hybrid search)")
    .option("--index <dir>", "dense index directory from `md2pr encode` (exact search)")
    .option("--hnsw <dir>", "HNSW index directory from `md2pr index` (approximate search)")
    .option("--bm25 <dir>", "BM25 index directory from `md2pr bm25` (alone: BM25; with --model: hybrid)")
    .requiredOption("--queries <file>", "queries file (.jsonl BEIR, else qid TAB text)")
    .option("--qrels <file>", "search only the queries judged in this qrels file")
    .option("--top-k <n>", "results per query", parsePositiveIntArg, 100)
    .requiredOption("--out <file>", "TREC run file to write")
    .option("--tag <word>", "run tag in the TREC file (default md2pr-dense, md2pr-bm25 or md2pr-hybrid)")
    .option("--batch-size <n>", "queries per encoder forward pass", parsePositiveIntArg, 64)
    .option("--ef-search <n>", "HNSW query-time candidate list size", parsePositiveIntArg)
    .option("--fusion-depth <n>", "hybrid: results taken from each retriever before fusion", parsePositiveIntArg, 1000)
    .option("--fusion <method>", "hybrid: rrf or convex (default: the fusion recorded in <model>/fusion.json, else rrf)")
    .option("--weight <w>", "hybrid: the dense side's weight in [0, 1] (default 0.5, or the recorded one)", parseFloatArg)
    .option("--normalization <n>", "hybrid, convex: per-query score normalization, minmax or zscore", "zscore")
    .option("--rrf-k <x>", "hybrid: the RRF constant", parseFloatArg, 60)
    .option("--overwrite", "replace an --out file that is not a TREC run (default: refuse)")
    .action(action("search", async () => {
      const o = cmd.opts<SearchOptions>();
      claimOutput(o.out, { type: "file", recognize: looksLikeTrecRun, what: "TREC run" }, { overwrite: o.overwrite });
      if (!o.model && !o.bm25) throw new CliError("give --model with --index or --hnsw (dense), --bm25 (BM25), or both (hybrid)");
      if (o.model && !o.index && !o.hnsw) throw new CliError("--model needs --index (exact) or --hnsw (approximate)");
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
      const hybrid = Boolean(o.model && o.bm25);
      const depth = hybrid ? Math.max(o.topK, o.fusionDepth) : o.topK;
      const t0 = Date.now();

      let lexical: Map<string, SearchHit[]> | null = null;
      if (o.bm25) {
        requireDir(o.bm25, "BM25 index directory");
        const bm25 = await Bm25Index.load(o.bm25);
        lexical = bm25.searchAll(queries, depth);
      }
      let dense: Map<string, SearchHit[]> | null = null;
      if (o.model) {
        const { model, tokenizer } = loadRetriever(o.model);
        const fingerprint = model.fingerprint();
        const vectors = encodeQueries(model, new TokenizedCorpus(new Map(), tokenizer), qids.map((q) => queries.get(q)!), o.batchSize);
        let hits: SearchHit[][];
        if (o.hnsw) {
          requireDir(o.hnsw, "HNSW index directory");
          const index = await HnswIndex.load(o.hnsw, { expectedFingerprint: fingerprint });
          if (o.efSearch) index.setEf(o.efSearch);
          hits = index.search(vectors, qids.length, depth);
        } else {
          requireDir(o.index!, "dense index directory");
          const index = await DenseIndex.load(o.index!, { expectedFingerprint: fingerprint });
          hits = index.search(vectors, qids.length, depth);
        }
        dense = new Map(qids.map((q, i) => [q, hits[i]!]));
      }

      let run: Map<string, SearchHit[]>;
      let tag: string;
      if (lexical && dense) {
        const { fusion, source } = hybridFusion(o);
        log(`search: hybrid fusion ${describeFusion(fusion)} (from ${source})`);
        run = new Map(qids.map((q) => [q, hybridFuse(lexical.get(q)!, dense.get(q)!, fusion, o.topK)]));
        tag = "md2pr-hybrid";
      } else if (dense) {
        run = dense;
        tag = "md2pr-dense";
      } else {
        run = lexical!;
        tag = "md2pr-bm25";
      }
      await writeTrecRun(o.out, run, o.tag ?? tag);
      log(`search: ${qids.length} queries, top ${o.topK}, ${tag.slice(6)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      process.stdout.write(`${o.out}\n`);
    }));
  return cmd;
}
