/**
 * A retriever as one object: the dual encoder and its tokenizer, loaded from one directory (what `md2pr train`
 * writes: md2pr.json, config.json, model.safetensors, vocab.txt; or a plain Hugging Face BERT directory), encoding
 * texts to vectors. A thin layer over models/dual-encoder.ts and encoding/encode-corpus.ts.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { encodePieces } from "../encoding/encode-corpus.ts";
import { DualEncoder, type DualEncoderSettings } from "../models/dual-encoder.ts";
import { WordPieceTokenizer } from "../models/tokenizer.ts";

/** Which encoder a text goes through: queries and passages may have separate encoders and lengths. */
export type Side = "query" | "passage";

export interface EncodeOptions {
  /** "query" (default) or "passage". */
  readonly side?: Side;
  /** Texts per forward pass (default 64). */
  readonly batchSize?: number;
}

/** Vectors of several texts in one row-major block: row i is `data.subarray(i * dim, (i + 1) * dim)`. */
export interface Matrix {
  readonly data: Float32Array;
  readonly rows: number;
  readonly dim: number;
}

/** Throws unless `dir` is a model directory with weights and a tokenizer (the message names what is missing). */
export function checkModelDir(dir: string, what: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${what} not found: ${dir}`);
  if (!existsSync(join(dir, "config.json"))) throw new Error(`${dir}: not a model directory (config.json is missing)`);
  if (!existsSync(join(dir, "vocab.txt")) && !existsSync(join(dir, "tokenizer.json"))) {
    throw new Error(`${dir}: no tokenizer (vocab.txt or tokenizer.json) next to the model`);
  }
}

/** A dual-encoder retriever with its tokenizer. */
export class Retriever {
  /** Wraps a model and tokenizer already in memory (e.g. fresh from training). */
  constructor(readonly model: DualEncoder, readonly tokenizer: WordPieceTokenizer) {}

  /** Loads a retriever directory written by `md2pr train` (or a plain HF BERT directory, default settings). */
  static load(dir: string): Retriever {
    checkModelDir(dir, "retriever directory");
    return new Retriever(DualEncoder.load(dir), WordPieceTokenizer.fromDirectory(dir));
  }

  /** Vector size. */
  get dim(): number {
    return this.model.config.hiddenSize;
  }

  get settings(): Readonly<DualEncoderSettings> {
    return this.model.settings;
  }

  /** Identifies the weights and settings; an index built by another model is refused. */
  fingerprint(): string {
    return this.model.fingerprint();
  }

  /** Word pieces of a text (no [CLS]/[SEP]); truncation to the side's length happens when batching. */
  pieces(text: string): number[] {
    return this.tokenizer.tokenizeToIds(text);
  }

  /** Encodes texts into one [texts.length, dim] matrix (eval mode, no gradients). */
  encodeMatrix(texts: readonly string[], options: EncodeOptions = {}): Matrix {
    const side = options.side ?? "query";
    if (side !== "query" && side !== "passage") throw new Error(`Retriever.encode: side must be "query" or "passage", got ${JSON.stringify(side)}`);
    const batchSize = options.batchSize ?? 64;
    if (!Number.isInteger(batchSize) || batchSize <= 0) throw new Error(`Retriever.encode: batchSize must be a positive integer, got ${batchSize}`);
    const specials = { cls: this.tokenizer.clsId, sep: this.tokenizer.sepId, pad: this.tokenizer.padId };
    const data = encodePieces(this.model, texts.map((t) => this.pieces(t)), side, specials, batchSize);
    return { data, rows: texts.length, dim: this.dim };
  }

  /** Encodes texts; one vector per text. */
  encode(texts: readonly string[], options: EncodeOptions = {}): Float32Array[] {
    const m = this.encodeMatrix(texts, options);
    return Array.from({ length: m.rows }, (_, i) => m.data.slice(i * m.dim, (i + 1) * m.dim));
  }

  /** Saves the model and its tokenizer to one directory (loadable with {@link Retriever.load}). */
  save(dir: string): void {
    this.model.save(dir);
    this.tokenizer.save(dir);
  }
}
