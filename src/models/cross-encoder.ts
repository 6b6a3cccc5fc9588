/**
 * Cross-encoder ranker (the MD2PR teacher), as HF BertForSequenceClassification with one label:
 *   s_C(q, d) = classifier(dropout(pooler([CLS] q [SEP] d [SEP]))) (+ lambda * lexical(q, d) when enabled)
 * Weights: `bert.*` and `classifier.weight` [1, H], `classifier.bias` [1], so HF cross-encoder checkpoints
 * load and ours load in HF. The optional lexical prior (md2pr's addition, off by default) adds a learned
 * lambda (`md2pr_lexical_prior.weight`, [1]) times a lexical score such as BM25 given with the batch, so that a
 * cold-started teacher starts at the lexical ranker's quality.
 * It exposes its attention probabilities and hidden states for word-level distillation.
 */
import { Tensor, add, dropout, linear, reshape } from "../engine/index.ts";
import { Linear } from "../nn/layers.ts";
import { VarBuilder } from "../nn/var-builder.ts";
import { BertModel, type BertForwardOptions, type BertInput, type BertOutput } from "./bert.ts";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import { bertConfigToJson, parseBertConfig, type BertConfig } from "./config.ts";

export const LEXICAL_PRIOR = "md2pr_lexical_prior.weight";

export interface CrossEncoderOutput {
  /** [B] relevance scores. */
  scores: Tensor;
  bert: BertOutput;
}

export class CrossEncoder {
  readonly bert: BertModel;
  readonly classifier: Linear;
  /** lambda of the lexical prior, or null when the ranker has none. */
  readonly lexicalWeight: Tensor | null;
  readonly params: Map<string, Tensor>;

  constructor(vb: VarBuilder, readonly config: BertConfig, lexicalPrior: boolean | number) {
    this.params = vb.params;
    this.bert = new BertModel(vb.pp("bert"), config, true);
    if (!this.bert.pooler) throw new Error("cross-encoder: the checkpoint has no pooler (pooler.dense.*), which the classifier head needs");
    this.classifier = new Linear(vb.pp("classifier"), config.hiddenSize, 1, config.initializerRange);
    if (lexicalPrior === false) this.lexicalWeight = null;
    else {
      const w = vb.get(LEXICAL_PRIOR, [1], { kind: "zeros" });
      if (!vb.isLoading) w.data[0] = lexicalPrior === true ? 1 : lexicalPrior;
      this.lexicalWeight = w;
    }
  }

  /** A new ranker with random weights (seeded). lexicalPrior: false, or the initial lambda. */
  static random(config: BertConfig, seed: number, lexicalPrior: boolean | number = false): CrossEncoder {
    return new CrossEncoder(VarBuilder.random(seed), withArchitecture(config), lexicalPrior);
  }

  /**
   * Loads from a directory: an md2pr/HF cross-encoder (bert.* + classifier.*), or a plain BERT checkpoint
   * (then the classifier starts random, seeded). The lexical prior is on when the checkpoint has one or when
   * `lexicalPrior` asks for it.
   */
  static load(dir: string, options: { lexicalPrior?: boolean | number; seed?: number } = {}): CrossEncoder {
    const ckpt = loadCheckpoint(dir);
    const hasHead = ckpt.vb.has("classifier.weight");
    const hasPooler = ckpt.vb.has("bert.pooler.dense.weight");
    const hasPrior = ckpt.vb.has(LEXICAL_PRIOR);
    // A plain BERT (for example an MLM-pretrained base without pooler) gets a new random head (and pooler).
    const vb = ckpt.vb.withRandomFor(options.seed ?? 0, (name) =>
      (name.startsWith("classifier.") && !hasHead) || (name.startsWith("bert.pooler.") && !hasPooler) || (name === LEXICAL_PRIOR && !hasPrior));
    const prior = hasPrior ? true : options.lexicalPrior ?? false;
    const model = new CrossEncoder(vb, withArchitecture(ckpt.config), prior);
    if (!hasPrior && model.lexicalWeight) model.lexicalWeight.data[0] = options.lexicalPrior === true ? 1 : Number(options.lexicalPrior);
    return model;
  }

  save(dir: string, metadata: Record<string, string> = {}): void {
    saveCheckpoint(dir, this.config, this.params, metadata);
  }

  /** Scores pair-encoded inputs; lexical [B] (e.g. BM25 scores) is required when the prior is on. */
  forward(input: BertInput, opts: BertForwardOptions & { lexical?: Float32Array } = {}): CrossEncoderOutput {
    const out = this.bert.forward(input, { packed: true, ...opts });
    const pooled = opts.training && opts.rng ? dropout(out.pooled!, this.config.hiddenDropoutProb, true, opts.rng) : out.pooled!;
    let scores = reshape(linear(pooled, this.classifier.weight, this.classifier.bias), [input.batch]);
    if (this.lexicalWeight) {
      if (!opts.lexical || opts.lexical.length !== input.batch) {
        throw new Error(`cross-encoder: the lexical prior needs one lexical score per pair (${input.batch}), got ${opts.lexical?.length ?? "none"}`);
      }
      // lambda * lexical as a [B,1] x [1,1] product, so lambda's gradient is sum_b g_b lexical_b
      const lexical = new Tensor(opts.lexical, [input.batch, 1]);
      scores = add(scores, reshape(linear(lexical, reshape(this.lexicalWeight, [1, 1]), null), [input.batch]));
    }
    return { scores, bert: out };
  }
}

function withArchitecture(config: BertConfig): BertConfig {
  const json = bertConfigToJson(config);
  json.architectures = ["BertForSequenceClassification"];
  json.num_labels = 1;
  json.id2label = { 0: "LABEL_0" };
  json.label2id = { LABEL_0: 0 };
  return parseBertConfig(json, "<cross-encoder>");
}
