/**
 * DeBERTa-v2/v3 (as Hugging Face DebertaV2Model / DebertaV2ForSequenceClassification), modules named exactly as
 * HF's weights (`deberta.embeddings.word_embeddings.weight`, `deberta.encoder.rel_embeddings.weight`,
 * `deberta.encoder.LayerNorm.*`, `deberta.encoder.layer.N.attention.self.query_proj.*`, `pooler.dense.*`,
 * `classifier.*`), so HF safetensors load without a name table.
 *
 * Disentangled attention, per head (d the head size, k = 1 + number of pos_att_type terms):
 *   score[i, j] = (q_i.k_j + [c2p] q_i.Kr[c(delta(i, j))] + [p2c] k_j.Qr[c(-delta(j, i))]) / sqrt(d k)
 * with delta(i, j) = i - j log-bucketed (position_buckets, max_relative_positions), c(x) = clamp(x + S, 0, 2S - 1),
 * Kr/Qr the (layer-normed) relative embeddings through key_proj/query_proj (share_att_key) or pos_key_proj /
 * pos_query_proj. Padded keys are masked; padded query rows attend to the real keys (as BERT's here; HF's
 * padded rows differ and are never used). Activations are 2-D [B*T, H] as in bert.ts; with `packed` (as BERT's)
 * only the real tokens [N, H], each sequence attending within itself (packedDisentangledScores).
 */
import { add, attentionContext, attentionScores, dropout, gatherRows, linear, sliceRows, softmax, type SeedSource } from "../engine/index.ts";
import {
  packedAttentionContext, packedAttentionScores, packedSoftmax, planPacking, scatterRows, type AttentionPacking, type Packing,
} from "../engine/ops/packed.ts";
import { disentangledScores, packedDisentangledScores, scaleRows } from "../engine/ops/relative.ts";
import { Rng } from "../engine/rng.ts";
import type { Tensor } from "../engine/tensor.ts";
import { Embedding, LayerNorm, Linear, activate, type Activation } from "../nn/layers.ts";
import type { VarBuilder } from "../nn/var-builder.ts";
import type { BertForwardOptions, BertInput, BertOutput } from "./bert.ts";
import { relativeSpan, type DebertaAct, type DebertaV2Config } from "./deberta-config.ts";

/** HF's masked score value: finfo(float32).min. */
const MASK_VALUE = -3.4028234663852886e38;

/**
 * As BERT's; `packed` runs on the real tokens only (padding-free), with the same real-token outputs and gradients
 * as the padded path up to float rounding (dropout draws differ) and zeros at padded positions of the hidden
 * states. Ignored (padded path) when attentions are requested, when the mask has values other than 0/1, when a
 * sequence has no real token or its real tokens are not one run of positions.
 */
export type DebertaForwardOptions = BertForwardOptions;
/** Same fields as BERT's output; `pooled` is the ContextPooler's output (null for the bare encoder). */
export type DebertaOutput = BertOutput;

export function activationOf(act: DebertaAct): Activation {
  if (act === "tanh") return "tanh";
  return act === "gelu" ? "gelu" : "gelu_tanh";
}

/**
 * HF's make_log_bucket_position for one relative position, in float32 arithmetic as there: positions within
 * mid = buckets / 2 are kept, farther ones map to sign * (mid + ceil(log(|r| / mid) / log((max - 1) / mid) * (mid - 1))).
 */
export function logBucketPosition(rel: number, buckets: number, maxPosition: number): number {
  const mid = Math.floor(buckets / 2);
  const absPos = rel < mid && rel > -mid ? mid - 1 : Math.abs(rel);
  if (absPos <= mid) return rel;
  const f = Math.fround;
  const ratio = f(absPos / mid);
  const denom = f(Math.log(f((maxPosition - 1) / mid)));
  const logPos = Math.ceil(f(f(f(Math.log(ratio)) / denom) * (mid - 1))) + mid;
  return Math.sign(rel) * logPos;
}

/** delta(i, j) for a length: [seq * seq], row-major (bucketed when the config asks). */
export function relativePositions(seq: number, config: DebertaV2Config): Int32Array {
  const { maxRelative } = relativeSpan(config);
  const bucketed = config.positionBuckets > 0 && maxRelative > 0;
  const byOffset = new Int32Array(2 * seq - 1);
  for (let r = -(seq - 1); r <= seq - 1; r++) {
    byOffset[r + seq - 1] = bucketed ? logBucketPosition(r, config.positionBuckets, maxRelative) : r;
  }
  const out = new Int32Array(seq * seq);
  for (let i = 0; i < seq; i++) for (let j = 0; j < seq; j++) out[i * seq + j] = byOffset[i - j + seq - 1]!;
  return out;
}

/**
 * The gather indices [seq, seq] of the c2p and p2c terms for a length (see relativeGather), relative to `first`:
 * only rows first .. first + rows - 1 of the 2S relative embeddings are used at this length (a short sequence
 * reaches |delta| < T), so only those are projected and scored; the other rows get no gradient either way. The
 * tables depend on i - j only, so their top-left [L, L] parts serve every shorter length L (the packed path).
 */
interface RelativeIndex {
  seq: number;
  c2p: Int32Array;
  p2c: Int32Array;
  first: number;
  rows: number;
}

function relativeIndex(seq: number, config: DebertaV2Config): RelativeIndex {
  const { span } = relativeSpan(config);
  const delta = relativePositions(seq, config);
  const clamp = (x: number): number => Math.min(Math.max(x, 0), 2 * span - 1);
  const c2p = new Int32Array(seq * seq);
  const p2c = new Int32Array(seq * seq);
  let lo = Infinity;
  let hi = -Infinity;
  for (let e = 0; e < delta.length; e++) {
    c2p[e] = clamp(delta[e]! + span);
    p2c[e] = clamp(-delta[e]! + span);
    lo = Math.min(lo, c2p[e]!, p2c[e]!);
    hi = Math.max(hi, c2p[e]!, p2c[e]!);
  }
  for (let e = 0; e < delta.length; e++) {
    c2p[e] = c2p[e]! - lo;
    p2c[e] = p2c[e]! - lo;
  }
  return { seq, c2p, p2c, first: lo, rows: hi - lo + 1 };
}

class DebertaEmbeddings {
  readonly wordEmbeddings: Embedding;
  readonly positionEmbeddings: Embedding | null;
  readonly tokenTypeEmbeddings: Embedding | null;
  readonly embedProj: Linear | null;
  readonly layerNorm: LayerNorm;
  constructor(vb: VarBuilder, readonly config: DebertaV2Config) {
    const c = config;
    const std = c.initializerRange;
    this.wordEmbeddings = new Embedding(vb.pp("word_embeddings"), c.vocabSize, c.embeddingSize, std);
    this.positionEmbeddings = c.positionBiasedInput ? new Embedding(vb.pp("position_embeddings"), c.maxPositionEmbeddings, c.embeddingSize, std) : null;
    this.tokenTypeEmbeddings = c.typeVocabSize > 0 ? new Embedding(vb.pp("token_type_embeddings"), c.typeVocabSize, c.embeddingSize, std) : null;
    this.embedProj = c.embeddingSize !== c.hiddenSize ? new Linear(vb.pp("embed_proj"), c.embeddingSize, c.hiddenSize, std, false) : null;
    this.layerNorm = new LayerNorm(vb.pp("LayerNorm"), c.hiddenSize, c.layerNormEps);
  }
  /** The padded batch's embeddings [B*T, H], padded rows zeroed. */
  forward(input: BertInput, training: boolean, rng: SeedSource): Tensor {
    const rows = new Int32Array(input.batch * input.seq);
    for (let i = 0; i < rows.length; i++) rows[i] = i;
    return this.forwardRows(input, rows, true, training, rng);
  }
  /** The embeddings of rows `rows` (b * seq + t) of the padded batch; masked: rows times their attention mask. */
  forwardRows(input: BertInput, rows: Int32Array, masked: boolean, training: boolean, rng: SeedSource): Tensor {
    const pick = (from: Int32Array): Int32Array => (rows.length === from.length ? from : Int32Array.from(rows, (r) => from[r]!));
    let e = this.wordEmbeddings.forward(pick(input.inputIds));
    if (this.positionEmbeddings) {
      if (input.seq > this.config.maxPositionEmbeddings) {
        throw new Error(`DeBERTa: sequence length ${input.seq} exceeds max_position_embeddings ${this.config.maxPositionEmbeddings}`);
      }
      e = add(e, this.positionEmbeddings.forward(Int32Array.from(rows, (r) => r % input.seq)));
    }
    if (this.tokenTypeEmbeddings) e = add(e, this.tokenTypeEmbeddings.forward(pick(input.tokenTypeIds)));
    if (this.embedProj) e = this.embedProj.forward(e);
    let out = this.layerNorm.forward(e);
    if (masked) out = scaleRows(out, rows.length === input.attentionMask.length ? input.attentionMask : Float32Array.from(rows, (r) => input.attentionMask[r]!));
    return dropout(out, this.config.hiddenDropoutProb, training, rng);
  }
}

/** How a layer runs attention: padded [B, T] with an additive mask, or packed real tokens per sequence. */
type AttentionPlan =
  | { kind: "padded"; batch: number; seq: number; additiveMask: Float32Array }
  | { kind: "packed"; pack: AttentionPacking };

interface LayerContext {
  plan: AttentionPlan;
  /** The (layer-normed) relative embeddings [rows, H] (rows of `index`), or null without relative attention. */
  rel: Tensor | null;
  index: RelativeIndex | null;
  training: boolean;
  rng: SeedSource;
}

class DebertaLayer {
  readonly queryProj: Linear;
  readonly keyProj: Linear;
  readonly valueProj: Linear;
  readonly posKeyProj: Linear | null = null;
  readonly posQueryProj: Linear | null = null;
  readonly attentionOutput: Linear;
  readonly attentionLayerNorm: LayerNorm;
  readonly intermediate: Linear;
  readonly output: Linear;
  readonly outputLayerNorm: LayerNorm;
  constructor(vb: VarBuilder, readonly config: DebertaV2Config) {
    const c = config;
    const h = c.hiddenSize;
    const std = c.initializerRange;
    const self = vb.pp("attention").pp("self");
    this.queryProj = new Linear(self.pp("query_proj"), h, h, std);
    this.keyProj = new Linear(self.pp("key_proj"), h, h, std);
    this.valueProj = new Linear(self.pp("value_proj"), h, h, std);
    if (c.relativeAttention && !c.shareAttKey) {
      if (c.posAttType.includes("c2p")) this.posKeyProj = new Linear(self.pp("pos_key_proj"), h, h, std);
      if (c.posAttType.includes("p2c")) this.posQueryProj = new Linear(self.pp("pos_query_proj"), h, h, std);
    }
    const attOut = vb.pp("attention").pp("output");
    this.attentionOutput = new Linear(attOut.pp("dense"), h, h, std);
    this.attentionLayerNorm = new LayerNorm(attOut.pp("LayerNorm"), h, c.layerNormEps);
    this.intermediate = new Linear(vb.pp("intermediate").pp("dense"), h, c.intermediateSize, std);
    this.output = new Linear(vb.pp("output").pp("dense"), c.intermediateSize, h, std);
    this.outputLayerNorm = new LayerNorm(vb.pp("output").pp("LayerNorm"), h, c.layerNormEps);
  }

  forward(x: Tensor, ctx: LayerContext): { out: Tensor; probs: Tensor } {
    const c = this.config;
    const { plan, training, rng } = ctx;
    const heads = c.numAttentionHeads;
    const headDim = c.hiddenSize / heads;
    const q = this.queryProj.forward(x);
    const k = this.keyProj.forward(x);
    const v = this.valueProj.forward(x);
    let kr: Tensor | null = null;
    let qr: Tensor | null = null;
    if (ctx.rel && ctx.index) {
      const rel = dropout(ctx.rel, c.hiddenDropoutProb, training, rng);
      // the projected relative embeddings [P, H]; disentangledScores adds q.kr (c2p) and k.qr (p2c) to q.k
      kr = c.posAttType.includes("c2p") ? (this.posKeyProj ?? this.keyProj).forward(rel) : null;
      qr = c.posAttType.includes("p2c") ? (this.posQueryProj ?? this.queryProj).forward(rel) : null;
    }
    const scale = 1 / Math.sqrt(headDim * (1 + c.posAttType.length));
    let probs: Tensor;
    let context: Tensor;
    if (plan.kind === "padded") {
      const { batch, seq } = plan;
      const scores = ctx.index
        ? disentangledScores(q, k, kr, ctx.index.c2p, qr, ctx.index.p2c, batch, seq, heads)
        : attentionScores(q, k, batch, seq, heads);
      probs = softmax(scores, scale, plan.additiveMask, heads * seq);
      context = attentionContext(dropout(probs, c.attentionProbsDropoutProb, training, rng), v, batch, seq, heads);
    } else {
      const { pack } = plan;
      const scores = ctx.index
        ? packedDisentangledScores(q, k, kr, ctx.index.c2p, qr, ctx.index.p2c, ctx.index.seq, pack)
        : packedAttentionScores(q, k, pack);
      probs = packedSoftmax(scores, pack, scale);
      context = packedAttentionContext(dropout(probs, c.attentionProbsDropoutProb, training, rng), v, pack);
    }
    const attended = this.attentionLayerNorm.forward(
      add(dropout(this.attentionOutput.forward(context), c.hiddenDropoutProb, training, rng), x),
    );
    const inner = activate(this.intermediate.forward(attended), activationOf(c.hiddenAct));
    const out = this.outputLayerNorm.forward(add(dropout(this.output.forward(inner), c.hiddenDropoutProb, training, rng), attended));
    return { out, probs };
  }
}

/** The encoder (HF DebertaV2Model): embeddings, relative embeddings, layers. No pooler. */
export class DebertaV2Model {
  readonly embeddings: DebertaEmbeddings;
  readonly layers: DebertaLayer[] = [];
  readonly relEmbeddings: Embedding | null;
  readonly relLayerNorm: LayerNorm | null;
  readonly params: Map<string, Tensor>;
  private readonly fallbackRng = new Rng(0);
  private indexCache = new Map<number, RelativeIndex>();

  constructor(vb: VarBuilder, readonly config: DebertaV2Config) {
    const c = config;
    if (c.hiddenSize % c.numAttentionHeads !== 0) throw new Error(`DeBERTa: hidden ${c.hiddenSize} not divisible by ${c.numAttentionHeads} heads`);
    this.params = vb.params;
    this.embeddings = new DebertaEmbeddings(vb.pp("embeddings"), c);
    const enc = vb.pp("encoder");
    for (let i = 0; i < c.numHiddenLayers; i++) this.layers.push(new DebertaLayer(enc.pp("layer").pp(i), c));
    const { span } = relativeSpan(c);
    this.relEmbeddings = c.relativeAttention ? new Embedding(enc.pp("rel_embeddings"), 2 * span, c.hiddenSize, c.initializerRange) : null;
    this.relLayerNorm = c.relativeAttention && c.normRelEbd.includes("layer_norm") ? new LayerNorm(enc.pp("LayerNorm"), c.hiddenSize, c.layerNormEps) : null;
  }

  forward(input: BertInput, opts: DebertaForwardOptions = {}): DebertaOutput {
    validateInput(input, this.config);
    const training = opts.training === true;
    const c = this.config;
    if (training && !opts.rng && (c.hiddenDropoutProb > 0 || c.attentionProbsDropoutProb > 0)) {
      throw new Error("DeBERTa: training with dropout needs an rng (forward options rng)");
    }
    const rng = opts.rng ?? this.fallbackRng;
    const packing = opts.packed && !opts.outputAttentions
      ? planPacking(input.attentionMask, input.batch, input.seq, c.numAttentionHeads, c.hiddenSize, true)
      : null;
    if (packing) return this.forwardPacked(input, opts, training, rng, packing);
    const additiveMask = new Float32Array(input.attentionMask.length);
    for (let i = 0; i < additiveMask.length; i++) additiveMask[i] = input.attentionMask[i] === 0 ? MASK_VALUE : 0;
    const plan: AttentionPlan = { kind: "padded", batch: input.batch, seq: input.seq, additiveMask };
    const ctx: LayerContext = { plan, ...this.relative(input.seq), training, rng };
    let h = this.embeddings.forward(input, training, rng);
    const hiddenStates: Tensor[] = opts.outputHiddenStates ? [h] : [];
    const attentions: Tensor[] = [];
    for (const layer of this.layers) {
      const { out, probs } = layer.forward(h, ctx);
      h = out;
      if (opts.outputHiddenStates) hiddenStates.push(h);
      if (opts.outputAttentions) attentions.push(probs);
    }
    return { lastHidden: h, hiddenStates, attentions, pooled: null };
  }

  /** The padding-free forward: real tokens only, unpacked to [batch * seq, hidden] (zeros at padding) at the end. */
  private forwardPacked(input: BertInput, opts: DebertaForwardOptions, training: boolean, rng: SeedSource, packing: Packing): DebertaOutput {
    const { rows, pack } = packing;
    const padded = input.batch * input.seq;
    const longest = Math.max(...pack.lens);
    const ctx: LayerContext = { plan: { kind: "packed", pack }, ...this.relative(longest), training, rng };
    // every packed row is a real token (mask 1), so the embeddings' masking is the identity
    let h = this.embeddings.forwardRows(input, rows, false, training, rng);
    const hiddenStates: Tensor[] = opts.outputHiddenStates ? [scatterRows(h, rows, padded)] : [];
    for (const layer of this.layers) {
      h = layer.forward(h, ctx).out;
      if (opts.outputHiddenStates) hiddenStates.push(scatterRows(h, rows, padded));
    }
    const lastHidden = opts.outputHiddenStates ? hiddenStates[hiddenStates.length - 1]! : scatterRows(h, rows, padded);
    return { lastHidden, hiddenStates, attentions: [], pooled: null };
  }

  /** The relative embeddings (layer-normed) and gather indices of sequences up to `seq` tokens (nulls without relative attention). */
  private relative(seq: number): { rel: Tensor | null; index: RelativeIndex | null } {
    if (!this.relEmbeddings) return { rel: null, index: null };
    const index = this.index(seq);
    // the rows this length uses (LayerNorm is per row, so normalising the slice equals slicing the normalised table)
    const w = this.relEmbeddings.weight;
    let rel = index.first === 0 && index.rows === w.dim(0) ? w : sliceRows(w, index.first, index.first + index.rows);
    if (this.relLayerNorm) rel = this.relLayerNorm.forward(rel);
    return { rel, index };
  }

  private index(seq: number): RelativeIndex {
    let idx = this.indexCache.get(seq);
    if (!idx) {
      idx = relativeIndex(seq, this.config);
      if (this.indexCache.size > 64) this.indexCache = new Map();
      this.indexCache.set(seq, idx);
    }
    return idx;
  }
}

export interface DebertaClassifierOutput {
  /** [B, num_labels]. */
  logits: Tensor;
  encoder: DebertaOutput;
}

/** HF DebertaV2ForSequenceClassification: encoder under `deberta.`, ContextPooler `pooler.dense`, `classifier`. */
export class DebertaV2ForSequenceClassification {
  readonly deberta: DebertaV2Model;
  readonly pooler: Linear;
  readonly classifier: Linear;
  readonly params: Map<string, Tensor>;

  constructor(vb: VarBuilder, readonly config: DebertaV2Config) {
    this.params = vb.params;
    this.deberta = new DebertaV2Model(vb.pp("deberta"), config);
    const p = config.poolerHiddenSize;
    this.pooler = new Linear(vb.pp("pooler").pp("dense"), p, p, config.initializerRange);
    this.classifier = new Linear(vb.pp("classifier"), p, config.numLabels, config.initializerRange);
    if (p !== config.hiddenSize) throw new Error(`DeBERTa: pooler_hidden_size ${p} other than hidden_size ${config.hiddenSize} is not supported`);
  }

  forward(input: BertInput, opts: DebertaForwardOptions = {}): DebertaClassifierOutput {
    const encoder = this.deberta.forward(input, opts);
    const training = opts.training === true;
    const rng = opts.rng ?? new Rng(0);
    const clsRows = new Int32Array(input.batch);
    for (let b = 0; b < input.batch; b++) clsRows[b] = b * input.seq;
    const cls = dropout(gatherRows(encoder.lastHidden, clsRows), this.config.poolerDropout, training, rng);
    const pooled = activate(this.pooler.forward(cls), activationOf(this.config.poolerHiddenAct));
    const clsDropout = typeof this.config.extra["cls_dropout"] === "number" ? (this.config.extra["cls_dropout"] as number) : this.config.hiddenDropoutProb;
    const logits = linear(dropout(pooled, clsDropout, training, rng), this.classifier.weight, this.classifier.bias);
    return { logits, encoder: { ...encoder, pooled } };
  }
}

function validateInput(input: BertInput, config: DebertaV2Config): void {
  const n = input.batch * input.seq;
  if (input.inputIds.length !== n || input.tokenTypeIds.length !== n || input.attentionMask.length !== n) {
    throw new Error(`DeBERTa input: batch ${input.batch} x seq ${input.seq} = ${n}, but inputIds ${input.inputIds.length}, tokenTypeIds ${input.tokenTypeIds.length}, attentionMask ${input.attentionMask.length}`);
  }
  for (let i = 0; i < n; i++) {
    const id = input.inputIds[i]!;
    if (id < 0 || id >= config.vocabSize) throw new Error(`DeBERTa input: token id ${id} at position ${i} outside vocabulary of ${config.vocabSize}`);
    if (config.typeVocabSize > 0) {
      const tt = input.tokenTypeIds[i]!;
      if (tt < 0 || tt >= config.typeVocabSize) throw new Error(`DeBERTa input: token type ${tt} at position ${i} outside type_vocab_size ${config.typeVocabSize}`);
    }
  }
}
