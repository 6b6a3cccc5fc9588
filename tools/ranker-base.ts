/**
 * Makes a self-supervised ranker base (src/training/ranker-pretrain.ts) from an MLM base:
 *
 *   node --import tsx tools/ranker-base.ts --base models/base-scifact --out models/ranker-scifact-ss \
 *     [--steps 1000] [--batch-size 8] [--negatives 7] [--kinds title,ict] [--lr 1e-3] [--seed 0] [--lexical-prior]
 *
 * <out>-work holds the checkpoints (an interrupted run resumes); <out>/md2pr-pretrain.json records the command,
 * the settings and the time. The labelled ranker then starts from it with `ranker.base` (`--ranker-base`).
 */
import { parseArgs } from "node:util";
import { DEFAULT_RANKER_PRETRAIN as D, runRankerPretrain } from "../src/training/ranker-pretrain.ts";
import type { PairKind } from "../src/training/self-supervised.ts";

const { values } = parseArgs({
  options: {
    base: { type: "string", default: "models/base-scifact" },
    out: { type: "string", default: "models/ranker-scifact-ss" },
    data: { type: "string", default: D.dataDir },
    steps: { type: "string", default: String(D.steps) },
    "batch-size": { type: "string", default: String(D.batchSize) },
    negatives: { type: "string", default: String(D.negatives) },
    kinds: { type: "string", default: D.kinds.join(",") },
    lr: { type: "string", default: String(D.learningRate) },
    seed: { type: "string", default: String(D.seed) },
    "lexical-prior": { type: "boolean", default: D.lexicalPrior },
  },
});
const result = await runRankerPretrain({
  ...D, from: values.base!, outputDir: values.out!, dataDir: values.data!, steps: Number(values.steps), batchSize: Number(values["batch-size"]),
  negatives: Number(values.negatives), kinds: values.kinds!.split(",") as PairKind[], learningRate: Number(values.lr), seed: Number(values.seed),
  lexicalPrior: values["lexical-prior"]!,
}, `node --import tsx tools/ranker-base.ts ${process.argv.slice(2).join(" ")}`);
process.stdout.write(`wrote ${result.dir} (${result.seconds.toFixed(0)} s)\n`);
