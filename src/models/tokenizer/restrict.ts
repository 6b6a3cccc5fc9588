/** Vocabulary restriction of a WordPiece tokenizer to the pieces a corpus uses, and id remapping. */
import { countCodePoints } from "./char-classes.ts";
import { WordPieceTokenizer } from "./wordpiece.ts";


/** Result of {@link restrictVocabulary}. */
export interface RestrictedVocabulary {
  readonly tokenizer: WordPieceTokenizer;
  /** Length = old vocab size; new id of each old id, or -1 when the token was dropped. */
  readonly oldToNew: Int32Array;
  /** Length = new vocab size; old id of each new id (increasing: the original order is kept). */
  readonly newToOld: Int32Array;
}

export interface RestrictOptions {
  /** Extra tokens to keep (must be in the vocabulary). */
  readonly keepTokens?: Iterable<string>;
  /**
   * Also keep every single-character piece (both "x" and "##x" forms). Makes unseen text degrade to
   * characters instead of [UNK]. Default false.
   */
  readonly keepSingleCharacters?: boolean;
}

/**
 * Builds a smaller tokenizer whose vocabulary is the special tokens plus the word pieces the greedy matcher
 * matches on `texts` (including the pieces matched inside words that end up [UNK], so the restricted greedy
 * matcher fails at the same place). Ids keep the original order, so [PAD] stays 0 for bert-base-uncased.
 *
 * Guarantee: on the given texts the new tokenizer produces exactly the same tokens as the original one
 * (ids translated by `oldToNew`). On unseen text it is still a correct WordPiece tokenizer over the smaller
 * vocabulary, but it may split words differently from the original (shorter pieces, or [UNK] where a needed
 * piece was dropped); `keepSingleCharacters` reduces [UNK]s. To get the original segmentation of unseen text,
 * tokenize with the original tokenizer and translate with {@link remapIds} (dropped pieces become [UNK]).
 */
export function restrictVocabulary(tokenizer: WordPieceTokenizer, texts: Iterable<string>, options: RestrictOptions = {}): RestrictedVocabulary {
  const keep = tokenizer.collectPieceIds(texts);
  for (const t of tokenizer.specialTokens) keep.add(tokenizer.tokenToId(t)!);
  for (const t of options.keepTokens ?? []) {
    const id = tokenizer.tokenToId(t);
    if (id === undefined) throw new Error(`restrictVocabulary: keepTokens entry ${JSON.stringify(t)} is not in the vocabulary`);
    keep.add(id);
  }
  const vocab = tokenizer.getVocab();
  if (options.keepSingleCharacters) {
    const prefix = tokenizer.continuingSubwordPrefix;
    for (let i = 0; i < vocab.length; i++) {
      const t = vocab[i]!;
      const body = prefix.length > 0 && t.startsWith(prefix) && t.length > prefix.length ? t.slice(prefix.length) : t;
      if (countCodePoints(body) === 1) keep.add(i);
    }
  }
  const newToOld = Int32Array.from([...keep].sort((x, y) => x - y));
  const oldToNew = new Int32Array(vocab.length).fill(-1);
  for (let i = 0; i < newToOld.length; i++) oldToNew[newToOld[i]!] = i;
  const newVocab = Array.from(newToOld, (id) => vocab[id]!);
  return { tokenizer: new WordPieceTokenizer(newVocab, tokenizer.options), oldToNew, newToOld };
}

/** Translates ids through `oldToNew`; dropped ids (-1) become `unkId`. */
export function remapIds(ids: ArrayLike<number>, oldToNew: Int32Array, unkId: number): Int32Array {
  const out = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const m = oldToNew[ids[i]!];
    out[i] = m === undefined || m < 0 ? unkId : m;
  }
  return out;
}
