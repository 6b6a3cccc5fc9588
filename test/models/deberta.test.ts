/**
 * DeBERTa-v2/v3 forward and backward against the PyTorch oracle (tools/torch_deberta.py,
 * tools/make_deberta_fixtures.py), the log-bucket tables, and saving / loading in HF's layout.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Tensor, add, backward, mul, noGrad, sum } from "../../src/engine/index.ts";
import type { BertInput } from "../../src/models/bert.ts";
import { readDebertaV2Config } from "../../src/models/deberta-config.ts";
import { loadDebertaClassifier, saveDebertaCheckpoint } from "../../src/models/deberta-checkpoint.ts";
import { DebertaV2ForSequenceClassification, logBucketPosition, relativePositions } from "../../src/models/deberta-v2.ts";
import { readSafetensors } from "../../src/models/safetensors.ts";
import { VarBuilder } from "../../src/nn/var-builder.ts";

interface FixtureInputs {
  input_ids: number[][];
  attention_mask: number[][];
  token_type_ids: number[][];
}

const fixtureDir = (name: string): string => new URL(`../fixtures/${name}/`, import.meta.url).pathname;

function loadFixture(name: string): { model: DebertaV2ForSequenceClassification; input: BertInput; expected: Map<string, { shape: number[]; data: Float32Array }> } {
  const dir = fixtureDir(name);
  const config = readDebertaV2Config(`${dir}config.json`);
  const weights = readSafetensors(`${dir}model.safetensors`);
  const model = new DebertaV2ForSequenceClassification(VarBuilder.fromTensors(weights.tensors, `${dir}model.safetensors`, ["deberta."]), config);
  const raw = JSON.parse(readFileSync(`${dir}inputs.json`, "utf8")) as FixtureInputs;
  const input: BertInput = {
    inputIds: Int32Array.from(raw.input_ids.flat()),
    tokenTypeIds: Int32Array.from(raw.token_type_ids.flat()),
    attentionMask: Float32Array.from(raw.attention_mask.flat()),
    batch: raw.input_ids.length,
    seq: raw.input_ids[0]!.length,
  };
  return { model, input, expected: readSafetensors(`${dir}outputs.safetensors`).tensors };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

for (const name of ["deberta-tiny", "deberta-tiny-v2", "deberta-tiny-proj"]) {
  describe(`DeBERTa-v2 vs PyTorch (${name})`, () => {
    const { model, input, expected } = loadFixture(name);
    const get = (key: string): Float32Array => {
      const t = expected.get(key);
      if (!t) throw new Error(`fixture ${name}: missing ${key}`);
      return t.data;
    };

    it("relative positions equal the oracle's (log buckets where configured)", () => {
      const table = relativePositions(input.seq, model.config);
      assert.deepEqual(Array.from(table), Array.from(get("relative_positions")));
    });

    it("every hidden state, attention map, the pooled output and the logits within 1e-5", () => {
      const out = noGrad(() => model.forward(input, { outputHiddenStates: true, outputAttentions: true }));
      assert.equal(out.encoder.hiddenStates.length, model.config.numHiddenLayers + 1);
      const diffs: string[] = [];
      out.encoder.hiddenStates.forEach((h, i) => {
        const d = maxAbsDiff(h.data, get(`hidden_states.${i}`));
        diffs.push(`h${i} ${d.toExponential(1)}`);
        assert.ok(d <= 1e-5, `hidden_states.${i}: max |diff| ${d}`);
      });
      out.encoder.attentions.forEach((a, i) => {
        const d = maxAbsDiff(a.data, get(`attentions.${i}`));
        diffs.push(`a${i} ${d.toExponential(1)}`);
        assert.ok(d <= 1e-5, `attentions.${i}: max |diff| ${d}`);
      });
      const dp = maxAbsDiff(out.encoder.pooled!.data, get("pooled"));
      const dl = maxAbsDiff(out.logits.data, get("logits"));
      assert.ok(dp <= 1e-5, `pooled: max |diff| ${dp}`);
      assert.ok(dl <= 1e-5, `logits: max |diff| ${dl}`);
      // the fixture's attention is far from uniform, so this comparison can fail
      assert.ok(maxAbs(get("attentions.0")) > 0.3);
      console.log(`# ${name} forward max|diff|: ${diffs.join(", ")}, pooled ${dp.toExponential(1)}, logits ${dl.toExponential(1)}`);
    });

    it("every parameter's gradient within 1e-4 of the tensor's largest gradient", () => {
      for (const p of model.params.values()) p.grad = null;
      const out = model.forward(input, { outputAttentions: true });
      const w = (key: string, shape: readonly number[]): Tensor => new Tensor(Float32Array.from(get(key)), shape);
      const loss = add(add(
        sum(mul(out.encoder.lastHidden, w("loss_weights.last_hidden", out.encoder.lastHidden.shape))),
        sum(mul(out.encoder.attentions[0]!, w("loss_weights.attentions0", out.encoder.attentions[0]!.shape)))),
        sum(mul(out.logits, w("loss_weights.logits", out.logits.shape))));
      const dLoss = Math.abs(loss.item() - get("loss")[0]!);
      assert.ok(dLoss <= 1e-4 * Math.max(1, Math.abs(get("loss")[0]!)), `loss ${loss.item()} vs ${get("loss")[0]}`);
      backward(loss);
      let names = 0;
      let worst = 0;
      // A tensor whose exact gradient is zero (a key bias without p2c: softmax-invariant; the reference is float64
      // rounding noise) must be within 1e-6 of the model's largest gradient instead.
      let globalMax = 0;
      for (const pname of model.params.keys()) globalMax = Math.max(globalMax, maxAbs(get(`grad.${pname}`)));
      let worstName = "";
      for (const [pname, p] of model.params) {
        const ref = get(`grad.${pname}`);
        const own = maxAbs(ref);
        const scale = own < 1e-6 * globalMax ? 1e-2 * globalMax : own;
        const grad = p.grad ?? new Float32Array(p.size);
        const rel = maxAbsDiff(grad, ref) / scale;
        if (rel > worst) [worst, worstName] = [rel, pname];
        assert.ok(rel <= 1e-4, `grad.${pname}: max |diff| / max |grad| = ${rel}`);
        names++;
      }
      assert.equal(names, expected.size - [...expected.keys()].filter((k) => !k.startsWith("grad.")).length);
      console.log(`# ${name}: ${names} parameter gradients, worst relative error ${worst.toExponential(2)} (${worstName})`);
    });
  });
}

for (const name of ["deberta-tiny", "deberta-tiny-v2", "deberta-tiny-proj"]) {
  describe(`DeBERTa-v2 on a short batch (${name}): only the reached relative rows are used`, () => {
    it("logits within 1e-5 and gradients within 1e-4 of each tensor's largest, as the full table gives them", () => {
      const { model } = loadFixture(name);
      const short = readSafetensors(`${fixtureDir(name)}outputs-short.safetensors`).tensors;
      const get = (k: string): Float32Array => short.get(k)!.data;
      const [batch, seq] = short.get("input_ids")!.shape as [number, number];
      const input: BertInput = {
        inputIds: Int32Array.from(get("input_ids")), tokenTypeIds: Int32Array.from(get("token_type_ids")),
        attentionMask: Float32Array.from(get("attention_mask")), batch, seq,
      };
      for (const p of model.params.values()) p.grad = null;
      const out = model.forward(input);
      assert.ok(maxAbsDiff(out.logits.data, get("logits")) <= 1e-5);
      backward(sum(mul(out.logits, new Tensor(Float32Array.from(get("loss_weights.logits")), out.logits.shape))));
      let globalMax = 0;
      for (const pname of model.params.keys()) globalMax = Math.max(globalMax, maxAbs(get(`grad.${pname}`)));
      for (const [pname, p] of model.params) {
        const ref = get(`grad.${pname}`);
        const own = maxAbs(ref);
        const scale = own < 1e-6 * globalMax ? 1e-2 * globalMax : own;
        const rel = maxAbsDiff(p.grad ?? new Float32Array(p.size), ref) / scale;
        assert.ok(rel <= 1e-4, `grad.${pname}: ${rel}`);
      }
      // the rows a length-5 sequence cannot reach have no gradient, in PyTorch too
      const relGrad = get("grad.deberta.encoder.rel_embeddings.weight");
      const hidden = model.config.hiddenSize;
      assert.equal(maxAbs(relGrad.subarray(0, hidden)), 0);
    });
  });
}

describe("DeBERTa log buckets", () => {
  it("equal HF's make_log_bucket_position on every stored table (including v3's 256 buckets over 512)", () => {
    const tables = readSafetensors(`${fixtureDir("deberta-tiny")}relative-positions.safetensors`).tensors;
    assert.ok(tables.size >= 5);
    for (const [key, t] of tables) {
      const m = /^buckets(\d+)_max(\d+)_len(\d+)$/.exec(key);
      assert.ok(m, key);
      const [buckets, max] = [Number(m[1]), Number(m[2])];
      const got = Array.from({ length: t.data.length }, (_, r) => logBucketPosition(r, buckets, max));
      assert.deepEqual(got, Array.from(t.data), key);
      for (let r = 1; r < t.data.length; r++) assert.equal(logBucketPosition(-r, buckets, max), -t.data[r]!, `${key} at -${r}`);
    }
  });
});

describe("DeBERTa checkpoints in HF's layout", () => {
  it("save writes HF names, shapes and config keys; loading back gives the same logits", () => {
    const { model, input } = loadFixture("deberta-tiny");
    const dir = mkdtempSync(join(tmpdir(), "md2pr-deberta-"));
    try {
      saveDebertaCheckpoint(dir, model.config, model.params);
      const json = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
      for (const key of ["model_type", "relative_attention", "position_buckets", "max_relative_positions", "pos_att_type", "share_att_key", "norm_rel_ebd", "position_biased_input", "type_vocab_size", "pooler_hidden_act", "layer_norm_eps", "id2label"]) {
        assert.ok(key in json, `config.json lacks ${key}`);
      }
      assert.equal(json.model_type, "deberta-v2");
      assert.equal(json.pos_att_type, "p2c|c2p");
      const saved = readSafetensors(join(dir, "model.safetensors")).tensors;
      const original = readSafetensors(`${fixtureDir("deberta-tiny")}model.safetensors`).tensors;
      assert.deepEqual([...saved.keys()].sort(), [...original.keys()].sort());
      for (const [k, t] of original) assert.deepEqual(saved.get(k)!.shape, t.shape, k);
      assert.ok(saved.has("deberta.encoder.rel_embeddings.weight") && saved.has("deberta.encoder.LayerNorm.weight"));
      const loaded = loadDebertaClassifier(dir);
      const a = noGrad(() => model.forward(input).logits.data);
      const b = noGrad(() => loaded.forward(input).logits.data);
      assert.deepEqual(Array.from(b), Array.from(a));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a bad config field is named in the error", () => {
    const dir = mkdtempSync(join(tmpdir(), "md2pr-deberta-"));
    try {
      const { model } = loadFixture("deberta-tiny");
      saveDebertaCheckpoint(dir, model.config, model.params);
      const file = join(dir, "config.json");
      const json = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
      json.pos_att_type = "c2p|p2p";
      writeFileSync(file, JSON.stringify(json));
      assert.throws(() => loadDebertaClassifier(dir), /config\.json: field "pos_att_type" "p2p"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
