/**
 * DeBERTa-v2/v3 with the masked-language-model head, as HF DebertaV2ForMaskedLM in its legacy layout (transformers'
 * default, `legacy: true`): `deberta.*` plus `cls.predictions.transform.dense.*`, `cls.predictions.transform.LayerNorm.*`
 * and `cls.predictions.bias`, the decoder tied to the word embeddings (`cls.predictions.decoder.weight` written as a
 * copy for HF loaders). The cold start of a DeBERTa ranker when no pretrained DeBERTa is on disk.
 */
import { Tensor, gatherRows, linear } from "../engine/index.ts";
import { LayerNorm, Linear, activate } from "../nn/layers.ts";
import { VarBuilder } from "../nn/var-builder.ts";
import type { BertInput } from "./bert.ts";
import { debertaV2ConfigToJson, parseDebertaV2Config, type DebertaV2Config } from "./deberta-config.ts";
import { saveDebertaCheckpoint } from "./deberta-checkpoint.ts";
import { DebertaV2Model, activationOf, type DebertaForwardOptions } from "./deberta-v2.ts";

export class DebertaV2ForMaskedLM {
  readonly deberta: DebertaV2Model;
  readonly transform: Linear;
  readonly transformNorm: LayerNorm;
  readonly decoderBias: Tensor;
  readonly params: Map<string, Tensor>;

  constructor(vb: VarBuilder, readonly config: DebertaV2Config) {
    if (config.embeddingSize !== config.hiddenSize) throw new Error("DeBERTa MLM: embedding_size other than hidden_size is not supported");
    this.params = vb.params;
    this.deberta = new DebertaV2Model(vb.pp("deberta"), config);
    const head = vb.pp("cls").pp("predictions");
    this.transform = new Linear(head.pp("transform").pp("dense"), config.hiddenSize, config.hiddenSize, config.initializerRange);
    this.transformNorm = new LayerNorm(head.pp("transform").pp("LayerNorm"), config.hiddenSize, config.layerNormEps);
    this.decoderBias = head.get("bias", [config.vocabSize], { kind: "zeros" });
  }

  static random(config: DebertaV2Config, seed: number): DebertaV2ForMaskedLM {
    return new DebertaV2ForMaskedLM(VarBuilder.random(seed), config);
  }

  /** Vocabulary logits [positions.length, V] at the given flat positions (b * seq + t) of the batch. */
  forward(input: BertInput, positions: Int32Array, opts: DebertaForwardOptions = {}): Tensor {
    const out = this.deberta.forward(input, { packed: true, ...opts });
    const h = gatherRows(out.lastHidden, positions);
    const t = this.transformNorm.forward(activate(this.transform.forward(h), activationOf(this.config.hiddenAct)));
    return linear(t, this.deberta.embeddings.wordEmbeddings.weight, this.decoderBias);
  }

  /** Writes an HF DebertaV2ForMaskedLM directory (config.json with that architecture, model.safetensors). */
  save(dir: string, metadata: Record<string, string> = {}): void {
    const json = debertaV2ConfigToJson(this.config);
    json.architectures = ["DebertaV2ForMaskedLM"];
    const params = new Map(this.params);
    params.set("cls.predictions.decoder.weight", this.deberta.embeddings.wordEmbeddings.weight);
    params.set("cls.predictions.decoder.bias", this.decoderBias);
    saveDebertaCheckpoint(dir, parseDebertaV2Config(json, dir), params, metadata);
  }
}
