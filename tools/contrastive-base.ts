/**
 * Makes a contrastive-pretrained base (src/training/contrastive-pretrain.ts) from an MLM base:
 *
 *   node --import tsx tools/contrastive-base.ts --base models/base-scifact --out models/base-scifact-cpt \
 *     [--rounds 500:0,600:1,600:2] [--batch-size 64] [--kinds title,ict] [--lr 1e-3]
 *
 * --rounds STEPS:SEED,...: rounds run one after the other, each from the previous round's base with its own seed
 * (new ICT sentences) and its own learning-rate warm-up and decay; the defaults make the shipped
 * models/base-scifact-cpt. <out>-round<i> holds the intermediate bases and <dir>-work each round's checkpoints (an
 * interrupted run resumes); <out>/md2pr-pretrain.json records the command, the settings and the time of the last round.
 */
import { parseArgs } from "node:util";
import { DEFAULT_CONTRASTIVE_PRETRAIN as D, SHIPPED_CONTRASTIVE_ROUNDS, runContrastiveRounds, type ContrastiveRound } from "../src/training/contrastive-pretrain.ts";
import type { PairKind } from "../src/training/self-supervised.ts";

const { values } = parseArgs({
  options: {
    base: { type: "string", default: "models/base-scifact" },
    out: { type: "string", default: "models/base-scifact-cpt" },
    data: { type: "string", default: D.dataDir },
    rounds: { type: "string", default: SHIPPED_CONTRASTIVE_ROUNDS.map((r) => `${r.steps}:${r.seed}`).join(",") },
    "batch-size": { type: "string", default: String(D.batchSize) },
    kinds: { type: "string", default: D.kinds.join(",") },
    lr: { type: "string", default: String(D.learningRate) },
  },
});
const rounds: ContrastiveRound[] = values.rounds!.split(",").map((r) => {
  const [steps, seed] = r.split(":").map(Number);
  if (!Number.isInteger(steps) || !Number.isInteger(seed) || steps! <= 0) throw new Error(`--rounds: "${r}" is not STEPS:SEED`);
  return { steps: steps!, seed: seed! };
});
const result = await runContrastiveRounds({
  ...D, from: values.base!, outputDir: values.out!, dataDir: values.data!, batchSize: Number(values["batch-size"]),
  kinds: values.kinds!.split(",") as PairKind[], learningRate: Number(values.lr),
}, rounds, `node --import tsx tools/contrastive-base.ts ${process.argv.slice(2).join(" ")}`);
process.stdout.write(`wrote ${result.dir} (${result.seconds.toFixed(0)} s)\n`);
