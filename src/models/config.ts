/**
 * BERT model configuration: reads and writes Hugging Face `config.json` files (`BertConfig` in transformers).
 *
 * Missing fields take HF's `BertConfig` defaults (bert-base: vocab 30522, hidden 768, 12 layers, 12 heads,
 * intermediate 3072, gelu, dropouts 0.1, 512 positions, 2 token types, initializer_range 0.02,
 * layer_norm_eps 1e-12, pad_token_id 0, absolute position embeddings). Unknown fields are kept in `extra` and
 * written back by {@link bertConfigToJson}, so a config read and re-written loses nothing.
 *
 * Validation errors name the source (file path) and the offending field.
 */
import * as fs from "node:fs";
import { writeJsonAtomic } from "../util/atomic.ts";

/**
 * Activations supported by the model code: "gelu" is the exact erf form; "gelu_new", "gelu_pytorch_tanh" and
 * "gelu_fast" are the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
 */
export type BertHiddenAct = "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast";

const SUPPORTED_ACTS: readonly BertHiddenAct[] = ["gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast"];

/** A BERT configuration (camelCase mirror of HF's `config.json`). */
export interface BertConfig {
  readonly modelType: "bert";
  /** e.g. ["BertModel"]; written back as is (default ["BertModel"]). */
  readonly architectures: readonly string[];
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly intermediateSize: number;
  readonly hiddenAct: BertHiddenAct;
  readonly hiddenDropoutProb: number;
  readonly attentionProbsDropoutProb: number;
  readonly maxPositionEmbeddings: number;
  readonly typeVocabSize: number;
  readonly initializerRange: number;
  readonly layerNormEps: number;
  readonly padTokenId: number;
  /** Only "absolute" is supported (anything else is refused when parsing). */
  readonly positionEmbeddingType: "absolute";
  /** Fields of the JSON not listed above (e.g. torch_dtype, transformers_version), preserved verbatim. */
  readonly extra: Readonly<Record<string, unknown>>;
}

/** HF `BertConfig()` defaults (bert-base-uncased sizes). */
export const DEFAULT_BERT_CONFIG: BertConfig = Object.freeze({
  modelType: "bert",
  architectures: Object.freeze(["BertModel"]),
  vocabSize: 30522,
  hiddenSize: 768,
  numHiddenLayers: 12,
  numAttentionHeads: 12,
  intermediateSize: 3072,
  hiddenAct: "gelu",
  hiddenDropoutProb: 0.1,
  attentionProbsDropoutProb: 0.1,
  maxPositionEmbeddings: 512,
  typeVocabSize: 2,
  initializerRange: 0.02,
  layerNormEps: 1e-12,
  padTokenId: 0,
  positionEmbeddingType: "absolute",
  extra: Object.freeze({}),
}) as BertConfig;

/** Whether the activation is the tanh approximation of GELU (else the exact erf form). */
export function usesTanhGelu(config: Pick<BertConfig, "hiddenAct">): boolean {
  return config.hiddenAct !== "gelu";
}

const KNOWN_KEYS = new Set([
  "model_type", "architectures", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
  "intermediate_size", "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob",
  "max_position_embeddings", "type_vocab_size", "initializer_range", "layer_norm_eps", "pad_token_id",
  "position_embedding_type",
]);

class FieldReader {
  constructor(private readonly json: Record<string, unknown>, private readonly source: string) {}

  fail(field: string, what: string): never {
    throw new Error(`BERT config ${this.source}: field "${field}" ${what}`);
  }

  posInt(field: string, def: number): number {
    const v = this.json[field];
    if (v === undefined || v === null) return def;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) this.fail(field, `must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  }

  nonNegInt(field: string, def: number): number {
    const v = this.json[field];
    if (v === undefined || v === null) return def;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) this.fail(field, `must be a non-negative integer, got ${JSON.stringify(v)}`);
    return v;
  }

  prob(field: string, def: number): number {
    const v = this.json[field];
    if (v === undefined || v === null) return def;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v >= 1) this.fail(field, `must be a number in [0, 1), got ${JSON.stringify(v)}`);
    return v;
  }

  positive(field: string, def: number): number {
    const v = this.json[field];
    if (v === undefined || v === null) return def;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) this.fail(field, `must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  }

  string(field: string): string | undefined {
    const v = this.json[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") this.fail(field, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }
}

/**
 * Parses a `config.json` object. `source` (usually the file path) is used in error messages.
 * Throws on wrong types or values, unsupported `model_type` / `hidden_act` / `position_embedding_type`,
 * `hidden_size` not divisible by `num_attention_heads`, or `pad_token_id >= vocab_size`.
 */
export function parseBertConfig(json: unknown, source = "<config>"): BertConfig {
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new Error(`BERT config ${source}: expected a JSON object`);
  }
  const obj = json as Record<string, unknown>;
  const r = new FieldReader(obj, source);
  const d = DEFAULT_BERT_CONFIG;

  const modelType = r.string("model_type") ?? "bert";
  if (modelType !== "bert") r.fail("model_type", `must be "bert", got "${modelType}"`);

  let architectures: readonly string[] = d.architectures;
  const arch = obj["architectures"];
  if (arch !== undefined && arch !== null) {
    if (!Array.isArray(arch) || !arch.every((a) => typeof a === "string")) {
      r.fail("architectures", "must be an array of strings");
    }
    architectures = (arch as unknown[]).map(String);
  }

  const act = r.string("hidden_act") ?? d.hiddenAct;
  if (!(SUPPORTED_ACTS as readonly string[]).includes(act)) {
    r.fail("hidden_act", `"${act}" is not supported (use one of ${SUPPORTED_ACTS.join(", ")})`);
  }
  const pet = r.string("position_embedding_type") ?? "absolute";
  if (pet !== "absolute") r.fail("position_embedding_type", `"${pet}" is not supported (only "absolute")`);

  const vocabSize = r.posInt("vocab_size", d.vocabSize);
  const hiddenSize = r.posInt("hidden_size", d.hiddenSize);
  const numAttentionHeads = r.posInt("num_attention_heads", d.numAttentionHeads);
  if (hiddenSize % numAttentionHeads !== 0) {
    r.fail("hidden_size", `(${hiddenSize}) must be divisible by num_attention_heads (${numAttentionHeads})`);
  }
  const padTokenId = r.nonNegInt("pad_token_id", d.padTokenId);
  if (padTokenId >= vocabSize) r.fail("pad_token_id", `(${padTokenId}) must be < vocab_size (${vocabSize})`);

  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (!KNOWN_KEYS.has(k)) extra[k] = v;

  return {
    modelType: "bert",
    architectures,
    vocabSize,
    hiddenSize,
    numHiddenLayers: r.posInt("num_hidden_layers", d.numHiddenLayers),
    numAttentionHeads,
    intermediateSize: r.posInt("intermediate_size", d.intermediateSize),
    hiddenAct: act as BertHiddenAct,
    hiddenDropoutProb: r.prob("hidden_dropout_prob", d.hiddenDropoutProb),
    attentionProbsDropoutProb: r.prob("attention_probs_dropout_prob", d.attentionProbsDropoutProb),
    maxPositionEmbeddings: r.posInt("max_position_embeddings", d.maxPositionEmbeddings),
    typeVocabSize: r.posInt("type_vocab_size", d.typeVocabSize),
    initializerRange: r.positive("initializer_range", d.initializerRange),
    layerNormEps: r.positive("layer_norm_eps", d.layerNormEps),
    padTokenId,
    positionEmbeddingType: "absolute",
    extra,
  };
}

/** Reads and validates a `config.json` file. Errors name the file (and the field). */
export function readBertConfig(file: string): BertConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`BERT config ${file}: cannot read (${msg})`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`BERT config ${file}: invalid JSON (${msg})`, { cause: err });
  }
  return parseBertConfig(json, file);
}

/**
 * Builds a config (validated) from defaults plus overrides, e.g. `makeBertConfig({ hiddenSize: 128, ... })`.
 */
export function makeBertConfig(overrides: Partial<Omit<BertConfig, "modelType">> = {}): BertConfig {
  const merged: BertConfig = { ...DEFAULT_BERT_CONFIG, ...overrides, modelType: "bert" };
  return parseBertConfig(bertConfigToJson(merged), "<makeBertConfig>");
}

/**
 * The `config.json` object for a config: every HF `BertConfig` field in snake_case, `model_type: "bert"`,
 * `architectures`, plus the preserved `extra` fields. `BertModel.from_pretrained` accepts it.
 */
export function bertConfigToJson(config: BertConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    architectures: [...config.architectures],
    model_type: "bert",
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    intermediate_size: config.intermediateSize,
    hidden_act: config.hiddenAct,
    hidden_dropout_prob: config.hiddenDropoutProb,
    attention_probs_dropout_prob: config.attentionProbsDropoutProb,
    max_position_embeddings: config.maxPositionEmbeddings,
    type_vocab_size: config.typeVocabSize,
    initializer_range: config.initializerRange,
    layer_norm_eps: config.layerNormEps,
    pad_token_id: config.padTokenId,
    position_embedding_type: config.positionEmbeddingType,
  };
  for (const [k, v] of Object.entries(config.extra)) if (!(k in out)) out[k] = v;
  return out;
}

/** Writes `config.json` atomically (2-space indented JSON). */
export function writeBertConfig(file: string, config: BertConfig): void {
  writeJsonAtomic(file, bertConfigToJson(config));
}
