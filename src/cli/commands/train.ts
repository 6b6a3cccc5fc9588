/** `md2pr mine`, `md2pr train-ranker` and `md2pr train`: the MD2PR pipeline, whole or by stage. */
import { Option, type Command } from "commander";
import { addConfigFlags, DEFAULT_PIPELINE, PIPELINE_FLAGS, pipelineConfigFrom } from "../config-flags.ts";
import { runPipeline, STAGES, type Stage } from "../pipeline-runner.ts";
import { claimOutput } from "../../util/output.ts";
import { action, newCommand } from "../util.ts";

const SETTINGS =
  "Settings: DEFAULT_PIPELINE, then --config FILE (JSON, nested objects merged, unknown keys refused), then the flags; " +
  "--print-config shows the result.";

/** Runs the pipeline unless --print-config asked only for the merged config. */
async function run(cmd: Command, stage: Stage, mineFile?: string): Promise<void> {
  const cfg = pipelineConfigFrom(cmd);
  if (cmd.opts<{ printConfig?: boolean }>().printConfig) {
    process.stdout.write(`${JSON.stringify(cfg, null, 2)}\n`);
    return;
  }
  // One writer per run folder; never a folder of someone else's files (util/output.ts).
  claimOutput(cfg.outputDir, { type: "dir", kind: "training-run", stamp: {} }, { overwrite: cmd.opts<{ overwrite?: boolean }>().overwrite });
  await runPipeline(cfg, stage, mineFile);
}

export function mineCommand(): Command {
  const cmd = newCommand(
    "mine",
    "Loads a BEIR data set, carves the dev queries out of the train split (seeded), builds (or reuses) the BM25 index " +
      "in <out>/bm25 and writes, for every remaining train query, its positives and its top --mined-negatives BM25 " +
      "passages that are not positives, as training JSONL ({query_id, query, positive_ids, negative_ids} per line) to " +
      "<out>/train-bm25.jsonl or --output. An existing file is kept. " + SETTINGS,
    "md2pr mine --data data/scifact --out runs/scifact --mined-negatives 30",
  );
  cmd.option("--output <file>", "training JSONL to write (default: <out>/train-bm25.jsonl, which `train` reads)");
  addConfigFlags(cmd, PIPELINE_FLAGS, DEFAULT_PIPELINE);
  cmd.action(action("mine", () => run(cmd, "mine", cmd.opts<{ output?: string }>().output)));
  return cmd;
}

export function trainRankerCommand(): Command {
  const cmd = newCommand(
    "train-ranker",
    "Runs the pipeline up to the ranker: data, BM25, mined negatives (reused when present), then trains the " +
      "cross-encoder with the listwise loss over each query's positive and hard negatives (with the BM25 lexical prior " +
      "unless --no-lexical-prior), starting from --base. Saves it to <out>/ranker and prints its dev score reranking " +
      "BM25. An existing <out>/ranker is loaded, not retrained; an interrupted run resumes from its checkpoint. " + SETTINGS,
    "md2pr train-ranker --data data/scifact --out runs/scifact --base models/base-scifact --ranker-steps 300",
  );
  addConfigFlags(cmd, PIPELINE_FLAGS, DEFAULT_PIPELINE);
  cmd.action(action("train-ranker", () => run(cmd, "ranker")));
  return cmd;
}

export function trainCommand(): Command {
  const cmd = newCommand(
    "train",
    "Runs the whole MD2PR pipeline: data, BM25 index, BM25-mined negatives, the ranker, the retriever distilled from " +
      "it (sentence-level KL weighted by --alpha, word-level attention and hidden-state terms by --beta, with the " +
      "false-negative filter), an optional second round on retriever-mined negatives (--second-round), and the " +
      "evaluation of BM25, the retriever, hybrid and reranking on the test split (a table, TREC runs in <out>/runs, " +
      "<out>/results.json). --stage runs one stage, reusing what earlier stages wrote in <out>. " + SETTINGS,
    "md2pr train --data data/scifact --out runs/scifact --base models/base-scifact --alpha 1 --beta 1",
  );
  cmd.addOption(new Option("--stage <stage>", "the stage to run").choices(STAGES).default("all"));
  addConfigFlags(cmd, PIPELINE_FLAGS, DEFAULT_PIPELINE);
  cmd.action(action("train", () => run(cmd, cmd.opts<{ stage: Stage }>().stage)));
  return cmd;
}
