/** `md2pr demo`: the whole MD2PR run on the shipped SciFact, with a results table (see src/cli/demo.ts). */
import type { Command } from "commander";
import { claimOutput } from "../../util/output.ts";
import { runDemo } from "../demo.ts";
import { action, newCommand, parseIntArg } from "../util.ts";

interface DemoCommandOptions {
  fromScratch?: boolean;
  out: string;
  config?: string;
  seed: number;
  resultsFile: string | false;
}

export function demoCommand(): Command {
  const cmd = newCommand(
    "demo",
    "Runs the main job end to end on data/scifact, sized to finish in about 13 minutes on 2 idle CPU cores: the BM25 " +
      "index, BM25-mined negatives, the ranker (from models/base-scifact), the retriever (from the contrastive-pretrained " +
      "models/base-scifact-cpt, distilled from the ranker with the false-negative filter), and a " +
      "table of BM25, the retriever, hybrid (BM25 + retriever, fused as chosen on the dev split), retrieve+rerank and " +
      "hybrid+rerank on the test queries (also written to --results-file), with the paths of everything written. --from-scratch makes both bases first (MLM, then contrastive). " +
      "A rerun reuses what the output directory holds.",
    "md2pr demo --out runs/demo",
  );
  cmd
    .option("--from-scratch", "make both bases first (MLM, then contrastive pretraining) instead of using models/base-scifact and models/base-scifact-cpt")
    .option("--out <dir>", "output directory", "runs/demo")
    .option("--config <file>", "JSON pipeline config over the demo's settings")
    .option("--seed <n>", "random seed", parseIntArg, 0)
    .option("--results-file <file>", "the table as JSON ([{ system, ndcg10, mrr10, recall100, command }])", "results/demo-scifact.json")
    .option("--no-results-file", "do not write the table as JSON")
    .action(action("demo", async () => {
      const o = cmd.opts<DemoCommandOptions>();
      claimOutput(o.out, { type: "dir", kind: "training-run", stamp: {} }); // one writer; never a folder of other files
      await runDemo({ fromScratch: Boolean(o.fromScratch), outputDir: o.out, configFile: o.config ?? null, seed: o.seed, resultsFile: o.resultsFile || null });
    }));
  return cmd;
}
