/**
 * A corpus tokenized with a ranker's own tokenizer, for rankers whose vocabulary is not the retriever's (a
 * DeBERTa-v3 ranker reads SentencePiece ids, the BERT retriever WordPiece ids). Same caching and truncation as
 * TokenizedCorpus: each passage ("title text") and each query text is tokenized once, at most maxPieces ids.
 */
import type { PairCorpus, PairTokenizer } from "../models/pair-ranker.ts";
import { passageText, type CorpusText } from "../retrieval/tokenized-corpus.ts";

export type { PairTokenizer };

export class RankerCorpus implements PairCorpus {
  readonly ids: string[];
  private readonly pieces = new Map<string, readonly number[]>();

  constructor(readonly docs: ReadonlyMap<string, CorpusText>, readonly tokenizer: PairTokenizer, readonly maxPieces = 512) {
    this.ids = [...docs.keys()];
  }

  passage(id: string): readonly number[] {
    let p = this.pieces.get(id);
    if (!p) {
      const doc = this.docs.get(id);
      if (!doc) throw new Error(`unknown passage id '${id}'`);
      p = this.tokenizer.tokenizeToIds(passageText(doc)).slice(0, this.maxPieces);
      this.pieces.set(id, p);
    }
    return p;
  }

  text(text: string): readonly number[] {
    const key = `\u0000${text}`;
    let p = this.pieces.get(key);
    if (!p) {
      p = this.tokenizer.tokenizeToIds(text).slice(0, this.maxPieces);
      this.pieces.set(key, p);
    }
    return p;
  }

  get specials(): { cls: number; sep: number; pad: number } {
    return { cls: this.tokenizer.clsId, sep: this.tokenizer.sepId, pad: this.tokenizer.padId };
  }
}
