/**
 * The one schema of the training configs (zod): the pipeline config of `mine` / `train-ranker` / `train` / the
 * library's `train(config)`, and the pretraining config of `pretrain`. Config files and command-line flags go through
 * the same schema (flags are a layer like a file), so `{"retriever": {"steps": -5}}` and `--retriever-steps -5` are
 * refused alike. Ranges: steps >= 0 (0 skips the stage), learning rates > 0, sizes >= 1, lengths >= 2, weights >= 0;
 * enums are enums; an unknown key is an error naming its path and the file.
 *
 * A key that the defaults have but this schema does not (a field added to DEFAULT_PIPELINE without a schema entry)
 * is tolerated at run time so the pipeline keeps working; test/reliability/config-schema.test.ts fails on it.
 */
import { z } from "zod";
import { ConfigError, issueMessages, readJsonFile, throwIfIssues, type ValidateOptions } from "../util/config-file.ts";

const int = z.number().int();
/** Optimizer steps; 0 means "skip the stage". */
const steps = int.min(0);
const size = int.min(1);
const count = int.min(0);
/** Word pieces: at least [CLS] and [SEP]. */
const length = int.min(2);
const weight = z.number().finite().min(0);
const positive = z.number().finite().positive();
const learningRate = positive;

export const ModelSizeSchema = z.object({
  hiddenSize: size,
  numHiddenLayers: size,
  numAttentionHeads: size,
  intermediateSize: size,
}).strict();

export const StageTrainingSchema = z.object({
  steps,
  batchSize: size,
  /** Hard negatives per query in each step (the self-supervised warm-up uses 0). */
  negatives: count,
  learningRate,
  warmupSteps: count,
  gradientAccumulation: size,
  weightDecay: weight,
  /** 0 switches clipping off. */
  maxGradNorm: weight,
}).strict();

export const FalseNegativeFilterSchema = z.object({
  enabled: z.boolean(),
  rho: z.number().min(0).max(1),
  updateEvery: size,
  thetaMin: z.number().finite(),
  calibrateFirstWindow: z.boolean(),
  strategy: z.enum(["dynamic", "static", "margin"]).optional(),
  staticThreshold: z.number().finite().nullable().optional(),
  relativeMargin: z.number().min(0).optional(),
}).strict();

export const Md2prOptionsSchema = z.object({
  alpha: weight,
  beta: weight,
  temperature: positive,
  teacherTemperature: positive,
  studentTemperature: positive,
  wordAttention: z.boolean(),
  wordHidden: z.boolean(),
  teacherAttentionLayers: z.array(int),
  filter: FalseNegativeFilterSchema,
}).strict();

export const PipelineConfigSchema = z.object({
  dataDir: z.string().min(1),
  trainSplit: z.string().min(1),
  testSplit: z.string().min(1),
  /** Train queries held out as dev (>= 1: dev scores of no queries would read 0). */
  devQueries: size,
  outputDir: z.string().min(1),
  seed: int,
  base: z.string().min(1).nullable(),
  vocabFile: z.string().min(1),
  model: ModelSizeSchema,
  lengths: z.object({ maxQueryLength: length, maxPassageLength: length, maxPairLength: length }).strict(),
  bm25: z.object({ k1: weight, b: z.number().min(0).max(1) }).strict(),
  minedNegatives: count,
  warmup: StageTrainingSchema.extend({ kinds: z.array(z.enum(["title", "ict"])) }).strict(),
  ranker: StageTrainingSchema.extend({
    lexicalPrior: z.boolean(),
    /** Ranker architecture (default bert); deberta-v2 starts from `base` (training/deberta-ranker.ts). */
    arch: z.enum(["bert", "deberta-v2"]).optional(),
    base: z.string().min(1).nullable().optional(),
  }).strict(),
  retriever: StageTrainingSchema.extend({
    shared: z.boolean(),
    pooling: z.enum(["cls", "mean"]),
    similarity: z.enum(["dot", "cosine"]),
    md2pr: Md2prOptionsSchema,
  }).strict(),
  secondRound: z.boolean(),
  secondRoundTeacherPrior: z.boolean(),
  rerankDepth: size,
  /** Depth of the hybrid first stage that the ranker reranks (hybrid+rerank). */
  hybridRerankDepth: size,
  /** Results taken from BM25 and from the retriever before fusion. */
  fusionDepth: size,
  evalEvery: count,
  checkpointEvery: count,
  resume: z.boolean(),
  /** Resume a checkpoint made with other settings (the differences are logged); not in the defaults. */
  forceResume: z.boolean().optional(),
}).strict();

export const PretrainConfigSchema = z.object({
  dataDir: z.string().min(1),
  vocabFile: z.string().min(1),
  outputDir: z.string().min(1),
  model: ModelSizeSchema,
  restrictVocabulary: z.boolean(),
  maxLength: length,
  batchSize: size,
  steps,
  learningRate,
  warmupSteps: count,
  seed: int,
  resume: z.boolean(),
  checkpointEvery: count,
  forceResume: z.boolean().optional(),
  /** Architecture (default bert); deberta-v2 pretrains a DeBERTa-v3-style encoder on `spmModel` (training/deberta-pretrain.ts). */
  arch: z.enum(["bert", "deberta-v2"]).optional(),
  spmModel: z.string().min(1).nullable().optional(),
  positionBuckets: size.optional(),
  maxRelativePositions: size.optional(),
}).strict();

type Json = Record<string, unknown>;

const isPlainObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Cross-field rules the per-field schema cannot express; messages name the key path. */
function crossChecks(cfg: Json): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const model = cfg.model as Json | undefined;
  if (model && typeof model.hiddenSize === "number" && typeof model.numAttentionHeads === "number" && model.numAttentionHeads > 0 &&
      model.hiddenSize % model.numAttentionHeads !== 0) {
    out.push({ path: "model.hiddenSize", message: `${model.hiddenSize} must be divisible by model.numAttentionHeads (${model.numAttentionHeads})` });
  }
  const warmup = cfg.warmup as Json | undefined;
  if (warmup && typeof warmup.steps === "number" && warmup.steps > 0 && Array.isArray(warmup.kinds) && warmup.kinds.length === 0) {
    out.push({ path: "warmup.kinds", message: "needs at least one pair kind (title, ict) when warmup.steps > 0" });
  }
  return out;
}

/** Whether `defaults` has a value at `path`.`key` (a field the schema does not know yet is tolerated). */
function inDefaults(defaults: unknown): (path: readonly (string | number)[], key: string) => boolean {
  return (path, key) => {
    let cur: unknown = defaults;
    for (const p of path) cur = isPlainObject(cur) ? cur[p] : undefined;
    return isPlainObject(cur) && key in cur;
  };
}

/** Merges a layer over `base` (objects key by key, other values replaced); a type change of a default is refused. */
function mergeLayer(base: Json, over: Json, source: string, label: (path: string) => string, prefix = ""): Json {
  const out: Json = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const current = base[key];
    if (isPlainObject(current) && isPlainObject(value)) out[key] = mergeLayer(current, value, source, label, path);
    else if (key in base && current !== null && value !== null && typeof current !== typeof value) {
      throw new ConfigError(`${source}: ${label(path)}: expected a ${Array.isArray(current) ? "array" : typeof current}, got ${JSON.stringify(value)}`);
    } else out[key] = value;
  }
  return out;
}

/** A config layer: a file's JSON object or the flags' overrides, with how its keys are named in errors. */
export interface ConfigLayer {
  /** e.g. "config run.json" or "command-line flags". */
  source: string;
  values: Json;
  label?: (path: string) => string;
}

const defaultLabel = (path: string): string => `setting '${path}'`;

/**
 * Layers `layers` over `defaults` and validates with `schema`: each layer alone (strict keys, ranges, enums; errors
 * name that layer's source and key), then the merged result (cross-field rules). Returns the merged config.
 */
export function layeredConfig<T extends object>(schema: z.AnyZodObject, defaults: T, layers: readonly ConfigLayer[]): T {
  const tolerate: ValidateOptions["tolerateUnknown"] = inDefaults(defaults);
  const partial = schema.deepPartial();
  let merged = structuredClone(defaults) as unknown as Json;
  for (const layer of layers) {
    const label = layer.label ?? defaultLabel;
    if (!isPlainObject(layer.values)) throw new ConfigError(`${layer.source}: expected a JSON object`);
    const result = partial.safeParse(layer.values);
    if (!result.success) throwIfIssues(issueMessages(result.error.issues, layer.values, { label, tolerateUnknown: tolerate }), layer.source);
    merged = mergeLayer(merged, layer.values, layer.source, label);
  }
  const full = schema.safeParse(merged);
  const source = layers.length > 0 ? layers.map((l) => l.source).join(" + ") : "defaults";
  if (!full.success) throwIfIssues(issueMessages(full.error.issues, merged, { tolerateUnknown: tolerate }), source);
  throwIfIssues(crossChecks(merged).map((c) => `${defaultLabel(c.path)}: ${c.message}`), source);
  return merged as unknown as T;
}

/** The layer of a JSON config file (BOM accepted; bad JSON names the file, line and column). */
export function fileLayer(file: string): ConfigLayer {
  const values = readJsonFile(file, "config");
  if (!isPlainObject(values)) throw new ConfigError(`config ${file}: expected a JSON object`);
  return { source: `config ${file}`, values };
}

/** Schema errors of a complete config (for a test of the defaults, or a config built in code). */
export function configIssues(schema: z.AnyZodObject, value: unknown): string[] {
  const result = schema.safeParse(value);
  const issues = result.success ? [] : issueMessages(result.error.issues, value);
  return [...issues, ...(isPlainObject(value) ? crossChecks(value).map((c) => `${defaultLabel(c.path)}: ${c.message}`) : [])];
}
