/**
 * The training loop shared by every stage (MLM pretraining, self-supervised warm-up, ranker, retriever):
 * micro-batches with gradient accumulation, AdamW (no weight decay on biases and LayerNorm), linear warm-up and
 * decay, clipping by global norm, periodic evaluation, checkpoints every N steps, exact resume, a progress bar
 * and a JSONL log of every loss term and the learning rate.
 *
 * Checkpoint (`<out>/checkpoint/`): weights.safetensors (model and any extra trainable tensors),
 * optimizer.safetensors (AdamW m.<name>, v.<name>), state.json (step, optimizer step, RNG state, the stage's own
 * state such as the false-negative filter, the config). It is written to a temporary directory and renamed over
 * the previous one (util/atomic.ts: the previous one is moved aside until the rename is done, and put back at the
 * next start if the run died in between), so a run killed mid-checkpoint resumes from the last complete one. The
 * data position is a function of the step (see the samplers), so a resumed run sees the same batches, the same
 * dropout masks and gives the same losses as an uninterrupted one. The checkpoint records the settings that change
 * results (the loop's own and the stage's `settings`); resuming under different ones is refused, naming what
 * changed, unless `forceResume`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { backward, clearTape } from "../engine/autograd.ts";
import { Rng } from "../engine/rng.ts";
import type { Tensor } from "../engine/tensor.ts";
import { readSafetensors, writeSafetensors, type TensorInput } from "../models/safetensors.ts";
import { AdamW, clipGradNorm, linearWarmupDecay } from "../nn/optim.ts";
import { cleanStaleTemps, writeDirAtomic, writeJsonAtomic } from "../util/atomic.ts";
import { startProgress } from "../util/progress.ts";
import { settingsDiff } from "../util/provenance.ts";

export interface LoopConfig {
  /** Where checkpoints and the log go. */
  outputDir: string;
  /** Optimizer steps. */
  steps: number;
  gradientAccumulation: number;
  learningRate: number;
  /** Warm-up steps (linear from 0), then linear decay to 0. */
  warmupSteps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this (0 or Infinity: off). */
  maxGradNorm: number;
  seed: number;
  /** Checkpoint every N optimizer steps (0: only at the end). */
  checkpointEvery: number;
  /** Evaluate every N optimizer steps (0: only at the end, when `evaluate` is given). */
  evalEvery: number;
  /** Evaluation of the model being trained (for example nDCG@10 on a dev split), logged with its step. */
  evaluate?: (step: number) => Promise<Record<string, number>>;
  /** Continue from `<outputDir>/checkpoint` when present. */
  resume: boolean;
  /** Label of the progress bar and log records. */
  label: string;
  /** Stop after this many optimizer steps in this process (for tests of resume); undefined = run to the end. */
  stopAfter?: number;
  /** The stage's settings that change results (data, models it starts from, batch sizes...), checked on resume. */
  settings?: Record<string, unknown>;
  /** Resume even when the recorded settings differ (the differences are logged). */
  forceResume?: boolean;
}

export interface MicroStepResult {
  /** Scalar loss to backpropagate (already divided as the stage wants; the loop divides by accumulation). */
  loss: Tensor;
  /** Loss terms and other numbers for the log. */
  terms: Record<string, number>;
  /** Training pairs (or sequences) processed, for throughput. */
  items: number;
}

export interface TrainableStage {
  /** Trainable tensors by name (saved in checkpoints). */
  params: Map<string, Tensor>;
  /** Runs micro-batch number `micro` (a global counter: step * accumulation + k) and returns its loss. */
  microStep(micro: number, rng: Rng): MicroStepResult;
  /** Optional state that must survive a resume (JSON-serialisable). */
  getState?(): unknown;
  setState?(state: unknown): void;
}

export interface LoopResult {
  steps: number;
  logFile: string;
  lastTerms: Record<string, number>;
  evaluations: { step: number; metrics: Record<string, number> }[];
}

interface CheckpointState {
  step: number;
  rng: number[];
  optimizerStep: number;
  stage: unknown;
  label: string;
  evaluations: { step: number; metrics: Record<string, number> }[];
  /** The settings the run was started with (absent in checkpoints of older versions: not checked). */
  settings?: Record<string, unknown>;
}

/** The settings of a run that change its results: the loop's own and the stage's. */
function runSettings(config: LoopConfig): Record<string, unknown> {
  const { steps, gradientAccumulation, learningRate, warmupSteps, weightDecay, maxGradNorm, seed } = config;
  return { loop: { steps, gradientAccumulation, learningRate, warmupSteps, weightDecay, maxGradNorm, seed }, stage: config.settings ?? {} };
}

/** Refuses (or, with forceResume, reports) a resume under settings other than the checkpoint's. */
function checkResumeSettings(dir: string, state: CheckpointState, config: LoopConfig): void {
  if (state.settings === undefined) return;
  const changed = settingsDiff(state.settings, runSettings(config));
  if (changed.length === 0) return;
  const list = changed.slice(0, 8).join("; ") + (changed.length > 8 ? `; and ${changed.length - 8} more` : "");
  if (!config.forceResume) {
    throw new Error(
      `${config.label}: the checkpoint in ${dir} was made with other settings (${list}); resuming would mix them. ` +
        `Rerun with the original settings, give --force-resume to continue under the new ones, or --no-resume to start over`,
    );
  }
  process.stderr.write(`${config.label}: --force-resume: continuing ${dir} under changed settings (${list})\n`);
}

const CHECKPOINT = "checkpoint";

export async function runTrainingLoop(stage: TrainableStage, config: LoopConfig): Promise<LoopResult> {
  mkdirSync(config.outputDir, { recursive: true });
  // Temporary folders of a killed run go; a checkpoint an interrupted swap moved aside comes back.
  cleanStaleTemps(config.outputDir, 0);
  const logFile = join(config.outputDir, "train-log.jsonl");
  const optimizer = new AdamW(stage.params, { lr: config.learningRate, weightDecay: config.weightDecay });
  const rng = new Rng(config.seed);
  let step = 0;
  let evaluations: LoopResult["evaluations"] = [];

  const resumeDir = config.resume ? findCheckpoint(config.outputDir) : null;
  if (resumeDir) {
    const recorded = JSON.parse(readFileSync(join(resumeDir, "state.json"), "utf8")) as CheckpointState;
    checkResumeSettings(resumeDir, recorded, config);
    const state = loadCheckpoint(resumeDir, stage, optimizer);
    step = state.step;
    rng.setState(state.rng);
    evaluations = state.evaluations;
    stage.setState?.(state.stage);
    truncateLog(logFile, step);
    process.stderr.write(`${config.label}: resumed from ${resumeDir} at step ${step}\n`);
  } else {
    writeFileSync(logFile, "");
  }

  const progress = startProgress(config.label, config.steps, step, "steps");
  let lastTerms: Record<string, number> = {};
  let itemsSince = 0;
  let timeSince = Date.now();
  const stopAt = config.stopAfter === undefined ? config.steps : Math.min(config.steps, step + config.stopAfter);
  while (step < stopAt) {
    const lr = config.learningRate * linearWarmupDecay(step, config.warmupSteps, config.steps);
    optimizer.lr = lr;
    const sums: Record<string, number> = {};
    let items = 0;
    for (let k = 0; k < config.gradientAccumulation; k++) {
      const micro = step * config.gradientAccumulation + k;
      const result = stage.microStep(micro, rng);
      if (!Number.isFinite(result.loss.item())) {
        clearTape();
        throw new Error(`${config.label}: loss is ${result.loss.item()} at step ${step} (micro-batch ${micro}); lower the learning rate`);
      }
      backward(result.loss, 1 / config.gradientAccumulation);
      for (const [key, v] of Object.entries(result.terms)) sums[key] = (sums[key] ?? 0) + v / config.gradientAccumulation;
      items += result.items;
    }
    const gradNorm = clipGradNorm(stage.params.values(), config.maxGradNorm);
    optimizer.step();
    optimizer.zeroGrad();
    step++;
    itemsSince += items;
    const now = Date.now();
    const record = { stage: config.label, step, lr, grad_norm: gradNorm, ...sums, items_per_s: (itemsSince * 1000) / Math.max(1, now - timeSince) };
    itemsSince = 0;
    timeSince = now;
    appendFileSync(logFile, `${JSON.stringify(record)}\n`);
    lastTerms = sums;
    progress.update(step, { loss: sums.loss ?? 0 });

    const atEnd = step === config.steps;
    if (config.evaluate && ((config.evalEvery > 0 && step % config.evalEvery === 0) || atEnd)) {
      const metrics = await config.evaluate(step);
      evaluations.push({ step, metrics });
      appendFileSync(logFile, `${JSON.stringify({ stage: config.label, step, eval: metrics })}\n`);
    }
    if ((config.checkpointEvery > 0 && step % config.checkpointEvery === 0) || atEnd || step === stopAt) {
      saveCheckpoint(config.outputDir, stage, optimizer, { step, rng: rng.getState(), optimizerStep: optimizer.state.step, stage: stage.getState?.() ?? null, label: config.label, evaluations, settings: runSettings(config) });
    }
  }
  progress.stop();
  return { steps: step, logFile, lastTerms, evaluations };
}

function findCheckpoint(outputDir: string): string | null {
  for (const name of [CHECKPOINT, `${CHECKPOINT}.old`]) {
    const dir = join(outputDir, name);
    if (existsSync(join(dir, "state.json"))) return dir;
  }
  return null;
}

function saveCheckpoint(outputDir: string, stage: TrainableStage, optimizer: AdamW, state: CheckpointState): void {
  // Written whole into a temporary folder and renamed into place (util/atomic.ts); a crash between the renames of the
  // swap is repaired by cleanStaleTemps at the next start.
  writeDirAtomic(join(outputDir, CHECKPOINT), (tmp) => {
    const weights = new Map<string, TensorInput>();
    for (const [name, t] of stage.params) weights.set(name, { shape: t.shape, data: t.data });
    writeSafetensors(join(tmp, "weights.safetensors"), weights);
    const moments = new Map<string, TensorInput>();
    for (const [name, m] of optimizer.state.m) moments.set(`m.${name}`, { shape: [m.length], data: m });
    for (const [name, v] of optimizer.state.v) moments.set(`v.${name}`, { shape: [v.length], data: v });
    writeSafetensors(join(tmp, "optimizer.safetensors"), moments);
    writeJsonAtomic(join(tmp, "state.json"), state); // last: its presence marks a complete checkpoint
  });
}

function loadCheckpoint(dir: string, stage: TrainableStage, optimizer: AdamW): CheckpointState {
  const state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as CheckpointState;
  const weights = readSafetensors(join(dir, "weights.safetensors")).tensors;
  for (const [name, t] of stage.params) {
    const w = weights.get(name);
    if (!w) throw new Error(`${dir}/weights.safetensors: missing tensor '${name}'`);
    if (w.data.length !== t.size) throw new Error(`${dir}/weights.safetensors: tensor '${name}' has ${w.data.length} values, the model ${t.size}`);
    t.data.set(w.data);
  }
  const moments = readSafetensors(join(dir, "optimizer.safetensors")).tensors;
  optimizer.state.step = state.optimizerStep;
  for (const [key, value] of moments) {
    const [kind, ...rest] = key.split(".");
    const name = rest.join(".");
    (kind === "m" ? optimizer.state.m : optimizer.state.v).set(name, Float32Array.from(value.data));
  }
  return state;
}

/** Keeps the log records of steps <= step (a resumed run rewrites what came after its checkpoint). */
function truncateLog(logFile: string, step: number): void {
  if (!existsSync(logFile)) return;
  const kept = readFileSync(logFile, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .filter((line) => {
      try {
        return (JSON.parse(line) as { step?: number }).step! <= step;
      } catch {
        return false;
      }
    });
  writeFileSync(logFile, kept.length ? `${kept.join("\n")}\n` : "");
}
