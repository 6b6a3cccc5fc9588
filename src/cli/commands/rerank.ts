/** `md2pr rerank`: re-scores the top of a TREC run with the ranker (cross-encoder). */
import type { Command } from "commander";
import { Bm25Index } from "../../retrieval/bm25.ts";
import { readTrecRun, writeTrecRun, type SearchHit } from "../../retrieval/metrics.ts";
import { RankerCorpus } from "../../training/ranker-corpus.ts";
import { bm25LexicalScorer } from "../../training/lexical.ts";
import { DEFAULT_PIPELINE } from "../../training/pipeline.ts";
import { rerankRun } from "../../training/evaluation.ts";
import { truncateRun } from "../../training/fusion-choice.ts";
import type { LexicalScorer } from "../../training/ranker-stage.ts";
import { startProgress } from "../../util/progress.ts";
import { claimOutput, looksLikeTrecRun } from "../../util/output.ts";
import { checkArtifactSet, corpusFingerprint } from "../../util/provenance.ts";
import { loadCorpusFile, loadQueriesFile } from "../io.ts";
import { loadRanker } from "../models.ts";
import { action, CliError, log, newCommand, parseLengthArg, parsePositiveIntArg, requireDir, requireFile } from "../util.ts";

interface RerankOptions {
  ranker: string;
  corpus: string;
  queries: string;
  run: string;
  depth: number;
  out: string;
  tag: string;
  batchSize: number;
  bm25?: string;
  maxQueryLength: number;
  maxPassageLength: number;
  maxPairLength: number;
  overwrite?: boolean;
}

export function rerankCommand(): Command {
  const lengths = DEFAULT_PIPELINE.lengths;
  const cmd = newCommand(
    "rerank",
    "Scores the top --depth passages of each query of a first-stage TREC run with a trained ranker (cross-encoder over " +
      "the query and passage) and writes them, sorted by the ranker's score, as a new TREC run (passages below the depth " +
      "are dropped). A ranker trained with the BM25 lexical prior needs BM25 scores: give --bm25 DIR, or the index is " +
      "built from --corpus in memory.",
    "md2pr rerank --ranker runs/scifact/ranker --corpus data/scifact/corpus.jsonl --queries data/scifact/queries.jsonl " +
      "--run runs/scifact/test.trec --depth 100 --out runs/scifact/test-rerank.trec",
  );
  cmd
    .requiredOption("--ranker <dir>", "ranker directory (from `md2pr train-ranker` / `md2pr train`)")
    .requiredOption("--corpus <file>", "corpus file the run's passages come from")
    .requiredOption("--queries <file>", "queries file (.jsonl BEIR, else qid TAB text)")
    .requiredOption("--run <file>", "first-stage TREC run")
    .option("--depth <n>", "passages reranked per query", parsePositiveIntArg, 100)
    .requiredOption("--out <file>", "TREC run file to write")
    .option("--tag <word>", "run tag in the TREC file", "md2pr-rerank")
    .option("--overwrite", "replace an --out file that is not a TREC run (default: refuse)")
    .option("--batch-size <n>", "pairs per forward pass", parsePositiveIntArg, 64)
    .option("--bm25 <dir>", "BM25 index for the ranker's lexical prior (default: built from --corpus when needed)")
    .option("--max-query-length <n>", "word pieces of the query", parseLengthArg, lengths.maxQueryLength)
    .option("--max-passage-length <n>", "word pieces of the passage", parseLengthArg, lengths.maxPassageLength)
    .option("--max-pair-length <n>", "word pieces of the pair", parseLengthArg, lengths.maxPairLength)
    .action(action("rerank", async () => {
      const o = cmd.opts<RerankOptions>();
      claimOutput(o.out, { type: "file", recognize: looksLikeTrecRun, what: "TREC run" }, { overwrite: o.overwrite });
      const { model, tokenizer } = loadRanker(o.ranker);
      requireFile(o.run, "run file");
      const first = await readTrecRun(o.run);
      const queries = await loadQueriesFile(o.queries);
      const docs = await loadCorpusFile(o.corpus);
      for (const [qid, hits] of first) {
        if (!queries.has(qid)) throw new CliError(`${o.run}: query "${qid}" is not in ${o.queries}`);
        const missing = hits.find((h) => !docs.has(h.id));
        if (missing) throw new CliError(`${o.run}: passage "${missing.id}" (query "${qid}") is not in ${o.corpus}`);
      }
      let lexical: LexicalScorer | undefined;
      if (model.lexicalWeight) {
        let bm25: Bm25Index;
        if (o.bm25) {
          requireDir(o.bm25, "BM25 index directory");
          checkArtifactSet({ bm25: o.bm25, corpus: { fingerprint: corpusFingerprint(docs), name: o.corpus } });
          bm25 = await Bm25Index.load(o.bm25);
        } else {
          log("rerank: the ranker has a lexical prior; building BM25 over the corpus (give --bm25 DIR to reuse an index)");
          bm25 = await Bm25Index.build([...docs].map(([id, d]) => ({ id, title: d.title, text: d.text })), { params: DEFAULT_PIPELINE.bm25 });
        }
        lexical = bm25LexicalScorer(bm25);
      }
      const corpus = new RankerCorpus(docs, tokenizer);
      const pairLengths = { maxQueryLength: o.maxQueryLength, maxPassageLength: o.maxPassageLength, maxPairLength: o.maxPairLength };
      const progress = startProgress("rerank", first.size, 0, "queries");
      const t0 = Date.now();
      let out: Map<string, SearchHit[]>;
      try {
        // the one rerank path (training/evaluation.ts -> retrieval/fusion.ts); passages below --depth are dropped
        out = await rerankRun(model, corpus, queries, truncateRun(first, o.depth), o.depth, pairLengths, lexical, {
          batchSize: o.batchSize, onQuery: (done) => progress.update(done),
        });
      } finally {
        progress.stop();
      }
      await writeTrecRun(o.out, out, o.tag);
      log(`rerank: ${out.size} queries, depth ${o.depth} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      process.stdout.write(`${o.out}\n`);
    }));
  return cmd;
}
