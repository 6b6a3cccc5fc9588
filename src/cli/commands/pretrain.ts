/** `md2pr pretrain`: masked-language-model pretraining of a small BERT on a corpus (a base for `train`). */
import { basename, dirname, join } from "node:path";
import type { Command } from "commander";
import { runDebertaPretrain } from "../../training/deberta-pretrain.ts";
import { runPretrain, type PretrainConfig } from "../../training/pretrain.ts";
import { addConfigFlags, DEFAULT_PRETRAIN, PRETRAIN_FLAGS, pretrainConfigFrom } from "../config-flags.ts";
import { claimOutput } from "../../util/output.ts";
import { action, CliError, log, newCommand } from "../util.ts";

const NEEDS_SPM = "--arch deberta-v2 needs --spm-model PATH (an spm.model file, or a directory with spm.model or tokenizer.json)";

/** `--arch deberta-v2`: MLM of a DeBERTa-v3-style encoder on --spm-model's ids (the cold start of a DeBERTa ranker). */
async function pretrainDeberta(cfg: PretrainConfig): Promise<{ dir: string; finalLoss: number; seconds: number }> {
  if (!cfg.spmModel) throw new CliError(NEEDS_SPM);
  const t0 = Date.now();
  const r = await runDebertaPretrain({
    dataDir: cfg.dataDir, tokenizerDir: cfg.spmModel, outputDir: cfg.outputDir, model: cfg.model,
    positionBuckets: cfg.positionBuckets ?? 256, maxRelativePositions: cfg.maxRelativePositions ?? 512, maxLength: cfg.maxLength,
    batchSize: cfg.batchSize, steps: cfg.steps, learningRate: cfg.learningRate, warmupSteps: cfg.warmupSteps, seed: cfg.seed,
    checkpointEvery: cfg.checkpointEvery, resume: cfg.resume,
  });
  return { dir: r.dir, finalLoss: r.finalLoss, seconds: (Date.now() - t0) / 1000 };
}

export function pretrainCommand(): Command {
  const cmd = newCommand(
    "pretrain",
    "Pretrains a BERT with the masked-language-model objective (15% of word pieces chosen; 80% masked, 10% random, 10% " +
      "kept) on the passages and query texts of a BEIR directory, for users without a pretrained BERT. The vocabulary is " +
      "restricted to the pieces the data uses unless --no-restrict-vocab. Writes an HF BertForMaskedLM directory with its " +
      "vocab.txt that `md2pr train --base DIR` starts both models from; checkpoints go to <out>-work and an interrupted " +
      "run resumes from them. --arch deberta-v2 --spm-model FILE pretrains a DeBERTa-v3-style encoder (relative " +
      "attention, no absolute positions) on that SentencePiece model's ids instead, written as an HF " +
      "DebertaV2ForMaskedLM directory with spm.model that `--ranker-arch deberta-v2 --ranker-base DIR` starts from. " +
      "Settings: the defaults, then --config FILE (JSON), then the flags.",
    "md2pr pretrain --data data/scifact --out models/base-scifact --steps 2000 --hidden 256 --layers 4",
  );
  addConfigFlags(cmd, PRETRAIN_FLAGS, DEFAULT_PRETRAIN);
  cmd.action(action("pretrain", async () => {
    const cfg = pretrainConfigFrom(cmd);
    if (cmd.opts<{ printConfig?: boolean }>().printConfig) {
      process.stdout.write(`${JSON.stringify(cfg, null, 2)}\n`);
      return;
    }
    if (cfg.arch === "deberta-v2" && !cfg.spmModel) throw new CliError(NEEDS_SPM);
    const overwrite = cmd.opts<{ overwrite?: boolean }>().overwrite;
    claimOutput(cfg.outputDir, { type: "dir", kind: "base-model" }, { overwrite });
    // its checkpoints and log go to <out>-work (see runPretrain): claimed too
    claimOutput(join(dirname(cfg.outputDir), `${basename(cfg.outputDir)}-work`), { type: "dir", kind: "training-run", stamp: {} }, { overwrite });
    const result = cfg.arch === "deberta-v2" ? await pretrainDeberta(cfg) : await runPretrain(cfg);
    log(`pretrain: final MLM loss ${result.finalLoss.toFixed(4)} after ${result.seconds.toFixed(1)} s`);
    process.stdout.write(`wrote ${result.dir}\n`);
  }));
  return cmd;
}
