/**
 * DeBERTa-v2/v3 configuration: reads and writes Hugging Face `config.json` (`DebertaV2Config` in transformers).
 *
 * Missing fields take HF's `DebertaV2Config` defaults (vocab 128100, hidden 1536, 24 layers, 24 heads,
 * intermediate 6144, gelu, dropouts 0.1, 512 positions, no token types, layer_norm_eps 1e-7, no relative
 * attention, position_biased_input true, pooler gelu). `pos_att_type` and `norm_rel_ebd` accept HF's "a|b" strings
 * (and lists). Unknown fields (id2label, torch_dtype, ...) are kept in `extra` and written back.
 * Errors name the source (file path) and the field.
 */
import * as fs from "node:fs";
import { writeJsonAtomic } from "../util/atomic.ts";

export type DebertaAct = "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" | "tanh";
const ACTS: readonly DebertaAct[] = ["gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "tanh"];
export type PosAttType = "c2p" | "p2c";

export interface DebertaV2Config {
  readonly modelType: "deberta-v2";
  readonly architectures: readonly string[];
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly intermediateSize: number;
  readonly hiddenAct: DebertaAct;
  readonly hiddenDropoutProb: number;
  readonly attentionProbsDropoutProb: number;
  readonly maxPositionEmbeddings: number;
  /** 0: no token type embeddings (DeBERTa-v3). */
  readonly typeVocabSize: number;
  readonly initializerRange: number;
  readonly layerNormEps: number;
  readonly relativeAttention: boolean;
  /** As in the file (-1: max_position_embeddings). */
  readonly maxRelativePositions: number;
  /** As in the file (-1 or 0: no log buckets). */
  readonly positionBuckets: number;
  readonly posAttType: readonly PosAttType[];
  readonly shareAttKey: boolean;
  /** "layer_norm" normalises the relative embeddings. */
  readonly normRelEbd: readonly string[];
  readonly positionBiasedInput: boolean;
  readonly padTokenId: number;
  readonly embeddingSize: number;
  readonly poolerHiddenSize: number;
  readonly poolerHiddenAct: DebertaAct;
  readonly poolerDropout: number;
  /** Classifier outputs (HF: num_labels, else the size of id2label, else 2). */
  readonly numLabels: number;
  readonly extra: Readonly<Record<string, unknown>>;
}

export const DEFAULT_DEBERTA_V2_CONFIG: DebertaV2Config = Object.freeze({
  modelType: "deberta-v2",
  architectures: Object.freeze(["DebertaV2Model"]),
  vocabSize: 128100,
  hiddenSize: 1536,
  numHiddenLayers: 24,
  numAttentionHeads: 24,
  intermediateSize: 6144,
  hiddenAct: "gelu",
  hiddenDropoutProb: 0.1,
  attentionProbsDropoutProb: 0.1,
  maxPositionEmbeddings: 512,
  typeVocabSize: 0,
  initializerRange: 0.02,
  layerNormEps: 1e-7,
  relativeAttention: false,
  maxRelativePositions: -1,
  positionBuckets: -1,
  posAttType: Object.freeze([]),
  shareAttKey: false,
  normRelEbd: Object.freeze(["none"]),
  positionBiasedInput: true,
  padTokenId: 0,
  embeddingSize: 1536,
  poolerHiddenSize: 1536,
  poolerHiddenAct: "gelu",
  poolerDropout: 0,
  numLabels: 2,
  extra: Object.freeze({}),
}) as DebertaV2Config;

/** The relative attention span S (the table has 2S rows) and the bucketing range max_relative_positions. */
export function relativeSpan(c: DebertaV2Config): { span: number; maxRelative: number } {
  const maxRelative = c.maxRelativePositions >= 1 ? c.maxRelativePositions : c.maxPositionEmbeddings;
  return { span: c.positionBuckets > 0 ? c.positionBuckets : maxRelative, maxRelative };
}

const KNOWN_KEYS = new Set([
  "model_type", "architectures", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
  "intermediate_size", "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
  "type_vocab_size", "initializer_range", "layer_norm_eps", "relative_attention", "max_relative_positions",
  "position_buckets", "pos_att_type", "share_att_key", "norm_rel_ebd", "position_biased_input", "pad_token_id",
  "embedding_size", "pooler_hidden_size", "pooler_hidden_act", "pooler_dropout", "num_labels",
]);

class Fields {
  constructor(private readonly json: Record<string, unknown>, private readonly source: string) {}
  fail(field: string, what: string): never {
    throw new Error(`DeBERTa config ${this.source}: field "${field}" ${what}`);
  }
  private value(field: string): unknown {
    const v = this.json[field];
    return v === null ? undefined : v;
  }
  int(field: string, def: number, min: number): number {
    const v = this.value(field);
    if (v === undefined) return def;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) this.fail(field, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  }
  prob(field: string, def: number): number {
    const v = this.value(field);
    if (v === undefined) return def;
    if (typeof v !== "number" || !(v >= 0 && v < 1)) this.fail(field, `must be a number in [0, 1), got ${JSON.stringify(v)}`);
    return v;
  }
  positive(field: string, def: number): number {
    const v = this.value(field);
    if (v === undefined) return def;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) this.fail(field, `must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  }
  bool(field: string, def: boolean): boolean {
    const v = this.value(field);
    if (v === undefined) return def;
    if (typeof v !== "boolean") this.fail(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }
  act(field: string, def: DebertaAct): DebertaAct {
    const v = this.value(field);
    if (v === undefined) return def;
    if (typeof v !== "string" || !(ACTS as readonly string[]).includes(v)) this.fail(field, `must be one of ${ACTS.join(", ")}, got ${JSON.stringify(v)}`);
    return v as DebertaAct;
  }
  /** HF's "a|b" string (lower-cased, trimmed) or a list of strings. */
  list(field: string, def: readonly string[]): string[] {
    const v = this.value(field);
    if (v === undefined) return [...def];
    if (typeof v === "string") return v.toLowerCase().split("|").map((s) => s.trim()).filter((s) => s.length > 0);
    if (Array.isArray(v) && v.every((s) => typeof s === "string")) return (v as string[]).map((s) => s.trim().toLowerCase());
    return this.fail(field, `must be a "a|b" string or a list of strings, got ${JSON.stringify(v)}`);
  }
}

/** Parses a `config.json` object; `source` names it in errors. */
export function parseDebertaV2Config(json: unknown, source = "<config>"): DebertaV2Config {
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new Error(`DeBERTa config ${source}: expected a JSON object`);
  const obj = json as Record<string, unknown>;
  const f = new Fields(obj, source);
  const d = DEFAULT_DEBERTA_V2_CONFIG;
  const modelType = obj["model_type"] ?? "deberta-v2";
  if (modelType !== "deberta-v2") f.fail("model_type", `must be "deberta-v2", got ${JSON.stringify(modelType)}`);
  const arch = obj["architectures"];
  if (arch !== undefined && arch !== null && !(Array.isArray(arch) && arch.every((a) => typeof a === "string"))) {
    f.fail("architectures", "must be an array of strings");
  }
  const hiddenSize = f.int("hidden_size", d.hiddenSize, 1);
  const numAttentionHeads = f.int("num_attention_heads", d.numAttentionHeads, 1);
  if (hiddenSize % numAttentionHeads !== 0) f.fail("hidden_size", `(${hiddenSize}) must be divisible by num_attention_heads (${numAttentionHeads})`);
  if (obj["attention_head_size"] !== undefined && obj["attention_head_size"] !== hiddenSize / numAttentionHeads) {
    f.fail("attention_head_size", "other than hidden_size / num_attention_heads is not supported");
  }
  if (typeof obj["conv_kernel_size"] === "number" && obj["conv_kernel_size"] > 0) {
    f.fail("conv_kernel_size", "(DeBERTa-v2 xlarge's convolution layer) is not supported");
  }
  const vocabSize = f.int("vocab_size", d.vocabSize, 1);
  const padTokenId = f.int("pad_token_id", d.padTokenId, 0);
  if (padTokenId >= vocabSize) f.fail("pad_token_id", `(${padTokenId}) must be < vocab_size (${vocabSize})`);
  const posAttType = f.list("pos_att_type", []);
  for (const t of posAttType) if (t !== "c2p" && t !== "p2c") f.fail("pos_att_type", `"${t}" is not supported (c2p, p2c)`);
  const id2label = obj["id2label"];
  const labelCount = id2label && typeof id2label === "object" ? Object.keys(id2label).length : d.numLabels;
  const embeddingSize = f.int("embedding_size", hiddenSize, 1);
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (!KNOWN_KEYS.has(k)) extra[k] = v;
  return {
    modelType: "deberta-v2",
    architectures: Array.isArray(arch) ? (arch as string[]).slice() : d.architectures,
    vocabSize,
    hiddenSize,
    numHiddenLayers: f.int("num_hidden_layers", d.numHiddenLayers, 1),
    numAttentionHeads,
    intermediateSize: f.int("intermediate_size", d.intermediateSize, 1),
    hiddenAct: f.act("hidden_act", d.hiddenAct),
    hiddenDropoutProb: f.prob("hidden_dropout_prob", d.hiddenDropoutProb),
    attentionProbsDropoutProb: f.prob("attention_probs_dropout_prob", d.attentionProbsDropoutProb),
    maxPositionEmbeddings: f.int("max_position_embeddings", d.maxPositionEmbeddings, 1),
    typeVocabSize: f.int("type_vocab_size", d.typeVocabSize, 0),
    initializerRange: f.positive("initializer_range", d.initializerRange),
    layerNormEps: f.positive("layer_norm_eps", d.layerNormEps),
    relativeAttention: f.bool("relative_attention", d.relativeAttention),
    maxRelativePositions: f.int("max_relative_positions", d.maxRelativePositions, -1),
    positionBuckets: f.int("position_buckets", d.positionBuckets, -1),
    posAttType: posAttType as PosAttType[],
    shareAttKey: f.bool("share_att_key", d.shareAttKey),
    normRelEbd: f.list("norm_rel_ebd", d.normRelEbd),
    positionBiasedInput: f.bool("position_biased_input", d.positionBiasedInput),
    padTokenId,
    embeddingSize,
    poolerHiddenSize: f.int("pooler_hidden_size", hiddenSize, 1),
    poolerHiddenAct: f.act("pooler_hidden_act", d.poolerHiddenAct),
    poolerDropout: f.prob("pooler_dropout", d.poolerDropout),
    numLabels: f.int("num_labels", labelCount, 1),
    extra,
  };
}

export function readDebertaV2Config(file: string): DebertaV2Config {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`DeBERTa config ${file}: cannot read (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  return parseDebertaV2Config(json, file);
}

/** A validated config from the defaults plus overrides (embedding and pooler sizes follow hiddenSize unless given). */
export function makeDebertaV2Config(overrides: Partial<Omit<DebertaV2Config, "modelType">> = {}): DebertaV2Config {
  const hidden = overrides.hiddenSize ?? DEFAULT_DEBERTA_V2_CONFIG.hiddenSize;
  const merged: DebertaV2Config = {
    ...DEFAULT_DEBERTA_V2_CONFIG, embeddingSize: hidden, poolerHiddenSize: hidden, ...overrides, modelType: "deberta-v2",
  };
  return parseDebertaV2Config(debertaV2ConfigToJson(merged), "<makeDebertaV2Config>");
}

/** The `config.json` object: HF `DebertaV2Config` fields in snake_case plus the preserved extra fields. */
export function debertaV2ConfigToJson(c: DebertaV2Config): Record<string, unknown> {
  const out: Record<string, unknown> = {
    architectures: [...c.architectures],
    model_type: "deberta-v2",
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    intermediate_size: c.intermediateSize,
    hidden_act: c.hiddenAct,
    hidden_dropout_prob: c.hiddenDropoutProb,
    attention_probs_dropout_prob: c.attentionProbsDropoutProb,
    max_position_embeddings: c.maxPositionEmbeddings,
    type_vocab_size: c.typeVocabSize,
    initializer_range: c.initializerRange,
    layer_norm_eps: c.layerNormEps,
    relative_attention: c.relativeAttention,
    max_relative_positions: c.maxRelativePositions,
    position_buckets: c.positionBuckets,
    pos_att_type: c.posAttType.join("|"),
    share_att_key: c.shareAttKey,
    norm_rel_ebd: c.normRelEbd.join("|"),
    position_biased_input: c.positionBiasedInput,
    pad_token_id: c.padTokenId,
    pooler_hidden_size: c.poolerHiddenSize,
    pooler_hidden_act: c.poolerHiddenAct,
    pooler_dropout: c.poolerDropout,
  };
  // HF stores the label count as id2label / label2id (num_labels is derived from them)
  const given = c.extra["id2label"];
  if (!(given && typeof given === "object" && Object.keys(given).length === c.numLabels)) {
    const labels = Array.from({ length: c.numLabels }, (_, i) => `LABEL_${i}`);
    out.id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
    out.label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
  }
  if (c.embeddingSize !== c.hiddenSize) out.embedding_size = c.embeddingSize;
  for (const [k, v] of Object.entries(c.extra)) if (!(k in out)) out[k] = v;
  return out;
}

export function writeDebertaV2Config(file: string, config: DebertaV2Config): void {
  writeJsonAtomic(file, debertaV2ConfigToJson(config));
}
