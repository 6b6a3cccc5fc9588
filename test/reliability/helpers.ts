/**
 * Shared pieces of the reliability suite: running the md2pr CLI as a child process (with fault injection through
 * MD2PR_TEST_FAULT, see src/util/atomic.ts), asserting a clean refusal (exit 1, `md2pr <command>: ` + a message naming
 * the place, no stack trace), a toy BEIR set and tiny pipeline flags, and a tiny random retriever / ranker folder.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeBertConfig } from "../../src/models/config.ts";
import { CrossEncoder } from "../../src/models/cross-encoder.ts";
import { DualEncoder } from "../../src/models/dual-encoder.ts";
import { WordPieceTokenizer, restrictVocabulary } from "../../src/models/tokenizer.ts";
import { rankerFingerprint, retrieverFingerprint } from "../../src/models/fingerprint.ts";
import { writeArtifact } from "../../src/util/provenance.ts";
import { TOY_TOPICS } from "../helpers/toy.ts";

export const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin", "md2pr.js");
export const binFile = bin;
export const vocabFile = join(root, "data", "vocab", "bert-base-uncased-vocab.txt");

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `md2pr args` (env: extra variables, e.g. MD2PR_TEST_FAULT). */
export function md2pr(args: readonly string[], env: Record<string, string> = {}): Promise<Result> {
  return run(process.execPath, [bin, ...args], env);
}

/** Runs any command from the repository root (for example md2pr inside `unshare` with a small tmpfs). */
export function run(command: string, args: readonly string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: root, env: { ...process.env, CI: "true", MD2PR_NUM_THREADS: "1", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function ok(r: Result, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code} (${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** Exit 1, a `md2pr <command>: ` line matching `pattern`, and no stack trace. */
export function refused(r: Result, command: string, pattern: RegExp): string {
  assert.equal(r.code, 1, `expected exit 1, got ${r.code} (${r.signal})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const line = r.stderr.split("\n").find((l) => l.startsWith(`md2pr ${command}: `));
  assert.ok(line, `no "md2pr ${command}: " line in stderr:\n${r.stderr}`);
  assert.match(line, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
  return line;
}

export { toyBeir } from "../helpers/toy.ts";

/** Pipeline flags for a model and run small enough for a few seconds. */
export function tinyFlags(steps = 4, checkpointEvery = 2): string[] {
  return [
    "--base", "none", "--vocab", vocabFile, "--hidden", "16", "--layers", "1", "--heads", "2", "--intermediate", "32",
    "--ranker-steps", String(steps), "--retriever-steps", String(steps), "--batch-size", "2", "--negatives", "1", "--dev-queries", "2",
    "--mined-negatives", "3", "--max-query-length", "12", "--max-passage-length", "24", "--max-pair-length", "36",
    "--checkpoint-every", String(checkpointEvery), "--rerank-depth", "5", "--self-supervised-steps", "2", "--self-supervised-batch-size", "4",
  ];
}

/** A tiny random retriever (seeded) saved with its tokenizer in `dir`; the tokenizer covers the toy texts. */
export function toyRetrieverFolder(dir: string, seed: number): void {
  const { tokenizer } = restrictVocabulary(WordPieceTokenizer.fromVocabFile(vocabFile), TOY_TOPICS.flatMap(([t, x]) => [t, x, `what is known about ${t} a review of findings`]));
  const config = makeBertConfig({ vocabSize: tokenizer.vocabSize, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32, maxPositionEmbeddings: 64 });
  const model = DualEncoder.random(config, { maxQueryLength: 12, maxPassageLength: 24 }, seed);
  model.save(dir);
  tokenizer.save(dir);
  // as the pipeline writes it: with the record of its fingerprint
  writeArtifact(dir, "retriever", {}, retrieverFingerprint(model, tokenizer));
}

/** A tiny random ranker (with its head) saved with its tokenizer in `dir`. */
export function toyRankerFolder(dir: string, seed: number): void {
  const { tokenizer } = restrictVocabulary(WordPieceTokenizer.fromVocabFile(vocabFile), TOY_TOPICS.flatMap(([t, x]) => [t, x, `what is known about ${t} a review of findings`]));
  const config = makeBertConfig({ vocabSize: tokenizer.vocabSize, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32, maxPositionEmbeddings: 64 });
  const model = CrossEncoder.random(config, seed);
  model.save(dir);
  tokenizer.save(dir);
  writeArtifact(dir, "ranker", {}, rankerFingerprint(model, tokenizer));
}

/** SHA-256 of every file under `dir` (relative path -> hash), for "identical results" checks. */
export function treeHashes(dir: string, skip: (rel: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      if (skip(r)) continue;
      if (statSync(full).isDirectory()) walk(full, r);
      else out.set(r, createHash("sha256").update(readFileSync(full)).digest("hex"));
    }
  };
  walk(dir, "");
  return out;
}

/** Names under `dir` (recursively) that look like temporary files or folders of md2pr's writers. */
export function tempLeftovers(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      if (/\.tmp-\d+/.test(name) || /\.md2pr-lock/.test(name)) out.push(full);
      else if (statSync(full).isDirectory()) walk(full);
    }
  };
  walk(dir);
  return out;
}
