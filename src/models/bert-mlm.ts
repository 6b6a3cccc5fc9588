/**
 * BERT with the masked-language-model head, as HF BertForMaskedLM: `bert.*` (no pooler) plus
 * `cls.predictions.transform.dense.*`, `cls.predictions.transform.LayerNorm.*`, `cls.predictions.bias`, with the
 * decoder tied to the word embeddings (`cls.predictions.decoder.weight` is written as a copy for HF loaders).
 * md2pr pretrains its own base checkpoint with it when no pretrained BERT is on disk.
 */
import { Tensor, gatherRows, linear } from "../engine/index.ts";
import { LayerNorm, Linear, activate } from "../nn/layers.ts";
import { VarBuilder } from "../nn/var-builder.ts";
import { BertModel, type BertForwardOptions, type BertInput } from "./bert.ts";
import { saveCheckpoint } from "./checkpoint.ts";
import { bertConfigToJson, parseBertConfig, type BertConfig } from "./config.ts";

export class BertForMaskedLM {
  readonly bert: BertModel;
  readonly transform: Linear;
  readonly transformNorm: LayerNorm;
  readonly decoderBias: Tensor;
  readonly params: Map<string, Tensor>;

  constructor(vb: VarBuilder, readonly config: BertConfig) {
    this.params = vb.params;
    this.bert = new BertModel(vb.pp("bert"), config, false);
    const head = vb.pp("cls").pp("predictions");
    this.transform = new Linear(head.pp("transform").pp("dense"), config.hiddenSize, config.hiddenSize, config.initializerRange);
    this.transformNorm = new LayerNorm(head.pp("transform").pp("LayerNorm"), config.hiddenSize, config.layerNormEps);
    this.decoderBias = head.get("bias", [config.vocabSize], { kind: "zeros" });
  }

  static random(config: BertConfig, seed: number): BertForMaskedLM {
    return new BertForMaskedLM(VarBuilder.random(seed), config);
  }

  /** Vocabulary logits [positions.length, V] at the given flat positions (b * seq + t) of the batch. */
  forward(input: BertInput, positions: Int32Array, opts: BertForwardOptions = {}): Tensor {
    const out = this.bert.forward(input, { packed: true, ...opts });
    const h = gatherRows(out.lastHidden, positions);
    const t = this.transformNorm.forward(activate(this.transform.forward(h), this.config.hiddenAct === "gelu" ? "gelu" : "gelu_tanh"));
    return linear(t, this.bert.embeddings.wordEmbeddings.weight, this.decoderBias);
  }

  /** Writes an HF BertForMaskedLM directory (config.json with that architecture, model.safetensors). */
  save(dir: string, metadata: Record<string, string> = {}): void {
    const json = bertConfigToJson(this.config);
    json.architectures = ["BertForMaskedLM"];
    const params = new Map(this.params);
    params.set("cls.predictions.decoder.weight", this.bert.embeddings.wordEmbeddings.weight);
    params.set("cls.predictions.decoder.bias", this.decoderBias);
    saveCheckpoint(dir, parseBertConfig(json, dir), params, metadata);
  }
}
