/** The packed (padding-free) BERT forward against the padded one: same real-token outputs and gradients. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Tensor, backward, gatherRows, maskedMeanRows, mul, noGrad, sum, add } from "../../src/engine/index.ts";
import { Rng } from "../../src/engine/rng.ts";
import { BertModel, type BertInput } from "../../src/models/bert.ts";
import { makeBertConfig, readBertConfig } from "../../src/models/config.ts";
import { readSafetensors } from "../../src/models/safetensors.ts";
import { VarBuilder } from "../../src/nn/var-builder.ts";

function fixture(name: string): { model: BertModel; input: BertInput } {
  const dir = new URL(`../fixtures/${name}/`, import.meta.url).pathname;
  const config = readBertConfig(`${dir}config.json`);
  const model = new BertModel(VarBuilder.fromTensors(readSafetensors(`${dir}model.safetensors`).tensors, name), config);
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

/** A random model and a batch with varied lengths (one full, one of length 1). */
function randomCase(): { model: BertModel; input: BertInput } {
  const config = makeBertConfig({ vocabSize: 60, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4, intermediateSize: 48, maxPositionEmbeddings: 16 });
  const model = new BertModel(VarBuilder.random(7), config, false);
  const lens = [9, 1, 5, 9, 3];
  const seq = 9;
  const rng = new Rng(3);
  const inputIds = new Int32Array(lens.length * seq);
  const tokenTypeIds = new Int32Array(lens.length * seq);
  const attentionMask = new Float32Array(lens.length * seq);
  lens.forEach((len, b) => {
    for (let t = 0; t < len; t++) {
      inputIds[b * seq + t] = 1 + rng.int(59);
      tokenTypeIds[b * seq + t] = t > len / 2 ? 1 : 0;
      attentionMask[b * seq + t] = 1;
    }
  });
  return { model, input: { inputIds, tokenTypeIds, attentionMask, batch: lens.length, seq } };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Loss over real tokens only: sum(lastHidden * W * mask) + sum(CLS * W2) + sum(meanPool * W3) (+ pooled). */
function runLoss(model: BertModel, input: BertInput, packed: boolean): { hidden: Float32Array[]; grads: Map<string, Float32Array>; loss: number } {
  for (const p of model.params.values()) p.grad = null;
  const out = model.forward(input, { packed, outputHiddenStates: true });
  const h = out.lastHidden;
  const H = h.dim(1);
  const rng = new Rng(11);
  const w = new Float32Array(h.size);
  for (let i = 0; i < w.length; i++) w[i] = input.attentionMask[Math.floor(i / H)]! * (rng.uniform() - 0.5);
  const cls = new Int32Array(input.batch);
  for (let b = 0; b < input.batch; b++) cls[b] = b * input.seq;
  const w2 = Tensor.from(Array.from({ length: input.batch * H }, () => rng.uniform() - 0.5), [input.batch, H]);
  const w3 = Tensor.from(Array.from({ length: input.batch * H }, () => rng.uniform() - 0.5), [input.batch, H]);
  let loss = add(sum(mul(h, new Tensor(w, h.shape))), sum(mul(gatherRows(h, cls), w2)));
  loss = add(loss, sum(mul(maskedMeanRows(h, input.attentionMask, input.batch), w3)));
  if (out.pooled) loss = add(loss, sum(out.pooled));
  const value = loss.item();
  backward(loss);
  const grads = new Map<string, Float32Array>();
  for (const [n, p] of model.params) grads.set(n, p.grad ? p.grad.slice() : new Float32Array(p.size));
  // hidden states at real rows only
  const hidden = out.hiddenStates.map((t) => {
    const r = new Float32Array(t.size);
    for (let i = 0; i < t.size; i++) r[i] = input.attentionMask[Math.floor(i / H)]! ? t.data[i]! : 0;
    return r;
  });
  return { hidden, grads, loss: value };
}

for (const [name, make] of [
  ["bert-tiny fixture", () => fixture("bert-tiny")],
  ["bert-tiny-gelu-new fixture", () => fixture("bert-tiny-gelu-new")],
  ["random model, lengths 9/1/5/9/3", randomCase],
] as const) {
  describe(`packed BERT forward = padded (${name})`, () => {
    const { model, input } = make();
    it("same real-token hidden states, loss and parameter gradients", () => {
      const a = runLoss(model, input, false);
      const b = runLoss(model, input, true);
      assert.equal(a.hidden.length, b.hidden.length);
      a.hidden.forEach((h, i) => {
        const d = maxAbsDiff(h, b.hidden[i]!);
        assert.ok(d <= 2e-5, `hidden_states.${i}: max |diff| ${d}`);
      });
      assert.ok(Math.abs(a.loss - b.loss) <= 1e-4 * Math.max(1, Math.abs(a.loss)), `loss ${a.loss} vs ${b.loss}`);
      for (const [n, g] of a.grads) {
        const gb = b.grads.get(n)!;
        let scale = 0;
        for (let i = 0; i < g.length; i++) scale = Math.max(scale, Math.abs(g[i]!));
        const d = maxAbsDiff(g, gb);
        assert.ok(d <= 1e-4 * Math.max(1, scale), `grad ${n}: max |diff| ${d} (max |g| ${scale})`);
      }
    });
    it("padded positions of the packed output are zero; no-grad forward works", () => {
      const out = noGrad(() => model.forward(input, { packed: true }));
      const H = out.lastHidden.dim(1);
      for (let i = 0; i < out.lastHidden.size; i++) {
        if (input.attentionMask[Math.floor(i / H)] === 0) assert.equal(out.lastHidden.data[i], 0);
      }
    });
  });
}
