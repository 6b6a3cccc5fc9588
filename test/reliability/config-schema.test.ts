/**
 * The one config schema (src/training/config-schema.ts): the defaults satisfy it key for key (a field added to
 * DEFAULT_PIPELINE without a schema entry fails here, by name), and files and overrides are refused with the file,
 * the key path and the value.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { configIssues, PipelineConfigSchema, PretrainConfigSchema } from "../../src/training/config-schema.ts";
import { DEFAULT_PIPELINE, readPipelineConfig } from "../../src/training/pipeline.ts";
import { DEFAULT_PRETRAIN } from "../../src/training/pretrain.ts";

const dir = mkdtempSync(join(tmpdir(), "md2pr-schema-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

describe("config schema", () => {
  it("knows every field of DEFAULT_PIPELINE and DEFAULT_PRETRAIN (add a schema entry with a new field)", () => {
    assert.deepEqual(configIssues(PipelineConfigSchema, DEFAULT_PIPELINE), [], "DEFAULT_PIPELINE vs PipelineConfigSchema");
    assert.deepEqual(configIssues(PretrainConfigSchema, DEFAULT_PRETRAIN), [], "DEFAULT_PRETRAIN vs PretrainConfigSchema");
  });

  it("a field the schema lacks is reported by name", () => {
    const issues = configIssues(PipelineConfigSchema, { ...DEFAULT_PIPELINE, retriever: { ...DEFAULT_PIPELINE.retriever, fusion: "rrf" } });
    assert.deepEqual(issues, ["unknown setting 'retriever.fusion'"]);
  });

  it("a field the defaults have but the schema lacks still runs (only the test above fails), type-checked against its default", () => {
    const defaults = { ...DEFAULT_PIPELINE, fusionK: 60 } as typeof DEFAULT_PIPELINE;
    const cfg = readPipelineConfig(file("new-field.json", JSON.stringify({ fusionK: 10, seed: 3 })), {}, defaults) as typeof defaults & { fusionK: number };
    assert.equal(cfg.fusionK, 10);
    assert.equal(cfg.seed, 3);
    assert.throws(() => readPipelineConfig(file("new-field-bad.json", JSON.stringify({ fusionK: "ten" })), {}, defaults), /'fusionK': expected a number, got "ten"/);
    assert.throws(() => readPipelineConfig(file("not-a-field.json", JSON.stringify({ fusionKK: 1 })), {}, defaults), /unknown setting 'fusionKK'/);
  });

  it("refuses a bad enum and a negative step count in a file, naming the file and both key paths", () => {
    const f = file("bad.json", JSON.stringify({ retriever: { pooling: "max", steps: -5 } }));
    assert.throws(() => readPipelineConfig(f), (err: Error) => {
      assert.ok(err.message.startsWith(`config ${f}: `), err.message);
      assert.match(err.message, /'retriever\.pooling': expected one of "cls", "mean", got "max"/);
      assert.match(err.message, /'retriever\.steps': must be >= 0, got -5/);
      return true;
    });
  });

  const refused: [string, unknown, RegExp][] = [
    ["lr 0", { ranker: { learningRate: 0 } }, /'ranker\.learningRate': must be > 0, got 0/],
    ["negative batch", { retriever: { batchSize: -1 } }, /'retriever\.batchSize': must be >= 1/],
    ["length 1", { lengths: { maxQueryLength: 1 } }, /'lengths\.maxQueryLength': must be >= 2, got 1/],
    ["negative weight", { retriever: { md2pr: { beta: -0.1 } } }, /'retriever\.md2pr\.beta': must be >= 0/],
    ["fractional steps", { warmup: { steps: 2.5 } }, /'warmup\.steps': expected a integer|'warmup\.steps'/],
    ["string for number", { seed: "7" }, /'seed': expected a number, got "7"/],
    ["unknown key", { retriever: { stepz: 3 } }, /unknown setting 'retriever\.stepz'/],
    ["bad kind", { warmup: { kinds: ["title", "cloze"] } }, /'warmup\.kinds\.1': expected one of "title", "ict"/],
    ["rho above 1", { retriever: { md2pr: { filter: { rho: 2 } } } }, /'retriever\.md2pr\.filter\.rho': must be <= 1/],
    ["heads do not divide", { model: { hiddenSize: 100, numAttentionHeads: 3 } }, /model\.hiddenSize.*divisible/],
    ["not an object", [1, 2], /expected a JSON object/],
  ];
  for (const [what, json, re] of refused) {
    it(`refuses ${what}`, () => {
      const f = file(`${what.replace(/ /g, "-")}.json`, JSON.stringify(json));
      assert.throws(() => readPipelineConfig(f), (err: Error) => err.message.includes(f) && re.test(err.message));
    });
  }

  it("steps 0 (skip) is valid; a UTF-8 BOM is accepted; bad JSON names the line", () => {
    const ok = readPipelineConfig(file("bom.json", `\ufeff${JSON.stringify({ ranker: { steps: 0 }, retriever: { pooling: "cls" } })}`));
    assert.equal(ok.ranker.steps, 0);
    assert.equal(ok.retriever.pooling, "cls");
    const bad = file("syntax.json", '{\n  "seed": 1,\n  "x" 2\n}\n');
    assert.throws(() => readPipelineConfig(bad), (err: Error) => err.message.includes(bad) && /invalid JSON at line 3/.test(err.message));
  });

  it("overrides are validated like a file and named by their source", () => {
    assert.throws(() => readPipelineConfig(null, { retriever: { steps: -5 } }), /command-line flags: setting 'retriever\.steps': must be >= 0, got -5/);
    assert.throws(
      () => readPipelineConfig(null, { ranker: { learningRate: -1 } }, DEFAULT_PIPELINE, { label: (p) => `--ranker-lr (${p})` }),
      /--ranker-lr \(ranker\.learningRate\): must be > 0, got -1/,
    );
  });
});

describe("model files go through the same library and loader", () => {
  it("md2pr.json: a bad enum, an unknown key and a wrong type are refused naming the file and key", async () => {
    const { readDualEncoderFile } = await import("../../src/models/model-files.ts");
    const { parseBertConfig, readBertConfig } = await import("../../src/models/config.ts");
    const bad = file("md2pr.json", JSON.stringify({ type: "dual-encoder", pooling: "max", shared: "yes", extra: 1 }));
    assert.throws(() => readDualEncoderFile(bad), (err: Error) =>
      err.message.includes(bad) && /'pooling': expected one of "cls", "mean", got "max"/.test(err.message) &&
      /'shared': expected a boolean, got "yes"/.test(err.message) && /unknown setting 'extra'/.test(err.message));
    assert.throws(() => readDualEncoderFile(file("ce.json", JSON.stringify({ type: "cross-encoder" }))), /'type': must be "dual-encoder", got "cross-encoder"/);
    assert.deepEqual(readDualEncoderFile(file("old.json", `\ufeff${JSON.stringify({ type: "dual-encoder", pooling: "mean" })}`)), { type: "dual-encoder", pooling: "mean" });
    // BERT config.json: HF's other keys are kept, ours are checked
    const cfg = file("config.json", `\ufeff${JSON.stringify({ hidden_size: 64, num_attention_heads: 4, torch_dtype: "float32" })}`);
    assert.deepEqual(readBertConfig(cfg).extra, { torch_dtype: "float32" });
    assert.throws(() => parseBertConfig({ num_hidden_layers: -2 }, "x/config.json"), /x\/config\.json: field "num_hidden_layers" must be a positive integer, got -2/);
  });
});
