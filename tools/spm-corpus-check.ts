/**
 * Compares md2pr's SentencePiece tokenizer with python3-sentencepiece on the whole SciFact corpus (title + text
 * of each document) for the fixture models, and times both.
 *
 *   MD2PR_NUM_THREADS=1 node --import tsx tools/spm-corpus-check.ts [corpus.jsonl]
 *
 * Needs /usr/bin/python3 with python3-sentencepiece (Debian).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { SentencePieceTokenizer } from "../src/models/tokenizer/sentencepiece.ts";

const corpus = process.argv[2] ?? "/work/shared/data/scifact/corpus.jsonl";
const docs = readFileSync(corpus, "utf8").trim().split("\n").map((l) => {
  const d = JSON.parse(l) as { title: string; text: string };
  return `${d.title} ${d.text}`;
});
const PY = `
import json, sys, time, sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
docs = [(lambda d: d["title"] + " " + d["text"])(json.loads(l)) for l in open(sys.argv[2], encoding="utf-8")]
t = time.time(); ids = [sp.encode(d) for d in docs]; ms = (time.time() - t) * 1000
print(json.dumps({"ms": ms, "ids": ids}))
`;
for (const name of ["spm-scifact", "spm-scifact-nobyte"]) {
  const model = new URL(`../test/fixtures/${name}/spm.model`, import.meta.url).pathname;
  const ref = JSON.parse(execFileSync("/usr/bin/python3", ["-c", PY, model, corpus], { maxBuffer: 1 << 30 }).toString()) as { ms: number; ids: number[][] };
  const tk = SentencePieceTokenizer.fromModelFile(model);
  const t0 = performance.now();
  const got = docs.map((d) => tk.spmEncode(d));
  const ms = performance.now() - t0;
  let same = 0;
  let reordered = 0;
  let tokens = 0;
  const sorted = (xs: number[]): string => JSON.stringify([...xs].sort((x, y) => x - y));
  got.forEach((g, i) => {
    tokens += g.length;
    if (JSON.stringify(g) === JSON.stringify(ref.ids[i])) same++;
    else if (sorted(g) === sorted(ref.ids[i]!)) reordered++;
  });
  console.log(`${name}: ${same}/${docs.length} documents identical, ${reordered} differ only by the order of equal-score pieces (${tokens} tokens); md2pr ${ms.toFixed(0)} ms, python3-sentencepiece ${ref.ms.toFixed(0)} ms`);
}
