/**
 * MLM pretraining of a DeBERTa-v3-style encoder on a corpus (the cold start of a DeBERTa ranker when no pretrained
 * DeBERTa is on disk): BERT's masking recipe (training/pretrain.ts MlmStage) over SentencePiece ids, the DeBERTa-v3
 * layout (relative attention with c2p + p2c, shared position projections, layer-normed relative embeddings, log
 * buckets, no absolute positions or token types), written as an HF DebertaV2ForMaskedLM directory with its
 * tokenizer (spm.model), which `--ranker-base` accepts (the pooler and classifier then start random).
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { makeDebertaV2Config } from "../models/deberta-config.ts";
import { DebertaV2ForMaskedLM } from "../models/deberta-mlm.ts";
import { SentencePieceTokenizer } from "../models/tokenizer/sentencepiece.ts";
import { readBeirCorpus, readBeirQueries } from "../retrieval/readers.ts";
import { passageText } from "../retrieval/tokenized-corpus.ts";
import { runTrainingLoop } from "./loop.ts";
import { MlmStage } from "./pretrain.ts";

export interface DebertaPretrainConfig {
  /** BEIR directory (corpus.jsonl; queries.jsonl texts are added to the MLM data). */
  dataDir: string;
  /** A directory with spm.model (or a Unigram tokenizer.json) and its tokenizer_config.json, or an spm.model file. */
  tokenizerDir: string;
  outputDir: string;
  model: { hiddenSize: number; numHiddenLayers: number; numAttentionHeads: number; intermediateSize: number };
  /** Log buckets and the relative range they cover (DeBERTa-v3: 256 over 512). */
  positionBuckets: number;
  maxRelativePositions: number;
  maxLength: number;
  batchSize: number;
  steps: number;
  learningRate: number;
  warmupSteps: number;
  seed: number;
  checkpointEvery: number;
  resume: boolean;
}

/** An spm.model file, or a tokenizer directory (spm.model / tokenizer.json with tokenizer_config.json). */
function loadSentencePiece(path: string): SentencePieceTokenizer {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) throw new Error(`${path}: no such SentencePiece model file or tokenizer directory`);
  return stat.isFile() ? SentencePieceTokenizer.fromModelFile(path) : SentencePieceTokenizer.fromDirectory(path);
}

export async function runDebertaPretrain(cfg: DebertaPretrainConfig): Promise<{ dir: string; finalLoss: number; logFile: string }> {
  const texts: string[] = [];
  for await (const d of readBeirCorpus(join(cfg.dataDir, "corpus.jsonl"))) texts.push(passageText(d));
  for await (const q of readBeirQueries(join(cfg.dataDir, "queries.jsonl"))) texts.push(q.text);
  const tokenizer = loadSentencePiece(cfg.tokenizerDir);
  if (tokenizer.maskId === undefined) throw new Error(`${cfg.tokenizerDir}: the tokenizer has no [MASK] token (a piece or an added token)`);
  const sequences = texts.map((t) => tokenizer.tokenizeToIds(t)).filter((s) => s.length > 0);
  const config = makeDebertaV2Config({
    ...cfg.model, vocabSize: tokenizer.vocabSize, maxPositionEmbeddings: 512, typeVocabSize: 0, relativeAttention: true,
    positionBuckets: cfg.positionBuckets, maxRelativePositions: cfg.maxRelativePositions, posAttType: ["p2c", "c2p"], shareAttKey: true,
    normRelEbd: ["layer_norm"], positionBiasedInput: false, padTokenId: tokenizer.padId,
  });
  const model = DebertaV2ForMaskedLM.random(config, cfg.seed);
  const specials = [tokenizer.clsId, tokenizer.sepId, tokenizer.padId, tokenizer.unkId].filter((id) => id < tokenizer.pieces.length);
  const stage = new MlmStage(model, sequences, {
    batchSize: cfg.batchSize, maxLength: cfg.maxLength, maskProbability: 0.15, seed: cfg.seed, maskId: tokenizer.maskId,
    specials: { cls: tokenizer.clsId, sep: tokenizer.sepId, pad: tokenizer.padId },
    firstRegularId: Math.max(...specials, tokenizer.maskId < tokenizer.pieces.length ? tokenizer.maskId : 0) + 1,
    vocabSize: tokenizer.pieces.length,
  });
  const result = await runTrainingLoop(stage, {
    outputDir: `${cfg.outputDir}-work`, steps: cfg.steps, gradientAccumulation: 1, learningRate: cfg.learningRate,
    warmupSteps: cfg.warmupSteps, weightDecay: 0.01, maxGradNorm: 1, seed: cfg.seed, checkpointEvery: cfg.checkpointEvery,
    evalEvery: 0, resume: cfg.resume, label: "pretrain-deberta",
  });
  model.save(cfg.outputDir, { md2pr_stage: "pretrain-mlm" });
  tokenizer.save(cfg.outputDir);
  return { dir: cfg.outputDir, finalLoss: result.lastTerms.loss ?? NaN, logFile: result.logFile };
}
