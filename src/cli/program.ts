/** The `md2pr` program: commander with one subcommand per file in ./commands. */
import { Command } from "commander";
import { bm25Command } from "./commands/bm25.ts";
import { demoCommand } from "./commands/demo.ts";
import { encodeCommand } from "./commands/encode.ts";
import { evalCommand } from "./commands/eval.ts";
import { indexCommand } from "./commands/index.ts";
import { pretrainCommand } from "./commands/pretrain.ts";
import { rerankCommand } from "./commands/rerank.ts";
import { searchCommand } from "./commands/search.ts";
import { mineCommand, trainCommand, trainRankerCommand } from "./commands/train.ts";
import { packageVersion } from "./util.ts";

export const COMMANDS = ["pretrain", "mine", "train-ranker", "train", "encode", "index", "search", "rerank", "eval", "bm25", "demo"] as const;

export function buildProgram(): Command {
  const program = new Command("md2pr");
  program
    .description(
      "Train, distill, index, search and evaluate dense passage retrievers with MD2PR (multi-level distillation from a " +
        "cross-encoder ranker). Typical flow: pretrain (optional) -> train -> encode -> index -> search -> rerank -> eval; `md2pr demo` runs the main job on SciFact.",
    )
    .version(packageVersion(), "-V, --version", "print the version")
    .configureOutput({ outputError: (str, write) => write(`md2pr: ${str.replace(/^error: /, "")}`) })
    .showHelpAfterError("(run md2pr --help for the commands)")
    .addHelpText("after", "\nExample:\n  md2pr bm25 --corpus data/scifact/corpus.jsonl --out runs/bm25 && md2pr search --bm25 runs/bm25 \\\n" +
      "    --queries data/scifact/queries.jsonl --qrels data/scifact/qrels/test.tsv --out runs/bm25.trec && \\\n" +
      "    md2pr eval --run runs/bm25.trec --qrels data/scifact/qrels/test.tsv\n");
  for (const cmd of [
    pretrainCommand(), mineCommand(), trainRankerCommand(), trainCommand(), encodeCommand(), indexCommand(), searchCommand(),
    rerankCommand(), evalCommand(), bm25Command(), demoCommand(),
  ]) program.addCommand(cmd);
  return program;
}
