/**
 * A ranker as one object: the cross-encoder and its tokenizer, loaded from one directory (what `md2pr train-ranker`
 * writes, or an HF cross-encoder / BertForSequenceClassification directory), scoring (query, passage) pairs.
 * A thin layer over models/cross-encoder.ts and models/batching.ts.
 */
import { noGrad } from "../engine/index.ts";
import { pairBatch } from "../models/batching.ts";
import { CrossEncoder } from "../models/cross-encoder.ts";
import { isDebertaDirectory } from "../models/deberta-checkpoint.ts";
import { DebertaCrossEncoder } from "../models/deberta-cross-encoder.ts";
import type { PairRanker, PairTokenizer } from "../models/pair-ranker.ts";
import { SentencePieceTokenizer } from "../models/tokenizer/sentencepiece.ts";
import { WordPieceTokenizer } from "../models/tokenizer.ts";
import { checkModelDir } from "./retriever.ts";

/** Word pieces kept of the query, the passage and the joint pair (the training defaults: 32, 128, 160). */
export interface PairLengths {
  readonly maxQueryLength: number;
  readonly maxPassageLength: number;
  readonly maxPairLength: number;
}

export const DEFAULT_PAIR_LENGTHS: PairLengths = { maxQueryLength: 32, maxPassageLength: 128, maxPairLength: 160 };

/** A (query, passage) pair: the passage is its text ("title text" when titled). */
export type TextPair = readonly [query: string, passage: string];

export interface PredictOptions {
  /** Pairs per forward pass (default 64). */
  readonly batchSize?: number;
  /**
   * One lexical score per pair (e.g. BM25 of the passage for the query); required by a ranker trained with the
   * lexical prior (see {@link Ranker.hasLexicalPrior}), ignored otherwise.
   */
  readonly lexical?: ArrayLike<number>;
}

/** A cross-encoder ranker with its tokenizer. */
export class Ranker {
  constructor(readonly model: PairRanker, readonly tokenizer: PairTokenizer, readonly lengths: PairLengths = DEFAULT_PAIR_LENGTHS) {}

  /**
   * Loads a ranker directory (weights + tokenizer); `lengths` overrides the truncation lengths. A BERT cross-encoder
   * comes with its WordPiece vocabulary, a DeBERTa-v2/v3 one (config.json model_type "deberta-v2") with its
   * SentencePiece spm.model or tokenizer.json.
   */
  static load(dir: string, options: { lengths?: Partial<PairLengths> } = {}): Ranker {
    const lengths = { ...DEFAULT_PAIR_LENGTHS, ...options.lengths };
    if (isDebertaDirectory(dir)) {
      if (!SentencePieceTokenizer.isSentencePieceDirectory(dir)) throw new Error(`${dir}: no SentencePiece tokenizer (spm.model or tokenizer.json) next to the DeBERTa ranker`);
      return new Ranker(DebertaCrossEncoder.load(dir), SentencePieceTokenizer.fromDirectory(dir), lengths);
    }
    checkModelDir(dir, "ranker directory");
    return new Ranker(CrossEncoder.load(dir), WordPieceTokenizer.fromDirectory(dir), lengths);
  }

  /** True when the ranker adds a learned weight times a lexical score, which {@link predict} then needs. */
  get hasLexicalPrior(): boolean {
    return this.model.lexicalWeight !== null;
  }

  /** Relevance scores of the pairs (higher is more relevant), in eval mode. */
  predict(pairs: readonly TextPair[], options: PredictOptions = {}): Float32Array {
    const batchSize = options.batchSize ?? 64;
    if (!Number.isInteger(batchSize) || batchSize <= 0) throw new Error(`Ranker.predict: batchSize must be a positive integer, got ${batchSize}`);
    if (this.hasLexicalPrior && (!options.lexical || options.lexical.length !== pairs.length)) {
      throw new Error(
        `Ranker.predict: this ranker has a lexical prior and needs one lexical score per pair (${pairs.length}), ` +
          `got ${options.lexical ? options.lexical.length : "none"} (give options.lexical, e.g. BM25 scores)`,
      );
    }
    const specials = { cls: this.tokenizer.clsId, sep: this.tokenizer.sepId, pad: this.tokenizer.padId };
    const out = new Float32Array(pairs.length);
    const queryPieces = new Map<string, number[]>();
    for (let start = 0; start < pairs.length; start += batchSize) {
      const batch = pairs.slice(start, start + batchSize);
      const queries = batch.map(([q]) => {
        let p = queryPieces.get(q);
        if (!p) queryPieces.set(q, (p = this.tokenizer.tokenizeToIds(q)));
        return p;
      });
      const passages = batch.map(([, d]) => this.tokenizer.tokenizeToIds(d).slice(0, this.lengths.maxPassageLength));
      const input = pairBatch(queries, passages, this.lengths, specials).input;
      const lexical = this.hasLexicalPrior ? Float32Array.from(Array.prototype.slice.call(options.lexical, start, start + batch.length) as number[]) : undefined;
      const scores = noGrad(() => this.model.forward(input, { lexical }).scores);
      out.set(scores.data, start);
    }
    return out;
  }
}
