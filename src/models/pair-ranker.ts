/**
 * What training and scoring need from a cross-encoder ranker, whatever its architecture (BERT: cross-encoder.ts,
 * DeBERTa-v2/v3: deberta-cross-encoder.ts), and from the token ids it reads (a corpus tokenized with the ranker's
 * own tokenizer).
 */
import type { SeedSource } from "../engine/index.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { BertInput } from "./bert.ts";
import type { SpecialIds } from "./batching.ts";
import type { CrossEncoderOutput } from "./cross-encoder.ts";

export interface PairRankerForwardOptions {
  training?: boolean;
  rng?: SeedSource;
  outputAttentions?: boolean;
  outputHiddenStates?: boolean;
  /** One lexical score (e.g. BM25) per pair; required when the ranker has a lexical prior. */
  lexical?: Float32Array;
}

export interface PairRanker {
  readonly params: Map<string, Tensor>;
  /** lambda of the lexical prior, or null. */
  readonly lexicalWeight: Tensor | null;
  forward(input: BertInput, opts?: PairRankerForwardOptions): CrossEncoderOutput;
  save(dir: string, metadata?: Record<string, string>): void;
}

/** Token ids of queries and passages in a ranker's vocabulary (TokenizedCorpus has this shape). */
export interface PairCorpus {
  readonly ids: readonly string[];
  /** Ids of an arbitrary text (a query), without special tokens. */
  text(text: string): readonly number[];
  /** Ids of passage `id`, without special tokens. */
  passage(id: string): readonly number[];
  readonly specials: SpecialIds;
}

/** What a ranker's tokenizer must offer (WordPieceTokenizer and SentencePieceTokenizer both do). */
export interface PairTokenizer {
  tokenizeToIds(text: string): number[];
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
}
