/**
 * Command-line flags that override nested config settings. Each flag is one row of a table (flag -> config
 * path(s)); to expose another setting, add a row. Only flags the user actually gave override the config file
 * (commander's value source "cli"), so a flag's default never clobbers a value from `--config FILE`.
 */
import { Option, type Command } from "commander";
import { fileLayer, layeredConfig, PretrainConfigSchema, type ConfigLayer } from "../training/config-schema.ts";
import { DEFAULT_PIPELINE, readPipelineConfig, type PipelineConfig } from "../training/pipeline.ts";
import { DEFAULT_PRETRAIN, type PretrainConfig } from "../training/pretrain.ts";
import { parseFloatArg, parseIntArg } from "./util.ts";

export type FlagKind =
  | { type: "int" }
  | { type: "float" }
  | { type: "string" }
  /** A string, or null when the value is "none". */
  | { type: "nullable" }
  | { type: "choice"; choices: readonly string[] }
  /** Comma-separated strings. */
  | { type: "list" }
  /** A switch: `--x` sets true, `--no-x` sets false. */
  | { type: "switch" };

export interface ConfigFlag {
  /** Commander flags, e.g. "--ranker-steps <n>" or "--no-filter". */
  readonly flags: string;
  /** Dotted config paths the value is written to (several: one flag sets them all). */
  readonly paths: readonly string[];
  readonly kind: FlagKind;
  readonly description: string;
}

const int: FlagKind = { type: "int" };
const float: FlagKind = { type: "float" };
const str: FlagKind = { type: "string" };
const sw: FlagKind = { type: "switch" };

/** Flags of `mine`, `train-ranker` and `train` over {@link PipelineConfig}. */
export const PIPELINE_FLAGS: readonly ConfigFlag[] = [
  { flags: "--data <dir>", paths: ["dataDir"], kind: str, description: "BEIR directory (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)" },
  { flags: "--train-split <name>", paths: ["trainSplit"], kind: str, description: "qrels split for training (and dev)" },
  { flags: "--test-split <name>", paths: ["testSplit"], kind: str, description: "qrels split for the final evaluation" },
  { flags: "--dev-queries <n>", paths: ["devQueries"], kind: int, description: "train queries held out as dev" },
  { flags: "--out <dir>", paths: ["outputDir"], kind: str, description: "output directory (stages reuse what is there)" },
  { flags: "--base <dir>", paths: ["base"], kind: { type: "nullable" }, description: "HF BERT directory both models start from ('none': random init)" },
  { flags: "--vocab <file>", paths: ["vocabFile"], kind: str, description: "WordPiece vocab for random init (--base none)" },
  { flags: "--seed <n>", paths: ["seed"], kind: int, description: "random seed" },
  { flags: "--hidden <n>", paths: ["model.hiddenSize"], kind: int, description: "hidden size of a random-init model" },
  { flags: "--layers <n>", paths: ["model.numHiddenLayers"], kind: int, description: "layers of a random-init model" },
  { flags: "--heads <n>", paths: ["model.numAttentionHeads"], kind: int, description: "attention heads of a random-init model" },
  { flags: "--intermediate <n>", paths: ["model.intermediateSize"], kind: int, description: "feed-forward size of a random-init model" },
  { flags: "--max-query-length <n>", paths: ["lengths.maxQueryLength"], kind: int, description: "word pieces per query" },
  { flags: "--max-passage-length <n>", paths: ["lengths.maxPassageLength"], kind: int, description: "word pieces per passage" },
  { flags: "--max-pair-length <n>", paths: ["lengths.maxPairLength"], kind: int, description: "word pieces per ranker (query, passage) pair" },
  { flags: "--k1 <x>", paths: ["bm25.k1"], kind: float, description: "BM25 k1" },
  { flags: "--b <x>", paths: ["bm25.b"], kind: float, description: "BM25 b" },
  { flags: "--mined-negatives <n>", paths: ["minedNegatives"], kind: int, description: "BM25 negatives mined per training query" },
  { flags: "--batch-size <n>", paths: ["ranker.batchSize", "retriever.batchSize"], kind: int, description: "batch size of both stages (see the stage flags)" },
  { flags: "--negatives <n>", paths: ["ranker.negatives", "retriever.negatives"], kind: int, description: "hard negatives per query in a step, both stages" },
  { flags: "--ranker-steps <n>", paths: ["ranker.steps"], kind: int, description: "ranker optimizer steps" },
  { flags: "--ranker-batch-size <n>", paths: ["ranker.batchSize"], kind: int, description: "ranker queries per step" },
  { flags: "--ranker-negatives <n>", paths: ["ranker.negatives"], kind: int, description: "ranker negatives per query" },
  { flags: "--ranker-lr <x>", paths: ["ranker.learningRate"], kind: float, description: "ranker learning rate" },
  { flags: "--ranker-warmup <n>", paths: ["ranker.warmupSteps"], kind: int, description: "ranker learning-rate warm-up steps" },
  { flags: "--no-lexical-prior", paths: ["ranker.lexicalPrior"], kind: sw, description: "ranker without the BM25 lexical prior" },
  { flags: "--ranker-arch <arch>", paths: ["ranker.arch"], kind: { type: "choice", choices: ["bert", "deberta-v2"] }, description: "ranker architecture: bert, or deberta-v2 (HF DeBERTa-v2/v3 cross-encoder with its SentencePiece tokenizer, from --ranker-base; trains, reranks and teaches the WordPiece retriever, its word level pooled onto shared words)" },
  { flags: "--ranker-base <dir>", paths: ["ranker.base"], kind: str, description: "the directory the ranker starts from (default: --base; required for deberta-v2: an HF DeBERTa-v2/v3 directory)" },
  { flags: "--retriever-steps <n>", paths: ["retriever.steps"], kind: int, description: "retriever optimizer steps" },
  { flags: "--retriever-batch-size <n>", paths: ["retriever.batchSize"], kind: int, description: "retriever queries per step" },
  { flags: "--retriever-negatives <n>", paths: ["retriever.negatives"], kind: int, description: "retriever negatives per query" },
  { flags: "--retriever-lr <x>", paths: ["retriever.learningRate"], kind: float, description: "retriever learning rate" },
  { flags: "--retriever-warmup <n>", paths: ["retriever.warmupSteps"], kind: int, description: "retriever learning-rate warm-up steps" },
  { flags: "--pooling <kind>", paths: ["retriever.pooling"], kind: { type: "choice", choices: ["cls", "mean"] }, description: "retriever pooling" },
  { flags: "--similarity <kind>", paths: ["retriever.similarity"], kind: { type: "choice", choices: ["dot", "cosine"] }, description: "retriever similarity" },
  { flags: "--no-shared", paths: ["retriever.shared"], kind: sw, description: "separate query and passage encoders" },
  { flags: "--alpha <x>", paths: ["retriever.md2pr.alpha"], kind: float, description: "weight of the sentence-level distillation (0: off)" },
  { flags: "--beta <x>", paths: ["retriever.md2pr.beta"], kind: float, description: "weight of the word-level distillation (0: off)" },
  { flags: "--temperature <x>", paths: ["retriever.md2pr.temperature"], kind: float, description: "contrastive temperature" },
  { flags: "--no-word-attention", paths: ["retriever.md2pr.wordAttention"], kind: sw, description: "drop the attention-map distillation term" },
  { flags: "--no-word-hidden", paths: ["retriever.md2pr.wordHidden"], kind: sw, description: "drop the hidden-state distillation term" },
  { flags: "--no-filter", paths: ["retriever.md2pr.filter.enabled"], kind: sw, description: "switch the false-negative filter off" },
  { flags: "--filter-strategy <kind>", paths: ["retriever.md2pr.filter.strategy"], kind: { type: "choice", choices: ["dynamic", "static", "margin"] }, description: "false-negative rule: dynamic (method.md), static threshold on the ranker's score, or relative margin to the positive" },
  { flags: "--self-supervised-steps <n>", paths: ["warmup.steps"], kind: int, description: "self-supervised warm-up steps of the retriever (0: off)" },
  { flags: "--self-supervised-batch-size <n>", paths: ["warmup.batchSize"], kind: int, description: "self-supervised warm-up pairs per step" },
  { flags: "--self-supervised-lr <x>", paths: ["warmup.learningRate"], kind: float, description: "self-supervised warm-up learning rate" },
  { flags: "--self-supervised-kinds <list>", paths: ["warmup.kinds"], kind: { type: "list" }, description: "warm-up pair kinds, comma-separated (title,ict)" },
  { flags: "--second-round", paths: ["secondRound"], kind: sw, description: "re-mine negatives with the retriever and train a second round" },
  { flags: "--second-round-teacher-prior", paths: ["secondRoundTeacherPrior"], kind: sw, description: "round two's teacher adds mu x the round-one retriever's score (mu chosen on dev, reranking BM25's top 100)" },
  { flags: "--rerank-depth <n>", paths: ["rerankDepth"], kind: int, description: "candidates the ranker reranks in evaluation" },
  { flags: "--hybrid-rerank-depth <n>", paths: ["hybridRerankDepth"], kind: int, description: "hybrid candidates the ranker reranks (hybrid+rerank)" },
  { flags: "--fusion-depth <n>", paths: ["fusionDepth"], kind: int, description: "results of BM25 and of the retriever fused into the hybrid" },
  { flags: "--eval-every <n>", paths: ["evalEvery"], kind: int, description: "evaluate on dev every n steps (0: never)" },
  { flags: "--checkpoint-every <n>", paths: ["checkpointEvery"], kind: int, description: "checkpoint every n steps" },
  { flags: "--no-resume", paths: ["resume"], kind: sw, description: "start training from scratch, ignoring checkpoints" },
  { flags: "--force-resume", paths: ["forceResume"], kind: sw, description: "resume a checkpoint made with other settings (says what changed)" },
];

/** Flags of `pretrain` over {@link PretrainConfig}. */
export const PRETRAIN_FLAGS: readonly ConfigFlag[] = [
  { flags: "--data <dir>", paths: ["dataDir"], kind: str, description: "BEIR directory (corpus.jsonl; queries.jsonl)" },
  { flags: "--vocab <file>", paths: ["vocabFile"], kind: str, description: "WordPiece vocabulary file" },
  { flags: "--out <dir>", paths: ["outputDir"], kind: str, description: "output HF BertForMaskedLM directory" },
  { flags: "--steps <n>", paths: ["steps"], kind: int, description: "optimizer steps" },
  { flags: "--batch-size <n>", paths: ["batchSize"], kind: int, description: "sequences per step" },
  { flags: "--lr <x>", paths: ["learningRate"], kind: float, description: "peak learning rate" },
  { flags: "--warmup-steps <n>", paths: ["warmupSteps"], kind: int, description: "learning-rate warm-up steps" },
  { flags: "--hidden <n>", paths: ["model.hiddenSize"], kind: int, description: "hidden size" },
  { flags: "--layers <n>", paths: ["model.numHiddenLayers"], kind: int, description: "transformer layers" },
  { flags: "--heads <n>", paths: ["model.numAttentionHeads"], kind: int, description: "attention heads" },
  { flags: "--intermediate <n>", paths: ["model.intermediateSize"], kind: int, description: "feed-forward size" },
  { flags: "--max-length <n>", paths: ["maxLength"], kind: int, description: "word pieces per sequence" },
  { flags: "--seed <n>", paths: ["seed"], kind: int, description: "random seed" },
  { flags: "--checkpoint-every <n>", paths: ["checkpointEvery"], kind: int, description: "checkpoint every n steps" },
  { flags: "--no-restrict-vocab", paths: ["restrictVocabulary"], kind: sw, description: "keep the whole vocabulary (default: only pieces the corpus uses)" },
  { flags: "--arch <arch>", paths: ["arch"], kind: { type: "choice", choices: ["bert", "deberta-v2"] }, description: "bert (WordPiece, --vocab), or deberta-v2 (a DeBERTa-v3-style encoder on --spm-model's SentencePiece ids, for --ranker-base)" },
  { flags: "--spm-model <path>", paths: ["spmModel"], kind: str, description: "deberta-v2: SentencePiece model (spm.model, or a directory with spm.model / tokenizer.json)" },
  { flags: "--position-buckets <n>", paths: ["positionBuckets"], kind: int, description: "deberta-v2: log buckets of relative positions (default 256)" },
  { flags: "--max-relative-positions <n>", paths: ["maxRelativePositions"], kind: int, description: "deberta-v2: relative range the buckets cover (default 512)" },
  { flags: "--no-resume", paths: ["resume"], kind: sw, description: "start from scratch, ignoring checkpoints" },
  { flags: "--force-resume", paths: ["forceResume"], kind: sw, description: "resume a checkpoint made with other settings (says what changed)" },
];

function valueAt(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split(".")) cur = (cur as Record<string, unknown> | undefined)?.[key];
  return cur;
}

function setAt(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let cur = obj;
  for (const key of keys.slice(0, -1)) {
    const next = cur[key];
    if (typeof next !== "object" || next === null) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}

function defaultText(value: unknown): string {
  if (value === null) return "none";
  if (Array.isArray(value)) return value.join(",");
  return String(value);
}

/** Adds the table's options to `cmd` (help shows each default from `defaults`), plus --config and --print-config. */
export function addConfigFlags(cmd: Command, table: readonly ConfigFlag[], defaults: object): Command {
  cmd.option("--config <file>", "JSON config file over the defaults (flags override it)");
  cmd.option("--print-config", "print the merged config as JSON and exit");
  cmd.option("--overwrite", "replace an --out that holds files md2pr did not write (default: refuse)");
  for (const row of table) {
    const defs = row.paths.map((p) => defaultText(valueAt(defaults, p)));
    const shown =
      row.kind.type === "switch" ? ""
      : defs.every((d) => d === defs[0]) ? ` (default: ${defs[0]})`
      : ` (defaults: ${row.paths.map((p, i) => `${p} ${defs[i]}`).join(", ")})`;
    const opt = new Option(row.flags, `${row.description}${shown}`);
    const kind = row.kind;
    if (kind.type === "int") opt.argParser(parseIntArg);
    else if (kind.type === "float") opt.argParser(parseFloatArg);
    else if (kind.type === "choice") opt.choices(kind.choices);
    else if (kind.type === "list") opt.argParser((v: string) => v.split(",").map((s) => s.trim()).filter((s) => s !== ""));
    cmd.addOption(opt);
  }
  return cmd;
}

/** The nested overrides of the flags given on the command line. */
export function flagOverrides(cmd: Command, table: readonly ConfigFlag[]): Record<string, unknown> {
  const values = cmd.opts<Record<string, unknown>>();
  const out: Record<string, unknown> = {};
  for (const row of table) {
    const key = new Option(row.flags).attributeName();
    if (cmd.getOptionValueSource(key) !== "cli") continue;
    // "none" becomes null here: commander turns a null returned by an argument parser into "".
    const value = row.kind.type === "nullable" && values[key] === "none" ? null : values[key];
    for (const path of row.paths) setAt(out, path, value);
  }
  return out;
}

export function configFile(cmd: Command): string | null {
  const file = cmd.opts<{ config?: string }>().config;
  return file ?? null;
}

/** Stages whose learning-rate warm-up defaults to 10% of their steps (as in DEFAULT_PIPELINE). */
const WARMUP_FOLLOWS_STEPS = ["ranker", "retriever", "warmup"] as const;

/** The flags' layer: errors name the flag that set a value (e.g. "--retriever-steps (retriever.steps)"). */
function flagsLayer(cmd: Command, table: readonly ConfigFlag[]): ConfigLayer {
  const label = (path: string): string => {
    const row = table.find((r) => r.paths.includes(path));
    return row ? `${new Option(row.flags).long ?? row.flags} (${path})` : `setting '${path}'`;
  };
  return { source: "command-line flags", values: flagOverrides(cmd, table), label };
}

/**
 * The pipeline config: DEFAULT_PIPELINE, then the JSON file, then the flags, each validated by the one schema
 * (training/config-schema.ts). When a flag changes a stage's steps and neither the file nor a flag sets its
 * warmupSteps, the warm-up stays 10% of the steps.
 */
export function pipelineConfigFrom(cmd: Command): PipelineConfig {
  const file = configFile(cmd);
  const flags = flagsLayer(cmd, PIPELINE_FLAGS);
  const overrides = flags.values;
  const cfg = readPipelineConfig(file, overrides, DEFAULT_PIPELINE, { label: flags.label });
  const fromFile: unknown = file ? fileLayer(file).values : {};
  for (const stage of WARMUP_FOLLOWS_STEPS) {
    const path = `${stage}.warmupSteps`;
    if (valueAt(overrides, `${stage}.steps`) !== undefined && valueAt(overrides, path) === undefined && valueAt(fromFile, path) === undefined) {
      cfg[stage].warmupSteps = Math.round(cfg[stage].steps * 0.1);
    }
  }
  return cfg;
}

/** The pretraining config: defaults, then the JSON file, then the flags (one schema; keys, types and ranges checked). */
export function pretrainConfigFrom(cmd: Command): PretrainConfig {
  const file = configFile(cmd);
  const layers: ConfigLayer[] = [];
  if (file) layers.push(fileLayer(file));
  layers.push(flagsLayer(cmd, PRETRAIN_FLAGS));
  return layeredConfig(PretrainConfigSchema, DEFAULT_PRETRAIN, layers);
}

export { DEFAULT_PIPELINE, DEFAULT_PRETRAIN };
