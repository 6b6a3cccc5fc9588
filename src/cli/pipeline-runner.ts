/**
 * The MD2PR pipeline as the `mine`, `train-ranker` and `train` commands run it (training/run-pipeline.ts does the
 * work): progress on stderr, the result on stdout (the file or directory a stage made, or the evaluation table).
 */
import { join } from "node:path";
import { runPipeline as runStages, STAGES, type Stage } from "../training/run-pipeline.ts";
import type { PipelineConfig, SystemRow } from "../training/pipeline.ts";
import { formatTable, log } from "./util.ts";

export { STAGES, type Stage };

export function systemsTable(rows: readonly SystemRow[]): string {
  return formatTable(["system", "nDCG@10", "MRR@10", "R@100", "run"], rows.map((r) => [r.system, r.ndcg10, r.mrr10, r.recall100, r.run]));
}

/**
 * Runs `stage` (or every stage) of the pipeline; prints the evaluation table on stdout. `mineFile` is where the
 * `mine` stage writes (default <out>/train-bm25.jsonl, the file the other stages read).
 */
export async function runPipeline(cfg: PipelineConfig, stage: Stage, mineFile?: string): Promise<void> {
  const outcome = await runStages(cfg, stage, { mineFile, log });
  if (stage === "mine") process.stdout.write(`${outcome.trainingFile}\n`);
  else if (stage === "ranker") process.stdout.write(`${outcome.rankerDir}\n`);
  else if (stage === "retriever") process.stdout.write(`${outcome.retrieverDir}\n`);
  else {
    process.stdout.write(`${cfg.testSplit} split, ${outcome.testQueries} queries:\n`);
    process.stdout.write(systemsTable(outcome.systems ?? []));
    process.stdout.write(`results: ${join(cfg.outputDir, "results.json")}\n`);
  }
}
