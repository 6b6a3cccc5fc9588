/**
 * Contrastive pretraining of a base BERT on the corpus alone (no labels): the pipeline's self-supervised warm-up
 * (title -> abstract and inverse-cloze pairs, in-batch negatives; src/training/self-supervised.ts) run longer and
 * with larger batches from an MLM base, then saved as a plain HF BERT directory that `md2pr train --base` and the
 * demo start both models from.
 *
 *   node --import tsx tools/contrastive-base.ts --base models/base-scifact --out models/base-scifact-cpt \
 *     [--steps 600] [--batch-size 64] [--kinds title,ict] [--lr 1e-3] [--seed 0]
 *
 * The warm-up's checkpoints go to <out>-work (an interrupted run resumes); <out>/md2pr-pretrain.json records the
 * command, the settings, the time and the final loss.
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DEMO_OVERRIDES } from "../src/cli/demo.ts";
import { saveCheckpoint } from "../src/models/checkpoint.ts";
import { TokenizedCorpus } from "../src/retrieval/tokenized-corpus.ts";
import { loadPipelineData, loadTokenizer, readPipelineConfig, warmUpRetriever } from "../src/training/pipeline.ts";
import type { PairKind } from "../src/training/self-supervised.ts";
import { writeJsonAtomic } from "../src/util/atomic.ts";

const { values } = parseArgs({
  options: {
    base: { type: "string", default: "models/base-scifact" },
    out: { type: "string", default: "models/base-scifact-cpt" },
    steps: { type: "string", default: "600" },
    "batch-size": { type: "string", default: "64" },
    kinds: { type: "string", default: "title,ict" },
    lr: { type: "string", default: "1e-3" },
    seed: { type: "string", default: "0" },
  },
});
const t0 = Date.now();
const out = values.out!;
const steps = Number(values.steps);
const batchSize = Number(values["batch-size"]);
const work = `${out}-work`;
const cfg = readPipelineConfig(null, {
  ...DEMO_OVERRIDES, base: values.base!, outputDir: work, seed: Number(values.seed),
  warmup: { steps, batchSize, learningRate: Number(values.lr), warmupSteps: Math.round(steps * 0.1), kinds: values.kinds!.split(",") as PairKind[] },
});
const data = await loadPipelineData(cfg);
const corpus = new TokenizedCorpus(data.docs, loadTokenizer(cfg));
const encoder = await warmUpRetriever(cfg, data, corpus, "contrastive");
if (existsSync(out)) rmSync(out, { recursive: true });
saveCheckpoint(out, encoder.config, encoder.queryEncoder.params, { md2pr_stage: "pretrain-contrastive" });
corpus.tokenizer.save(out);
writeJsonAtomic(join(out, "md2pr-pretrain.json"), {
  command: `node --import tsx tools/contrastive-base.ts ${process.argv.slice(2).join(" ")}`,
  from: values.base,
  objective: "contrastive: the pipeline's self-supervised warm-up (in-batch negatives), mean pooling, dot product",
  warmup: cfg.warmup,
  lengths: cfg.lengths,
  seconds: (Date.now() - t0) / 1000,
  note: "the warm-up's training log is in <out>-work/work/contrastive/train-log.jsonl (not shipped)",
});
process.stdout.write(`wrote ${out} in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
