/** BERT forward and backward against the PyTorch fixtures (tools/make_fixtures.py; HF BertModel semantics). */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Tensor, add, backward, mul, noGrad, sum } from "../../src/engine/index.ts";
import { BertModel, type BertInput } from "../../src/models/bert.ts";
import { readBertConfig } from "../../src/models/config.ts";
import { readSafetensors } from "../../src/models/safetensors.ts";
import { VarBuilder } from "../../src/nn/var-builder.ts";

interface FixtureInputs {
  input_ids: number[][];
  attention_mask: number[][];
  token_type_ids: number[][];
}

function loadFixture(name: string): { model: BertModel; input: BertInput; expected: Map<string, { shape: number[]; data: Float32Array }> } {
  const dir = new URL(`../fixtures/${name}/`, import.meta.url).pathname;
  const config = readBertConfig(`${dir}config.json`);
  const weights = readSafetensors(`${dir}model.safetensors`);
  const model = new BertModel(VarBuilder.fromTensors(weights.tensors, `${dir}model.safetensors`), config);
  const raw = JSON.parse(readFileSync(`${dir}inputs.json`, "utf8")) as FixtureInputs;
  const batch = raw.input_ids.length;
  const seq = raw.input_ids[0]!.length;
  const input: BertInput = {
    inputIds: Int32Array.from(raw.input_ids.flat()),
    tokenTypeIds: Int32Array.from(raw.token_type_ids.flat()),
    attentionMask: Float32Array.from(raw.attention_mask.flat()),
    batch,
    seq,
  };
  return { model, input, expected: readSafetensors(`${dir}outputs.safetensors`).tensors };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

for (const name of ["bert-tiny", "bert-tiny-gelu-new"]) {
  describe(`BERT vs PyTorch (${name})`, () => {
    const { model, input, expected } = loadFixture(name);
    const get = (key: string): Float32Array => {
      const t = expected.get(key);
      if (!t) throw new Error(`fixture ${name}: missing ${key}`);
      return t.data;
    };

    it("every hidden state, attention map and the pooled output within 1e-5", () => {
      const out = noGrad(() => model.forward(input, { outputHiddenStates: true, outputAttentions: true }));
      assert.equal(out.hiddenStates.length, model.config.numHiddenLayers + 1);
      out.hiddenStates.forEach((h, i) => {
        const d = maxAbsDiff(h.data, get(`hidden_states.${i}`));
        assert.ok(d <= 1e-5, `hidden_states.${i}: max |diff| ${d}`);
      });
      out.attentions.forEach((a, i) => {
        const d = maxAbsDiff(a.data, get(`attentions.${i}`));
        assert.ok(d <= 1e-5, `attentions.${i}: max |diff| ${d}`);
      });
      const d = maxAbsDiff(out.pooled!.data, get("pooler_output"));
      assert.ok(d <= 1e-5, `pooler_output: max |diff| ${d}`);
    });

    it("gradient of every parameter within 1e-4 relative", () => {
      const out = model.forward(input);
      const wLast = new Tensor(get("loss_weights.last_hidden"), out.lastHidden.shape);
      const wPooled = new Tensor(get("loss_weights.pooled"), out.pooled!.shape);
      const loss = add(sum(mul(out.lastHidden, wLast)), sum(mul(out.pooled!, wPooled)));
      const expectedLoss = get("loss")[0]!;
      assert.ok(Math.abs(loss.item() - expectedLoss) <= 1e-4 * Math.max(1, Math.abs(expectedLoss)), `loss ${loss.item()} vs ${expectedLoss}`);
      backward(loss);
      let checked = 0;
      const refs = [...expected].filter(([key]) => key.startsWith("grad."));
      let modelScale = 0;
      for (const [, value] of refs) for (const v of value.data) modelScale = Math.max(modelScale, Math.abs(v));
      for (const [key, value] of refs) {
        const pname = key.slice("grad.".length);
        const p = paramsOf(model).get(pname);
        assert.ok(p, `model has no parameter ${pname}`);
        const g = p.grad ?? new Float32Array(p.size);
        let scale = 0;
        for (const v of value.data) scale = Math.max(scale, Math.abs(v));
        const d = maxAbsDiff(g, value.data);
        // 1e-4 relative to the tensor's largest gradient, or to 1% of the model's largest gradient for tensors
        // whose gradient is 0 in exact arithmetic (the key bias: softmax is shift-invariant), where float32 leaves
        // rounding noise of ~1e-6.
        const tol = 1e-4 * Math.max(scale, 1e-2 * modelScale);
        assert.ok(d <= tol, `${pname}: max |diff| ${d} > ${tol} (max |grad| ${scale})`);
        checked++;
      }
      assert.equal(checked, paramsOf(model).size, "every parameter has a reference gradient");
      for (const p of paramsOf(model).values()) p.grad = null;
    });
  });
}

function paramsOf(model: BertModel): Map<string, Tensor> {
  return model.params;
}
