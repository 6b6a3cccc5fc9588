/**
 * Fingerprints of md2pr's models with their tokenizers (the algorithm is util/provenance.ts's): what an index, a
 * vector table or a distilled model records as "made from", and what consumers compare.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ARTIFACT_FILE, artifactKindOf, modelFingerprint } from "../util/provenance.ts";
import { bertConfigToJson } from "./config.ts";
import type { CrossEncoder } from "./cross-encoder.ts";
import type { DualEncoder } from "./dual-encoder.ts";
import { readSafetensorsHeader } from "./safetensors.ts";

/** Anything that describes how it tokenizes (WordPieceTokenizer does, through HF's tokenizer.json object). */
export interface DescribedTokenizer {
  toTokenizerJson(): unknown;
}

/** A retriever's fingerprint: its settings, BERT config, every weight, and the tokenizer. */
export function retrieverFingerprint(model: DualEncoder, tokenizer: DescribedTokenizer): string {
  return modelFingerprint({
    settings: { type: "dual-encoder", ...model.settings, config: bertConfigToJson(model.config) },
    params: model.parameters(),
    tokenizer: tokenizer.toTokenizerJson(),
  });
}

/** A ranker's fingerprint: its BERT config, every weight (head and lexical prior included), and the tokenizer. */
export function rankerFingerprint(model: CrossEncoder, tokenizer: DescribedTokenizer): string {
  return modelFingerprint({
    settings: { type: "cross-encoder", config: bertConfigToJson(model.config) },
    params: model.params,
    tokenizer: tokenizer.toTokenizerJson(),
  });
}

/**
 * Why `dir` cannot serve as a ranker (null when it can): a retriever folder, or a checkpoint without the
 * classification head (`classifier.weight`), which would score with a random head.
 */
export function notARanker(dir: string): string | null {
  const kind = artifactKindOf(dir);
  if (kind !== null && kind !== "ranker") return `${dir} holds a ${kind}, not a ranker`;
  if (existsSync(join(dir, "md2pr.json"))) return `${dir} holds a retriever (md2pr.json), not a ranker`;
  const weights = join(dir, "model.safetensors");
  if (existsSync(weights) && !readSafetensorsHeader(weights).entries.has("classifier.weight")) {
    return `${dir} has no classification head (classifier.weight): it is a plain BERT or a retriever, and would rank with random weights`;
  }
  return null;
}

export { ARTIFACT_FILE };
