/**
 * Round two's teacher prior (src/training/teacher-prior.ts): the retriever's score as a scorer, mu chosen on dev
 * (0 when the prior does not help), and the pipeline's second round with --second-round-teacher-prior.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Tensor } from "../../src/engine/index.ts";
import { DualEncoder } from "../../src/models/dual-encoder.ts";
import type { PairRanker } from "../../src/models/pair-ranker.ts";
import type { CrossEncoderOutput } from "../../src/models/cross-encoder.ts";
import { DenseIndex } from "../../src/retrieval/dense-index.ts";
import type { SearchHit } from "../../src/retrieval/metrics.ts";
import { encodePieces } from "../../src/encoding/encode-corpus.ts";
import { chooseTeacherPriorWeight, densePriorScorer, PRIOR_FACTORS } from "../../src/training/teacher-prior.ts";
import { train } from "../../src/index.ts";
import { readPipelineConfig } from "../../src/training/pipeline.ts";
import { RetrieverStage, DEFAULT_MD2PR } from "../../src/training/retriever-stage.ts";
import { toyBeir, toyModels, toySet } from "../helpers/toy.ts";

const vocabFile = new URL("../../data/vocab/bert-base-uncased-vocab.txt", import.meta.url).pathname;

/** A stand-in ranker whose score is the lexical score it is given (so the test controls s_C). */
const echoRanker: PairRanker = {
  params: new Map(),
  lexicalWeight: new Tensor(new Float32Array([1]), [1]),
  forward: (input, opts = {}) => ({ scores: new Tensor(Float32Array.from(opts.lexical!), [input.batch]) }) as unknown as CrossEncoderOutput,
  save: () => undefined,
};

describe("teacher prior", () => {
  it("scores (query, passage) with the retriever: the index row dotted with the query vector", async () => {
    const toy = await toySet();
    const model = DualEncoder.random(toy.config, { pooling: "mean", similarity: "dot", maxQueryLength: 12, maxPassageLength: 24 }, 3);
    const ids = toy.corpus.ids;
    const vectors = encodePieces(model, ids.map((id) => toy.corpus.passage(id)), "passage", toy.corpus.specials);
    const dim = toy.config.hiddenSize;
    const index = new DenseIndex(ids, vectors, dim, { fingerprint: "test" } as never);
    const score = densePriorScorer(model, index, toy.corpus);
    const query = "what is known about sleep";
    const q = encodePieces(model, [toy.corpus.text(query)], "query", toy.corpus.specials);
    const got = score(query, [ids[3]!, ids[0]!]);
    [3, 0].forEach((row, k) => {
      let s = 0;
      for (let j = 0; j < dim; j++) s += q[j]! * vectors[row * dim + j]!;
      assert.ok(Math.abs(got[k]! - s) < 1e-5 * Math.max(1, Math.abs(s)), `${got[k]} vs ${s}`);
    });
    assert.throws(() => score(query, ["nope"]), /passage "nope" is not in the retriever's index/);
  });

  it("chooses mu on dev: > 0 when the prior puts the relevant passage first, 0 when it misleads", async () => {
    const toy = await toySet();
    const queries = new Map([["q1", "first"], ["q2", "second"]]);
    // first stage: the relevant passage (r*) is third of four, the lexical score (= s_C here) agrees with that order
    const first = new Map<string, SearchHit[]>([
      ["q1", [{ id: "a1", score: 4 }, { id: "b1", score: 3 }, { id: "r1", score: 2 }, { id: "c1", score: 1 }]],
      ["q2", [{ id: "a2", score: 4 }, { id: "b2", score: 3 }, { id: "r2", score: 2 }, { id: "c2", score: 1 }]],
    ]);
    const qrels = new Map([["q1", new Map([["r1", 1]])], ["q2", new Map([["r2", 1]])]]);
    const lexical = (q: string, ids: readonly string[]): Float32Array => {
      const hits = first.get(q === "first" ? "q1" : "q2")!;
      return Float32Array.from(ids, (id) => hits.find((h) => h.id === id)!.score);
    };
    const pairCorpus = { ids: [], text: () => [5], passage: () => [6], specials: toy.corpus.specials };
    const lengths = { maxQueryLength: 4, maxPassageLength: 4, maxPairLength: 10 };
    const helpful = (_q: string, ids: readonly string[]): Float32Array => Float32Array.from(ids, (id) => (id.startsWith("r") ? 1 : 0));
    const good = chooseTeacherPriorWeight(echoRanker, pairCorpus, lengths, lexical, helpful, queries, first, qrels, 4);
    assert.equal(good.trials.length, PRIOR_FACTORS.length);
    assert.ok(good.weight > 0, JSON.stringify(good));
    const chosen = good.trials.find((t) => t.weight === good.weight)!;
    assert.equal(chosen["ndcg@10"], 1);
    assert.ok(good.trials[0]!["ndcg@10"] < 1);
    const misleading = (_q: string, ids: readonly string[]): Float32Array => Float32Array.from(ids, (id) => (id.startsWith("r") ? -1 : 0));
    const bad = chooseTeacherPriorWeight(echoRanker, pairCorpus, lengths, lexical, misleading, queries, first, qrels, 4);
    assert.equal(bad.weight, 0);
  });

  it("the retriever stage adds weight x prior to the teacher's scores", async () => {
    const toy = await toySet();
    const { ranker, retriever } = toyModels(toy, 5, 24);
    const lengths = { maxQueryLength: 12, maxPassageLength: 24, maxPairLength: 36 };
    const prior = (_q: string, ids: readonly string[]): Float32Array => Float32Array.from(ids, (id) => id.length + (id.startsWith("x") ? 3 : 0));
    const stage = (teacherPrior?: { weight: number; score: typeof prior }): RetrieverStage =>
      new RetrieverStage(retriever, ranker, toy.examples, toy.corpus, { batchSize: 2, negatives: 2, lengths, seed: 1, md2pr: DEFAULT_MD2PR, ...(teacherPrior ? { teacherPrior } : {}) });
    const examples = toy.examples.slice(0, 2);
    const groups = examples.map((e) => [e.positiveIds[0]!, ...e.negativeIds.slice(0, 2)]);
    const plain = stage()["teacherScores"](examples, groups);
    const withPrior = stage({ weight: 0.5, score: prior })["teacherScores"](examples, groups);
    groups.flat().forEach((id, k) => assert.ok(Math.abs(withPrior[k]! - plain[k]! - 0.5 * prior("", [id])[0]!) < 1e-5, `${id}: ${withPrior[k]} vs ${plain[k]}`));
  });

  it("a teacher prior without a second round is refused", () => {
    assert.throws(() => readPipelineConfig(null, { secondRoundTeacherPrior: true }), /secondRoundTeacherPrior .* needs secondRound/);
    assert.equal(readPipelineConfig(null, { secondRound: true, secondRoundTeacherPrior: true }).secondRoundTeacherPrior, true);
  });

  it("the pipeline's second round chooses and records the prior, and trains round two with it", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "md2pr-teacher-prior-"));
    try {
      const data = toyBeir(join(tmp, "toy"));
      const out = join(tmp, "run");
      const lines: string[] = [];
      await train({
        dataDir: data, outputDir: out, base: null, vocabFile, devQueries: 2, minedNegatives: 3, rerankDepth: 5, checkpointEvery: 0,
        model: { hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32 },
        lengths: { maxQueryLength: 12, maxPassageLength: 24, maxPairLength: 36 },
        ranker: { steps: 2, batchSize: 2, negatives: 1 },
        retriever: { steps: 2, batchSize: 2, negatives: 1 },
        warmup: { steps: 0 }, secondRound: true, secondRoundTeacherPrior: true,
      }, { log: (line) => lines.push(line) });
      const record = JSON.parse(readFileSync(join(out, "teacher-prior-round2.json"), "utf8")) as { weight: number; trials: unknown[]; depth: number };
      assert.equal(record.trials.length, PRIOR_FACTORS.length);
      assert.equal(record.depth, 100);
      assert.ok(record.weight >= 0);
      assert.ok(lines.some((l) => l.startsWith("round 2 teacher: ranker + ")), lines.join("\n"));
      assert.ok(existsSync(join(out, "retriever-round2", "md2pr.json")));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
