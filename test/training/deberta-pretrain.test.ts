/** DeBERTa MLM cold start: pretraining on a toy corpus lowers the MLM loss; the result is an HF DebertaV2ForMaskedLM
 * directory with its tokenizer that the DeBERTa ranker starts from. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { DebertaCrossEncoder } from "../../src/models/deberta-cross-encoder.ts";
import { readSafetensors } from "../../src/models/safetensors.ts";
import { runDebertaPretrain } from "../../src/training/deberta-pretrain.ts";
import { TOY_TOPICS } from "../helpers/toy.ts";

describe("DeBERTa MLM pretraining", () => {
  it("lowers the MLM loss and writes a DebertaV2ForMaskedLM directory the ranker loads", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "md2pr-deberta-mlm-"));
    try {
      const data = join(tmp, "toy");
      mkdirSync(data, { recursive: true });
      writeFileSync(join(data, "corpus.jsonl"), TOY_TOPICS.map(([t, x], i) => JSON.stringify({ _id: `d${i}`, title: t, text: x })).join("\n") + "\n");
      writeFileSync(join(data, "queries.jsonl"), TOY_TOPICS.map(([t], i) => JSON.stringify({ _id: `q${i}`, text: `what is known about ${t}` })).join("\n") + "\n");
      const out = join(tmp, "base");
      const r = await runDebertaPretrain({
        dataDir: data, tokenizerDir: new URL("../fixtures/spm-scifact/", import.meta.url).pathname, outputDir: out,
        model: { hiddenSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 64 }, positionBuckets: 8, maxRelativePositions: 32,
        maxLength: 24, batchSize: 8, steps: 60, learningRate: 5e-3, warmupSteps: 5, seed: 0, checkpointEvery: 0, resume: false,
      });
      const losses = readFileSync(r.logFile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { loss?: number }).filter((x) => x.loss !== undefined).map((x) => x.loss!);
      const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
      assert.ok(avg(losses.slice(-10)) < avg(losses.slice(0, 10)) * 0.8, `MLM loss fell from ${avg(losses.slice(0, 10))} to ${avg(losses.slice(-10))}`);
      const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
      assert.deepEqual(config.architectures, ["DebertaV2ForMaskedLM"]);
      const names = [...readSafetensors(join(out, "model.safetensors")).tensors.keys()];
      for (const n of ["deberta.encoder.rel_embeddings.weight", "cls.predictions.transform.dense.weight", "cls.predictions.bias", "cls.predictions.decoder.weight"]) {
        assert.ok(names.includes(n), n);
      }
      const ranker = DebertaCrossEncoder.load(out, { lexicalPrior: true, seed: 1 });
      const saved = readSafetensors(join(out, "model.safetensors")).tensors.get("deberta.embeddings.word_embeddings.weight")!;
      assert.deepEqual(ranker.params.get("deberta.embeddings.word_embeddings.weight")!.data, saved.data);
      assert.ok(ranker.params.has("pooler.dense.weight") && ranker.params.has("classifier.weight"), "a new head on the pretrained encoder");
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
