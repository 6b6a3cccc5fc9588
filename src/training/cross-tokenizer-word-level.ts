/**
 * The MD2PR word level between a teacher and a student that tokenize differently (a DeBERTa-v3 ranker on
 * SentencePiece, the BERT retriever on WordPiece; docs/method.md, "Word level across tokenizers").
 *
 * Per (q, d+) pair, the query's and the passage's pieces are aligned separately (the teacher's pieces kept in its
 * joint input [CLS] q [SEP] d [SEP], the student's kept in its own [CLS] q [SEP] and [CLS] d [SEP]) into common
 * units with cross-tokenizer-alignment.ts. A unit is shared when both sides have pieces in it, none unknown, and
 * both spell the same text (so words that one side's truncation cut, or that an [UNK] blurred, are left out). Both
 * sides' piece-level quantities are then pooled onto the shared units with the alignment module's pooling matrices:
 *
 * - hidden states: the mean of a unit's pieces (teacher: its joint states; student: its separate states);
 * - attention: each side's query-piece-to-passage-piece attention restricted to pieces of shared passage units,
 *   pooled as mean_q · A · sum_dᵀ (rows averaged over the query unit's pieces, columns summed over the passage
 *   unit's pieces). The teacher's map is the chosen layers' heads averaged, then each pooled row renormalised over
 *   the shared passage units; the student's is softmax_rows(H_q H_dᵀ / sqrt(H)) over the same passage pieces, whose
 *   pooled rows already sum to one.
 *
 * Units are padded per batch to uq / ud (the most shared query / passage units of any pair), with masks.
 */
import { Tensor, concatRows, gatherRows, matmul, mse, softmax } from "../engine/index.ts";
import { MASK_VALUE } from "../models/bert.ts";
import type { PairCorpus } from "../models/pair-ranker.ts";
import type { SentencePieceTokenizer } from "../models/tokenizer/sentencepiece.ts";
import type { CorpusText } from "../retrieval/tokenized-corpus.ts";
import { alignUnits, canonicalPieces, poolingMatrices, wordStarts, type PieceKind } from "./cross-tokenizer-alignment.ts";
import { RankerCorpus } from "./ranker-corpus.ts";

/** How a teacher whose vocabulary is not the student's reads the corpus, and how its pieces are spelled. */
export interface TeacherTokenization {
  /** Queries and passages in the teacher's own ids (without special tokens). */
  readonly corpus: PairCorpus;
  /** The piece text of a teacher id. */
  pieceOf(id: number): string;
  readonly kind: PieceKind;
  /** The teacher's unknown piece (its surface is unknown). */
  readonly unkToken: string;
}

/** A SentencePiece (DeBERTa-v3) teacher over `docs`: a RankerCorpus with its tokenizer. */
export function sentencePieceTeacher(docs: ReadonlyMap<string, CorpusText>, tokenizer: SentencePieceTokenizer): TeacherTokenization {
  return {
    corpus: new RankerCorpus(docs, tokenizer),
    pieceOf: (id) => tokenizer.idToToken(id),
    kind: "sentencepiece",
    unkToken: tokenizer.idToToken(tokenizer.unkId),
  };
}

/** How a student (WordPiece) spells its pieces. */
export interface StudentPieces {
  pieceOf(id: number): string;
  readonly unkToken: string;
}

/** One text's shared units: for each teacher / student piece, its shared unit (0..units-1) or -1. */
export interface SharedUnits {
  units: number;
  teacherUnit: Int32Array;
  studentUnit: Int32Array;
}

/**
 * Aligns a teacher's and a student's pieces of the same text (each possibly truncated) and keeps the shared units:
 * both sides present, no unknown piece, the same canonical text.
 */
export function sharedUnits(
  teacherPieces: readonly string[], teacherKind: PieceKind, teacherUnk: string,
  studentPieces: readonly string[], studentUnk: string,
): SharedUnits {
  const a = canonicalPieces(teacherPieces, teacherKind, teacherUnk);
  const b = canonicalPieces(studentPieces, "wordpiece", studentUnk);
  const aligned = alignUnits(a, b, wordStarts(teacherPieces, teacherKind), wordStarts(studentPieces, "wordpiece"));
  const textA = Array.from({ length: aligned.units }, () => "");
  const textB = Array.from({ length: aligned.units }, () => "");
  const ok = new Uint8Array(aligned.units).fill(1);
  const seenA = new Uint8Array(aligned.units);
  const seenB = new Uint8Array(aligned.units);
  a.forEach((s, k) => {
    const u = aligned.unitOfA[k]!;
    seenA[u] = 1;
    if (s === null) ok[u] = 0;
    else textA[u] += s;
  });
  b.forEach((s, k) => {
    const u = aligned.unitOfB[k]!;
    seenB[u] = 1;
    if (s === null) ok[u] = 0;
    else textB[u] += s;
  });
  const index = new Int32Array(aligned.units).fill(-1);
  let units = 0;
  for (let u = 0; u < aligned.units; u++) {
    if (ok[u] && seenA[u] && seenB[u] && textA[u] === textB[u] && textA[u]!.length > 0) index[u] = units++;
  }
  return {
    units,
    teacherUnit: Int32Array.from(aligned.unitOfA, (u) => index[u]!),
    studentUnit: Int32Array.from(aligned.unitOfB, (u) => index[u]!),
  };
}

/**
 * Mean and sum pooling [padUnits, pieces] of pieces onto shared units (poolingMatrices; pieces outside every shared
 * unit get zero weight, rows past `units` are zero).
 */
export function sharedPooling(unitOf: Int32Array, units: number, padUnits: number): { mean: Float32Array; sum: Float32Array } {
  const n = unitOf.length;
  // pieces outside the shared units go to one extra unit, whose row is dropped
  const withRest = Int32Array.from(unitOf, (u) => (u < 0 ? units : u));
  const { mean, sum } = poolingMatrices(withRest, units + 1);
  const pad = (m: Float32Array): Float32Array => {
    const out = new Float32Array(padUnits * n);
    out.set(m.subarray(0, units * n));
    return out;
  };
  return { mean: pad(mean), sum: pad(sum) };
}

/** One pair's pieces: the teacher's (kept in its joint input) and the student's (kept in its separate inputs). */
export interface PairPieces {
  teacherQuery: readonly string[];
  teacherPassage: readonly string[];
  /** Rows of the student's query / passage token states holding its pieces, in order. */
  studentQueryRows: Int32Array;
  studentPassageRows: Int32Array;
  query: SharedUnits;
  passage: SharedUnits;
}

/** One pair's pooling matrices (row-major [units, pieces]) onto the batch-padded shared units. */
interface PairPooling {
  studentQueryRows: Int32Array;
  studentPassageRows: Int32Array;
  studentQueryMean: Float32Array;
  studentPassageMean: Float32Array;
  studentPassageSum: Float32Array;
  /** Additive softmax mask over the student's passage pieces: 0 in a shared unit, MASK_VALUE elsewhere. */
  studentPassageMask: Float32Array;
  teacherQueryMean: Float32Array;
  teacherPassageMean: Float32Array;
  teacherPassageSum: Float32Array;
  teacherQueryPieces: number;
  teacherPassagePieces: number;
  queryUnits: number;
  passageUnits: number;
}

/** The pooling of a batch of pairs onto shared words. */
export interface WordPooling {
  pairs: number;
  /** Padded shared units per pair: query, passage (at least 1). */
  uq: number;
  ud: number;
  /** [pairs * uq], [pairs * ud]: 1 = a shared unit. */
  queryMask: Float32Array;
  passageMask: Float32Array;
  perPair: PairPooling[];
}

export function wordPooling(pairs: readonly PairPieces[]): WordPooling {
  const uq = Math.max(1, ...pairs.map((p) => p.query.units));
  const ud = Math.max(1, ...pairs.map((p) => p.passage.units));
  const queryMask = new Float32Array(pairs.length * uq);
  const passageMask = new Float32Array(pairs.length * ud);
  const perPair = pairs.map((p, i): PairPooling => {
    queryMask.fill(1, i * uq, i * uq + p.query.units);
    passageMask.fill(1, i * ud, i * ud + p.passage.units);
    const sq = sharedPooling(p.query.studentUnit, p.query.units, uq);
    const sd = sharedPooling(p.passage.studentUnit, p.passage.units, ud);
    const tq = sharedPooling(p.query.teacherUnit, p.query.units, uq);
    const td = sharedPooling(p.passage.teacherUnit, p.passage.units, ud);
    return {
      studentQueryRows: p.studentQueryRows,
      studentPassageRows: p.studentPassageRows,
      studentQueryMean: sq.mean,
      studentPassageMean: sd.mean,
      studentPassageSum: sd.sum,
      studentPassageMask: Float32Array.from(p.passage.studentUnit, (u) => (u >= 0 ? 0 : MASK_VALUE)),
      teacherQueryMean: tq.mean,
      teacherPassageMean: td.mean,
      teacherPassageSum: td.sum,
      teacherQueryPieces: p.teacherQuery.length,
      teacherPassagePieces: p.teacherPassage.length,
      queryUnits: p.query.units,
      passageUnits: p.passage.units,
    };
  });
  return { pairs: pairs.length, uq, ud, queryMask, passageMask, perPair };
}

/** out[r, c] = sum_k a[r, k] b[k, c] (plain row-major arrays; the teacher's side is constant). */
function matmulData(a: Float32Array, b: Float32Array, rows: number, inner: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < inner; k++) {
      const w = a[r * inner + k]!;
      if (w === 0) continue;
      for (let c = 0; c < cols; c++) out[r * cols + c] = out[r * cols + c]! + w * b[k * cols + c]!;
    }
  }
  return out;
}

/**
 * The teacher's pooled targets: attention [pairs * uq * ud] (chosen layers and heads averaged, rows renormalised
 * over the shared passage units) from probabilities [pairs, heads, T, T] of its joint input [CLS] q [SEP] d [SEP];
 * hidden states [(pairs * uq + pairs * ud) * hidden] (all pairs' query units, then all pairs' passage units) from
 * its last states [pairs * T, hidden].
 */
export function teacherWordTargets(
  pooling: WordPooling, attentions: readonly Float32Array[] | null, heads: number, jointSeq: number,
  lastHidden: Float32Array | null, hidden: number,
): { attention: Float32Array | null; hidden: Float32Array | null } {
  const { pairs, uq, ud } = pooling;
  const attention = attentions ? new Float32Array(pairs * uq * ud) : null;
  const states = lastHidden ? new Float32Array((pairs * uq + pairs * ud) * hidden) : null;
  pooling.perPair.forEach((p, i) => {
    const nq = p.teacherQueryPieces;
    const nd = p.teacherPassagePieces;
    if (attention && attentions && p.queryUnits > 0 && p.passageUnits > 0) {
      const piece = new Float32Array(nq * nd);
      const scale = 1 / (heads * attentions.length);
      for (const att of attentions) {
        for (let h = 0; h < heads; h++) {
          const base = (i * heads + h) * jointSeq * jointSeq;
          for (let r = 0; r < nq; r++) {
            const row = base + (1 + r) * jointSeq + nq + 2;
            for (let c = 0; c < nd; c++) piece[r * nd + c] = piece[r * nd + c]! + att[row + c]! * scale;
          }
        }
      }
      const rows = matmulData(p.teacherQueryMean, piece, uq, nq, nd);
      const sumT = transposeData(p.teacherPassageSum, ud, nd);
      const pooled = matmulData(rows, sumT, uq, nd, ud);
      for (let u = 0; u < p.queryUnits; u++) {
        let total = 0;
        for (let v = 0; v < p.passageUnits; v++) total += pooled[u * ud + v]!;
        if (total > 0) for (let v = 0; v < p.passageUnits; v++) attention[(i * uq + u) * ud + v] = pooled[u * ud + v]! / total;
      }
    }
    if (states && lastHidden) {
      const rowsOf = (start: number, n: number): Float32Array => lastHidden.subarray((i * jointSeq + start) * hidden, (i * jointSeq + start + n) * hidden);
      states.set(matmulData(p.teacherQueryMean, rowsOf(1, nq), uq, nq, hidden), i * uq * hidden);
      states.set(matmulData(p.teacherPassageMean, rowsOf(nq + 2, nd), ud, nd, hidden), (pairs * uq + i * ud) * hidden);
    }
  });
  return { attention, hidden: states };
}

function transposeData(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c]!;
  return out;
}

/**
 * The student's pooled quantities (differentiable), each when asked for: unit states [pairs * uq + pairs * ud, H]
 * (the order of teacherWordTargets' hidden target) and the pooled attention [pairs * uq, ud].
 */
export function studentWordStates(
  pooling: WordPooling, queryHidden: Tensor, passageHidden: Tensor, want: { attention: boolean; hidden: boolean },
): { states: Tensor | null; attention: Tensor | null } {
  const { uq, ud } = pooling;
  const hidden = queryHidden.dim(1);
  const zeros = (rows: number, cols: number): Tensor => new Tensor(new Float32Array(rows * cols), [rows, cols]);
  const queryUnits: Tensor[] = [];
  const passageUnits: Tensor[] = [];
  const blocks: Tensor[] = [];
  for (const p of pooling.perPair) {
    const nq = p.studentQueryRows.length;
    const nd = p.studentPassageRows.length;
    const hq = nq > 0 && p.queryUnits > 0 ? gatherRows(queryHidden, p.studentQueryRows) : null;
    const hd = nd > 0 && p.passageUnits > 0 ? gatherRows(passageHidden, p.studentPassageRows) : null;
    if (want.hidden) {
      queryUnits.push(hq ? matmul(new Tensor(p.studentQueryMean, [uq, nq]), hq) : zeros(uq, hidden));
      passageUnits.push(hd ? matmul(new Tensor(p.studentPassageMean, [ud, nd]), hd) : zeros(ud, hidden));
    }
    if (!want.attention) continue;
    if (!hq || !hd) {
      blocks.push(zeros(uq, ud));
      continue;
    }
    const pieces = softmax(matmul(hq, hd, false, true), 1 / Math.sqrt(hidden), p.studentPassageMask, nq);
    const rows = matmul(new Tensor(p.studentQueryMean, [uq, nq]), pieces);
    blocks.push(matmul(rows, new Tensor(p.studentPassageSum, [ud, nd]), false, true));
  }
  return {
    states: want.hidden ? concatRows([...queryUnits, ...passageUnits]) : null,
    attention: want.attention ? concatRows(blocks) : null,
  };
}

/** Weights [pairs * uq * ud] of the attention MSE: shared query unit x shared passage unit. */
export function attentionWeights(pooling: WordPooling): Float32Array {
  const { pairs, uq, ud } = pooling;
  const w = new Float32Array(pairs * uq * ud);
  for (let i = 0; i < pairs; i++) {
    for (let u = 0; u < uq; u++) {
      if (!pooling.queryMask[i * uq + u]) continue;
      for (let v = 0; v < ud; v++) w[(i * uq + u) * ud + v] = pooling.passageMask[i * ud + v]!;
    }
  }
  return w;
}

/** L_att over shared words: MSE between the student's and the teacher's pooled attention (null: nothing shared). */
export function pooledAttentionLoss(student: Tensor, teacher: Float32Array, pooling: WordPooling): Tensor | null {
  const w = attentionWeights(pooling);
  if (!w.some((x) => x !== 0)) return null;
  return mse(student, new Tensor(teacher, student.shape), w);
}

/** Mask [pairs * uq + pairs * ud] of the shared units, in the order of the pooled states. */
export function unitMask(pooling: WordPooling): Float32Array {
  const m = new Float32Array(pooling.queryMask.length + pooling.passageMask.length);
  m.set(pooling.queryMask, 0);
  m.set(pooling.passageMask, pooling.queryMask.length);
  return m;
}
