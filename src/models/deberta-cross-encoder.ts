/**
 * Cross-encoder ranker on DeBERTa-v2/v3, as HF DebertaV2ForSequenceClassification with one label:
 *   s_C(q, d) = classifier(dropout(ContextPooler([CLS] q [SEP] d [SEP]))) (+ lambda * lexical(q, d) when enabled)
 * Weights `deberta.*`, `pooler.dense.*`, `classifier.*` ([1, H]), so HF DeBERTa-v3 cross-encoders load and ours
 * load in HF; the optional lexical prior (`md2pr_lexical_prior.weight`) is the same as the BERT ranker's
 * (cross-encoder.ts). Attention probabilities and hidden states are exposed under `bert` (the BERT ranker's
 * field name, which the distillation code reads).
 */
import { Tensor, add, linear, noGrad, reshape } from "../engine/index.ts";
import { VarBuilder } from "../nn/var-builder.ts";
import type { BertInput } from "./bert.ts";
import { LEXICAL_PRIOR, type CrossEncoderOutput } from "./cross-encoder.ts";
import { debertaV2ConfigToJson, parseDebertaV2Config, type DebertaV2Config } from "./deberta-config.ts";
import { classifierConfig, loadDebertaCheckpoint, saveDebertaCheckpoint } from "./deberta-checkpoint.ts";
import { DebertaV2ForSequenceClassification, type DebertaForwardOptions } from "./deberta-v2.ts";

export class DebertaCrossEncoder {
  readonly arch = "deberta-v2" as const;
  readonly model: DebertaV2ForSequenceClassification;
  readonly lexicalWeight: Tensor | null;
  readonly params: Map<string, Tensor>;

  constructor(vb: VarBuilder, readonly config: DebertaV2Config, lexicalPrior: boolean | number) {
    if (config.numLabels !== 1) throw new Error(`DeBERTa cross-encoder: the classifier must have one label, the config has ${config.numLabels}`);
    this.params = vb.params;
    this.model = new DebertaV2ForSequenceClassification(vb, config);
    if (lexicalPrior === false) this.lexicalWeight = null;
    else {
      const w = vb.get(LEXICAL_PRIOR, [1], { kind: "zeros" });
      if (!vb.isLoading || vb.initialisesRandomly(LEXICAL_PRIOR)) w.data[0] = lexicalPrior === true ? 1 : lexicalPrior;
      this.lexicalWeight = w;
    }
  }

  /** A new ranker with random weights (seeded). lexicalPrior: false, or the initial lambda. */
  static random(config: DebertaV2Config, seed: number, lexicalPrior: boolean | number = false): DebertaCrossEncoder {
    return new DebertaCrossEncoder(VarBuilder.random(seed), oneLabel(config), lexicalPrior);
  }

  /**
   * Loads an HF/md2pr DeBERTa-v2/v3 directory: a sequence classifier with one label, or a bare DebertaV2Model /
   * MLM checkpoint (the pooler and classifier then start random, seeded). The lexical prior is on when the
   * checkpoint has one or when `lexicalPrior` asks for it.
   */
  static load(dir: string, options: { lexicalPrior?: boolean | number; seed?: number } = {}): DebertaCrossEncoder {
    const ckpt = loadDebertaCheckpoint(dir);
    const headFits = ckpt.vb.has("classifier.weight") && ckpt.config.numLabels === 1;
    const hasPooler = ckpt.vb.has("pooler.dense.weight");
    const hasPrior = ckpt.vb.has(LEXICAL_PRIOR);
    const vb = ckpt.vb.withRandomFor(options.seed ?? 0, (name) =>
      (name.startsWith("classifier.") && !headFits) || (name.startsWith("pooler.") && !hasPooler) || (name === LEXICAL_PRIOR && !hasPrior));
    const prior = hasPrior ? true : options.lexicalPrior ?? false;
    const model = new DebertaCrossEncoder(vb, oneLabel(ckpt.config), prior);
    if (!hasPrior && model.lexicalWeight) model.lexicalWeight.data[0] = options.lexicalPrior === true ? 1 : Number(options.lexicalPrior);
    return model;
  }

  save(dir: string, metadata: Record<string, string> = {}): void {
    saveDebertaCheckpoint(dir, this.config, this.params, metadata);
  }

  /** Scores pair-encoded inputs; lexical [B] (e.g. BM25 scores) is required when the prior is on. */
  forward(input: BertInput, opts: DebertaForwardOptions & { lexical?: Float32Array } = {}): CrossEncoderOutput {
    const { lexical: lexicalScores, ...rest } = opts;
    // Padding-free (packed) by default, as the BERT ranker: the same results as the padded path
    // (test/models/deberta-packed.test.ts); the padded path when attentions are asked for.
    const out = this.model.forward(input, { packed: true, ...rest });
    let scores = reshape(out.logits, [input.batch]);
    if (this.lexicalWeight) {
      if (!lexicalScores || lexicalScores.length !== input.batch) {
        throw new Error(`cross-encoder: the lexical prior needs one lexical score per pair (${input.batch}), got ${lexicalScores?.length ?? "none"}`);
      }
      const lexical = new Tensor(lexicalScores, [input.batch, 1]);
      scores = add(scores, reshape(linear(lexical, reshape(this.lexicalWeight, [1, 1]), null), [input.batch]));
    }
    return { scores, bert: out.encoder };
  }

  /** Scores without recording gradients. */
  score(input: BertInput, lexical?: Float32Array): Float32Array {
    return noGrad(() => this.forward(input, { lexical }).scores.data);
  }
}

/** The config as a one-label sequence classifier. */
function oneLabel(config: DebertaV2Config): DebertaV2Config {
  const json = debertaV2ConfigToJson(classifierConfig({ ...config, numLabels: 1 }));
  json.id2label = { 0: "LABEL_0" };
  json.label2id = { LABEL_0: 0 };
  return parseDebertaV2Config(json, "<deberta cross-encoder>");
}
