/**
 * Tokenizer throughput on the SciFact corpus (5,183 abstracts, title + " " + text).
 *
 *   node --import tsx bench/tokenizer.ts [corpus.jsonl] [vocab.txt]
 *
 * Reports, for the first pass (empty word cache) and a warm pass (same tokenizer again): documents/s,
 * word pieces/s and MB/s for `tokenizeToIds`, plus `encodeBatch` (batches of 32, maxLength 256).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { WordPieceTokenizer } from "../src/models/tokenizer.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = path.resolve(here, "..", "..", "shared", "data");
const corpusPath = process.argv[2] ?? path.join(shared, "scifact", "corpus.jsonl");
const vocabPath = process.argv[3] ?? path.join(shared, "vocab", "bert-base-uncased-vocab.txt");

const texts: string[] = [];
for (const line of fs.readFileSync(corpusPath, "utf8").split("\n")) {
  if (line.trim() === "") continue;
  const doc = JSON.parse(line) as { title?: string; text?: string };
  texts.push(`${doc.title ?? ""} ${doc.text ?? ""}`.trim());
}
const bytes = texts.reduce((s, t) => s + Buffer.byteLength(t, "utf8"), 0);

let t0 = performance.now();
const tok = WordPieceTokenizer.fromVocabFile(vocabPath);
const loadMs = performance.now() - t0;

/** CPU seconds (user + system) of this process: less sensitive than wall time to other load on the machine. */
function cpuSec(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function pass(label: string, tk: WordPieceTokenizer): void {
  const start = performance.now();
  const c0 = cpuSec();
  let pieces = 0;
  for (const t of texts) pieces += tk.tokenizeToIds(t).length;
  const sec = (performance.now() - start) / 1000;
  const cpu = cpuSec() - c0;
  console.log(`${label.padEnd(24)} ${texts.length} docs, ${pieces} pieces in ${sec.toFixed(3)} s wall (${cpu.toFixed(3)} s CPU): ` +
    `${Math.round(texts.length / sec)} docs/s, ${(pieces / sec / 1e6).toFixed(2)} M pieces/s wall, ` +
    `${(pieces / cpu / 1e6).toFixed(2)} M pieces/CPU-s, ${(bytes / sec / 1e6).toFixed(1)} MB/s`);
}

console.log(`load average ${os.loadavg().map((x) => x.toFixed(1)).join(" ")} on ${os.cpus().length} cores`);
console.log(`corpus ${corpusPath}: ${texts.length} docs, ${(bytes / 1e6).toFixed(1)} MB; vocab ${tok.vocabSize} loaded in ${loadMs.toFixed(0)} ms`);
pass("tokenize (cold cache)", tok);
pass("tokenize (warm cache)", tok);
pass("tokenize (warm cache)", tok);

t0 = performance.now();
let rows = 0;
let real = 0;
for (let i = 0; i < texts.length; i += 32) {
  const b = tok.encodeBatch(texts.slice(i, i + 32), { maxLength: 256 });
  rows += b.batchSize;
  for (const l of b.lengths) real += l;
}
const sec = (performance.now() - t0) / 1000;
console.log(`${"encodeBatch(32, T<=256)".padEnd(24)} ${rows} rows, ${real} tokens in ${sec.toFixed(3)} s: ${Math.round(rows / sec)} docs/s, ` +
  `${(real / sec / 1e6).toFixed(2)} M tokens/s`);
