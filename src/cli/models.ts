/** Loading saved models for the commands, with errors that say which directory is wrong. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CrossEncoder } from "../models/cross-encoder.ts";
import { isDebertaDirectory } from "../models/deberta-checkpoint.ts";
import { DebertaCrossEncoder } from "../models/deberta-cross-encoder.ts";
import type { PairRanker, PairTokenizer } from "../models/pair-ranker.ts";
import { SentencePieceTokenizer } from "../models/tokenizer/sentencepiece.ts";
import { notARanker } from "../models/fingerprint.ts";
import { DualEncoder } from "../models/dual-encoder.ts";
import { WordPieceTokenizer } from "../models/tokenizer.ts";
import { CliError, requireDir } from "./util.ts";

function tokenizerOf(dir: string): WordPieceTokenizer {
  if (!existsSync(join(dir, "vocab.txt")) && !existsSync(join(dir, "tokenizer.json"))) {
    throw new CliError(`${dir}: no tokenizer (vocab.txt or tokenizer.json) next to the model`);
  }
  return WordPieceTokenizer.fromDirectory(dir);
}

/** A retriever directory written by `train` (or a plain HF BERT directory) and its tokenizer. */
export function loadRetriever(dir: string): { model: DualEncoder; tokenizer: WordPieceTokenizer } {
  requireDir(dir, "model directory");
  if (!existsSync(join(dir, "config.json"))) throw new CliError(`${dir}: not a model directory (config.json is missing)`);
  return { model: DualEncoder.load(dir), tokenizer: tokenizerOf(dir) };
}

/**
 * A ranker directory written by `train` / `train-ranker` and its tokenizer: a BERT cross-encoder with WordPiece,
 * or a DeBERTa-v2/v3 one (config.json model_type "deberta-v2") with its SentencePiece spm.model / tokenizer.json.
 */
export function loadRanker(dir: string): { model: PairRanker; tokenizer: PairTokenizer } {
  requireDir(dir, "ranker directory");
  if (!existsSync(join(dir, "config.json"))) throw new CliError(`${dir}: not a model directory (config.json is missing)`);
  const notRanker = notARanker(dir);
  if (notRanker) throw new CliError(`${notRanker}; give a folder from \`md2pr train-ranker\``);
  if (isDebertaDirectory(dir)) {
    if (!SentencePieceTokenizer.isSentencePieceDirectory(dir)) throw new CliError(`${dir}: no SentencePiece tokenizer (spm.model or tokenizer.json) next to the DeBERTa ranker`);
    return { model: DebertaCrossEncoder.load(dir), tokenizer: SentencePieceTokenizer.fromDirectory(dir) };
  }
  return { model: CrossEncoder.load(dir), tokenizer: tokenizerOf(dir) };
}
