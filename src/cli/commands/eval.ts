/** `md2pr eval`: scores a TREC run against qrels with trec_eval 10.0's definitions. */
import type { Command } from "commander";
import { DEFAULT_METRICS, evaluate, parseMetric } from "../../retrieval/metrics.ts";
import { loadQrelsFile, loadRunFile } from "../io.ts";
import { action, CliError, formatTable, log, newCommand, parseIntArg, parsePositiveIntArg } from "../util.ts";

interface EvalOptions {
  run: string;
  qrels: string;
  metrics: string;
  level: number;
  complete?: boolean;
  maxDocs?: number;
  json?: boolean;
  perQuery?: boolean;
}

export { DEFAULT_METRICS };

export function evalCommand(): Command {
  const cmd = newCommand(
    "eval",
    "Evaluates a TREC run file (qid Q0 docid rank score tag; blank and #-comment lines skipped, fields after the " +
      "sixth ignored; or MS MARCO's qid TAB pid TAB rank) against relevance judgements, BEIR qrels tsv (with or without the query-id header) or TREC " +
      "qrels (qid iter docid rel), detected from the first line, as trec_eval 10.0 does: hits re-sorted by score " +
      "(float32, ties by docid descending), relevant = judgement >= the level (-l; nDCG keeps graded gains), and " +
      "the mean over the queries in both the run and the qrels (trec_eval's default; -c: over every qrels query, " +
      "absent ones scoring 0). A qrels query with no relevant judgement is counted and scores 0, as in trec_eval. " +
      "Metric names: ndcg@k p@k recall@k map map@k mrr mrr@k ndcg rprec success@k, trec_eval's names " +
      "(ndcg_cut.10, P.5, recall.1000, recip_rank, Rprec, ...), and mrr10_msmarco (MS MARCO's official MRR@10: " +
      "by the rank column, over all qrels queries). Prints a table, or JSON with --json.",
    "md2pr eval --run runs/dl19.trec --qrels qrels.dl19-passage.txt -l 2 --metrics ndcg_cut.10,map,recall.1000,mrr10_msmarco",
  );
  cmd
    .requiredOption("--run <file>", "run file: TREC, or MS MARCO's qid TAB pid TAB rank")
    .requiredOption("--qrels <file>", "qrels file (BEIR tsv or TREC)")
    .option("-m, --metrics <list>", "comma-separated metric names (md2pr's or trec_eval's)", DEFAULT_METRICS.join(","))
    .option("-l, --level <n>", "relevance level: relevant = judgement >= n (trec_eval -l; TREC DL uses 2 for MAP, recall, MRR)", parseIntArg, 1)
    .option("-c, --complete", "average over every qrels query, those absent from the run scoring 0 (trec_eval -c)")
    .option("-M, --max-docs <n>", "evaluate only the top n results of each query (trec_eval -M)", parsePositiveIntArg)
    .option("--json", "print JSON instead of a table")
    .option("--per-query", "also print each query's values")
    .action(action("eval", async () => {
      const o = cmd.opts<EvalOptions>();
      const metrics = o.metrics.split(",").map((m) => m.trim()).filter((m) => m !== "");
      if (metrics.length === 0) throw new CliError("--metrics is empty");
      for (const m of metrics) {
        try {
          parseMetric(m); // an unknown metric is refused before any file is read
        } catch (err) {
          throw new CliError((err as Error).message);
        }
      }
      if (o.level < 0) throw new CliError(`--level must be >= 0, got ${o.level}`);
      const qrels = await loadQrelsFile(o.qrels);
      const run = await loadRunFile(o.run);
      const ev = evaluate(run, qrels, { metrics, relevanceLevel: o.level, complete: o.complete ?? false, maxDocsPerQuery: o.maxDocs });
      if (ev.numQueries === 0) throw new CliError(`${o.run}: no query of the run is in ${o.qrels} (trec_eval: "No queries with both results and relevance info")`);
      const absent = ev.missingQueries === 0 ? "" : ev.complete
        ? `; ${ev.missingQueries} qrels queries absent from the run scored 0 (-c)`
        : `; ${ev.missingQueries} qrels queries absent from the run were skipped (trec_eval's default; -c scores them 0)`;
      const noRel = ev.queriesWithoutRelevant === 0 ? "" : `; ${ev.queriesWithoutRelevant} of them have no judgement >= ${ev.relevanceLevel} (counted, scoring 0, as trec_eval)`;
      const summary = `${ev.numQueries} queries evaluated at relevance level ${ev.relevanceLevel}${noRel}${absent}`;
      if (o.json) {
        const out: Record<string, unknown> = {
          run: o.run, qrels: o.qrels, relevanceLevel: ev.relevanceLevel, complete: ev.complete, queries: ev.numQueries,
          qrelsQueries: ev.qrelsQueries, missingQueries: ev.missingQueries, queriesWithoutRelevant: ev.queriesWithoutRelevant, metrics: ev.mean,
        };
        if (o.perQuery) out.perQuery = Object.fromEntries(ev.perQuery);
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        log(`eval: ${summary}`);
        return;
      }
      if (o.perQuery) {
        const rows = [...ev.perQuery].map(([qid, r]) => [qid, ...metrics.map((m) => r[m]!)]);
        process.stdout.write(formatTable(["query", ...metrics], rows));
        process.stdout.write("\n");
      }
      process.stdout.write(formatTable(["metric", "value"], metrics.map((m) => [m, ev.mean[m]!])));
      process.stdout.write(`${summary}\n`);
    }));
  return cmd;
}
