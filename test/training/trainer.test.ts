/** The training loop: MD2PR on a toy set, exact resume after an interruption, checkpoints, logs. */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runTrainingLoop, type LoopConfig } from "../../src/training/loop.ts";
import { RankerStage } from "../../src/training/ranker-stage.ts";
import { DEFAULT_MD2PR, RetrieverStage } from "../../src/training/retriever-stage.ts";
import { toyModels, toySet } from "../helpers/toy.ts";

const lengths = { maxQueryLength: 12, maxPassageLength: 24, maxPairLength: 34 };

function loopConfig(outputDir: string, extra: Partial<LoopConfig> = {}): LoopConfig {
  return {
    outputDir, steps: 6, gradientAccumulation: 2, learningRate: 1e-3, warmupSteps: 2, weightDecay: 0.01, maxGradNorm: 1,
    seed: 3, checkpointEvery: 2, evalEvery: 0, resume: false, label: "test", ...extra,
  };
}

function losses(logFile: string): number[] {
  return readFileSync(logFile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { loss?: number }).filter((r) => r.loss !== undefined).map((r) => r.loss!);
}

async function md2prRun(dir: string, extra: Partial<LoopConfig>, rankerHidden = 24): Promise<{ log: string; terms: Record<string, number> }> {
  const toy = await toySet();
  const { ranker, retriever } = toyModels(toy, 5, rankerHidden);
  const stage = new RetrieverStage(retriever, ranker, toy.examples, toy.corpus, {
    batchSize: 3, negatives: 2, lengths, seed: 11,
    md2pr: { ...DEFAULT_MD2PR, filter: { ...DEFAULT_MD2PR.filter, updateEvery: 2, rho: 0.3 } },
  });
  const result = await runTrainingLoop(stage, loopConfig(dir, extra));
  return { log: result.logFile, terms: result.lastTerms };
}

describe("training loop", () => {
  it("runs the full MD2PR loss (all terms, projection for different widths) and logs each term", async () => {
    const dir = mkdtempSync(join(tmpdir(), "md2pr-train-"));
    try {
      const { log, terms } = await md2prRun(dir, {});
      for (const key of ["l_c", "l_sent", "l_att", "l_hid", "masked_fraction", "filter_theta", "loss"]) {
        assert.ok(Number.isFinite(terms[key]), `term ${key} is logged (${terms[key]})`);
      }
      const records = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
      assert.equal(records.length, 6);
      assert.ok(records.every((r) => typeof r.lr === "number" && typeof r.masked_fraction === "number"));
      assert.equal(records[0]!.lr, 0, "linear warm-up starts at 0 (HF schedule)");
      assert.ok(existsSync(join(dir, "checkpoint", "state.json")));
      assert.ok(existsSync(join(dir, "checkpoint", "weights.safetensors")));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an interrupted and resumed run gives exactly the losses of an uninterrupted one", async () => {
    const a = mkdtempSync(join(tmpdir(), "md2pr-full-"));
    const b = mkdtempSync(join(tmpdir(), "md2pr-resumed-"));
    try {
      const full = losses((await md2prRun(a, {})).log);
      await md2prRun(b, { stopAfter: 3 });
      assert.equal(losses(join(b, "train-log.jsonl")).length, 3);
      const resumed = losses((await md2prRun(b, { resume: true })).log);
      assert.equal(resumed.length, 6);
      assert.deepEqual(resumed, full);
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });

  it("resumes from checkpoint.old when the run died between the two renames", async () => {
    const dir = mkdtempSync(join(tmpdir(), "md2pr-old-"));
    try {
      await md2prRun(dir, { stopAfter: 2 });
      const { renameSync } = await import("node:fs");
      renameSync(join(dir, "checkpoint"), join(dir, "checkpoint.old"));
      const resumed = losses((await md2prRun(dir, { resume: true })).log);
      assert.equal(resumed.length, 6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("trains the ranker with the listwise loss and the loss goes down on a toy set", async () => {
    const toy = await toySet();
    const { ranker } = toyModels(toy, 1, 16, 0);
    const dir = mkdtempSync(join(tmpdir(), "md2pr-ranker-"));
    try {
      const stage = new RankerStage(ranker, toy.examples, toy.corpus, { batchSize: 4, negatives: 3, lengths, seed: 2 });
      const result = await runTrainingLoop(stage, loopConfig(dir, { steps: 100, gradientAccumulation: 1, learningRate: 1e-2, warmupSteps: 5, checkpointEvery: 0 }));
      const l = losses(result.logFile);
      const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
      const first = avg(l.slice(0, 10));
      const last = avg(l.slice(-10));
      assert.ok(last < first * 0.8, `listwise loss fell from ${first} to ${last}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
