/**
 * The md2pr command line, run as a child process through bin/md2pr.js: help of every command, `eval` on a hand-made
 * run, BM25 on SciFact end to end, encode / index / search / rerank with a tiny random retriever and ranker, the
 * pipeline commands on a toy BEIR set, and the errors bad inputs give.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { CommanderError } from "commander";
import { buildProgram, COMMANDS } from "../../src/cli/program.ts";
import { makeBertConfig } from "../../src/models/config.ts";
import { CrossEncoder } from "../../src/models/cross-encoder.ts";
import { DualEncoder } from "../../src/models/dual-encoder.ts";
import { WordPieceTokenizer, restrictVocabulary } from "../../src/models/tokenizer.ts";
import { encodePieces, encodeQueries } from "../../src/encoding/encode-corpus.ts";
import { Ranker } from "../../src/api/ranker.ts";
import { passageText, TokenizedCorpus, type CorpusText } from "../../src/retrieval/tokenized-corpus.ts";
import { TOY_TOPICS } from "../helpers/toy.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin", "md2pr.js");
const scifact = join(root, "data", "scifact");
const vocabFile = join(root, "data", "vocab", "bert-base-uncased-vocab.txt");

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function md2pr(args: readonly string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, CI: "true", ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function ok(r: Result, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** Exit 1 with `md2pr <command>: ...` on stderr matching `pattern`, and no stack trace. */
function fails(r: Result, command: string, pattern: RegExp): void {
  assert.equal(r.code, 1, `expected exit 1, got ${r.code}\nstderr: ${r.stderr}`);
  const prefix = command ? `md2pr ${command}: ` : "md2pr: ";
  const line = r.stderr.split("\n").find((l) => l.startsWith(prefix));
  assert.ok(line, `no "${prefix}" line in stderr:\n${r.stderr}`);
  assert.match(line, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace without MD2PR_DEBUG");
}

let tmp = "";
before(() => {
  tmp = mkdtempSync(join(tmpdir(), "md2pr-cli-"));
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const COMMAND_OPTIONS: Record<string, string[]> = {
  pretrain: ["--data", "--vocab", "--out", "--steps", "--batch-size", "--lr", "--hidden", "--layers", "--heads", "--intermediate", "--max-length", "--seed", "--no-resume", "--config", "--print-config"],
  mine: ["--data", "--out", "--mined-negatives", "--config", "--print-config", "--output", "--k1", "--b"],
  "train-ranker": ["--data", "--out", "--base", "--seed", "--ranker-steps", "--batch-size", "--no-lexical-prior", "--config", "--print-config"],
  train: ["--stage", "--data", "--out", "--base", "--seed", "--ranker-steps", "--retriever-steps", "--alpha", "--beta", "--no-filter", "--batch-size", "--second-round", "--config", "--print-config"],
  encode: ["--model", "--corpus", "--out", "--batch-size", "--shard", "--merge"],
  index: ["--index", "--out", "--m", "--ef-construction"],
  search: ["--model", "--index", "--hnsw", "--bm25", "--queries", "--qrels", "--top-k", "--out"],
  rerank: ["--ranker", "--corpus", "--queries", "--run", "--depth", "--out"],
  eval: ["--run", "--qrels", "--metrics", "--json"],
  bm25: ["--corpus", "--out", "--k1", "--b"],
  demo: ["--from-scratch", "--out", "--config", "--seed"],
  report: ["--ablation", "--out"],
  serve: ["--retriever", "--index", "--bm25", "--ranker", "--corpus", "--host", "--port", "--max-k", "--max-queue", "--max-batch", "--body-limit"],
};

/** Help of one command, in process (spawning a dozen CLIs costs seconds): its text and commander's exit code. */
async function helpInProcess(name: string): Promise<{ text: string; exitCode: number }> {
  const program = await buildProgram([name, "--help"]);
  let text = "";
  for (const cmd of [program, ...program.commands]) cmd.exitOverride().configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  try {
    await program.parseAsync(["node", "md2pr", name, "--help"]);
  } catch (err) {
    if (err instanceof CommanderError) return { text, exitCode: err.exitCode };
    throw err;
  }
  return { text, exitCode: -1 };
}

// The groups and their tests run side by side: each works in its own folder of the temporary directory.
describe("md2pr CLI", { concurrency: true }, () => {
  describe("md2pr --help", () => {
    it("lists every command and prints the version (spawned)", async () => {
      const [main, version, train] = await Promise.all([md2pr(["--help"]), md2pr(["--version"]), md2pr(["train", "--help"])]);
      ok(main, "md2pr --help");
      assert.deepEqual(COMMANDS.map((c) => c.name), Object.keys(COMMAND_OPTIONS));
      for (const c of Object.keys(COMMAND_OPTIONS)) assert.match(main.stdout, new RegExp(`^  ${c} `, "m"), `main help lists ${c}`);
      ok(version, "md2pr --version");
      assert.equal(version.stdout.trim(), (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version);
      ok(train, "md2pr train --help");
      assert.match(train.stdout, /^Usage: md2pr train /m);
      fails(await md2pr(["nonsense"]), "", /unknown command 'nonsense'/);
    });

    it("md2pr demo refuses a config asking for what the demo does not run (a second round, a DeBERTa ranker)", async () => {
      const cfg = join(tmp, "demo-second-round.json");
      writeFileSync(cfg, JSON.stringify({ secondRound: true, ranker: { arch: "deberta-v2" } }));
      fails(await md2pr(["demo", "--config", cfg, "--out", join(tmp, "demo-refused"), "--no-results-file"]), "demo",
        /the demo does not run secondRound .*; ranker\.arch deberta-v2/);
      assert.equal(existsSync(join(tmp, "demo-refused", "ranker")), false);
    });

    it("every command's help exits 0 and names its options and an example", async () => {
      for (const c of Object.keys(COMMAND_OPTIONS)) {
        const h = await helpInProcess(c);
        assert.equal(h.exitCode, 0, `${c} --help exit code`);
        assert.match(h.text, new RegExp(`^Usage: md2pr ${c} `, "m"));
        assert.match(h.text, /\nExample:\n {2}md2pr /, `${c} --help has an example`);
        for (const opt of COMMAND_OPTIONS[c]!) assert.match(h.text, new RegExp(`(^|[\\s,])${opt}\\b`), `${c} --help names ${opt}`);
      }
    });
  });

  describe("md2pr eval", () => {
    // q1 rels d1 (1), d3 (2); q2 rel d5; q3 only a non-relevant judgement; q4 rel d7. q3 and q4 are absent from the
    // run: trec_eval's default averages over q1, q2 (the queries in both); -c over q1..q4, q3 and q4 scoring 0.
    const beirQrels = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td3\t2\nq2\td5\t1\nq3\td9\t0\nq4\td7\t1\n";
    const trecQrels = "q1 0 d1 1\nq1 0 d3 2\nq2 0 d5 1\nq3 0 d9 0\nq4 0 d7 1\n";
    // q1 ranks d1, d2, d3; q2: d6 first, then d5 before d4 (equal scores: docid descending, as trec_eval); q5 is unjudged.
    const run = [
      "q1 Q0 d2 1 2.0 t", "q1 Q0 d1 2 3.0 t", "q1 Q0 d3 3 1.0 t",
      "q2 Q0 d6 1 9.0 t", "q2 Q0 d4 2 5.0 t", "q2 Q0 d5 3 5.0 t",
      "q5 Q0 d1 1 1.0 t",
    ].join("\n") + "\n";
    const log2 = Math.log2;
    const sums: Record<string, number> = {
      "ndcg@10": 2 / (2 + 1 / log2(3)) + 1 / log2(3),
      "mrr@10": 1 + 0.5,
      "recall@100": 1 + 1,
      map: (1 + 2 / 3) / 2 + 0.5,
      "p@2": 0.5 + 0.5,
    };
    const expected = Object.fromEntries(Object.entries(sums).map(([m, v]) => [m, v / 2]));
    const expectedComplete = Object.fromEntries(Object.entries(sums).map(([m, v]) => [m, v / 4]));

    it("computes the hand-made numbers from BEIR and TREC qrels alike, as JSON and as a table", async () => {
      const dir = join(tmp, "eval");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "qrels.tsv"), beirQrels);
      writeFileSync(join(dir, "qrels.txt"), trecQrels);
      writeFileSync(join(dir, "run.trec"), run);
      const metrics = Object.keys(expected).join(",");
      const [beir, trec, table, complete] = await Promise.all([
        md2pr(["eval", "--run", join(dir, "run.trec"), "--qrels", join(dir, "qrels.tsv"), "--metrics", metrics, "--json"]),
        md2pr(["eval", "--run", join(dir, "run.trec"), "--qrels", join(dir, "qrels.txt"), "--metrics", metrics, "--json"]),
        md2pr(["eval", "--run", join(dir, "run.trec"), "--qrels", join(dir, "qrels.tsv")]),
        md2pr(["eval", "--run", join(dir, "run.trec"), "--qrels", join(dir, "qrels.txt"), "--metrics", metrics, "--json", "-c"]),
      ]);
      for (const [r, queries, want] of [[beir, 2, expected], [trec, 2, expected], [complete, 4, expectedComplete]] as const) {
        ok(r, "eval --json");
        const out = JSON.parse(r.stdout) as { queries: number; missingQueries: number; metrics: Record<string, number> };
        assert.equal(out.queries, queries);
        assert.equal(out.missingQueries, 2);
        for (const [m, v] of Object.entries(want)) assert.ok(Math.abs(out.metrics[m]! - v) < 1e-12, `${m}: ${out.metrics[m]} vs ${v}`);
      }
      ok(table, "eval");
      assert.match(table.stdout, /^mrr@10\s+0\.7500$/m);
      assert.match(table.stdout, new RegExp(`^map\\s+${expected.map!.toFixed(4)}$`, "m"));
      assert.match(table.stdout, /2 queries evaluated at relevance level 1; 2 qrels queries absent from the run were skipped/);
    });

    it("fails with the file (and line) of a bad input", async () => {
      const dir = join(tmp, "eval-bad");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "qrels.tsv"), beirQrels);
      writeFileSync(join(dir, "run.trec"), "q1 Q0 d1 1 1.0 t\nq1 Q0 d2 2 oops t\n");
      const missing = join(dir, "missing.tsv");
      const [noQrels, badRun, badMetric, noRun, debug] = await Promise.all([
        md2pr(["eval", "--run", join(dir, "run.trec"), "--qrels", missing]),
        md2pr(["eval", "--run", join(dir, "run.trec"), "--qrels", join(dir, "qrels.tsv")]),
        md2pr(["eval", "--run", join(dir, "run.trec"), "--qrels", join(dir, "qrels.tsv"), "--metrics", "ndcg@x"]),
        md2pr(["eval", "--qrels", join(dir, "qrels.tsv")]),
        md2pr(["eval", "--run", join(dir, "run.trec"), "--qrels", missing], { MD2PR_DEBUG: "1" }),
      ]);
      fails(noQrels, "eval", new RegExp(`qrels file not found: ${missing.replace(/[.]/g, "\\.")}`));
      fails(badRun, "eval", /run\.trec:2: score "oops" is not a number/);
      fails(badMetric, "eval", /unknown metric "ndcg@x"/);
      fails(noRun, "eval", /required option '--run <file>' not specified/);
      assert.equal(debug.code, 1);
      assert.match(debug.stderr, /^\s+at /m, "MD2PR_DEBUG=1 prints the stack");
    });
  });

  describe("BM25 on SciFact through the CLI", () => {
    it("bm25 + search --bm25 + eval reproduce the measured BM25 numbers", async () => {
      const index = join(tmp, "scifact-bm25");
      const runFile = join(tmp, "scifact-bm25.trec");
      ok(await md2pr(["bm25", "--corpus", join(scifact, "corpus.jsonl"), "--out", index]), "bm25");
      assert.ok(existsSync(join(index, "meta.json")));
      const qrels = join(scifact, "qrels", "test.tsv");
      ok(await md2pr(["search", "--bm25", index, "--queries", join(scifact, "queries.jsonl"), "--qrels", qrels, "--top-k", "100", "--out", runFile]), "search");
      const lines = readFileSync(runFile, "utf8").trim().split("\n");
      assert.equal(new Set(lines.map((l) => l.split(" ")[0])).size, 300, "the 300 judged test queries");
      assert.ok(lines.length > 299 * 100 && lines.length <= 300 * 100);
      assert.match(lines[0]!, / md2pr-bm25$/);
      const ev = await md2pr(["eval", "--run", runFile, "--qrels", qrels, "--json"]);
      ok(ev, "eval");
      const m = (JSON.parse(ev.stdout) as { metrics: Record<string, number> }).metrics;
      // Anserini's BEIR "flat" BM25 (k1 0.9, b 0.4, Lucene norms): nDCG@10 0.6789, R@100 0.9253; the exact values are
      // what tools/bm25-scifact.ts measured with the same index (results/bm25-scifact.json keeps them rounded).
      assert.ok(Math.abs(m["ndcg@10"]! - 0.6789094274508305) < 1e-6, `nDCG@10 ${m["ndcg@10"]}`);
      assert.ok(Math.abs(m["recall@100"]! - 0.9253333333333335) < 1e-6, `R@100 ${m["recall@100"]}`);
      const measured = join(root, "results", "bm25-scifact.json");
      if (existsSync(measured)) {
        const r = JSON.parse(readFileSync(measured, "utf8")) as { ndcg10: number; recall100: number; params: { k1: number; b: number } };
        if (r.params.k1 === 0.9 && r.params.b === 0.4) {
          assert.ok(Math.abs(m["ndcg@10"]! - r.ndcg10) <= 5e-5, `nDCG@10 ${m["ndcg@10"]} vs results ${r.ndcg10}`);
          assert.ok(Math.abs(m["recall@100"]! - r.recall100) <= 5e-5);
        }
      }
    });

    it("names the file and line of malformed JSONL, and missing files", async () => {
      const dir = join(tmp, "bad-input");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "corpus.jsonl"), '{"_id":"a","title":"","text":"x"}\n\n{"_id":"b","text":"y"\n');
      writeFileSync(join(dir, "queries.jsonl"), '{"_id":"q1","text":"x"}\n{"_id":"q2"}\n');
      const [corpus, queries, qrels, noIndex] = await Promise.all([
        md2pr(["bm25", "--corpus", join(dir, "corpus.jsonl"), "--out", join(dir, "bm25")]),
        // each its own --out: one writer per output (a shared one would be refused by the output lock, not checked here)
        md2pr(["search", "--bm25", join(dir, "no-index"), "--queries", join(dir, "queries.jsonl"), "--out", join(dir, "r1.trec")]),
        md2pr(["search", "--bm25", join(dir, "no-index"), "--queries", join(scifact, "queries.jsonl"), "--qrels", join(dir, "nope.tsv"), "--out", join(dir, "r2.trec")]),
        md2pr(["search", "--bm25", join(dir, "no-index"), "--queries", join(scifact, "queries.jsonl"), "--out", join(dir, "r3.trec")]),
      ]);
      fails(corpus, "bm25", /corpus\.jsonl:3: malformed JSON/);
      fails(queries, "search", /queries\.jsonl:2: missing field "text"/);
      fails(qrels, "search", /qrels file not found: .*nope\.tsv/);
      fails(noIndex, "search", /BM25 index directory not found: .*no-index/);
      assert.ok(!existsSync(join(dir, "bm25")) && !["r1", "r2", "r3"].some((r) => existsSync(join(dir, `${r}.trec`))), "nothing written on failure");
    });
  });

  describe("dense commands with a tiny random retriever and ranker", () => {
    const docs: [string, string, string][] = [
      ["d1", "protein folding", "amino acid chains fold into structures"],
      ["d2", "vitamin d", "sunlight exposure raises vitamin levels"],
      ["d3", "sleep deprivation", "lack of sleep impairs memory"],
      ["d4", "gut bacteria", "the microbiome of the intestine affects immunity"],
    ];
    const queries: [string, string][] = [["q1", "how do proteins fold"], ["q2", "vitamin from sunlight"], ["q3", "memory and sleep"]];

    it("encode, index, search (exact, HNSW, hybrid), rerank and eval", async () => {
      const dir = join(tmp, "tiny");
      const texts = [...docs.map(([, t, x]) => `${t} ${x}`), ...queries.map(([, q]) => q)];
      const { tokenizer } = restrictVocabulary(WordPieceTokenizer.fromVocabFile(vocabFile), texts);
      const config = makeBertConfig({
        vocabSize: tokenizer.vocabSize, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32, maxPositionEmbeddings: 64,
      });
      const retriever = DualEncoder.random(config, {}, 0);
      retriever.save(join(dir, "retriever"));
      tokenizer.save(join(dir, "retriever"));
      DualEncoder.random(config, {}, 5).save(join(dir, "other"));
      tokenizer.save(join(dir, "other"));
      CrossEncoder.random(config, 1).save(join(dir, "ranker"));
      tokenizer.save(join(dir, "ranker"));
      const corpusFile = join(dir, "corpus.jsonl");
      writeFileSync(corpusFile, docs.map(([id, title, text]) => JSON.stringify({ _id: id, title, text })).join("\n") + "\n");
      const queriesFile = join(dir, "queries.tsv");
      writeFileSync(queriesFile, queries.map((q) => q.join("\t")).join("\n") + "\n");
      const qrelsFile = join(dir, "qrels.tsv");
      writeFileSync(qrelsFile, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n");
      const p = (name: string): string => join(dir, name);

      ok(await md2pr(["encode", "--model", p("retriever"), "--corpus", corpusFile, "--out", p("index"), "--batch-size", "3"]), "encode");
      const meta = JSON.parse(readFileSync(p("index/index.json"), "utf8")) as { count: number; dim: number; modelFingerprint: string };
      // (the fingerprint of the model as loaded from its directory, which is what the CLI uses)
      assert.deepEqual([meta.count, meta.dim, meta.modelFingerprint], [4, 16, DualEncoder.load(p("retriever")).fingerprint()]);
      ok(await md2pr(["encode", "--model", p("retriever"), "--corpus", corpusFile, "--out", p("index")]), "encode again (reuses the index)");
      const [hnsw, lance, bm25] = await Promise.all([
        md2pr(["index", "--backend", "hnsw", "--index", p("index"), "--out", p("hnsw"), "--m", "4", "--ef-construction", "20"]),
        md2pr(["index", "--index", p("index"), "--corpus", corpusFile, "--out", p("lance")]),
        md2pr(["bm25", "--corpus", corpusFile, "--out", p("bm25")]),
      ]);
      ok(hnsw, "index");
      ok(lance, "index (LanceDB)");
      ok(bm25, "bm25");
      fails(await md2pr(["index", "--index", p("index"), "--out", p("lance2")]), "index", /--backend lance needs --corpus/);
      const common = ["--queries", queriesFile, "--top-k", "4"];
      const [exact, approx, hybrid, judged, wrongModel] = await Promise.all([
        md2pr(["search", "--model", p("retriever"), "--index", p("index"), ...common, "--out", p("exact.trec")]),
        md2pr(["search", "--model", p("retriever"), "--hnsw", p("hnsw"), ...common, "--out", p("hnsw.trec")]),
        md2pr(["search", "--model", p("retriever"), "--index", p("index"), "--bm25", p("bm25"), ...common, "--out", p("hybrid.trec")]),
        md2pr(["search", "--model", p("retriever"), "--index", p("index"), ...common, "--qrels", qrelsFile, "--out", p("judged.trec")]),
        md2pr(["search", "--model", p("other"), "--index", p("index"), ...common, "--out", p("wrong.trec")]),
      ]);
      for (const [r, what] of [[exact, "exact"], [approx, "hnsw"], [hybrid, "hybrid"], [judged, "judged"]] as const) ok(r, `search (${what})`);
      fails(wrongModel, "search", /fingerprint/);
      const [lanceSearch, lanceWrong, lanceRerank, lanceJsonl] = await Promise.all([
        md2pr(["search", "--model", p("retriever"), "--index", p("lance"), ...common, "--out", p("lance.trec")]),
        md2pr(["search", "--model", p("other"), "--index", p("lance"), ...common, "--out", p("lance-wrong.trec")]),
        md2pr(["search", "--model", p("retriever"), "--index", p("lance"), "--ranker", p("ranker"), "--rerank-depth", "3", ...common, "--out", p("lance-rerank.trec")]),
        md2pr(["search", "--model", p("retriever"), "--index", p("lance"), "--format", "jsonl", ...common, "--out", p("lance.jsonl")]),
      ]);
      ok(lanceJsonl, "search --format jsonl");
      const jsonlHits = readFileSync(p("lance.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { qid: string; rank: number; id: string; title: string; text: string });
      assert.equal(jsonlHits.length, 3 * 4);
      for (const h of jsonlHits) {
        const doc = docs.find(([id]) => id === h.id)!;
        assert.deepEqual([h.title, h.text], [doc[1], doc[2]], "the hit's passage comes from the LanceDB table");
      }
      ok(lanceSearch, "search (LanceDB)");
      ok(lanceRerank, "search (LanceDB, reranked; the text comes from the table)");
      fails(lanceWrong, "search", /fingerprint/);

      // The exact run holds the inner products of the retriever's own query and passage vectors.
      const docMap = new Map<string, CorpusText>(docs.map(([id, title, text]) => [id, { title, text }]));
      const corpus = new TokenizedCorpus(docMap, tokenizer);
      const qv = encodeQueries(retriever, corpus, queries.map(([, q]) => q));
      const pv = encodePieces(retriever, docs.map(([id]) => corpus.passage(id)), "passage", corpus.specials);
      const parse = (file: string): Map<string, { id: string; rank: number; score: number }[]> => {
        const m = new Map<string, { id: string; rank: number; score: number }[]>();
        for (const line of readFileSync(file, "utf8").trim().split("\n")) {
          const [qid, , id, rank, score] = line.split(" ") as [string, string, string, string, string];
          if (!m.has(qid)) m.set(qid, []);
          m.get(qid)!.push({ id, rank: Number(rank), score: Number(score) });
        }
        return m;
      };
      const ranker = Ranker.load(p("ranker"));
      const exactRun = parse(p("exact.trec"));
      assert.equal(exactRun.size, 3);
      queries.forEach(([qid], qi) => {
        const hits = exactRun.get(qid)!;
        assert.equal(hits.length, 4);
        for (const h of hits) {
          const di = docs.findIndex(([id]) => id === h.id);
          let dot = 0;
          for (let j = 0; j < 16; j++) dot += qv[qi * 16 + j]! * pv[di * 16 + j]!;
          assert.ok(Math.abs(dot - h.score) < 1e-4 * Math.max(1, Math.abs(dot)), `${qid} ${h.id}: ${h.score} vs ${dot}`);
        }
        // HNSW and LanceDB find all 4 points with the same inner products (float rounding may reorder near-ties of a random model).
        for (const file of ["hnsw.trec", "lance.trec"]) {
        const approxHits = parse(p(file)).get(qid)!;
        assert.deepEqual(new Set(approxHits.map((h) => h.id)), new Set(hits.map((h) => h.id)));
        for (const h of approxHits) {
          const e = hits.find((x) => x.id === h.id)!;
          assert.ok(Math.abs(e.score - h.score) < 1e-3 * Math.max(1, Math.abs(e.score)), `${file} ${qid} ${h.id}: ${h.score} vs ${e.score}`);
        }
        }
        // Reranked (the depth is raised to --top-k): the ranker's scores of (query, "title text" from the table).
        const reranked = parse(p("lance-rerank.trec")).get(qid)!;
        assert.equal(reranked.length, 4);
        const rankerScores = ranker.predict(reranked.map((h) => [queries[qi]![1], passageText(docMap.get(h.id)!)] as const));
        reranked.forEach((h, i) => assert.ok(Math.abs(h.score - rankerScores[i]!) < 1e-4, `rerank ${qid} ${h.id}: ${h.score} vs ${rankerScores[i]}`));
      });
      assert.deepEqual([...parse(p("judged.trec")).keys()], ["q1", "q2"]);
      assert.match(readFileSync(p("hybrid.trec"), "utf8"), / md2pr-hybrid\n/);

      const rr = await md2pr(["rerank", "--ranker", p("ranker"), "--corpus", corpusFile, "--queries", queriesFile, "--run", p("exact.trec"), "--depth", "2", "--out", p("rerank.trec")]);
      ok(rr, "rerank");
      const reranked = parse(p("rerank.trec"));
      for (const [qid, hits] of reranked) {
        assert.equal(hits.length, 2);
        assert.deepEqual(new Set(hits.map((h) => h.id)), new Set(exactRun.get(qid)!.slice(0, 2).map((h) => h.id)), "the top 2 are reranked");
      }
      const ev = await md2pr(["eval", "--run", p("rerank.trec"), "--qrels", qrelsFile, "--json"]);
      ok(ev, "eval");
      assert.equal((JSON.parse(ev.stdout) as { queries: number }).queries, 2);
    });
  });

  describe("pipeline commands on a toy BEIR set", () => {
    const topics = TOY_TOPICS;
    const model = ["--hidden", "16", "--layers", "1", "--heads", "2", "--intermediate", "32"];
    const tiny = [
      "--base", "none", "--vocab", vocabFile, ...model,
      "--ranker-steps", "2", "--retriever-steps", "2", "--batch-size", "2", "--negatives", "1", "--dev-queries", "2",
      "--mined-negatives", "3", "--max-query-length", "12", "--max-passage-length", "24", "--max-pair-length", "36",
      "--checkpoint-every", "0", "--rerank-depth", "5", "--self-supervised-steps", "2", "--self-supervised-batch-size", "4",
    ];

    it("print-config merges the defaults, a config file and the flags; bad settings fail", async () => {
      const cfgFile = join(tmp, "pipeline.json");
      writeFileSync(cfgFile, JSON.stringify({ seed: 7, retriever: { steps: 40, md2pr: { beta: 0.25 } } }));
      const badFile = join(tmp, "bad.json");
      writeFileSync(badFile, JSON.stringify({ retriever: { stepz: 1 } }));
      const [merged, pre, bad, badValue] = await Promise.all([
        md2pr(["train", "--config", cfgFile, "--alpha", "0.5", "--no-filter", "--ranker-steps", "20", "--base", "none", "--print-config"]),
        md2pr(["pretrain", "--hidden", "64", "--steps", "10", "--no-resume", "--print-config"]),
        md2pr(["train", "--config", badFile, "--print-config"]),
        md2pr(["train", "--ranker-steps", "many", "--print-config"]),
      ]);
      ok(merged, "train --print-config");
      const c = JSON.parse(merged.stdout) as {
        seed: number; base: string | null; ranker: { steps: number; warmupSteps: number; batchSize: number };
        retriever: { steps: number; warmupSteps: number; md2pr: { alpha: number; beta: number; filter: { enabled: boolean } } };
      };
      assert.equal(c.seed, 7);
      assert.equal(c.base, null);
      assert.deepEqual([c.ranker.steps, c.ranker.warmupSteps, c.ranker.batchSize], [20, 2, 8]);
      assert.equal(c.retriever.steps, 40);
      assert.deepEqual([c.retriever.md2pr.alpha, c.retriever.md2pr.beta, c.retriever.md2pr.filter.enabled], [0.5, 0.25, false]);
      ok(pre, "pretrain --print-config");
      const pc = JSON.parse(pre.stdout) as { model: { hiddenSize: number; numHiddenLayers: number }; steps: number; resume: boolean };
      assert.deepEqual([pc.model.hiddenSize, pc.model.numHiddenLayers, pc.steps, pc.resume], [64, 4, 10, false]);
      fails(bad, "train", /unknown setting 'retriever\.stepz'/);
      fails(badValue, "train", /expected an integer, got 'many'/);
    });

    it("mine, train-ranker, train --stage retriever / eval, and the whole pipeline", async () => {
      const data = join(tmp, "toy");
      mkdirSync(join(data, "qrels"), { recursive: true });
      writeFileSync(join(data, "corpus.jsonl"), topics.flatMap(([t, x], i) => [
        JSON.stringify({ _id: `d${i}`, title: t, text: x }),
        JSON.stringify({ _id: `x${i}`, title: `${t} review`, text: `a review of ${x!.split(" ").slice(0, 4).join(" ")} findings` }),
      ]).join("\n") + "\n");
      writeFileSync(join(data, "queries.jsonl"), topics.map(([t], i) => JSON.stringify({ _id: `q${i}`, text: `what is known about ${t}` })).join("\n") + "\n");
      const qrels = (ids: number[]): string => `query-id\tcorpus-id\tscore\n${ids.map((i) => `q${i}\td${i}\t1\n`).join("")}`;
      writeFileSync(join(data, "qrels", "train.tsv"), qrels([0, 1, 2, 3, 4, 5]));
      writeFileSync(join(data, "qrels", "test.tsv"), qrels([6, 7]));
      // pretrain a tiny base; the staged run starts from it (the whole run below starts from random weights)
      const base = join(tmp, "toy-base");
      const pre = await md2pr(["pretrain", "--data", data, "--out", base, "--vocab", vocabFile, ...model, "--steps", "3", "--batch-size", "4", "--max-length", "16", "--warmup-steps", "1", "--checkpoint-every", "0"]);
      ok(pre, "pretrain");
      assert.match(pre.stdout, new RegExp(`wrote ${base.replace(/[.]/g, "\\.")}`));
      for (const f of ["config.json", "model.safetensors", "vocab.txt", "md2pr-pretrain.json"]) assert.ok(existsSync(join(base, f)), `pretrain wrote ${f}`);
      const out = join(tmp, "toy-run");
      const args = ["--data", data, "--out", out, ...tiny, "--base", base];

      const [mine, noRanker] = await Promise.all([
        md2pr(["mine", ...args]),
        md2pr(["train", "--stage", "retriever", "--data", data, "--out", join(tmp, "toy-empty"), ...tiny]),
      ]);
      ok(mine, "mine");
      fails(noRanker, "train", /no ranker in .*toy-empty.ranker/);
      const mined = readFileSync(join(out, "train-bm25.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { positive_ids: string[]; negative_ids: string[] });
      assert.equal(mined.length, 4, "6 train queries less 2 dev");
      for (const e of mined) {
        assert.ok(e.negative_ids.length >= 1 && e.negative_ids.length <= 3, "up to --mined-negatives BM25 negatives");
        assert.ok(!e.negative_ids.some((n) => e.positive_ids.includes(n)), "negatives exclude the positives");
      }
      ok(await md2pr(["train-ranker", ...args]), "train-ranker");
      assert.ok(existsSync(join(out, "ranker", "config.json")));
      ok(await md2pr(["train", "--stage", "retriever", ...args]), "train --stage retriever");
      assert.ok(existsSync(join(out, "retriever", "md2pr.json")));
      const evalStage = await md2pr(["train", "--stage", "eval", ...args]);
      ok(evalStage, "train --stage eval");
      for (const system of ["bm25", "retriever", "hybrid", "retriever+rerank", "hybrid+rerank", "bm25+rerank"]) {
        assert.match(evalStage.stdout, new RegExp(`^${system.replace("+", "\\+")}\\s+\\d\\.\\d{4}\\s+\\d\\.\\d{4}\\s+\\d\\.\\d{4}\\s`, "m"));
      }
      const rows = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as { system: string; ndcg10: number }[];
      assert.deepEqual(rows.map((r) => r.system), ["bm25", "retriever", "hybrid", "retriever+rerank", "hybrid+rerank", "bm25+rerank"]);
      // The fusions chosen on dev are recorded next to the retriever, where `md2pr search` finds them.
      const recorded = JSON.parse(readFileSync(join(out, "retriever", "fusion.json"), "utf8")) as { hybrid: { fusion: { method: string } }; rerank: { fusion: { method: string } } };
      assert.ok(["rrf", "convex"].includes(recorded.hybrid.fusion.method) && ["rrf", "convex"].includes(recorded.rerank.fusion.method));
      // The BM25 row agrees with `md2pr eval` of its run file.
      const ev = await md2pr(["eval", "--run", join(out, "runs", "bm25.trec"), "--qrels", join(data, "qrels", "test.tsv"), "--json"]);
      ok(ev, "eval of the pipeline's BM25 run");
      assert.ok(Math.abs((JSON.parse(ev.stdout) as { metrics: Record<string, number> }).metrics["ndcg@10"]! - rows[0]!.ndcg10) < 1e-9);

      const whole = join(tmp, "toy-whole");
      const all = await md2pr(["train", "--data", data, "--out", whole, ...tiny, "--second-round", "--alpha", "0.5", "--no-filter"]);
      ok(all, "train (all stages, second round)");
      for (const f of ["train-bm25.jsonl", "ranker/config.json", "retriever-warmup/md2pr.json", "retriever/md2pr.json", "train-round2.jsonl", "retriever-round2/md2pr.json", "results.json"]) {
        assert.ok(existsSync(join(whole, f)), `train wrote ${f}`);
      }
      assert.match(all.stdout, /^test split, 2 queries:/m);
    });
  });
});
