/**
 * A corpus held in memory with its texts tokenized once (word-piece ids without specials, cached), so training
 * and encoding do not re-tokenize the same passage every epoch.
 */
import type { WordPieceTokenizer } from "../models/tokenizer.ts";

export interface CorpusText {
  title: string;
  text: string;
}

/** The text a passage is encoded from: "title text" (BEIR convention), or the text alone when untitled. */
export function passageText(doc: CorpusText): string {
  return doc.title ? `${doc.title} ${doc.text}` : doc.text;
}

/** What a corpus needs of a tokenizer: a text's ids (without specials) and the special ids. */
export interface PieceTokenizer {
  tokenizeToIds(text: string): number[];
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
}

/**
 * The corpus tokenized by `T`: by default the retriever's WordPiece tokenizer; a ranker with its own vocabulary (a
 * DeBERTa-v3's SentencePiece) gets its own (training/ranker-corpus.ts).
 */
export class TokenizedCorpus<T extends PieceTokenizer = WordPieceTokenizer> {
  readonly ids: string[];
  private readonly pieces = new Map<string, readonly number[]>();

  constructor(readonly docs: ReadonlyMap<string, CorpusText>, readonly tokenizer: T, readonly maxPieces = 512) {
    this.ids = [...docs.keys()];
  }

  has(id: string): boolean {
    return this.docs.has(id);
  }

  /** Word pieces of passage `id` (at most maxPieces). */
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

  /** Word pieces of an arbitrary text (queries), cached by text. */
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
