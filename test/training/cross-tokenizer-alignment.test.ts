/** Word-level units between SentencePiece (DeBERTa-v3 teacher) and WordPiece (BERT student) tokenizations. */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { SentencePieceTokenizer } from "../../src/models/tokenizer/sentencepiece.ts";
import { WordPieceTokenizer } from "../../src/models/tokenizer.ts";
import { alignUnits, canonicalPieces, poolingMatrices, wordStarts } from "../../src/training/cross-tokenizer-alignment.ts";

const vocab = new URL("../../data/vocab/bert-base-uncased-vocab.txt", import.meta.url).pathname;
const wp = WordPieceTokenizer.fromVocabFile(existsSync(vocab) ? vocab : new URL("../../../shared/data/vocab/bert-base-uncased-vocab.txt", import.meta.url).pathname);
const sp = SentencePieceTokenizer.fromModelFile(new URL("../fixtures/spm-scifact/spm.model", import.meta.url).pathname);
const cases = (JSON.parse(readFileSync(new URL("../fixtures/spm-scifact/cases.json", import.meta.url), "utf8")) as { text: string }[]).map((c) => c.text);

function align(text: string): { a: (string | null)[]; b: (string | null)[]; units: number; unitOfA: Int32Array; unitOfB: Int32Array; pa: string[]; pb: string[] } {
  const pa = sp.tokenize(text);
  const pb = wp.tokenize(text);
  const a = canonicalPieces(pa, "sentencepiece");
  const b = canonicalPieces(pb, "wordpiece");
  return { a, b, pa, pb, ...alignUnits(a, b, wordStarts(pa, "sentencepiece"), wordStarts(pb, "wordpiece")) };
}

function unitTexts(p: readonly (string | null)[], unitOf: Int32Array, units: number): string[] {
  const out = Array.from({ length: units }, () => "");
  p.forEach((s, k) => (out[unitOf[k]!] += s ?? "?"));
  return out;
}

describe("cross-tokenizer word alignment", () => {
  it("every piece belongs to one unit, units run in order on both sides, and known units spell the same text", () => {
    let units = 0;
    let pieces = 0;
    let exactUnits = 0;
    for (const text of cases) {
      const r = align(text);
      if (r.a.length === 0 && r.b.length === 0) continue;
      for (const unitOf of [r.unitOfA, r.unitOfB]) {
        for (let k = 0; k < unitOf.length; k++) {
          assert.ok(unitOf[k]! >= 0 && unitOf[k]! < r.units, `${JSON.stringify(text)}: piece ${k} unassigned`);
          if (k > 0) assert.ok(unitOf[k]! >= unitOf[k - 1]!, `${JSON.stringify(text)}: units out of order`);
        }
      }
      const ta = unitTexts(r.a, r.unitOfA, r.units);
      const tb = unitTexts(r.b, r.unitOfB, r.units);
      for (let u = 0; u < r.units; u++) {
        if (!ta[u]!.includes("?") && !tb[u]!.includes("?")) {
          assert.equal(ta[u], tb[u], `${JSON.stringify(text)}: unit ${u} spells ${ta[u]} vs ${tb[u]} (${JSON.stringify(r.pa)} / ${JSON.stringify(r.pb)})`);
          exactUnits++;
        }
      }
      units += r.units;
      pieces += r.a.length + r.b.length;
    }
    assert.ok(exactUnits / units > 0.98, `${exactUnits} of ${units} units without unknown pieces`);
    assert.ok(units > pieces / 4, "units are words, not whole texts");
    assert.ok(units < pieces / 2, "units are words, not pieces");
  });

  it("splits a plain sentence into its words and pools the pieces of a word together", () => {
    const text = "Microstructural development of insulin resistance impairs glucose uptake.";
    const r = align(text);
    const ta = unitTexts(r.a, r.unitOfA, r.units);
    assert.deepEqual(ta, unitTexts(r.b, r.unitOfB, r.units));
    assert.deepEqual(ta, wp.basicTokenize(text), `${JSON.stringify(r.pa)} / ${JSON.stringify(r.pb)}`);
    assert.ok(r.pa.length > r.units && r.pb.length > r.units, "some words have several pieces");
  });

  it("an unknown WordPiece token absorbs the SentencePiece bytes of the same characters; the next word aligns again", () => {
    const r = align("emoji 🧬 marks cells");
    const unk = r.pb.indexOf("[UNK]");
    assert.ok(unk >= 0, JSON.stringify(r.pb));
    const u = r.unitOfB[unk]!;
    const spIn = r.pa.filter((_, k) => r.unitOfA[k] === u);
    assert.ok(spIn.some((p) => p.startsWith("<0x")), `the [UNK] unit holds the byte pieces: ${JSON.stringify(spIn)}`);
    const ta = unitTexts(r.a, r.unitOfA, r.units);
    const tb = unitTexts(r.b, r.unitOfB, r.units);
    assert.equal(ta[r.units - 1], "cells");
    assert.equal(tb[r.units - 1], "cells");
  });

  it("pooling matrices: means of pieces per unit, attention rows keep their sums", () => {
    const r = align("TNF-α–induced NF-κB activation");
    const { mean, sum } = poolingMatrices(r.unitOfB, r.units);
    const n = r.unitOfB.length;
    for (let u = 0; u < r.units; u++) {
      let m = 0;
      for (let k = 0; k < n; k++) m += mean[u * n + k]!;
      assert.ok(Math.abs(m - 1) < 1e-6);
    }
    // a row-stochastic piece attention map pooled as mean . A . sum^T stays row-stochastic
    const A = new Float32Array(n * n).fill(1 / n);
    for (let u = 0; u < r.units; u++) {
      let rowSum = 0;
      for (let v = 0; v < r.units; v++) {
        for (let x = 0; x < n; x++) for (let y = 0; y < n; y++) rowSum += mean[u * n + x]! * A[x * n + y]! * sum[v * n + y]!;
      }
      assert.ok(Math.abs(rowSum - 1) < 1e-5);
    }
  });
});
