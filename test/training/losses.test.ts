/** Each MD2PR loss against the PyTorch fixtures of tools/make_fixtures.py: value and gradients. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Tensor, backward } from "../../src/engine/index.ts";
import { readSafetensors } from "../../src/models/safetensors.ts";
import { attentionDistillationLoss } from "../../src/training/losses/attention-distillation.ts";
import { contrastiveLoss, scoreMatrix } from "../../src/training/losses/contrastive.ts";
import { hiddenDistillationLoss } from "../../src/training/losses/hidden-distillation.ts";
import { listwiseLoss } from "../../src/training/losses/listwise.ts";
import { sentenceDistillationLoss } from "../../src/training/losses/sentence-distillation.ts";

const dir = new URL("../fixtures/losses/", import.meta.url).pathname;

function fixture(name: string): { t: (key: string) => Tensor; raw: (key: string) => Float32Array; options: Record<string, number> } {
  const { tensors } = readSafetensors(`${dir}${name}.safetensors`);
  const meta = JSON.parse(readFileSync(`${dir}${name}.json`, "utf8")) as { options: Record<string, number> };
  const raw = (key: string): Float32Array => {
    const v = tensors.get(key);
    if (!v) throw new Error(`fixture ${name}: no tensor ${key}`);
    return v.data;
  };
  return { t: (key) => new Tensor(Float32Array.from(raw(key)), tensors.get(key)!.shape, true, key), raw, options: meta.options };
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rel = 1e-4, abs = 1e-6): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    assert.ok(Math.abs(a - e) <= abs + rel * Math.abs(e), `${what}[${i}]: ${a} vs PyTorch ${e}`);
  }
}

describe("losses match PyTorch", () => {
  it("contrastive InfoNCE with in-batch negatives, mask and temperature", () => {
    const f = fixture("infonce");
    const q = f.t("q");
    const p = f.t("p");
    const keep = Uint8Array.from(f.raw("mask"), (v) => (v ? 1 : 0));
    const loss = contrastiveLoss(scoreMatrix(q, p), f.options.n_negatives! + 1, keep, { temperature: f.options.tau! });
    assertClose([loss.item()], f.raw("loss"), "loss", 1e-5);
    backward(loss);
    assertClose(q.grad!, f.raw("grad.q"), "grad.q");
    assertClose(p.grad!, f.raw("grad.p"), "grad.p");
  });
  it("sentence-level KL(ranker || retriever) with temperatures", () => {
    const f = fixture("kl_sentence");
    const sC = f.t("s_C");
    const sR = f.t("s_R");
    const loss = sentenceDistillationLoss(sC, sR, { teacherTemperature: f.options.T_C!, studentTemperature: f.options.T_R! });
    assertClose([loss.item()], f.raw("loss"), "loss", 1e-5);
    backward(loss);
    assertClose(sR.grad!, f.raw("grad.s_R"), "grad.s_R");
    assertClose(sC.grad!, f.raw("grad.s_C"), "grad.s_C");
  });
  it("word-level attention MSE", () => {
    const f = fixture("attention_mse");
    const { batch_size: pairs, Tq: tq, Td: td, hidden } = f.options as Record<string, number>;
    const hq = new Tensor(f.raw("Hq"), [pairs! * tq!, hidden!], true);
    const hd = new Tensor(f.raw("Hd"), [pairs! * td!, hidden!], true);
    const loss = attentionDistillationLoss(hq, hd, f.raw("q_mask"), f.raw("d_mask"), f.raw("A_C"), pairs!, tq!, td!);
    assertClose([loss.item()], f.raw("loss"), "loss", 1e-5);
    backward(loss);
    assertClose(hq.grad!, f.raw("grad.Hq"), "grad.Hq");
    assertClose(hd.grad!, f.raw("grad.Hd"), "grad.Hd");
  });
  it("word-level hidden-state MSE with a learned projection", () => {
    const f = fixture("hidden_mse");
    const { batch_size: b, T: t, hidden_R: hr } = f.options as Record<string, number>;
    const h = new Tensor(f.raw("H_R"), [b! * t!, hr!], true);
    const w = f.t("W");
    const loss = hiddenDistillationLoss(h, f.raw("H_C"), w, f.raw("mask"));
    assertClose([loss.item()], f.raw("loss"), "loss", 1e-5);
    backward(loss);
    assertClose(h.grad!, f.raw("grad.H_R"), "grad.H_R");
    assertClose(w.grad!, f.raw("grad.W"), "grad.W");
  });
  it("listwise softmax cross-entropy (ranker)", () => {
    const f = fixture("listwise_ce");
    const s = f.t("scores");
    const loss = listwiseLoss(s);
    assertClose([loss.item()], f.raw("loss"), "loss", 1e-5);
    backward(loss);
    assertClose(s.grad!, f.raw("grad.scores"), "grad.scores");
  });
});
