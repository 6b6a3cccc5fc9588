/**
 * kill -9 at chosen moments (MD2PR_TEST_FAULT, src/util/atomic.ts): between the two renames of a checkpoint swap,
 * after a model folder is filled but before it is renamed into place, in the middle of writing a model folder's files
 * (its config written, its tokenizer not yet), and while writing a checkpoint. Each time the rerun finishes with the
 * same bytes as an uninterrupted run, every folder loads, and no temporary file, folder or lock is left.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CrossEncoder } from "../../src/models/cross-encoder.ts";
import { WordPieceTokenizer } from "../../src/models/tokenizer.ts";
import { md2pr, ok, tempLeftovers, tinyFlags, toyBeir, toyRetrieverFolder, treeHashes, vocabFile } from "./helpers.ts";

let tmp = "";
let data = "";
before(() => {
  tmp = mkdtempSync(join(tmpdir(), "md2pr-crash-"));
  data = toyBeir(join(tmp, "toy"));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The ranker folder's files (and the BM25 index and mined negatives) that must not depend on an interruption. */
const results = (out: string): Map<string, string> =>
  treeHashes(out, (rel) => rel.startsWith("work") || rel === "md2pr-artifact.json");

describe("kill -9 during train-ranker, then rerun", () => {
  const crashes: [string, string][] = [
    ["between the renames of a checkpoint swap", "kill:dir:between-renames@checkpoint"],
    ["with the ranker folder filled but not yet renamed", "kill:dir:before-swap@ranker"],
    ["after the ranker folder's config.json, before its tokenizer", "kill:file:before-rename@vocab.txt"],
    ["while writing the second checkpoint's state", "kill:file:before-rename@state.json:2"],
  ];

  it("every crash reruns to the uninterrupted run's bytes, and the ranker loads", async () => {
    const args = (out: string): string[] => ["train-ranker", "--data", data, "--out", out, ...tinyFlags(4, 2)];
    const reference = join(tmp, "reference");
    const killed = await Promise.all([md2pr(args(reference)), ...crashes.map(([, fault], i) => md2pr(args(join(tmp, `crash-${i}`)), { MD2PR_TEST_FAULT: fault }))]);
    ok(killed[0]!, "the uninterrupted run");
    crashes.forEach(([what], i) => assert.equal(killed[i + 1]!.signal, "SIGKILL", `the run killed ${what} died by SIGKILL (stderr: ${killed[i + 1]!.stderr})`));
    // what the kills left: no ranker folder that a rerun would take as done
    for (let i = 0; i < crashes.length; i++) {
      const out = join(tmp, `crash-${i}`);
      assert.ok(!existsSync(join(out, "ranker")) || existsSync(join(out, "ranker", "md2pr-artifact.json")), `${crashes[i]![0]}: no half ranker folder`);
    }
    const reruns = await Promise.all(crashes.map((_c, i) => md2pr(args(join(tmp, `crash-${i}`)))));
    const expected = results(reference);
    assert.ok(expected.has("ranker/model.safetensors") && expected.has("ranker/vocab.txt"));
    for (let i = 0; i < crashes.length; i++) {
      const out = join(tmp, `crash-${i}`);
      ok(reruns[i]!, `rerun after a kill ${crashes[i]![0]}`);
      assert.deepEqual(results(out), expected, `${crashes[i]![0]}: the same files and bytes as the uninterrupted run`);
      assert.deepEqual(tempLeftovers(out), [], `${crashes[i]![0]}: no temporary files, folders or locks left`);
      const ranker = CrossEncoder.load(join(out, "ranker"));
      assert.ok(ranker.params.has("classifier.weight"));
      assert.ok(WordPieceTokenizer.fromDirectory(join(out, "ranker")).vocabSize > 0);
    }
  });
});

describe("kill -9 between the renames that replace a model folder", () => {
  it("the previous folder comes back on the next run, which then replaces it whole", async () => {
    const base = join(tmp, "base");
    const args = ["pretrain", "--data", data, "--out", base, "--vocab", vocabFile, "--hidden", "16", "--layers", "1", "--heads", "2",
      "--intermediate", "32", "--steps", "2", "--batch-size", "4", "--max-length", "16", "--warmup-steps", "1", "--checkpoint-every", "1"];
    ok(await md2pr(args), "pretrain");
    const first = treeHashes(base, (rel) => rel === "md2pr-pretrain.json");
    const killed = await md2pr(args, { MD2PR_TEST_FAULT: "kill:dir:between-renames@base" });
    assert.equal(killed.signal, "SIGKILL");
    assert.ok(!existsSync(base), "the kill left the folder moved aside");
    assert.equal(readdirSync(tmp).filter((n) => n.startsWith(".base.tmp-") && n.endsWith(".old")).length, 1);
    ok(await md2pr(args), "pretrain again");
    assert.deepEqual(treeHashes(base, (rel) => rel === "md2pr-pretrain.json"), first, "same weights, config and tokenizer");
    assert.deepEqual(tempLeftovers(tmp).filter((p) => !p.includes("crash-") && !p.includes("reference")), []);
  });
});

describe("kill -9 during encode and index, then rerun", () => {
  it("an encode killed between chunks or while finishing resumes to the same index; an HNSW build killed before its rename reruns to the same graph", async () => {
    const model = join(tmp, "retriever");
    toyRetrieverFolder(model, 5);
    const corpus = join(data, "corpus.jsonl");
    // --batch-size 1: chunks of 8 passages, so the 16 toy passages take two appends
    const encode = (out: string): string[] => ["encode", "--model", model, "--corpus", corpus, "--out", out, "--batch-size", "1"];
    const crashes: [string, string][] = [
      ["after the first chunk, before its progress is recorded", "kill:file:before-rename@progress.json:2"],
      ["after the second chunk is recorded", "kill:file:before-rename@progress.json:3"],
      ["while writing index.json", "kill:file:before-rename@index.json"],
    ];
    const reference = join(tmp, "index-ref");
    const first = await Promise.all([md2pr(encode(reference)), ...crashes.map(([, fault], i) => md2pr(encode(join(tmp, `index-${i}`)), { MD2PR_TEST_FAULT: fault }))]);
    ok(first[0]!, "the uninterrupted encode");
    crashes.forEach(([what], i) => assert.equal(first[i + 1]!.signal, "SIGKILL", `killed ${what}`));
    const reruns = await Promise.all(crashes.map((_c, i) => md2pr(encode(join(tmp, `index-${i}`)))));
    const expected = treeHashes(reference);
    assert.ok(expected.has("embeddings.f32") && expected.has("index.json"));
    crashes.forEach(([what], i) => {
      ok(reruns[i]!, `rerun after a kill ${what}`);
      assert.deepEqual(treeHashes(join(tmp, `index-${i}`)), expected, `${what}: the same index bytes`);
      assert.deepEqual(tempLeftovers(join(tmp, `index-${i}`)), []);
    });
    const hnsw = (out: string): string[] => ["index", "--backend", "hnsw", "--index", reference, "--out", out];
    const [refGraph, killed] = await Promise.all([md2pr(hnsw(join(tmp, "hnsw-ref"))), md2pr(hnsw(join(tmp, "hnsw-1")), { MD2PR_TEST_FAULT: "kill:dir:before-swap@hnsw-1" })]);
    ok(refGraph, "index");
    assert.equal(killed.signal, "SIGKILL");
    assert.ok(!existsSync(join(tmp, "hnsw-1")), "no half graph folder");
    ok(await md2pr(hnsw(join(tmp, "hnsw-1"))), "index rerun");
    assert.deepEqual(treeHashes(join(tmp, "hnsw-1")), treeHashes(join(tmp, "hnsw-ref")));
    const queries = join(data, "queries.jsonl");
    ok(await md2pr(["search", "--model", model, "--index", join(tmp, "hnsw-1"), "--queries", queries, "--out", join(tmp, "hnsw.trec")]), "search the rebuilt graph");
  });
});

describe("kill -9 during the whole train pipeline, then rerun", () => {
  it("killed inside the warm-up folder, before the retriever folder's rename, or mid retriever checkpoint: the same models, runs and scores", async () => {
    const args = (out: string): string[] => ["train", "--data", data, "--out", out, ...tinyFlags(4, 2)];
    const crashes: [string, string][] = [
      ["while writing the warm-up retriever's md2pr.json", "kill:file:before-rename@md2pr.json"],
      ["with the retriever folder filled, not renamed", "kill:dir:before-swap@retriever"],
      ["between the renames of the retriever's step-4 checkpoint (the 2nd swap of a checkpoint in the run)", "kill:dir:between-renames@checkpoint:2"],
    ];
    const reference = join(tmp, "train-ref");
    const first = await Promise.all([md2pr(args(reference)), ...crashes.map(([, fault], i) => md2pr(args(join(tmp, `train-${i}`)), { MD2PR_TEST_FAULT: fault }))]);
    ok(first[0]!, "the uninterrupted train");
    crashes.forEach(([what], i) => assert.equal(first[i + 1]!.signal, "SIGKILL", `killed ${what}: ${first[i + 1]!.stderr}`));
    const reruns = await Promise.all(crashes.map((_c, i) => md2pr(args(join(tmp, `train-${i}`)))));
    // results.json names the run files by path; everything else must be byte for byte the same
    const files = (out: string): Map<string, string> => treeHashes(out, (rel) => rel.startsWith("work") || rel === "results.json");
    const scores = (out: string): unknown => (JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as { system: string; ndcg10: number; recall100: number }[])
      .map((r) => [r.system, r.ndcg10, r.recall100]);
    const expected = files(reference);
    assert.ok(expected.has("retriever/model.safetensors") && expected.has("retriever-warmup/vocab.txt") && expected.has("runs/retriever.trec"));
    crashes.forEach(([what], i) => {
      const out = join(tmp, `train-${i}`);
      ok(reruns[i]!, `rerun after a kill ${what}`);
      assert.deepEqual(files(out), expected, `${what}: the same files and bytes`);
      assert.deepEqual(scores(out), scores(reference), `${what}: the same scores`);
      assert.deepEqual(tempLeftovers(out), []);
    });
  });
});
