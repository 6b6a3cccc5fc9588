import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { noGrad } from "../../src/engine/index.ts";
import { singleBatch } from "../../src/models/batching.ts";
import { makeBertConfig } from "../../src/models/config.ts";
import { CrossEncoder } from "../../src/models/cross-encoder.ts";
import { DualEncoder } from "../../src/models/dual-encoder.ts";

const config = makeBertConfig({ vocabSize: 30, hiddenSize: 8, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 16, maxPositionEmbeddings: 16 });
const ids = { cls: 2, sep: 3, pad: 0 };

describe("dual encoder and cross-encoder directories", () => {
  it("a saved and reloaded retriever encodes identically and keeps its fingerprint (shared and separate)", () => {
    for (const shared of [true, false]) {
      const dir = mkdtempSync(join(tmpdir(), "md2pr-de-"));
      try {
        const model = DualEncoder.random(config, { shared, pooling: "mean", similarity: "cosine", maxQueryLength: 8, maxPassageLength: 12 }, 1);
        model.save(dir);
        const loaded = DualEncoder.load(dir);
        assert.equal(loaded.fingerprint(), model.fingerprint());
        assert.deepEqual(loaded.settings, model.settings);
        const input = singleBatch([[5, 6, 7], [8]], 8, ids);
        for (const side of ["query", "passage"] as const) {
          const a = noGrad(() => model.encode(input, side).embeddings.data);
          const b = noGrad(() => loaded.encode(input, side).embeddings.data);
          assert.deepEqual(Array.from(b), Array.from(a));
        }
        if (!shared) assert.notEqual(model.queryEncoder, model.passageEncoder);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
  it("another model's fingerprint differs", () => {
    assert.notEqual(DualEncoder.random(config, {}, 1).fingerprint(), DualEncoder.random(config, {}, 2).fingerprint());
  });
  it("a cross-encoder round-trips in HF BertForSequenceClassification layout, lexical prior included", () => {
    const dir = mkdtempSync(join(tmpdir(), "md2pr-ce-"));
    try {
      const ranker = CrossEncoder.random(config, 3, 0.5);
      ranker.save(dir);
      const loaded = CrossEncoder.load(dir);
      assert.ok(loaded.params.has("classifier.weight") && loaded.params.has("bert.pooler.dense.weight"));
      assert.equal(loaded.lexicalWeight!.data[0], 0.5);
      const input = singleBatch([[5, 6, 3, 7, 8]], 8, ids);
      const lexical = Float32Array.of(2);
      const a = noGrad(() => ranker.forward(input, { lexical }).scores.data[0]!);
      const b = noGrad(() => loaded.forward(input, { lexical }).scores.data[0]!);
      assert.equal(b, a);
      const without = noGrad(() => CrossEncoder.load(dir).forward(input, { lexical: Float32Array.of(0) }).scores.data[0]!);
      assert.ok(Math.abs(a - without - 0.5 * 2) < 1e-6, "the prior adds lambda * lexical");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("a checkpoint missing a tensor names it", () => {
    const dir = mkdtempSync(join(tmpdir(), "md2pr-missing-"));
    try {
      const model = DualEncoder.random(config, {}, 1);
      model.queryEncoder.params.delete("encoder.layer.0.output.dense.bias");
      model.save(dir);
      assert.throws(() => DualEncoder.load(dir), /missing tensor 'encoder\.layer\.0\.output\.dense\.bias'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
