/**
 * BERT (as Hugging Face BertModel), after candle's models/bert.rs: modules named exactly as HF weight names
 * (`embeddings.word_embeddings.weight`, `encoder.layer.N.attention.self.query.weight`, ...), so an HF
 * safetensors checkpoint loads without a name table (a `bert.` prefix is accepted too).
 *
 * Activations are 2-D [B*T, H] (B sequences padded to T tokens, row b*T + t); attention is computed per head
 * on head slices of H without transposes.
 */
import {
  add, attentionContext, attentionScores, dropout, gatherRows, reshape, softmax,
  type SeedSource,
} from "../engine/index.ts";
import {
  packedAttentionContext, packedAttentionScores, packedSoftmax, planPacking, scatterRows, type AttentionPacking, type Packing,
} from "../engine/ops/packed.ts";
import { Rng } from "../engine/rng.ts";
import type { Tensor } from "../engine/tensor.ts";
import { Embedding, LayerNorm, Linear, activate, type Activation } from "../nn/layers.ts";
import type { VarBuilder } from "../nn/var-builder.ts";
import type { BertConfig } from "./config.ts";

/** A padded batch of token sequences. */
export interface BertInput {
  /** [batch * seq] token ids, row-major. */
  inputIds: Int32Array;
  /** [batch * seq] segment ids (0 for the first text, 1 for the second). */
  tokenTypeIds: Int32Array;
  /** [batch * seq] 1 for real tokens, 0 for padding. */
  attentionMask: Float32Array;
  batch: number;
  seq: number;
}

export interface BertForwardOptions {
  /** Dropout on (train mode). Default false. */
  training?: boolean;
  /** Seeds for dropout (required when training with dropout > 0). */
  rng?: SeedSource;
  outputHiddenStates?: boolean;
  outputAttentions?: boolean;
  /**
   * Run on the real tokens only (padding-free): the dense layers see only tokens with attention mask 1 and
   * attention runs per sequence. Real-token outputs and all gradients equal the padded path's (up to float
   * rounding; dropout draws differ); hidden states at padded positions are returned as zeros instead of HF's
   * (unused) values. Ignored (padded path) when attentions are requested, when the mask has values other than
   * 0/1, or when a sequence has no real token. Default false.
   */
  packed?: boolean;
}

export interface BertOutput {
  /** [batch * seq, hidden] last layer states. */
  lastHidden: Tensor;
  /** Embedding output then every layer's output (L + 1 tensors [batch * seq, hidden]) when asked. */
  hiddenStates: Tensor[];
  /** Every layer's attention probabilities [batch, heads, seq, seq] (before dropout) when asked. */
  attentions: Tensor[];
  /** tanh(W h_CLS + b) [batch, hidden], or null when the model has no pooler. */
  pooled: Tensor | null;
}

/** HF's additive attention mask value for padding keys: finfo(float32).min. */
export const MASK_VALUE = -3.4028234663852886e38;

function activationOf(config: BertConfig): Activation {
  return config.hiddenAct === "gelu" ? "gelu" : "gelu_tanh";
}

class BertEmbeddings {
  readonly wordEmbeddings: Embedding;
  readonly positionEmbeddings: Embedding;
  readonly tokenTypeEmbeddings: Embedding;
  readonly layerNorm: LayerNorm;
  constructor(vb: VarBuilder, readonly config: BertConfig) {
    const std = config.initializerRange;
    this.wordEmbeddings = new Embedding(vb.pp("word_embeddings"), config.vocabSize, config.hiddenSize, std);
    this.positionEmbeddings = new Embedding(vb.pp("position_embeddings"), config.maxPositionEmbeddings, config.hiddenSize, std);
    this.tokenTypeEmbeddings = new Embedding(vb.pp("token_type_embeddings"), config.typeVocabSize, config.hiddenSize, std);
    this.layerNorm = new LayerNorm(vb.pp("LayerNorm"), config.hiddenSize, config.layerNormEps);
  }
  forward(input: BertInput, opts: BertForwardOptions, rng: SeedSource): Tensor {
    if (input.seq > this.config.maxPositionEmbeddings) {
      throw new Error(`BERT: sequence length ${input.seq} exceeds max_position_embeddings ${this.config.maxPositionEmbeddings}`);
    }
    const positions = new Int32Array(input.batch * input.seq);
    for (let b = 0; b < input.batch; b++) for (let t = 0; t < input.seq; t++) positions[b * input.seq + t] = t;
    return this.forwardTokens(input.inputIds, positions, input.tokenTypeIds, opts, rng);
  }
  /** Embeddings of a flat list of tokens (ids, positions, token types of equal length). */
  forwardTokens(ids: Int32Array, positions: Int32Array, tokenTypes: Int32Array, opts: BertForwardOptions, rng: SeedSource): Tensor {
    const summed = add(
      add(this.wordEmbeddings.forward(ids), this.positionEmbeddings.forward(positions)),
      this.tokenTypeEmbeddings.forward(tokenTypes),
    );
    return dropout(this.layerNorm.forward(summed), this.config.hiddenDropoutProb, opts.training === true, rng);
  }
}

/** How a layer runs attention: padded [B, T] with an additive mask, or packed real tokens per sequence. */
type AttentionPlan =
  | { kind: "padded"; batch: number; seq: number; additiveMask: Float32Array }
  | { kind: "packed"; pack: AttentionPacking };

class BertLayer {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly attentionOutput: Linear;
  readonly attentionLayerNorm: LayerNorm;
  readonly intermediate: Linear;
  readonly output: Linear;
  readonly outputLayerNorm: LayerNorm;
  constructor(vb: VarBuilder, readonly config: BertConfig) {
    const h = config.hiddenSize;
    const std = config.initializerRange;
    const self = vb.pp("attention").pp("self");
    this.query = new Linear(self.pp("query"), h, h, std);
    this.key = new Linear(self.pp("key"), h, h, std);
    this.value = new Linear(self.pp("value"), h, h, std);
    const attOut = vb.pp("attention").pp("output");
    this.attentionOutput = new Linear(attOut.pp("dense"), h, h, std);
    this.attentionLayerNorm = new LayerNorm(attOut.pp("LayerNorm"), h, config.layerNormEps);
    this.intermediate = new Linear(vb.pp("intermediate").pp("dense"), h, config.intermediateSize, std);
    this.output = new Linear(vb.pp("output").pp("dense"), config.intermediateSize, h, std);
    this.outputLayerNorm = new LayerNorm(vb.pp("output").pp("LayerNorm"), h, config.layerNormEps);
  }

  forward(x: Tensor, attention: AttentionPlan, opts: BertForwardOptions, rng: SeedSource): { out: Tensor; probs: Tensor } {
    const c = this.config;
    const training = opts.training === true;
    const heads = c.numAttentionHeads;
    const headDim = c.hiddenSize / heads;
    const q = this.query.forward(x);
    const k = this.key.forward(x);
    const v = this.value.forward(x);
    let probs: Tensor;
    let context: Tensor;
    if (attention.kind === "padded") {
      const { batch, seq, additiveMask } = attention;
      const scores = attentionScores(q, k, batch, seq, heads);
      probs = softmax(scores, 1 / Math.sqrt(headDim), additiveMask, heads * seq);
      context = attentionContext(dropout(probs, c.attentionProbsDropoutProb, training, rng), v, batch, seq, heads);
    } else {
      const pack = attention.pack;
      probs = packedSoftmax(packedAttentionScores(q, k, pack), pack, 1 / Math.sqrt(headDim));
      context = packedAttentionContext(dropout(probs, c.attentionProbsDropoutProb, training, rng), v, pack);
    }
    const attended = this.attentionLayerNorm.forward(
      add(dropout(this.attentionOutput.forward(context), c.hiddenDropoutProb, training, rng), x),
    );
    const inner = activate(this.intermediate.forward(attended), activationOf(c));
    const out = this.outputLayerNorm.forward(
      add(dropout(this.output.forward(inner), c.hiddenDropoutProb, training, rng), attended),
    );
    return { out, probs };
  }
}

export class BertModel {
  readonly embeddings: BertEmbeddings;
  readonly layers: BertLayer[];
  readonly pooler: Linear | null;
  private readonly fallbackRng = new Rng(0);
  /** Every parameter, by full HF name (the VarBuilder's collection; shared with modules built on the same builder). */
  readonly params: Map<string, Tensor>;

  /** Builds the model; parameters come from vb (loaded or random). addPoolingLayer: HF's add_pooling_layer. */
  constructor(vb: VarBuilder, readonly config: BertConfig, addPoolingLayer = true) {
    this.params = vb.params;
    this.embeddings = new BertEmbeddings(vb.pp("embeddings"), config);
    this.layers = [];
    for (let i = 0; i < config.numHiddenLayers; i++) this.layers.push(new BertLayer(vb.pp("encoder").pp("layer").pp(i), config));
    const loadingWithoutPooler = vb.isLoading && !vb.has("pooler.dense.weight") && !vb.initialisesRandomly("pooler.dense.weight");
    this.pooler = addPoolingLayer && !loadingWithoutPooler
      ? new Linear(vb.pp("pooler").pp("dense"), config.hiddenSize, config.hiddenSize, config.initializerRange)
      : null;
  }

  forward(input: BertInput, opts: BertForwardOptions = {}): BertOutput {
    validateInput(input, this.config);
    const rng = opts.rng ?? this.fallbackRng;
    if (opts.training && !opts.rng && (this.config.hiddenDropoutProb > 0 || this.config.attentionProbsDropoutProb > 0)) {
      throw new Error("BERT: training with dropout needs an rng (BertForwardOptions.rng)");
    }
    const c = this.config;
    const packing = opts.packed && !opts.outputAttentions
      ? planPacking(input.attentionMask, input.batch, input.seq, c.numAttentionHeads, c.hiddenSize)
      : null;
    if (packing) return this.forwardPacked(input, opts, rng, packing);
    const additiveMask = new Float32Array(input.attentionMask.length);
    for (let i = 0; i < additiveMask.length; i++) additiveMask[i] = (1 - input.attentionMask[i]!) * MASK_VALUE;
    const plan: AttentionPlan = { kind: "padded", batch: input.batch, seq: input.seq, additiveMask };

    let h = this.embeddings.forward(input, opts, rng);
    const hiddenStates: Tensor[] = opts.outputHiddenStates ? [h] : [];
    const attentions: Tensor[] = [];
    for (const layer of this.layers) {
      const { out, probs } = layer.forward(h, plan, opts, rng);
      h = out;
      if (opts.outputHiddenStates) hiddenStates.push(h);
      if (opts.outputAttentions) attentions.push(probs);
    }
    return { lastHidden: h, hiddenStates, attentions, pooled: this.pool(h, input) };
  }

  /** The padding-free forward: real tokens only, unpacked to [batch * seq, hidden] (zeros at padding) at the end. */
  private forwardPacked(input: BertInput, opts: BertForwardOptions, rng: SeedSource, packing: Packing): BertOutput {
    if (input.seq > this.config.maxPositionEmbeddings) {
      throw new Error(`BERT: sequence length ${input.seq} exceeds max_position_embeddings ${this.config.maxPositionEmbeddings}`);
    }
    const { rows, pack } = packing;
    const n = rows.length;
    const ids = new Int32Array(n);
    const positions = new Int32Array(n);
    const types = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const r = rows[i]!;
      ids[i] = input.inputIds[r]!;
      types[i] = input.tokenTypeIds[r]!;
      positions[i] = r % input.seq;
    }
    const plan: AttentionPlan = { kind: "packed", pack };
    const padded = input.batch * input.seq;
    let h = this.embeddings.forwardTokens(ids, positions, types, opts, rng);
    const hiddenStates: Tensor[] = opts.outputHiddenStates ? [scatterRows(h, rows, padded)] : [];
    for (const layer of this.layers) {
      h = layer.forward(h, plan, opts, rng).out;
      if (opts.outputHiddenStates) hiddenStates.push(scatterRows(h, rows, padded));
    }
    const lastHidden = opts.outputHiddenStates ? hiddenStates[hiddenStates.length - 1]! : scatterRows(h, rows, padded);
    return { lastHidden, hiddenStates, attentions: [], pooled: this.pool(lastHidden, input) };
  }

  private pool(h: Tensor, input: BertInput): Tensor | null {
    if (!this.pooler) return null;
    const clsRows = new Int32Array(input.batch);
    for (let b = 0; b < input.batch; b++) clsRows[b] = b * input.seq;
    return activate(this.pooler.forward(gatherRows(h, clsRows)), "tanh");
  }
}

function validateInput(input: BertInput, config: BertConfig): void {
  const n = input.batch * input.seq;
  if (input.inputIds.length !== n || input.tokenTypeIds.length !== n || input.attentionMask.length !== n) {
    throw new Error(`BERT input: batch ${input.batch} x seq ${input.seq} = ${n}, but inputIds ${input.inputIds.length}, tokenTypeIds ${input.tokenTypeIds.length}, attentionMask ${input.attentionMask.length}`);
  }
  for (let i = 0; i < n; i++) {
    const id = input.inputIds[i]!;
    if (id < 0 || id >= config.vocabSize) throw new Error(`BERT input: token id ${id} at position ${i} outside vocabulary of ${config.vocabSize}`);
    const tt = input.tokenTypeIds[i]!;
    if (tt < 0 || tt >= config.typeVocabSize) throw new Error(`BERT input: token type ${tt} at position ${i} outside type_vocab_size ${config.typeVocabSize}`);
  }
}

/** Reshapes [batch * seq, hidden] into [batch, seq, hidden] (a view; for callers that want 3-D). */
export function asBatchSeqHidden(x: Tensor, batch: number, seq: number): Tensor {
  return reshape(x, [batch, seq, x.dim(1)]);
}
