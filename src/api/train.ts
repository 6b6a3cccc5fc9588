/**
 * `train(config)`: the MD2PR pipeline from code, with the config `md2pr train --config FILE` takes (a partial
 * PipelineConfig over DEFAULT_PIPELINE, validated the same way: unknown keys, bad ranges and enums are errors).
 */
import { DEFAULT_PIPELINE, readPipelineConfig, type PipelineConfig } from "../training/pipeline.ts";
import { runPipeline, type PipelineOutcome, type Stage } from "../training/run-pipeline.ts";
import { claimOutput } from "../util/output.ts";

/** A partial config: any subset of {@link PipelineConfig}, nested objects merged over the defaults. */
export type TrainConfig = DeepPartial<PipelineConfig>;

export type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

export interface TrainOptions {
  /** The stage to run (default "all": mine, ranker, retriever, evaluation). */
  readonly stage?: Stage;
  /** Progress lines (default: stderr). */
  readonly log?: (line: string) => void;
}

/** The complete, validated config `train(config)` would run with. */
export function resolveTrainConfig(config: TrainConfig | string = {}): PipelineConfig {
  if (typeof config === "string") return readPipelineConfig(config);
  return readPipelineConfig(null, config as Record<string, unknown>, DEFAULT_PIPELINE, { source: "train() config" });
}

/**
 * Runs the pipeline (or one stage) with `config`: a partial PipelineConfig, or the path of a JSON config file.
 * Resolves with what it made: the ranker and retriever directories, dev metrics and the test-split table.
 */
export async function train(config: TrainConfig | string = {}, options: TrainOptions = {}): Promise<PipelineOutcome> {
  const cfg = resolveTrainConfig(config);
  // As `md2pr train --out`: one writer per run folder, never a folder of files md2pr did not write (util/output.ts).
  const lock = claimOutput(cfg.outputDir, { type: "dir", kind: "training-run", stamp: {} });
  try {
    return await runPipeline(cfg, options.stage ?? "all", { log: options.log });
  } finally {
    lock.release();
  }
}
