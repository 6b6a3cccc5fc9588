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
import { z } from "zod";
import { writeJsonAtomic } from "../util/atomic.ts";
import { readJsonFile } from "../util/config-file.ts";

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

/** Nulls in HF files mean "unset": they take the default like a missing field. */
const unset = (v: unknown): unknown => (v === null ? undefined : v);

/** What each field must be (the message of any failure of its schema; the value is added). */
const FIELD_RULES: Record<string, string> = {};

/** A field's schema: null or missing takes the default; any failure reads "field <key> <what>". */
function field(key: string, schema: z.ZodTypeAny, what: string): [string, z.ZodTypeAny] {
  FIELD_RULES[key] = what;
  return [key, z.preprocess(unset, schema.optional())];
}

const posInt = (key: string): [string, z.ZodTypeAny] => field(key, z.number().int().positive().refine(Number.isSafeInteger), "must be a positive integer");
const nonNegInt = (key: string): [string, z.ZodTypeAny] => field(key, z.number().int().nonnegative().refine(Number.isSafeInteger), "must be a non-negative integer");
const prob = (key: string): [string, z.ZodTypeAny] => field(key, z.number().finite().min(0).lt(1), "must be a number in [0, 1)");
const positive = (key: string): [string, z.ZodTypeAny] => field(key, z.number().finite().positive(), "must be a positive number");

/**
 * The schema of BERT's `config.json` (zod; the same library as md2pr's other configs, util/config-file.ts). Keys
 * other than these are HF's business (torch_dtype, transformers_version, id2label...): kept verbatim in `extra`.
 */
export const BertConfigFileSchema = z.object(Object.fromEntries([
  field("model_type", z.literal("bert"), 'must be "bert"'),
  field("architectures", z.array(z.string()), "must be an array of strings"),
  posInt("vocab_size"),
  posInt("hidden_size"),
  posInt("num_hidden_layers"),
  posInt("num_attention_heads"),
  posInt("intermediate_size"),
  field("hidden_act", z.enum(SUPPORTED_ACTS as [BertHiddenAct, ...BertHiddenAct[]]), `is not supported (use one of ${SUPPORTED_ACTS.join(", ")})`),
  prob("hidden_dropout_prob"),
  prob("attention_probs_dropout_prob"),
  posInt("max_position_embeddings"),
  posInt("type_vocab_size"),
  positive("initializer_range"),
  positive("layer_norm_eps"),
  nonNegInt("pad_token_id"),
  field("position_embedding_type", z.literal("absolute"), 'is not supported (only "absolute")'),
])).passthrough();

const KNOWN_KEYS = new Set(Object.keys(BertConfigFileSchema.shape));

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
  const fail = (key: string, what: string): never => {
    throw new Error(`BERT config ${source}: field "${key}" ${what}`);
  };
  const parsed = BertConfigFileSchema.safeParse(obj);
  if (!parsed.success) {
    const key = String(parsed.error.issues[0]!.path[0] ?? "");
    const value = JSON.stringify(obj[key]);
    const what = FIELD_RULES[key] ?? parsed.error.issues[0]!.message;
    // e.g. field "hidden_act" "relu" is not supported (...); field "vocab_size" must be a positive integer, got 0
    fail(key, what.startsWith("is not supported") ? `${value} ${what}` : `${what}, got ${value}`);
  }
  const f = (parsed as z.SafeParseSuccess<z.infer<typeof BertConfigFileSchema>>).data as Record<string, unknown>;
  const d = DEFAULT_BERT_CONFIG;
  const num = (key: string, def: number): number => (f[key] as number | undefined) ?? def;

  const vocabSize = num("vocab_size", d.vocabSize);
  const hiddenSize = num("hidden_size", d.hiddenSize);
  const numAttentionHeads = num("num_attention_heads", d.numAttentionHeads);
  if (hiddenSize % numAttentionHeads !== 0) {
    fail("hidden_size", `(${hiddenSize}) must be divisible by num_attention_heads (${numAttentionHeads})`);
  }
  const padTokenId = num("pad_token_id", d.padTokenId);
  if (padTokenId >= vocabSize) fail("pad_token_id", `(${padTokenId}) must be < vocab_size (${vocabSize})`);

  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (!KNOWN_KEYS.has(k)) extra[k] = v;

  return {
    modelType: "bert",
    architectures: (f.architectures as string[] | undefined) ?? d.architectures,
    vocabSize,
    hiddenSize,
    numHiddenLayers: num("num_hidden_layers", d.numHiddenLayers),
    numAttentionHeads,
    intermediateSize: num("intermediate_size", d.intermediateSize),
    hiddenAct: (f.hidden_act as BertHiddenAct | undefined) ?? d.hiddenAct,
    hiddenDropoutProb: num("hidden_dropout_prob", d.hiddenDropoutProb),
    attentionProbsDropoutProb: num("attention_probs_dropout_prob", d.attentionProbsDropoutProb),
    maxPositionEmbeddings: num("max_position_embeddings", d.maxPositionEmbeddings),
    typeVocabSize: num("type_vocab_size", d.typeVocabSize),
    initializerRange: num("initializer_range", d.initializerRange),
    layerNormEps: num("layer_norm_eps", d.layerNormEps),
    padTokenId,
    positionEmbeddingType: "absolute",
    extra,
  };
}

/** Reads and validates a `config.json` file (through the one JSON loader: a BOM is accepted). Errors name the file (and the field). */
export function readBertConfig(file: string): BertConfig {
  return parseBertConfig(readJsonFile(file, "BERT config"), file);
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
