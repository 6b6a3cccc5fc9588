/** `md2pr pretrain`: masked-language-model pretraining of a small BERT on a corpus (a base for `train`). */
import { basename, dirname, join } from "node:path";
import type { Command } from "commander";
import { runPretrain } from "../../training/pretrain.ts";
import { addConfigFlags, DEFAULT_PRETRAIN, PRETRAIN_FLAGS, pretrainConfigFrom } from "../config-flags.ts";
import { claimOutput } from "../../util/output.ts";
import { action, log, newCommand } from "../util.ts";

export function pretrainCommand(): Command {
  const cmd = newCommand(
    "pretrain",
    "Pretrains a BERT with the masked-language-model objective (15% of word pieces chosen; 80% masked, 10% random, 10% " +
      "kept) on the passages and query texts of a BEIR directory, for users without a pretrained BERT. The vocabulary is " +
      "restricted to the pieces the data uses unless --no-restrict-vocab. Writes an HF BertForMaskedLM directory with its " +
      "vocab.txt that `md2pr train --base DIR` starts both models from; checkpoints go to <out>-work and an interrupted " +
      "run resumes from them. Settings: the defaults, then --config FILE (JSON), then the flags.",
    "md2pr pretrain --data data/scifact --out models/base-scifact --steps 2000 --hidden 256 --layers 4",
  );
  addConfigFlags(cmd, PRETRAIN_FLAGS, DEFAULT_PRETRAIN);
  cmd.action(action("pretrain", async () => {
    const cfg = pretrainConfigFrom(cmd);
    if (cmd.opts<{ printConfig?: boolean }>().printConfig) {
      process.stdout.write(`${JSON.stringify(cfg, null, 2)}\n`);
      return;
    }
    const overwrite = cmd.opts<{ overwrite?: boolean }>().overwrite;
    claimOutput(cfg.outputDir, { type: "dir", kind: "base-model" }, { overwrite });
    // its checkpoints and log go to <out>-work (see runPretrain): claimed too
    claimOutput(join(dirname(cfg.outputDir), `${basename(cfg.outputDir)}-work`), { type: "dir", kind: "training-run", stamp: {} }, { overwrite });
    const result = await runPretrain(cfg);
    log(`pretrain: final MLM loss ${result.finalLoss.toFixed(4)} after ${result.seconds.toFixed(1)} s`);
    process.stdout.write(`wrote ${result.dir}\n`);
  }));
  return cmd;
}
