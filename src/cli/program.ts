/**
 * The `md2pr` program: commander with one subcommand per file in ./commands. Only the command being run is loaded
 * (the training commands pull in the whole library); the others appear in the main help through their summaries.
 */
import { Command } from "commander";
import { packageVersion } from "./util.ts";

export interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  readonly load: () => Promise<Command>;
}

/** Every command, in the order of the main help. */
export const COMMANDS: readonly CommandEntry[] = [
  { name: "pretrain", summary: "MLM-pretrain a small BERT on a corpus", load: async () => (await import("./commands/pretrain.ts")).pretrainCommand() },
  { name: "mine", summary: "mine BM25 hard negatives for the training queries", load: async () => (await import("./commands/train.ts")).mineCommand() },
  { name: "train-ranker", summary: "train the ranker (the cross-encoder teacher)", load: async () => (await import("./commands/train.ts")).trainRankerCommand() },
  { name: "train", summary: "run the MD2PR pipeline (mine, ranker, retriever, evaluation)", load: async () => (await import("./commands/train.ts")).trainCommand() },
  { name: "encode", summary: "encode a corpus into a dense index", load: async () => (await import("./commands/encode.ts")).encodeCommand() },
  { name: "index", summary: "build an HNSW index from a dense index", load: async () => (await import("./commands/index.ts")).indexCommand() },
  { name: "search", summary: "retrieve passages for queries (dense, BM25 or hybrid)", load: async () => (await import("./commands/search.ts")).searchCommand() },
  { name: "rerank", summary: "rerank a TREC run with the ranker", load: async () => (await import("./commands/rerank.ts")).rerankCommand() },
  { name: "eval", summary: "evaluate a TREC run against qrels", load: async () => (await import("./commands/eval.ts")).evalCommand() },
  { name: "bm25", summary: "build a BM25 index of a corpus", load: async () => (await import("./commands/bm25.ts")).bm25Command() },
  { name: "demo", summary: "train and evaluate MD2PR on the shipped SciFact", load: async () => (await import("./commands/demo.ts")).demoCommand() },
  { name: "report", summary: "write an HTML report with charts of a run's training logs and results", load: async () => (await import("./commands/report.ts")).reportCommand() },
  { name: "serve", summary: "serve search over HTTP, with a search page (Fastify)", load: async () => (await import("./commands/serve.ts")).serveCommand() },
];

/** The command a command line asks for (`md2pr help NAME` included), or null. */
export function requestedCommand(args: readonly string[]): string | null {
  const first = args.find((a) => !a.startsWith("-"));
  if (first === "help") return args[args.indexOf("help") + 1] ?? null;
  return first ?? null;
}

/** The program for `args` (process.argv without node and the script): the requested command fully built, the rest as summaries. */
export async function buildProgram(args: readonly string[]): Promise<Command> {
  const program = new Command("md2pr");
  program
    .description(
      "Train, distill, index, search and evaluate dense passage retrievers with MD2PR (multi-level distillation from a " +
        "cross-encoder ranker). Typical flow: pretrain (optional) -> train -> encode -> index -> search -> rerank -> eval; " +
        "`md2pr demo` runs the main job on SciFact. `md2pr <command> --help` describes a command.",
    )
    .version(packageVersion(), "-V, --version", "print the version")
    .configureOutput({ outputError: (str, write) => write(`md2pr: ${str.replace(/^error: /, "")}`) })
    .showHelpAfterError("(run md2pr --help for the commands)")
    .addHelpText("after", "\nExample:\n  md2pr bm25 --corpus data/scifact/corpus.jsonl --out runs/bm25 && md2pr search --bm25 runs/bm25 \\\n" +
      "    --queries data/scifact/queries.jsonl --qrels data/scifact/qrels/test.tsv --out runs/bm25.trec && \\\n" +
      "    md2pr eval --run runs/bm25.trec --qrels data/scifact/qrels/test.tsv\n");
  const wanted = requestedCommand(args);
  for (const entry of COMMANDS) {
    const cmd = entry.name === wanted ? await entry.load() : new Command(entry.name);
    program.addCommand(cmd.summary(entry.summary));
  }
  return program;
}
