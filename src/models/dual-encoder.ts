/**
 * Dual-encoder retriever (the MD2PR student): s_R(q, d) = E_q(q) . E_d(d) (dot, default) or cosine.
 * Query and passage encoders share one BERT (default) or have their own; pooling is the [CLS] state (default)
 * or the masked mean of the last layer. It exposes the last-layer token states for word-level distillation.
 *
 * On disk (a directory a sentence-transformers / Tevatron user recognises):
 *   md2pr.json                    { "type": "dual-encoder", shared, pooling, similarity, maxQueryLength, maxPassageLength }
 *   config.json, model.safetensors  the shared BERT (HF BertModel names)      when shared
 *   query/, passage/              one HF BERT directory per encoder           when separate
 *   distill_projection.safetensors  the word-level projection W, when one was trained (md2pr only)
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Tensor, gatherRows, l2NormalizeRows, maskedMeanRows } from "../engine/index.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { VarBuilder } from "../nn/var-builder.ts";
import { BertModel, type BertForwardOptions, type BertInput, type BertOutput } from "./bert.ts";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import type { BertConfig } from "./config.ts";
import { readDualEncoderFile } from "./model-files.ts";

export type Pooling = "cls" | "mean";
export type Similarity = "dot" | "cosine";

export interface DualEncoderSettings {
  shared: boolean;
  pooling: Pooling;
  similarity: Similarity;
  maxQueryLength: number;
  maxPassageLength: number;
}

export const DEFAULT_DUAL_ENCODER_SETTINGS: DualEncoderSettings = {
  shared: true,
  pooling: "cls",
  similarity: "dot",
  maxQueryLength: 32,
  maxPassageLength: 128,
};

export interface EncodeOutput {
  /** [B, H] pooled (and, for cosine, L2-normalised) vectors. */
  embeddings: Tensor;
  bert: BertOutput;
}

export class DualEncoder {
  constructor(
    readonly queryEncoder: BertModel,
    readonly passageEncoder: BertModel,
    readonly settings: DualEncoderSettings,
  ) {}

  get config(): BertConfig {
    return this.queryEncoder.config;
  }

  /** Every trainable parameter, prefixed "query." / "passage." when the encoders are separate. */
  parameters(): Map<string, Tensor> {
    if (this.settings.shared) return this.queryEncoder.params;
    const all = new Map<string, Tensor>();
    for (const [n, t] of this.queryEncoder.params) all.set(`query.${n}`, t);
    for (const [n, t] of this.passageEncoder.params) all.set(`passage.${n}`, t);
    return all;
  }

  static random(config: BertConfig, settings: Partial<DualEncoderSettings>, seed: number): DualEncoder {
    const s = { ...DEFAULT_DUAL_ENCODER_SETTINGS, ...settings };
    const q = new BertModel(VarBuilder.random(seed), config, false);
    const p = s.shared ? q : new BertModel(VarBuilder.random(seed + 1), config, false);
    return new DualEncoder(q, p, s);
  }

  /** Starts both encoders from one HF BERT directory (for example md2pr's pretrained base or bert-base-uncased). */
  static fromBert(dir: string, settings: Partial<DualEncoderSettings> = {}): DualEncoder {
    const s = { ...DEFAULT_DUAL_ENCODER_SETTINGS, ...settings };
    const q = bertFrom(dir);
    const p = s.shared ? q : bertFrom(dir);
    return new DualEncoder(q, p, s);
  }

  /** Loads a directory written by save() (or a plain HF BERT directory, with default settings). */
  static load(dir: string): DualEncoder {
    const settingsPath = join(dir, "md2pr.json");
    if (!existsSync(settingsPath)) return DualEncoder.fromBert(dir);
    const raw = readDualEncoderFile(settingsPath);
    const s: DualEncoderSettings = {
      shared: raw.shared ?? DEFAULT_DUAL_ENCODER_SETTINGS.shared,
      pooling: raw.pooling ?? DEFAULT_DUAL_ENCODER_SETTINGS.pooling,
      similarity: raw.similarity ?? DEFAULT_DUAL_ENCODER_SETTINGS.similarity,
      maxQueryLength: raw.maxQueryLength ?? DEFAULT_DUAL_ENCODER_SETTINGS.maxQueryLength,
      maxPassageLength: raw.maxPassageLength ?? DEFAULT_DUAL_ENCODER_SETTINGS.maxPassageLength,
    };
    if (s.shared) {
      const m = bertFrom(dir);
      return new DualEncoder(m, m, s);
    }
    return new DualEncoder(bertFrom(join(dir, "query")), bertFrom(join(dir, "passage")), s);
  }

  save(dir: string, metadata: Record<string, string> = {}): void {
    mkdirSync(dir, { recursive: true });
    if (this.settings.shared) saveCheckpoint(dir, this.config, this.queryEncoder.params, metadata);
    else {
      saveCheckpoint(join(dir, "query"), this.queryEncoder.config, this.queryEncoder.params, metadata);
      saveCheckpoint(join(dir, "passage"), this.passageEncoder.config, this.passageEncoder.params, metadata);
    }
    writeJsonAtomic(join(dir, "md2pr.json"), { type: "dual-encoder", ...this.settings });
  }

  /** Encodes a batch with the query or the passage encoder; returns pooled vectors and the BERT output. */
  encode(input: BertInput, side: "query" | "passage", opts: BertForwardOptions = {}): EncodeOutput {
    const encoder = side === "query" ? this.queryEncoder : this.passageEncoder;
    // Padding-free (packed) by default: the same results as the padded path (test/models/bert-packed.test.ts), less work.
    const bert = encoder.forward(input, { packed: true, ...opts });
    let pooled: Tensor;
    if (this.settings.pooling === "cls") {
      const rows = new Int32Array(input.batch);
      for (let b = 0; b < input.batch; b++) rows[b] = b * input.seq;
      pooled = gatherRows(bert.lastHidden, rows);
    } else {
      pooled = maskedMeanRows(bert.lastHidden, input.attentionMask, input.batch);
    }
    const embeddings = this.settings.similarity === "cosine" ? l2NormalizeRows(pooled) : pooled;
    return { embeddings, bert };
  }

  /** A short fingerprint of the weights and settings (an index built with other weights is refused). */
  fingerprint(): string {
    let h = 0x811c9dc5;
    const mix = (v: number): void => {
      h = Math.imul(h ^ v, 0x01000193) >>> 0;
    };
    const s = this.settings;
    // Only what changes the vectors (fixed key order, so a loaded model hashes like the one that was saved).
    for (const ch of JSON.stringify([s.shared, s.pooling, s.similarity, s.maxQueryLength, s.maxPassageLength])) mix(ch.charCodeAt(0));
    for (const [name, t] of this.parameters()) {
      for (const ch of name) mix(ch.charCodeAt(0));
      const words = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
      for (let i = 0; i < words.length; i++) mix(words[i]!);
    }
    return `md2pr-${h.toString(16).padStart(8, "0")}`;
  }
}

function bertFrom(dir: string): BertModel {
  const ckpt = loadCheckpoint(dir);
  return new BertModel(ckpt.vb, ckpt.config, false);
}
