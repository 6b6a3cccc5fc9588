/**
 * The packed (padding-free) DeBERTa forward against the padded one: the same real-token hidden states, logits and
 * parameter gradients, with c2p + p2c over log-bucketed positions, c2p only, absolute positions and token types,
 * an embedding projection, and without relative attention.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Tensor, add, backward, gatherRows, mul, noGrad, sum } from "../../src/engine/index.ts";
import { Rng } from "../../src/engine/rng.ts";
import type { BertInput } from "../../src/models/bert.ts";
import { makeDebertaV2Config, readDebertaV2Config, type DebertaV2Config } from "../../src/models/deberta-config.ts";
import { DebertaCrossEncoder } from "../../src/models/deberta-cross-encoder.ts";
import { DebertaV2ForSequenceClassification } from "../../src/models/deberta-v2.ts";
import { readSafetensors } from "../../src/models/safetensors.ts";
import { VarBuilder } from "../../src/nn/var-builder.ts";

function fixture(name: string): { model: DebertaV2ForSequenceClassification; input: BertInput } {
  const dir = new URL(`../fixtures/${name}/`, import.meta.url).pathname;
  const config = readDebertaV2Config(`${dir}config.json`);
  const weights = readSafetensors(`${dir}model.safetensors`).tensors;
  const model = new DebertaV2ForSequenceClassification(VarBuilder.fromTensors(weights, name, ["deberta."]), config);
  const raw = JSON.parse(readFileSync(`${dir}inputs.json`, "utf8")) as { input_ids: number[][]; attention_mask: number[][]; token_type_ids: number[][] };
  return {
    model,
    input: {
      inputIds: Int32Array.from(raw.input_ids.flat()),
      tokenTypeIds: Int32Array.from(raw.token_type_ids.flat()),
      attentionMask: Float32Array.from(raw.attention_mask.flat()),
      batch: raw.input_ids.length,
      seq: raw.input_ids[0]!.length,
    },
  };
}

/** A padded batch with the given real lengths (a prefix of each row), padded to `seq`. */
function batchOf(lens: number[], seq: number, vocab: number, types: boolean, seed: number): BertInput {
  const rng = new Rng(seed);
  const n = lens.length * seq;
  const input: BertInput = { inputIds: new Int32Array(n), tokenTypeIds: new Int32Array(n), attentionMask: new Float32Array(n), batch: lens.length, seq };
  lens.forEach((len, b) => {
    for (let t = 0; t < len; t++) {
      input.inputIds[b * seq + t] = 1 + rng.int(vocab - 1);
      input.tokenTypeIds[b * seq + t] = types && t > len / 2 ? 1 : 0;
      input.attentionMask[b * seq + t] = 1;
    }
  });
  return input;
}

/** Lengths 40 and 33 exceed the native kernels' 32-row windows; the longest (40) is shorter than the padding (44). */
const LENS = [40, 1, 17, 40, 3, 33];

function randomCase(overrides: Partial<DebertaV2Config>, seed: number): { model: DebertaV2ForSequenceClassification; input: BertInput } {
  const config = makeDebertaV2Config({
    vocabSize: 50, hiddenSize: 16, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 24, maxPositionEmbeddings: 64,
    numLabels: 1, ...overrides,
  });
  const model = new DebertaV2ForSequenceClassification(VarBuilder.random(seed), config);
  return { model, input: batchOf(LENS, 44, 50, config.typeVocabSize > 0, seed + 1) };
}

const v3 = { relativeAttention: true, posAttType: ["p2c", "c2p"] as ("p2c" | "c2p")[], shareAttKey: true, normRelEbd: ["layer_norm"], positionBiasedInput: false, typeVocabSize: 0 };

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Loss over real tokens only: sum(lastHidden * W * mask) + sum(CLS * W2) + sum(logits * W3). */
function runLoss(model: DebertaV2ForSequenceClassification, input: BertInput, packed: boolean) {
  for (const p of model.params.values()) p.grad = null;
  const out = model.forward(input, { packed, outputHiddenStates: true });
  const h = out.encoder.lastHidden;
  const H = h.dim(1);
  const rng = new Rng(11);
  const w = new Float32Array(h.size);
  for (let i = 0; i < w.length; i++) w[i] = input.attentionMask[Math.floor(i / H)]! * (rng.uniform() - 0.5);
  const cls = Int32Array.from({ length: input.batch }, (_, b) => b * input.seq);
  const w2 = Tensor.from(Array.from({ length: input.batch * H }, () => rng.uniform() - 0.5), [input.batch, H]);
  const w3 = Tensor.from(Array.from({ length: out.logits.size }, () => rng.uniform() - 0.5), out.logits.shape);
  const loss = add(add(sum(mul(h, new Tensor(w, h.shape))), sum(mul(gatherRows(h, cls), w2))), sum(mul(out.logits, w3)));
  const value = loss.item();
  backward(loss);
  const grads = new Map<string, Float32Array>();
  for (const [n, p] of model.params) grads.set(n, p.grad ? p.grad.slice() : new Float32Array(p.size));
  const hidden = out.encoder.hiddenStates.map((t) => Float32Array.from(t.data, (x, i) => (input.attentionMask[Math.floor(i / H)] ? x : 0)));
  return { hidden, logits: out.logits.data.slice(), grads, loss: value };
}

for (const [name, make] of [
  ["deberta-tiny fixture (c2p + p2c, 8 buckets over 16)", () => fixture("deberta-tiny")],
  ["deberta-tiny-v2 fixture (c2p, absolute positions, token types, own position projections)", () => fixture("deberta-tiny-v2")],
  ["deberta-tiny-proj fixture (embedding projection, c2p, 4 buckets)", () => fixture("deberta-tiny-proj")],
  ["random v3 layout, 8 buckets over 32, lengths 40/1/17/40/3/33", () => randomCase({ ...v3, positionBuckets: 8, maxRelativePositions: 32 }, 5)],
  ["random, c2p + p2c unbucketed, own position projections", () => randomCase({ ...v3, shareAttKey: false, maxRelativePositions: 64, typeVocabSize: 2 }, 6)],
  ["random, no relative attention", () => randomCase({ relativeAttention: false, positionBiasedInput: true, typeVocabSize: 2 }, 7)],
] as const) {
  describe(`packed DeBERTa forward = padded (${name})`, () => {
    const { model, input } = make();
    it("same real-token hidden states, logits, loss and parameter gradients", () => {
      const a = runLoss(model, input, false);
      const b = runLoss(model, input, true);
      assert.equal(a.hidden.length, model.config.numHiddenLayers + 1);
      assert.equal(b.hidden.length, a.hidden.length);
      a.hidden.forEach((h, i) => {
        const d = maxAbsDiff(h, b.hidden[i]!);
        assert.ok(d <= 2e-5, `hidden_states.${i}: max |diff| ${d}`);
      });
      const dl = maxAbsDiff(a.logits, b.logits);
      assert.ok(dl <= 2e-5, `logits: max |diff| ${dl}`);
      assert.ok(Math.abs(a.loss - b.loss) <= 1e-4 * Math.max(1, Math.abs(a.loss)), `loss ${a.loss} vs ${b.loss}`);
      let checked = 0;
      for (const [n, g] of a.grads) {
        const gb = b.grads.get(n)!;
        let scale = 0;
        for (let i = 0; i < g.length; i++) scale = Math.max(scale, Math.abs(g[i]!));
        const d = maxAbsDiff(g, gb);
        assert.ok(d <= 1e-4 * Math.max(1, scale), `grad ${n}: max |diff| ${d} (max |g| ${scale})`);
        if (scale > 0) checked++;
      }
      assert.ok(checked > model.params.size / 2, `only ${checked} of ${model.params.size} gradients are non-zero`);
    });
    it("padded positions of the packed output are zero; no-grad forward works", () => {
      const out = noGrad(() => model.forward(input, { packed: true }));
      const h = out.encoder.lastHidden;
      const H = h.dim(1);
      for (let i = 0; i < h.size; i++) if (input.attentionMask[Math.floor(i / H)] === 0) assert.equal(h.data[i], 0);
    });
  });
}

describe("packed DeBERTa: when the padded path runs instead", () => {
  const { model, input } = randomCase({ ...v3, positionBuckets: 8, maxRelativePositions: 32 }, 5);
  const padded = noGrad(() => model.forward(input, { outputHiddenStates: true }));
  it("attentions asked for: the padded path, attention maps [B, heads, T, T]", () => {
    const out = noGrad(() => model.forward(input, { packed: true, outputAttentions: true }));
    assert.equal(out.encoder.attentions.length, model.config.numHiddenLayers);
    assert.deepEqual(out.encoder.attentions[0]!.shape, [input.batch, model.config.numAttentionHeads, input.seq, input.seq]);
    assert.deepEqual(out.encoder.lastHidden.data, padded.encoder.lastHidden.data);
  });
  it("a mask whose real tokens are not one run of positions (relative positions would change): the padded path", () => {
    const holed = { ...input, attentionMask: input.attentionMask.slice() };
    holed.attentionMask[2] = 0;
    const a = noGrad(() => model.forward(holed, { packed: false }));
    const b = noGrad(() => model.forward(holed, { packed: true }));
    assert.deepEqual(b.encoder.lastHidden.data, a.encoder.lastHidden.data);
    assert.notEqual(a.encoder.lastHidden.data[0], 0);
  });
  it("the DeBERTa cross-encoder runs packed by default (zeros at padding, the padded scores)", () => {
    const config = makeDebertaV2Config({ ...v3, vocabSize: 50, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 24, positionBuckets: 8, maxRelativePositions: 32 });
    const ranker = DebertaCrossEncoder.random(config, 3);
    const packed = noGrad(() => ranker.forward(input));
    const unpacked = noGrad(() => ranker.forward(input, { packed: false }));
    const H = packed.bert.lastHidden.dim(1);
    const pad = input.attentionMask.findIndex((m) => m === 0);
    assert.equal(packed.bert.lastHidden.data[pad * H], 0);
    assert.notEqual(unpacked.bert.lastHidden.data[pad * H], 0);
    assert.ok(maxAbsDiff(packed.scores.data, unpacked.scores.data) <= 2e-5);
  });
});
