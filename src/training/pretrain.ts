/**
 * Masked-language-model pretraining (BERT's recipe) on a corpus, for users without a pretrained BERT: 15% of the
 * real word pieces are chosen per sequence; of those 80% become [MASK], 10% a random piece, 10% stay; the loss is
 * the cross-entropy of the chosen positions. Sequences are the corpus passages cut to maxLength (one passage per
 * sequence). The result is an HF BertForMaskedLM directory that the ranker and the retriever start from.
 */
import { crossEntropy } from "../engine/index.ts";
import type { Rng } from "../engine/rng.ts";
import { singleBatch } from "../models/batching.ts";
import type { BertForMaskedLM } from "../models/bert-mlm.ts";
import type { MicroStepResult, TrainableStage } from "./loop.ts";
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

export class MlmStage implements TrainableStage {
  readonly params;
  private readonly sampler: EpochSampler;

  constructor(readonly model: BertForMaskedLM, readonly sequences: readonly (readonly number[])[], readonly options: MlmOptions) {
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
