/**
 * Ranker (cross-encoder) training: listwise softmax cross-entropy over [d+, d1-..dn-] per query (localized
 * contrastive estimation, docs/method.md pipeline step 2).
 */
import { reshape, noGrad } from "../engine/index.ts";
import type { Rng } from "../engine/rng.ts";
import { pairBatch } from "../models/batching.ts";
import type { PairCorpus, PairRanker } from "../models/pair-ranker.ts";
import { candidateGroup, type TrainingExample } from "./data.ts";
import type { MicroStepResult, TrainableStage } from "./loop.ts";
import { listwiseLoss } from "./losses/listwise.ts";
import { EpochSampler, microRng } from "./sampler.ts";

export interface PairLengths {
  maxQueryLength: number;
  maxPassageLength: number;
  maxPairLength: number;
}

/** Lexical scores (for example BM25) of a query against passages, for the ranker's optional lexical prior. */
export type LexicalScorer = (query: string, passageIds: readonly string[]) => Float32Array;

export interface RankerStageOptions {
  batchSize: number;
  negatives: number;
  lengths: PairLengths;
  seed: number;
  lexical?: LexicalScorer;
}

export class RankerStage implements TrainableStage {
  readonly params;
  private readonly sampler: EpochSampler;

  constructor(
    readonly ranker: PairRanker,
    readonly examples: readonly TrainingExample[],
    readonly corpus: PairCorpus,
    readonly options: RankerStageOptions,
  ) {
    this.params = ranker.params;
    this.sampler = new EpochSampler(examples.length, options.seed);
  }

  microStep(micro: number, rng: Rng): MicroStepResult {
    const { batchSize, negatives } = this.options;
    const group = negatives + 1;
    const pick = microRng(this.options.seed, micro);
    const picks = this.sampler.batch(micro, batchSize);
    const queries: (readonly number[])[] = [];
    const passages: (readonly number[])[] = [];
    const lexical: number[] = [];
    for (const { index, epoch } of picks) {
      const e = this.examples[index]!;
      const ids = candidateGroup(e, negatives, epoch, () => pick.int(this.corpus.ids.length), this.corpus.ids);
      const q = this.corpus.text(e.query);
      for (const id of ids) {
        queries.push(q);
        passages.push(this.corpus.passage(id));
      }
      if (this.options.lexical) lexical.push(...this.options.lexical(e.query, ids));
    }
    const batch = pairBatch(queries, passages, this.options.lengths, this.corpus.specials);
    const out = this.ranker.forward(batch.input, {
      training: true,
      rng,
      lexical: this.options.lexical ? Float32Array.from(lexical) : undefined,
    });
    const loss = listwiseLoss(reshape(out.scores, [batchSize, group]));
    return { loss, terms: { loss: loss.item() }, items: batchSize * group };
  }
}

/** Scores (query, passage) pairs with the ranker in eval mode, in batches: one score per passage. */
export function scorePairs(
  ranker: PairRanker, corpus: PairCorpus, query: string, passageIds: readonly string[],
  lengths: PairLengths, batchSize = 64, lexical?: LexicalScorer,
): Float32Array {
  const out = new Float32Array(passageIds.length);
  const q = corpus.text(query);
  for (let start = 0; start < passageIds.length; start += batchSize) {
    const ids = passageIds.slice(start, start + batchSize);
    const batch = pairBatch(ids.map(() => q), ids.map((id) => corpus.passage(id)), lengths, corpus.specials);
    const scores = noGrad(() => ranker.forward(batch.input, { lexical: lexical ? lexical(query, ids) : undefined }).scores);
    out.set(scores.data, start);
  }
  return out;
}
