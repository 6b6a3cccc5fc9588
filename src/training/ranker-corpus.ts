/**
 * A corpus tokenized with a ranker's own tokenizer, for rankers whose vocabulary is not the retriever's (a
 * DeBERTa-v3 ranker reads SentencePiece ids, the BERT retriever WordPiece ids): TokenizedCorpus over the ranker's
 * tokenizer (each passage, "title text", and each query text tokenized once, at most maxPieces ids).
 */
import type { PairCorpus, PairTokenizer } from "../models/pair-ranker.ts";
import { TokenizedCorpus } from "../retrieval/tokenized-corpus.ts";

export type { PairTokenizer };

export class RankerCorpus extends TokenizedCorpus<PairTokenizer> implements PairCorpus {}
