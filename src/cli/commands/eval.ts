/** `md2pr eval`: scores a TREC run against qrels with trec_eval's definitions. */
import type { Command } from "commander";
import { evaluateRun } from "../../retrieval/metrics.ts";
import { loadQrelsFile, loadRunFile } from "../io.ts";
import { action, CliError, formatTable, newCommand } from "../util.ts";

interface EvalOptions {
  run: string;
  qrels: string;
  metrics: string;
  json?: boolean;
  perQuery?: boolean;
}

export const DEFAULT_METRICS = "ndcg@10,mrr@10,recall@100,map";

export function evalCommand(): Command {
  const cmd = newCommand(
    "eval",
    "Evaluates a TREC run file (qid Q0 docid rank score tag) against relevance judgements, BEIR qrels tsv (with or " +
      "without the query-id header) or TREC qrels (qid iter docid rel), detected from the first line. Metrics follow " +
      "trec_eval: hits are re-sorted by score (ties by docid), a judged query missing from the run scores 0, and the mean " +
      "is over the queries with at least one relevant document. Prints a table, or JSON with --json.",
    "md2pr eval --run runs/bm25.trec --qrels data/scifact/qrels/test.tsv --metrics ndcg@10,recall@100",
  );
  cmd
    .requiredOption("--run <file>", "TREC run file")
    .requiredOption("--qrels <file>", "qrels file (BEIR tsv or TREC)")
    .option("--metrics <list>", "comma-separated metrics: ndcg@k, mrr@k, recall@k, p@k, map, mrr", DEFAULT_METRICS)
    .option("--json", "print JSON instead of a table")
    .option("--per-query", "also print each query's values")
    .action(action("eval", async () => {
      const o = cmd.opts<EvalOptions>();
      const metrics = o.metrics.split(",").map((m) => m.trim()).filter((m) => m !== "");
      if (metrics.length === 0) throw new CliError("--metrics is empty");
      evaluateRun(new Map(), new Map(), metrics); // rejects an unknown metric before reading any file
      const qrels = await loadQrelsFile(o.qrels);
      const run = await loadRunFile(o.run);
      const ev = evaluateRun(run, qrels, metrics);
      if (ev.numQueries === 0) throw new CliError(`${o.qrels}: no query has a relevant document`);
      if (o.json) {
        const out: Record<string, unknown> = { run: o.run, qrels: o.qrels, queries: ev.numQueries, missingQueries: ev.missingQueries, metrics: ev.mean };
        if (o.perQuery) out.perQuery = Object.fromEntries(ev.perQuery);
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      if (o.perQuery) {
        const rows = [...ev.perQuery].map(([qid, r]) => [qid, ...metrics.map((m) => r[m]!)]);
        process.stdout.write(formatTable(["query", ...metrics], rows));
        process.stdout.write("\n");
      }
      process.stdout.write(formatTable(["metric", "value"], metrics.map((m) => [m, ev.mean[m]!])));
      process.stdout.write(`${ev.numQueries} queries evaluated (${ev.missingQueries} absent from the run)\n`);
    }));
  return cmd;
}
