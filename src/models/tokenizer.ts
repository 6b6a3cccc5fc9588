/**
 * Tokenizers. The BERT WordPiece tokenizer (HF BertTokenizer) lives in tokenizer/wordpiece.ts, its character
 * classes in tokenizer/char-classes.ts, the encodings every tokenizer shares (types, pair truncation, padding)
 * in tokenizer/encoding.ts, vocabulary restriction in tokenizer/restrict.ts; the SentencePiece (DeBERTa-v3)
 * tokenizer in tokenizer/sentencepiece.ts. This module re-exports the WordPiece side under its historical path.
 */
export * from "./tokenizer/encoding.ts";
export * from "./tokenizer/restrict.ts";
export * from "./tokenizer/wordpiece.ts";
