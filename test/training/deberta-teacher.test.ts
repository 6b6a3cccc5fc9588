/**
 * A DeBERTa-v3 teacher (SentencePiece) of the BERT retriever (WordPiece): MD2PR's every term runs with a toy
 * DeBERTa cross-encoder on the SciFact SentencePiece fixture and a toy BERT student; the teacher reads its own ids;
 * the word level is pooled onto the words both tokenizers share, with the shapes and sums the pooling promises.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Tensor, backward } from "../../src/engine/index.ts";
import type { BertInput } from "../../src/models/bert.ts";
import { makeDebertaV2Config } from "../../src/models/deberta-config.ts";
import { DebertaCrossEncoder } from "../../src/models/deberta-cross-encoder.ts";
import { SentencePieceTokenizer } from "../../src/models/tokenizer/sentencepiece.ts";
import {
  pooledAttentionLoss, sentencePieceTeacher, sharedUnits, studentWordStates, teacherWordTargets, wordPooling, type PairPieces,
} from "../../src/training/cross-tokenizer-word-level.ts";
import { runTrainingLoop } from "../../src/training/loop.ts";
import { DEFAULT_MD2PR, RetrieverStage } from "../../src/training/retriever-stage.ts";
import { Rng } from "../../src/engine/rng.ts";
import { toyModels, toySet } from "../helpers/toy.ts";

const lengths = { maxQueryLength: 12, maxPassageLength: 24, maxPairLength: 40 };
const sp = SentencePieceTokenizer.fromDirectory(new URL("../fixtures/spm-scifact/", import.meta.url).pathname);

function toyDeberta(hidden: number, lexicalPrior: boolean | number = false): DebertaCrossEncoder {
  return DebertaCrossEncoder.random(makeDebertaV2Config({
    vocabSize: sp.vocabSize, hiddenSize: hidden, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 2 * hidden,
    maxPositionEmbeddings: 64, relativeAttention: true, positionBuckets: 8, maxRelativePositions: 32, posAttType: ["p2c", "c2p"],
    shareAttKey: true, normRelEbd: ["layer_norm"], positionBiasedInput: false, typeVocabSize: 0,
    hiddenDropoutProb: 0, attentionProbsDropoutProb: 0,
  }), 7, lexicalPrior);
}

describe("DeBERTa teacher of the BERT retriever", () => {
  it("runs every MD2PR term (finite, word level present) with the teacher reading its own SentencePiece ids", async () => {
    const toy = await toySet();
    const { retriever } = toyModels(toy, 5);
    const ranker = toyDeberta(24, 0.5);
    const seen: BertInput[] = [];
    const forward = ranker.forward.bind(ranker);
    ranker.forward = (input, opts) => {
      seen.push(input);
      return forward(input, opts);
    };
    const lexical = (query: string, ids: readonly string[]): Float32Array => Float32Array.from(ids, (id) => (id.startsWith("d") ? query.length / 10 : 0));
    const before = new Map([...retriever.parameters()].map(([k, t]) => [k, Float32Array.from(t.data)]));
    const stage = new RetrieverStage(retriever, ranker, toy.examples, toy.corpus, {
      batchSize: 3, negatives: 2, lengths, seed: 11, lexical, teacher: sentencePieceTeacher(toy.corpus.docs, sp),
      md2pr: { ...DEFAULT_MD2PR, beta: 1, teacherAttentionLayers: [-1, 0], filter: { ...DEFAULT_MD2PR.filter, updateEvery: 2, rho: 0.3 } },
    });
    assert.deepEqual(stage.projection?.shape, [16, 24], "a projection from the student's 16 to the teacher's 24 dimensions");
    const dir = mkdtempSync(join(tmpdir(), "md2pr-deberta-teacher-"));
    try {
      const result = await runTrainingLoop(stage, {
        outputDir: dir, steps: 4, gradientAccumulation: 1, learningRate: 1e-3, warmupSteps: 1, weightDecay: 0.01, maxGradNorm: 1,
        seed: 3, checkpointEvery: 0, evalEvery: 0, resume: false, label: "deberta-teacher",
      });
      const records = readFileSync(result.logFile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
      assert.equal(records.length, 4);
      for (const r of records) {
        for (const key of ["l_c", "l_sent", "l_att", "l_hid", "masked_fraction", "filter_theta", "loss", "grad_norm"]) {
          assert.ok(Number.isFinite(r[key]), `step ${r.step}: ${key} = ${r[key]}`);
        }
        assert.ok(r.l_att! > 0 && r.l_hid! > 0, "word-level terms are non-zero");
      }
      const moved = [...retriever.parameters()].some(([k, t]) => t.data.some((v, i) => v !== before.get(k)![i]));
      assert.ok(moved, "the retriever trained");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // every teacher batch is [CLS] q [SEP] d [SEP] in the SentencePiece vocabulary
    assert.ok(seen.length > 0);
    const byCls = new Set<number>();
    for (const input of seen) {
      for (let b = 0; b < input.batch; b++) {
        byCls.add(input.inputIds[b * input.seq]!);
        const row = Array.from(input.inputIds.subarray(b * input.seq, (b + 1) * input.seq));
        const q = toy.examples.find((e) => {
          const ids = sp.tokenizeToIds(e.query);
          return ids.every((id, k) => row[1 + k] === id) && row[1 + ids.length] === sp.sepId;
        });
        assert.ok(q, `row ${b} starts with [CLS] and a query in SentencePiece ids: ${row.slice(0, 12).join(" ")}`);
      }
    }
    assert.deepEqual([...byCls], [sp.clsId]);
  });

  it("refuses a DeBERTa teacher without its tokenization", async () => {
    const toy = await toySet();
    const { retriever } = toyModels(toy, 5);
    assert.throws(() => new RetrieverStage(retriever, toyDeberta(16), toy.examples, toy.corpus, { batchSize: 2, negatives: 1, lengths, seed: 1, md2pr: DEFAULT_MD2PR }),
      /deberta-v2 teacher reads its own SentencePiece ids/);
  });

  it("shared units: words both sides spell alike; a word cut by either side's truncation is left out", async () => {
    const toy = await toySet();
    const text = "protein folding amino acid chains fold into three dimensional structures";
    const t = sp.tokenize(text);
    const s = toy.tokenizer.tokenize(text);
    const full = sharedUnits(t, "sentencepiece", "[UNK]", s, "[UNK]");
    assert.equal(full.units, 10, "ten words");
    // "folding" is ▁ fold ing in SentencePiece and one WordPiece: one unit with 3 teacher pieces and 1 student piece
    assert.deepEqual([...full.teacherUnit.entries()].filter(([, u]) => u === 1).map(([k]) => t[k]), ["\u2581", "fold", "ing"]);
    assert.deepEqual([...full.studentUnit.entries()].filter(([, u]) => u === 1).map(([k]) => s[k]), ["folding"]);
    // the teacher cut inside "chains" (▁chain kept, s dropped): that word is not shared, the words before are
    const cut = sharedUnits(t.slice(0, t.indexOf("s")), "sentencepiece", "[UNK]", s, "[UNK]");
    assert.equal(cut.units, 4);
    assert.equal(cut.studentUnit[s.indexOf("chains")], -1);
    assert.equal(cut.studentUnit[s.indexOf("structures")], -1);
  });

  it("pooled alignment: shapes, padding, sums and the teacher's pooled states at the right joint positions", async () => {
    const toy = await toySet();
    const texts = [
      ["what is known about insulin resistance", "protein folding amino acid chains fold into three dimensional structures"],
      ["pluripotent cells", "the microbiome of the intestine affects immunity"],
    ] as const;
    // the student's separate inputs: query rows of width 10, passage rows of width 14 (row 2 * i for pair i)
    const qSeq = 10;
    const dSeq = 14;
    const pieces: PairPieces[] = texts.map(([q, d], i) => {
      const tq = sp.tokenize(q);
      const td = sp.tokenize(d);
      const sq = toy.tokenizer.tokenize(q).slice(0, qSeq - 2);
      const sd = toy.tokenizer.tokenize(d).slice(0, dSeq - 2);
      return {
        teacherQuery: tq, teacherPassage: td,
        studentQueryRows: Int32Array.from(sq, (_, k) => i * qSeq + 1 + k),
        studentPassageRows: Int32Array.from(sd, (_, k) => 2 * i * dSeq + 1 + k),
        query: sharedUnits(tq, "sentencepiece", "[UNK]", sq, "[UNK]"),
        passage: sharedUnits(td, "sentencepiece", "[UNK]", sd, "[UNK]"),
      };
    });
    const pooling = wordPooling(pieces);
    assert.equal(pooling.uq, Math.max(...pieces.map((p) => p.query.units)));
    assert.equal(pooling.ud, Math.max(...pieces.map((p) => p.passage.units)));
    assert.deepEqual([pooling.uq, pooling.ud], [6, 10]);
    assert.equal(pieces[1]!.query.units, 2);
    assert.deepEqual([...pooling.queryMask], [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
    pooling.perPair.forEach((p, i) => {
      const nq = pieces[i]!.studentQueryRows.length;
      assert.equal(p.studentQueryMean.length, pooling.uq * nq);
      assert.equal(p.teacherPassageSum.length, pooling.ud * pieces[i]!.teacherPassage.length);
      for (let u = 0; u < pooling.uq; u++) {
        const rowSum = p.studentQueryMean.subarray(u * nq, (u + 1) * nq).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(rowSum - (u < p.queryUnits ? 1 : 0)) < 1e-6, `pair ${i} unit ${u}: mean row sums to ${rowSum}`);
      }
    });

    // teacher: joint inputs [CLS] q [SEP] d [SEP]; states = the joint position, attention random row-stochastic
    const heads = 2;
    const jointSeq = Math.max(...pieces.map((p) => p.teacherQuery.length + p.teacherPassage.length + 3));
    const hiddenT = 3;
    const last = new Float32Array(2 * jointSeq * hiddenT);
    for (let i = 0; i < 2; i++) for (let pos = 0; pos < jointSeq; pos++) last.fill(pos, (i * jointSeq + pos) * hiddenT, (i * jointSeq + pos + 1) * hiddenT);
    const rng = new Rng(4);
    const att = Float32Array.from({ length: 2 * heads * jointSeq * jointSeq }, () => rng.uniform() + 0.01);
    const targets = teacherWordTargets(pooling, [att], heads, jointSeq, last, hiddenT);
    assert.equal(targets.attention!.length, 2 * pooling.uq * pooling.ud);
    assert.equal(targets.hidden!.length, (2 * pooling.uq + 2 * pooling.ud) * hiddenT);
    // pair 0, query unit 4 = "insulin" (teacher piece 4, joint position 5); passage unit 1 = "folding" (▁ fold ing: teacher
    // passage pieces 1..3, joint positions 6 + 2 + 1..3 -> mean 10)
    assert.equal(targets.hidden![4 * hiddenT], 5);
    assert.equal(targets.hidden![(2 * pooling.uq + 1) * hiddenT], 6 + 2 + 2);
    for (let i = 0; i < 2; i++) {
      for (let u = 0; u < pooling.uq; u++) {
        const row = targets.attention!.subarray((i * pooling.uq + u) * pooling.ud, (i * pooling.uq + u + 1) * pooling.ud);
        const total = row.reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(total - (u < pooling.perPair[i]!.queryUnits ? 1 : 0)) < 1e-5, `teacher row ${i}/${u} sums to ${total}`);
        for (let v = pooling.perPair[i]!.passageUnits; v < pooling.ud; v++) assert.equal(row[v], 0);
      }
    }

    // student: pooled states and attention, differentiable
    const h = 4;
    const queryHidden = Tensor.from(Array.from({ length: 2 * qSeq * h }, () => rng.uniform() - 0.5), [2 * qSeq, h], true);
    const passageHidden = Tensor.from(Array.from({ length: 4 * dSeq * h }, () => rng.uniform() - 0.5), [4 * dSeq, h], true);
    const student = studentWordStates(pooling, queryHidden, passageHidden, { attention: true, hidden: true });
    assert.deepEqual(student.states!.shape, [2 * pooling.uq + 2 * pooling.ud, h]);
    assert.deepEqual(student.attention!.shape, [2 * pooling.uq, pooling.ud]);
    for (let i = 0; i < 2; i++) {
      for (let u = 0; u < pooling.perPair[i]!.queryUnits; u++) {
        const row = student.attention!.data.subarray((i * pooling.uq + u) * pooling.ud, (i * pooling.uq + u + 1) * pooling.ud);
        assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5, "student pooled rows sum to 1 over the shared passage words");
      }
    }
    const loss = pooledAttentionLoss(student.attention!, targets.attention!, pooling)!;
    backward(loss);
    assert.ok(queryHidden.grad!.some((g) => g !== 0) && passageHidden.grad!.some((g) => g !== 0), "gradients reach both sides' states");
    // rows outside the pairs' pieces (padding, [CLS], the negatives' rows) get none
    assert.ok(passageHidden.grad!.subarray(dSeq * h, 2 * dSeq * h).every((g) => g === 0));
    assert.ok(queryHidden.grad!.subarray(0, h).every((g) => g === 0));
  });
});
