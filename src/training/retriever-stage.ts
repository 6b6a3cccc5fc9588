/**
 * Retriever (dual encoder) training with MD2PR (docs/method.md): per step, B queries with their positive and n hard
 * negatives, in-batch negatives, and
 *
 *   L = L_c + alpha * L_sent + beta * (L_att + L_hid)
 *
 * with the ranker frozen (eval mode, no grad) as the teacher: its scores feed the sentence-level KL and the
 * dynamic false-negative filter (cached per (query, passage), as they never change); its attention and hidden
 * states on the (q, d+) pairs feed the word level. alpha = 0 / beta = 0 / filter off give the ablations.
 *
 * The teacher is a BERT cross-encoder on the student's WordPiece ids (word level aligned by position, alignment.ts)
 * or, with `teacher` in the options, a ranker with its own tokenizer (a DeBERTa-v3 on SentencePiece): its pair
 * batches are then built from its own corpus, and the word level pools both sides onto shared words
 * (cross-tokenizer-word-level.ts).
 */
import {
  Tensor, concatRows, gatherRows, noGrad, weightedSum,
} from "../engine/index.ts";
import type { Rng } from "../engine/rng.ts";
import { pairBatch, singleBatch, truncateSingle } from "../models/batching.ts";
import type { BertInput } from "../models/bert.ts";
import type { PairRanker } from "../models/pair-ranker.ts";
import type { DualEncoder } from "../models/dual-encoder.ts";
import { VarBuilder } from "../nn/var-builder.ts";
import { alignPairs, gatherRowsData, teacherAttentionTarget } from "./alignment.ts";
import type { TokenizedCorpus } from "../retrieval/tokenized-corpus.ts";
import {
  sharedUnits, studentWordStates, teacherWordTargets, unitMask, wordPooling, pooledAttentionLoss,
  type PairPieces, type SharedUnits, type TeacherTokenization,
} from "./cross-tokenizer-word-level.ts";
import { candidateGroup, type TrainingExample } from "./data.ts";
import { DynamicFalseNegativeFilter, contrastiveKeepMask, DEFAULT_FALSE_NEGATIVE_FILTER, type FalseNegativeFilterOptions, type FilterState } from "./false-negatives.ts";
import type { MicroStepResult, TrainableStage } from "./loop.ts";
import { attentionDistillationLoss } from "./losses/attention-distillation.ts";
import { contrastiveLoss, scoreMatrix } from "./losses/contrastive.ts";
import { hiddenDistillationLoss } from "./losses/hidden-distillation.ts";
import { ownCandidateScores, sentenceDistillationLoss } from "./losses/sentence-distillation.ts";
import type { LexicalScorer, PairLengths } from "./ranker-stage.ts";
import type { TeacherPrior } from "./teacher-prior.ts";
import { EpochSampler, microRng } from "./sampler.ts";

export interface Md2prOptions {
  /** Weight of the sentence-level KL (0: off). Default 1. */
  alpha: number;
  /** Weight of the word-level losses (0: off). Default 1. */
  beta: number;
  /** Contrastive temperature tau (default 1, dot product). */
  temperature: number;
  teacherTemperature: number;
  studentTemperature: number;
  /** Word-level terms: attention MSE and hidden-state MSE (both on by default). */
  wordAttention: boolean;
  wordHidden: boolean;
  /** Ranker layers whose attention is the target (negative = from the end); default [-1], the last layer. */
  teacherAttentionLayers: number[];
  filter: FalseNegativeFilterOptions;
}

/**
 * beta 0.1 and T_C 4 were chosen on the SciFact dev split (README, "Choices made on dev"): with the demo's teacher
 * (BM25 lexical prior + a neural term), full MD2PR after 100 steps reached dev nDCG@10 0.412 at beta 1, T_C 1;
 * 0.425 at beta 0.1, T_C 1; 0.452 at beta 0.1, T_C 4 (contrastive only: 0.461).
 */
export const DEFAULT_MD2PR: Md2prOptions = {
  alpha: 1,
  beta: 0.1,
  temperature: 1,
  teacherTemperature: 4,
  studentTemperature: 1,
  wordAttention: true,
  wordHidden: true,
  teacherAttentionLayers: [-1],
  filter: DEFAULT_FALSE_NEGATIVE_FILTER,
};

export interface RetrieverStageOptions {
  batchSize: number;
  negatives: number;
  lengths: PairLengths;
  seed: number;
  md2pr: Md2prOptions;
  lexical?: LexicalScorer;
  /** The teacher's own tokenization, when it is not the retriever's (a DeBERTa-v3 ranker: sentencePieceTeacher). */
  teacher?: TeacherTokenization;
  /** Added to the teacher's scores (sentence level and filter): round two's dense prior (teacher-prior.ts). */
  teacherPrior?: TeacherPrior;
}

/** A frozen cross-encoder teacher: the BERT CrossEncoder or a DebertaCrossEncoder (arch "deberta-v2"). */
export type TeacherRanker = PairRanker & {
  readonly arch?: string;
  readonly config: { readonly hiddenSize: number; readonly numAttentionHeads: number };
};

export const PROJECTION = "distill_projection";

/** One micro-batch: B queries, each with its candidate group [d+, d1-..dn-], tokenized. */
interface CollatedBatch {
  size: number;
  groupSize: number;
  examples: TrainingExample[];
  groupIds: string[][];
  queryPieces: (readonly number[])[];
  queryInput: BertInput;
  passageInput: BertInput;
}

export class RetrieverStage implements TrainableStage {
  readonly params: Map<string, Tensor>;
  /** W [H_R, H_C] of the hidden-state loss when the sizes differ, else null (identity). */
  readonly projection: Tensor | null;
  readonly filter: DynamicFalseNegativeFilter;
  private readonly sampler: EpochSampler;
  private readonly teacherScoreCache = new Map<string, number>();
  private readonly sharedUnitCache = new Map<string, SharedUnits>();

  constructor(
    readonly retriever: DualEncoder,
    readonly ranker: TeacherRanker | null,
    readonly examples: readonly TrainingExample[],
    readonly corpus: TokenizedCorpus,
    readonly options: RetrieverStageOptions,
  ) {
    const md = options.md2pr;
    if (!ranker && (md.alpha > 0 || md.beta > 0 || md.filter.enabled)) {
      throw new Error("retriever training: distillation (alpha, beta > 0) and the false-negative filter need a ranker");
    }
    if (ranker?.arch === "deberta-v2" && !options.teacher) {
      throw new Error("retriever training: a deberta-v2 teacher reads its own SentencePiece ids; pass its tokenization as options.teacher (sentencePieceTeacher)");
    }
    this.params = new Map(retriever.parameters());
    const hr = retriever.config.hiddenSize;
    const hc = ranker?.config.hiddenSize ?? hr;
    this.projection = md.beta > 0 && md.wordHidden && hr !== hc
      ? VarBuilder.random(options.seed + 17).get(PROJECTION, [hr, hc], { kind: "normal", std: 1 / Math.sqrt(hr) })
      : null;
    if (this.projection) this.params.set(PROJECTION, this.projection);
    this.filter = new DynamicFalseNegativeFilter(md.filter);
    this.sampler = new EpochSampler(examples.length, options.seed);
  }

  getState(): unknown {
    return { filter: this.filter.state };
  }

  setState(state: unknown): void {
    const s = state as { filter?: FilterState } | null;
    if (s?.filter) this.filter.state = s.filter;
  }

  microStep(micro: number, rng: Rng): MicroStepResult {
    const batch = this.collate(micro);
    const md = this.options.md2pr;
    const teacherScores = this.ranker && (md.alpha > 0 || md.filter.enabled) ? this.teacherScores(batch.examples, batch.groupIds) : null;
    const q = this.retriever.encode(batch.queryInput, "query", { training: true, rng });
    const p = this.retriever.encode(batch.passageInput, "passage", { training: true, rng });
    const scores = scoreMatrix(q.embeddings, p.embeddings);
    const terms: Record<string, number> = {};
    const losses: Tensor[] = [];
    const weights: number[] = [];
    const add = (name: string, value: Tensor, weight: number): void => {
      terms[name] = value.item();
      losses.push(value);
      weights.push(weight);
    };
    add("l_c", this.contrastiveTerm(batch, scores, teacherScores, terms), 1);
    if (md.alpha > 0 && teacherScores) add("l_sent", this.sentenceTerm(batch, scores, teacherScores), md.alpha);
    if (md.beta > 0 && this.ranker && (md.wordAttention || md.wordHidden)) {
      for (const [name, value] of this.wordTerms(batch, q.bert.lastHidden, p.bert.lastHidden)) add(name, value, md.beta);
    }
    const loss = losses.length === 1 ? losses[0]! : weightedSum(losses, weights);
    terms.loss = loss.item();
    return { loss, terms, items: batch.size * batch.groupSize };
  }

  /** The micro-batch's queries and candidate groups ([d+, n negatives] each), tokenized for the two encoders. */
  private collate(micro: number): CollatedBatch {
    const { batchSize, negatives } = this.options;
    const pick = microRng(this.options.seed, micro);
    const examples: TrainingExample[] = [];
    const groupIds: string[][] = [];
    for (const { index, epoch } of this.sampler.batch(micro, batchSize)) {
      const e = this.examples[index]!;
      examples.push(e);
      groupIds.push(candidateGroup(e, negatives, epoch, () => pick.int(this.corpus.ids.length), this.corpus.ids));
    }
    const queryPieces = examples.map((e) => this.corpus.text(e.query));
    const settings = this.retriever.settings;
    return {
      size: batchSize, groupSize: negatives + 1, examples, groupIds, queryPieces,
      queryInput: singleBatch(queryPieces, settings.maxQueryLength, this.corpus.specials),
      passageInput: singleBatch(groupIds.flat().map((id) => this.corpus.passage(id)), settings.maxPassageLength, this.corpus.specials),
    };
  }

  /** L_c with in-batch negatives; the false-negative filter (when on) masks some of each query's own negatives. */
  private contrastiveTerm(batch: CollatedBatch, scores: Tensor, teacherScores: Float32Array | null, terms: Record<string, number>): Tensor {
    const md = this.options.md2pr;
    let keep: Uint8Array | null = null;
    if (teacherScores) {
      const decision = this.filter.step(teacherScores, batch.size, batch.groupSize);
      terms.masked_fraction = decision.maskedFraction;
      terms.filter_theta = decision.theta;
      if (md.filter.enabled) keep = contrastiveKeepMask(decision.keepOwn, batch.size, batch.groupSize);
    }
    return contrastiveLoss(scores, batch.groupSize, keep, { temperature: md.temperature });
  }

  /** L_sent: KL from the ranker's to the retriever's distribution over each query's own candidates. */
  private sentenceTerm(batch: CollatedBatch, scores: Tensor, teacherScores: Float32Array): Tensor {
    const md = this.options.md2pr;
    return sentenceDistillationLoss(new Tensor(teacherScores, [batch.size, batch.groupSize]), ownCandidateScores(scores, batch.groupSize), {
      teacherTemperature: md.teacherTemperature,
      studentTemperature: md.studentTemperature,
    });
  }

  /** The word level on the (q, d+) pairs: L_att and L_hid against the ranker's last layer (each when switched on). */
  private wordTerms(batch: CollatedBatch, queryHidden: Tensor, passageHidden: Tensor): [string, Tensor][] {
    if (this.options.teacher) return this.crossTokenizerWordTerms(batch, queryHidden, passageHidden, this.options.teacher);
    const md = this.options.md2pr;
    const ranker = this.ranker!;
    const b = batch.size;
    const queryTexts = batch.examples.map((e) => e.query);
    const positives = batch.groupIds.map((ids) => ids[0]!);
    const joint = pairBatch(batch.queryPieces, positives.map((id) => this.corpus.passage(id)), this.options.lengths, this.corpus.specials);
    const teacher = noGrad(() => ranker.forward(joint.input, {
      outputAttentions: md.wordAttention,
      outputHiddenStates: md.wordHidden,
      lexical: this.options.lexical ? lexicalOfPairs(this.options.lexical, queryTexts, positives) : undefined,
    }));
    const align = alignPairs(batch.queryInput, batch.passageInput, joint.input.seq, range(b), range(b).map((i) => i * batch.groupSize), joint.queryLengths, joint.passageLengths);
    const hq = gatherRows(queryHidden, align.queryRows);
    const hd = gatherRows(passageHidden, align.passageRows);
    const out: [string, Tensor][] = [];
    if (md.wordAttention) {
      const layers = md.teacherAttentionLayers.map((l) => teacher.bert.attentions.at(l)!.data);
      const target = teacherAttentionTarget(layers, ranker.config.numAttentionHeads, joint.input.seq, align);
      out.push(["l_att", attentionDistillationLoss(hq, hd, align.queryMask, align.passageMask, target, b, align.tq, align.td)]);
    }
    if (md.wordHidden) {
      const last = teacher.bert.lastHidden;
      const hc = last.dim(1);
      const targetStates = new Float32Array((align.jointQueryRows.length + align.jointPassageRows.length) * hc);
      targetStates.set(gatherRowsData(last.data, hc, align.jointQueryRows), 0);
      targetStates.set(gatherRowsData(last.data, hc, align.jointPassageRows), align.jointQueryRows.length * hc);
      const mask = new Float32Array(align.queryMask.length + align.passageMask.length);
      mask.set(align.queryMask, 0);
      mask.set(align.passageMask, align.queryMask.length);
      out.push(["l_hid", hiddenDistillationLoss(concatRows([hq, hd]), targetStates, this.projection, mask)]);
    }
    return out;
  }

  /**
   * The word level with a teacher that tokenizes differently: L_att and L_hid on the (q, d+) pairs over the words
   * both sides share, each side's pieces pooled onto them (cross-tokenizer-word-level.ts).
   */
  private crossTokenizerWordTerms(batch: CollatedBatch, queryHidden: Tensor, passageHidden: Tensor, tokens: TeacherTokenization): [string, Tensor][] {
    const md = this.options.md2pr;
    const ranker = this.ranker!;
    const positives = batch.groupIds.map((ids) => ids[0]!);
    const queryIds = batch.examples.map((e) => tokens.corpus.text(e.query));
    const passageIds = positives.map((id) => tokens.corpus.passage(id));
    const joint = pairBatch(queryIds, passageIds, this.options.lengths, tokens.corpus.specials);
    const teacher = noGrad(() => ranker.forward(joint.input, {
      outputAttentions: md.wordAttention,
      outputHiddenStates: md.wordHidden,
      lexical: this.options.lexical ? lexicalOfPairs(this.options.lexical, batch.examples.map((e) => e.query), positives) : undefined,
    }));
    const pieces = batch.examples.map((e, i): PairPieces => {
      const teacherQuery = queryIds[i]!.slice(0, joint.queryLengths[i]!).map((id) => tokens.pieceOf(id));
      const teacherPassage = passageIds[i]!.slice(0, joint.passageLengths[i]!).map((id) => tokens.pieceOf(id));
      const studentQuery = truncateSingle(batch.queryPieces[i]!, this.retriever.settings.maxQueryLength);
      const studentPassage = truncateSingle(this.corpus.passage(positives[i]!), this.retriever.settings.maxPassageLength);
      const qRow = i * batch.queryInput.seq;
      const dRow = i * batch.groupSize * batch.passageInput.seq;
      return {
        teacherQuery, teacherPassage,
        studentQueryRows: Int32Array.from(studentQuery, (_, k) => qRow + 1 + k),
        studentPassageRows: Int32Array.from(studentPassage, (_, k) => dRow + 1 + k),
        query: this.sharedUnitsOf(`q\u0000${e.query}`, teacherQuery, studentQuery, tokens),
        passage: this.sharedUnitsOf(`d\u0000${positives[i]!}`, teacherPassage, studentPassage, tokens),
      };
    });
    const pooling = wordPooling(pieces);
    const attentions = md.wordAttention ? md.teacherAttentionLayers.map((l) => teacher.bert.attentions.at(l)!.data) : null;
    const last = teacher.bert.lastHidden;
    const targets = teacherWordTargets(pooling, attentions, ranker.config.numAttentionHeads, joint.input.seq, md.wordHidden ? last.data : null, last.dim(1));
    const student = studentWordStates(pooling, queryHidden, passageHidden, { attention: md.wordAttention, hidden: md.wordHidden });
    const out: [string, Tensor][] = [];
    if (student.attention && targets.attention) {
      const lAtt = pooledAttentionLoss(student.attention, targets.attention, pooling);
      if (lAtt) out.push(["l_att", lAtt]);
    }
    if (student.states && targets.hidden) {
      const mask = unitMask(pooling);
      if (mask.some((x) => x !== 0)) out.push(["l_hid", hiddenDistillationLoss(student.states, targets.hidden, this.projection, mask)]);
    }
    return out;
  }

  /** Shared units of one text's teacher and student pieces, cached per text and kept lengths. */
  private sharedUnitsOf(key: string, teacherPieces: readonly string[], studentIds: readonly number[], tokens: TeacherTokenization): SharedUnits {
    const full = `${key}\u0000${teacherPieces.length}\u0000${studentIds.length}`;
    let units = this.sharedUnitCache.get(full);
    if (!units) {
      const wp = this.corpus.tokenizer;
      units = sharedUnits(teacherPieces, tokens.kind, tokens.unkToken, studentIds.map((id) => wp.idToToken(id)), wp.unkToken);
      this.sharedUnitCache.set(full, units);
    }
    return units;
  }

  /** The ranker's scores [B, G] of each query's candidates, cached per (query, passage). */
  private teacherScores(examples: readonly TrainingExample[], groupIds: readonly string[][]): Float32Array {
    const b = examples.length;
    const g = groupIds[0]!.length;
    const out = new Float32Array(b * g);
    const missing: { slot: number; query: string; id: string; key: string }[] = [];
    examples.forEach((e, i) => {
      groupIds[i]!.forEach((id, j) => {
        const key = `${e.queryId}\t${id}`;
        const cached = this.teacherScoreCache.get(key);
        if (cached === undefined) missing.push({ slot: i * g + j, query: e.query, id, key });
        else out[i * g + j] = cached;
      });
    });
    if (missing.length > 0) {
      // pairs in the teacher's own ids (the retriever's corpus when they share a tokenizer)
      const tc = this.options.teacher?.corpus ?? this.corpus;
      const batch = pairBatch(
        missing.map((m) => tc.text(m.query)), missing.map((m) => tc.passage(m.id)),
        this.options.lengths, tc.specials,
      );
      const lexical = this.options.lexical ? lexicalOfPairs(this.options.lexical, missing.map((m) => m.query), missing.map((m) => m.id)) : undefined;
      const scores = noGrad(() => this.ranker!.forward(batch.input, { lexical }).scores).data;
      const prior = this.options.teacherPrior;
      if (prior && prior.weight !== 0) {
        const extra = lexicalOfPairs(prior.score, missing.map((m) => m.query), missing.map((m) => m.id));
        for (let k = 0; k < scores.length; k++) scores[k] = scores[k]! + prior.weight * extra[k]!;
      }
      missing.forEach((m, k) => {
        out[m.slot] = scores[k]!;
        this.teacherScoreCache.set(m.key, scores[k]!);
      });
    }
    return out;
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function lexicalOfPairs(scorer: LexicalScorer, queries: readonly string[], ids: readonly string[]): Float32Array {
  return Float32Array.from(queries.map((q, i) => scorer(q, [ids[i]!])[0]!));
}
