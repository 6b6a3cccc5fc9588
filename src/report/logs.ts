/**
 * Reading the training logs of a run directory: every `<run>/work/<stage>/train-log.jsonl` (and the pretraining
 * log `<run>/<name>-work/train-log.jsonl` of `--from-scratch`), as written by src/training/loop.ts: one record per
 * optimizer step (`{stage, step, lr, grad_norm, <loss terms...>, items_per_s}`) and one per evaluation
 * (`{stage, step, eval: {metric: value}}`).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export interface StepRecord {
  step: number;
  /** Every numeric field of the record but `step` (lr, grad_norm, loss terms, filter numbers, throughput). */
  values: Record<string, number>;
}

export interface EvalRecord {
  step: number;
  metrics: Record<string, number>;
}

export interface StageLog {
  /** The directory name under work/ (e.g. "ranker", "retriever", "warmup-retriever"). */
  name: string;
  /** The stage label the loop wrote (e.g. "ranker", "warm-up"); the directory name when no record has one. */
  label: string;
  file: string;
  steps: StepRecord[];
  evals: EvalRecord[];
}

/** The train-log.jsonl files of a run directory, in the order the stages ran (by the log's last write). */
export function findTrainingLogs(runDir: string): { name: string; file: string }[] {
  const found: { name: string; file: string; mtime: number }[] = [];
  const add = (name: string, dir: string): void => {
    const file = join(dir, "train-log.jsonl");
    if (existsSync(file) && statSync(file).isFile()) found.push({ name, file, mtime: statSync(file).mtimeMs });
  };
  const work = join(runDir, "work");
  if (existsSync(work) && statSync(work).isDirectory()) {
    for (const entry of readdirSync(work, { withFileTypes: true })) if (entry.isDirectory()) add(entry.name, join(work, entry.name));
  }
  for (const entry of readdirSync(runDir, { withFileTypes: true })) {
    if (entry.isDirectory() && entry.name.endsWith("-work")) add(entry.name.slice(0, -"-work".length), join(runDir, entry.name));
  }
  return found.sort((a, b) => a.mtime - b.mtime || a.name.localeCompare(b.name)).map(({ name, file }) => ({ name, file }));
}

/** Parses one train-log.jsonl; a malformed line is an error naming the file and line. */
export function parseTrainingLog(name: string, file: string, text: string = readFileSync(file, "utf8")): StageLog {
  const steps: StepRecord[] = [];
  const evals: EvalRecord[] = [];
  let label: string | null = null;
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${file}:${i + 1}`;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (err) {
      throw new Error(`${where}: not JSON (${(err as Error).message})`);
    }
    if (typeof record !== "object" || record === null || Array.isArray(record)) throw new Error(`${where}: expected a JSON object`);
    const r = record as Record<string, unknown>;
    if (typeof r.step !== "number" || !Number.isInteger(r.step) || r.step < 0) throw new Error(`${where}: field 'step' must be a non-negative integer`);
    if (typeof r.stage === "string") label ??= r.stage;
    if (r.eval !== undefined) {
      evals.push({ step: r.step, metrics: numericFields(r.eval, `${where}: field 'eval'`) });
      return;
    }
    const values = numericFields(r, where);
    delete values.step;
    steps.push({ step: r.step, values });
  });
  return { name, label: label ?? name, file, steps, evals };
}

/** Every stage log of a run directory (none: an empty list). */
export function readTrainingLogs(runDir: string): StageLog[] {
  return findTrainingLogs(runDir).map(({ name, file }) => parseTrainingLog(name, file));
}

/** The finite numeric fields of an object (strings such as `stage` are skipped; NaN/Infinity cannot occur in JSON). */
function numericFields(value: unknown, where: string): Record<string, number> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${where}: expected an object of numbers`);
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === "number") out[k] = v;
  return out;
}
