import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  parseBertConfig, readBertConfig, bertConfigToJson, writeBertConfig, makeBertConfig, usesTanhGelu,
  DEFAULT_BERT_CONFIG,
} from "../src/models/config.ts";

// The config.json published with bert-base-uncased on the Hugging Face hub.
const BERT_BASE_UNCASED = {
  architectures: ["BertForMaskedLM"],
  attention_probs_dropout_prob: 0.1,
  gradient_checkpointing: false,
  hidden_act: "gelu",
  hidden_dropout_prob: 0.1,
  hidden_size: 768,
  initializer_range: 0.02,
  intermediate_size: 3072,
  layer_norm_eps: 1e-12,
  max_position_embeddings: 512,
  model_type: "bert",
  num_attention_heads: 12,
  num_hidden_layers: 12,
  pad_token_id: 0,
  position_embedding_type: "absolute",
  transformers_version: "4.6.0.dev0",
  type_vocab_size: 2,
  use_cache: true,
  vocab_size: 30522,
};

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "md2pr-cfg-"));
}

test("parses bert-base-uncased config.json and round-trips it", () => {
  const c = parseBertConfig(BERT_BASE_UNCASED, "bert-base-uncased/config.json");
  assert.equal(c.vocabSize, 30522);
  assert.equal(c.hiddenSize, 768);
  assert.equal(c.numHiddenLayers, 12);
  assert.equal(c.numAttentionHeads, 12);
  assert.equal(c.intermediateSize, 3072);
  assert.equal(c.hiddenAct, "gelu");
  assert.equal(c.layerNormEps, 1e-12);
  assert.deepEqual(c.architectures, ["BertForMaskedLM"]);
  assert.deepEqual(c.extra, { gradient_checkpointing: false, transformers_version: "4.6.0.dev0", use_cache: true });
  const json = bertConfigToJson(c);
  const sortKeys = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
  assert.deepEqual(sortKeys(json), sortKeys(BERT_BASE_UNCASED));
});

test("missing fields take HF BertConfig defaults", () => {
  const c = parseBertConfig({}, "empty.json");
  assert.deepEqual({ ...c, extra: {} }, { ...DEFAULT_BERT_CONFIG, extra: {} });
  const small = parseBertConfig({ hidden_size: 128, num_attention_heads: 2, num_hidden_layers: 2, intermediate_size: 512, vocab_size: 1000 });
  assert.equal(small.maxPositionEmbeddings, 512);
  assert.equal(small.typeVocabSize, 2);
  assert.equal(small.hiddenDropoutProb, 0.1);
  assert.equal(small.attentionProbsDropoutProb, 0.1);
  assert.equal(small.padTokenId, 0);
  assert.equal(small.initializerRange, 0.02);
  assert.deepEqual(small.architectures, ["BertModel"]);
});

test("gelu variants", () => {
  assert.equal(usesTanhGelu(parseBertConfig({ hidden_act: "gelu" })), false);
  for (const act of ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"]) {
    assert.equal(usesTanhGelu(parseBertConfig({ hidden_act: act })), true, act);
  }
});

test("validation errors name the source and the field", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ hidden_size: 100, num_attention_heads: 12 }, /"hidden_size".*divisible by num_attention_heads/],
    [{ vocab_size: 0 }, /"vocab_size" must be a positive integer/],
    [{ num_hidden_layers: 2.5 }, /"num_hidden_layers"/],
    [{ hidden_act: "relu" }, /"hidden_act" "relu" is not supported/],
    [{ hidden_dropout_prob: 1.5 }, /"hidden_dropout_prob"/],
    [{ layer_norm_eps: -1 }, /"layer_norm_eps"/],
    [{ model_type: "roberta" }, /"model_type" must be "bert"/],
    [{ position_embedding_type: "relative_key" }, /"position_embedding_type"/],
    [{ pad_token_id: 30522 }, /"pad_token_id"/],
    [{ architectures: "BertModel" }, /"architectures"/],
    [{ vocab_size: "30522" }, /"vocab_size"/],
  ];
  for (const [json, re] of cases) {
    assert.throws(() => parseBertConfig(json, "/x/config.json"), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.ok(err.message.includes("/x/config.json"), err.message);
      assert.match(err.message, re);
      return true;
    }, JSON.stringify(json));
  }
  assert.throws(() => parseBertConfig([], "a.json"), /a\.json: expected a JSON object/);
});

test("readBertConfig / writeBertConfig files; bad JSON names the file", () => {
  const dir = tmpDir();
  const f = path.join(dir, "model", "config.json");
  const c = makeBertConfig({ vocabSize: 5000, hiddenSize: 64, numAttentionHeads: 4, numHiddenLayers: 2, intermediateSize: 256, hiddenAct: "gelu_new" });
  writeBertConfig(f, c);
  const back = readBertConfig(f);
  assert.deepEqual(back, c);
  const written = JSON.parse(fs.readFileSync(f, "utf8")) as Record<string, unknown>;
  assert.equal(written["model_type"], "bert");
  assert.deepEqual(written["architectures"], ["BertModel"]);
  assert.equal(written["hidden_act"], "gelu_new");
  const bad = path.join(dir, "bad.json");
  fs.writeFileSync(bad, "{ nope");
  assert.throws(() => readBertConfig(bad), (err: unknown) => err instanceof Error && err.message.includes(bad) && /invalid JSON/.test(err.message));
  assert.throws(() => readBertConfig(path.join(dir, "missing.json")), /missing\.json/);
  assert.throws(() => makeBertConfig({ hiddenSize: 10, numAttentionHeads: 3 }), /divisible/);
});
