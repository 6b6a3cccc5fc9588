/**
 * train(config) from code: the CLI's pipeline config (partial, validated like --config files), run end to end on a
 * toy BEIR set with a tiny random model; what it returns loads as library objects.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DEFAULT_PIPELINE, Ranker, resolveTrainConfig, Retriever, train, type TrainConfig } from "../../src/index.ts";
import { toyBeir } from "../helpers/toy.ts";

const vocabFile = new URL("../../data/vocab/bert-base-uncased-vocab.txt", import.meta.url).pathname;

describe("train(config)", () => {
  let tmp: string;
  let data: string;

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), "md2pr-train-api-"));
    data = toyBeir(join(tmp, "toy"));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("merges a partial config over DEFAULT_PIPELINE and refuses what --config refuses", () => {
    const cfg = resolveTrainConfig({ seed: 3, retriever: { md2pr: { beta: 0.25 } } });
    assert.equal(cfg.seed, 3);
    assert.equal(cfg.retriever.md2pr.beta, 0.25);
    assert.equal(cfg.retriever.md2pr.alpha, DEFAULT_PIPELINE.retriever.md2pr.alpha);
    assert.equal(cfg.ranker.steps, DEFAULT_PIPELINE.ranker.steps);
    assert.throws(() => resolveTrainConfig({ retriever: { pooling: "max" } } as unknown as TrainConfig), /retriever\.pooling/);
    assert.throws(() => resolveTrainConfig({ retriever: { steps: -5 } }), /retriever\.steps/);
    assert.throws(() => resolveTrainConfig({ retreiver: {} } as unknown as TrainConfig), /retreiver/);
  });

  it("runs the whole pipeline and returns the models and the test table", async () => {
    const out = join(tmp, "run");
    const lines: string[] = [];
    const outcome = await train({
      dataDir: data, outputDir: out, base: null, vocabFile, devQueries: 2, minedNegatives: 3, rerankDepth: 5, checkpointEvery: 0,
      model: { hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32 },
      lengths: { maxQueryLength: 12, maxPassageLength: 24, maxPairLength: 36 },
      ranker: { steps: 2, batchSize: 2, negatives: 1 },
      retriever: { steps: 2, batchSize: 2, negatives: 1 },
      warmup: { steps: 2, batchSize: 4 },
    }, { log: (line) => lines.push(line) });
    assert.equal(outcome.stage, "all");
    assert.equal(outcome.retrieverDir, join(out, "retriever"));
    assert.equal(outcome.rankerDir, join(out, "ranker"));
    assert.ok(existsSync(outcome.trainingFile));
    assert.equal(outcome.testQueries, 2);
    const systems = outcome.systems!.map((r) => r.system);
    for (const s of ["bm25", "retriever", "hybrid", "retriever+rerank"]) assert.ok(systems.includes(s), `${s} in ${systems.join(", ")}`);
    for (const r of outcome.systems!) assert.ok(r.ndcg10 >= 0 && r.ndcg10 <= 1);
    assert.deepEqual(JSON.parse(readFileSync(join(out, "results.json"), "utf8")), outcome.systems);
    assert.ok(outcome.dev?.retriever && "ndcg@10" in outcome.dev.retriever);
    assert.ok(lines.some((l) => l.startsWith("data: 16 passages")), lines.join("\n"));
    assert.equal(Retriever.load(outcome.retrieverDir!).dim, 16);
    // The pipeline's ranker has the BM25 lexical prior (the default): predict needs one lexical score per pair.
    const ranker = Ranker.load(outcome.rankerDir!);
    assert.equal(ranker.hasLexicalPrior, true);
    assert.throws(() => ranker.predict([["a query", "a passage"]]), /lexical prior and needs one lexical score per pair/);
    const [low, high] = [ranker.predict([["a query", "a passage"]], { lexical: [0] })[0]!, ranker.predict([["a query", "a passage"]], { lexical: [5] })[0]!];
    assert.ok(Number.isFinite(low) && Number.isFinite(high) && low !== high);
  });
});
