/**
 * Makes a contrastive-pretrained base (src/training/contrastive-pretrain.ts) from an MLM base:
 *
 *   node --import tsx tools/contrastive-base.ts --base models/base-scifact --out models/base-scifact-cpt \
 *     [--steps 500] [--batch-size 64] [--kinds title,ict] [--lr 1e-3] [--seed 0]
 *
 * (the defaults make the shipped models/base-scifact-cpt). <out>-work holds the checkpoints (an interrupted run
 * resumes); <out>/md2pr-pretrain.json records the command, the settings and the time.
 */
import { parseArgs } from "node:util";
import { DEFAULT_CONTRASTIVE_PRETRAIN as D, runContrastivePretrain } from "../src/training/contrastive-pretrain.ts";
import type { PairKind } from "../src/training/self-supervised.ts";

const { values } = parseArgs({
  options: {
    base: { type: "string", default: "models/base-scifact" },
    out: { type: "string", default: "models/base-scifact-cpt" },
    data: { type: "string", default: D.dataDir },
    steps: { type: "string", default: String(D.steps) },
    "batch-size": { type: "string", default: String(D.batchSize) },
    kinds: { type: "string", default: D.kinds.join(",") },
    lr: { type: "string", default: String(D.learningRate) },
    seed: { type: "string", default: String(D.seed) },
  },
});
const result = await runContrastivePretrain({
  ...D, from: values.base!, outputDir: values.out!, dataDir: values.data!, steps: Number(values.steps), batchSize: Number(values["batch-size"]),
  kinds: values.kinds!.split(",") as PairKind[], learningRate: Number(values.lr), seed: Number(values.seed),
}, `node --import tsx tools/contrastive-base.ts ${process.argv.slice(2).join(" ")}`);
process.stdout.write(`wrote ${result.dir} (${result.seconds.toFixed(0)} s)\n`);
