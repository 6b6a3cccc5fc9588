/**
 * Masked-language-model pretraining (BERT's recipe) on a corpus, for users without a pretrained BERT: 15% of the
 * real word pieces are chosen per sequence; of those 80% become [MASK], 10% a random piece, 10% stay; the loss is
 * the cross-entropy of the chosen positions. Sequences are the corpus passages cut to maxLength (one passage per
 * sequence). The result is an HF BertForMaskedLM directory that the ranker and the retriever start from.
 */
import { basename, dirname, join } from "node:path";
import { crossEntropy, type Tensor } from "../engine/index.ts";
import type { Rng } from "../engine/rng.ts";
import { singleBatch } from "../models/batching.ts";
import type { BertInput } from "../models/bert.ts";
import { BertForMaskedLM } from "../models/bert-mlm.ts";
import { bertConfigToJson, makeBertConfig } from "../models/config.ts";
import { WordPieceTokenizer, restrictVocabulary } from "../models/tokenizer.ts";
import { readBeirCorpus, readBeirQueries } from "../retrieval/readers.ts";
import { passageText } from "../retrieval/tokenized-corpus.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { CorpusFingerprinter, modelFingerprint } from "../util/provenance.ts";
import { writeModelFolder } from "./artifacts.ts";
import { runTrainingLoop, type MicroStepResult, type TrainableStage } from "./loop.ts";
import { EpochSampler, microRng } from "./sampler.ts";

export interface MlmOptions {
  batchSize: number;
  maxLength: number;
  maskProbability: number;
  seed: number;
  /** Token ids of [MASK], [CLS], [SEP], [PAD]; random replacements avoid ids below firstRegularId. */
  maskId: number;
  specials: { cls: number; sep: number; pad: number };
  firstRegularId: number;
  vocabSize: number;
}

/** A masked LM (BertForMaskedLM, or DebertaV2ForMaskedLM for a DeBERTa cold start). */
export interface MaskedLanguageModel {
  readonly params: Map<string, Tensor>;
  forward(input: BertInput, positions: Int32Array, opts?: { training?: boolean; rng?: Rng }): Tensor;
}

export class MlmStage implements TrainableStage {
  readonly params;
  private readonly sampler: EpochSampler;

  constructor(readonly model: MaskedLanguageModel, readonly sequences: readonly (readonly number[])[], readonly options: MlmOptions) {
    this.params = model.params;
    this.sampler = new EpochSampler(sequences.length, options.seed);
  }

  microStep(micro: number, rng: Rng): MicroStepResult {
    const o = this.options;
    const picks = this.sampler.batch(micro, o.batchSize).map((p) => this.sequences[p.index]!);
    const input = singleBatch(picks, o.maxLength, o.specials);
    const choose = microRng(o.seed, micro);
    const positions: number[] = [];
    const targets: number[] = [];
    for (let b = 0; b < input.batch; b++) {
      const len = Math.min(picks[b]!.length, o.maxLength - 2);
      const chosen: number[] = [];
      for (let t = 1; t <= len; t++) if (choose.uniform() < o.maskProbability) chosen.push(t);
      if (chosen.length === 0 && len > 0) chosen.push(1 + choose.int(len));
      for (const t of chosen) {
        const flat = b * input.seq + t;
        positions.push(flat);
        targets.push(input.inputIds[flat]!);
        const r = choose.uniform();
        if (r < 0.8) input.inputIds[flat] = o.maskId;
        else if (r < 0.9) input.inputIds[flat] = o.firstRegularId + choose.int(o.vocabSize - o.firstRegularId);
      }
    }
    const logits = this.model.forward(input, Int32Array.from(positions), { training: true, rng });
    const loss = crossEntropy(logits, Int32Array.from(targets));
    return { loss, terms: { loss: loss.item(), masked_tokens: positions.length }, items: input.batch };
  }
}

export interface PretrainConfig {
  /** BEIR corpus directory (corpus.jsonl; queries.jsonl texts are added to the vocabulary and MLM data too). */
  dataDir: string;
  vocabFile: string;
  outputDir: string;
  model: { hiddenSize: number; numHiddenLayers: number; numAttentionHeads: number; intermediateSize: number };
  /** Keep only the word pieces used by the corpus and queries (a smaller embedding matrix; default true). */
  restrictVocabulary: boolean;
  maxLength: number;
  batchSize: number;
  steps: number;
  learningRate: number;
  warmupSteps: number;
  seed: number;
  resume: boolean;
  checkpointEvery: number;
  /** Resume a checkpoint made with other settings (the differences are logged). */
  forceResume?: boolean;
  /** Architecture (default bert); deberta-v2: a DeBERTa-v3-style encoder on SentencePiece ids (deberta-pretrain.ts). */
  arch?: "bert" | "deberta-v2";
  /** deberta-v2: the SentencePiece model (an spm.model file, or a directory with spm.model / tokenizer.json). */
  spmModel?: string | null;
  /** deberta-v2: log buckets of relative positions and the range they cover (defaults 256 and 512, DeBERTa-v3's). */
  positionBuckets?: number;
  maxRelativePositions?: number;
}

export const DEFAULT_PRETRAIN: PretrainConfig = {
  dataDir: "data/scifact",
  vocabFile: "data/vocab/bert-base-uncased-vocab.txt",
  outputDir: "models/base-scifact",
  model: { hiddenSize: 256, numHiddenLayers: 4, numAttentionHeads: 4, intermediateSize: 1024 },
  restrictVocabulary: true,
  maxLength: 128,
  batchSize: 32,
  steps: 2000,
  learningRate: 5e-4,
  warmupSteps: 200,
  seed: 0,
  resume: true,
  checkpointEvery: 100,
};

/**
 * `md2pr pretrain`: MLM on the corpus passages (and query texts), writing an HF BertForMaskedLM directory with
 * its vocab.txt to `outputDir` (work files and the checkpoint in `outputDir`/../<name>-work).
 */
export async function runPretrain(cfg: PretrainConfig): Promise<{ dir: string; finalLoss: number; seconds: number }> {
  const t0 = Date.now();
  const texts: string[] = [];
  for await (const d of readBeirCorpus(join(cfg.dataDir, "corpus.jsonl"))) texts.push(passageText(d));
  for await (const q of readBeirQueries(join(cfg.dataDir, "queries.jsonl"))) texts.push(q.text);
  const full = WordPieceTokenizer.fromVocabFile(cfg.vocabFile);
  const tokenizer = cfg.restrictVocabulary ? restrictVocabulary(full, texts, { keepSingleCharacters: true }).tokenizer : full;
  const sequences = texts.map((t) => tokenizer.tokenizeToIds(t)).filter((s) => s.length > 0);
  const config = makeBertConfig({ ...cfg.model, vocabSize: tokenizer.vocabSize, maxPositionEmbeddings: 512 });
  const model = BertForMaskedLM.random(config, cfg.seed);
  const firstRegularId = Math.max(...tokenizer.specialTokens.map((t) => tokenizer.tokenToId(t)!)) + 1;
  const stage = new MlmStage(model, sequences, {
    batchSize: cfg.batchSize, maxLength: cfg.maxLength, maskProbability: 0.15, seed: cfg.seed, maskId: tokenizer.maskId,
    specials: { cls: tokenizer.clsId, sep: tokenizer.sepId, pad: tokenizer.padId }, firstRegularId, vocabSize: tokenizer.vocabSize,
  });
  const work = join(dirname(cfg.outputDir), `${basename(cfg.outputDir)}-work`);
  const result = await runTrainingLoop(stage, {
    outputDir: work, steps: cfg.steps, gradientAccumulation: 1, learningRate: cfg.learningRate, warmupSteps: cfg.warmupSteps,
    weightDecay: 0.01, maxGradNorm: 1, seed: cfg.seed, checkpointEvery: cfg.checkpointEvery, evalEvery: 0, resume: cfg.resume, label: "pretrain",
    settings: { dataDir: cfg.dataDir, vocabFile: cfg.vocabFile, model: cfg.model, restrictVocabulary: cfg.restrictVocabulary, maxLength: cfg.maxLength, batchSize: cfg.batchSize },
    forceResume: cfg.forceResume ?? false,
  });
  const seconds = (Date.now() - t0) / 1000;
  const corpus = new CorpusFingerprinter();
  texts.forEach((t, i) => corpus.add(String(i), "", t));
  const fingerprint = modelFingerprint({ settings: { type: "bert-mlm", config: bertConfigToJson(config) }, params: model.params, tokenizer: tokenizer.toTokenizerJson() });
  const { outputDir: _out, resume: _resume, checkpointEvery: _every, forceResume: _force, ...settings } = cfg;
  // The folder appears whole (weights, config, tokenizer, record) or not at all.
  writeModelFolder(cfg.outputDir, "base-model", fingerprint, { corpus: corpus.digest(), settings }, (tmp) => {
    model.save(tmp, { md2pr_stage: "pretrain-mlm" });
    tokenizer.save(tmp);
    writeJsonAtomic(join(tmp, "md2pr-pretrain.json"), {
      command: process.argv.slice(1).join(" "), config: cfg, sequences: sequences.length, vocabSize: tokenizer.vocabSize,
      parameters: [...model.params.values()].reduce((s, t) => s + t.size, 0), finalLoss: result.lastTerms.loss, seconds,
    });
  });
  return { dir: cfg.outputDir, finalLoss: result.lastTerms.loss ?? NaN, seconds };
}
