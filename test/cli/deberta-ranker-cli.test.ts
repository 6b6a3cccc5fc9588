/**
 * `md2pr train-ranker --ranker-arch deberta-v2 --ranker-base DIR` on a toy BEIR set: a tiny random DeBERTa-v3
 * cross-encoder with the SentencePiece fixture tokenizer trains with the BM25 lexical prior, is saved in HF's
 * layout with its tokenizer, and is reused by a second run; `train` distils the WordPiece retriever from it (every
 * MD2PR term, its word level pooled onto shared words) and evaluates with it; `train --stage eval` reloads it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { makeDebertaV2Config } from "../../src/models/deberta-config.ts";
import { DebertaCrossEncoder } from "../../src/models/deberta-cross-encoder.ts";
import { SentencePieceTokenizer } from "../../src/models/tokenizer/sentencepiece.ts";
import { TOY_TOPICS, toyBeir } from "../helpers/toy.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(root, "bin", "md2pr.js");
const vocab = existsSync(join(root, "data/vocab/bert-base-uncased-vocab.txt"))
  ? join(root, "data/vocab/bert-base-uncased-vocab.txt")
  : join(root, "../shared/data/vocab/bert-base-uncased-vocab.txt");

function md2pr(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, CI: "true", MD2PR_NUM_THREADS: "1" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("md2pr train-ranker --ranker-arch deberta-v2", () => {
  it("trains a toy DeBERTa ranker from --ranker-base, saves it with its tokenizer, reranks with it, reuses it, and teaches the retriever with it", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "md2pr-deberta-cli-"));
    try {
      const data = toyBeir(join(tmp, "toy"));
      // the base: a tiny random DeBERTa-v3 classifier plus the SciFact SentencePiece fixture
      const base = join(tmp, "deberta-base");
      const tokenizer = SentencePieceTokenizer.fromDirectory(new URL("../fixtures/spm-scifact/", import.meta.url).pathname);
      DebertaCrossEncoder.random(makeDebertaV2Config({
        vocabSize: tokenizer.vocabSize, hiddenSize: 16, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 32,
        maxPositionEmbeddings: 64, relativeAttention: true, positionBuckets: 8, maxRelativePositions: 32, posAttType: ["p2c", "c2p"],
        shareAttKey: true, normRelEbd: ["layer_norm"], positionBiasedInput: false,
      }), 1).save(base);
      tokenizer.save(base);
      const out = join(tmp, "run");
      const args = [
        "--data", data, "--out", out, "--base", "none", "--ranker-arch", "deberta-v2", "--ranker-base", base,
        "--ranker-steps", "4", "--batch-size", "2", "--negatives", "2", "--dev-queries", "2", "--mined-negatives", "3",
        "--max-query-length", "12", "--max-passage-length", "24", "--max-pair-length", "36", "--checkpoint-every", "0",
      ];
      const first = await md2pr(["train-ranker", ...args]);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /ranker \(deberta-v2\): .*ranker; dev \(BM25 top \d+ reranked\) ndcg@10 \d\.\d{4}/);
      for (const f of ["config.json", "model.safetensors", "spm.model", "tokenizer_config.json"]) assert.ok(existsSync(join(out, "ranker", f)), `wrote ${f}`);
      const config = JSON.parse(readFileSync(join(out, "ranker", "config.json"), "utf8")) as Record<string, unknown>;
      assert.equal(config.model_type, "deberta-v2");
      const trained = DebertaCrossEncoder.load(join(out, "ranker"));
      assert.ok(trained.lexicalWeight, "the BM25 lexical prior is on by default");
      assert.notEqual(trained.lexicalWeight.data[0], 1, "lambda moved from its initial 1");
      // md2pr rerank with the DeBERTa ranker (its own tokenizer, BM25 built for the lexical prior)
      const firstRun = join(tmp, "first.trec");
      writeFileSync(firstRun, [6, 7].flatMap((q) => [`q${q} Q0 x${q} 1 2.0 bm25`, `q${q} Q0 d${q} 2 1.0 bm25`, `q${q} Q0 d0 3 0.5 bm25`]).join("\n") + "\n");
      const reranked = join(tmp, "rerank.trec");
      const rr = await md2pr(["rerank", "--ranker", join(out, "ranker"), "--corpus", join(data, "corpus.jsonl"), "--queries", join(data, "queries.jsonl"), "--run", firstRun, "--out", reranked, "--max-query-length", "12", "--max-passage-length", "24", "--max-pair-length", "36"]);
      assert.equal(rr.code, 0, rr.stderr);
      const lines = readFileSync(reranked, "utf8").trim().split("\n");
      assert.equal(lines.length, 6);
      assert.ok(lines.every((l) => /^q[67] Q0 [dx]\d \d+ -?\d/.test(l)), lines.join("\n"));
      const again = await md2pr(["train-ranker", ...args]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /ranker \(deberta-v2\)/);
      const teacher = await md2pr(["train", ...args, "--retriever-steps", "2", "--self-supervised-steps", "0", "--beta", "1", "--hidden", "16", "--layers", "1", "--heads", "2", "--intermediate", "32", "--vocab", vocab]);
      assert.equal(teacher.code, 0, teacher.stderr);
      assert.match(teacher.stderr, /retriever: .*retriever; dev ndcg@10 \d\.\d{4}/);
      const log = readFileSync(join(out, "work", "retriever", "train-log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
      assert.equal(log.length, 2);
      for (const key of ["l_c", "l_sent", "l_att", "l_hid", "masked_fraction", "loss"]) assert.ok(log.every((r) => Number.isFinite(r[key])), `${key} logged every step`);
      const systems = (JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as { system: string; ndcg10: number }[]).map((r) => r.system);
      assert.deepEqual(systems, ["bm25", "retriever", "hybrid", "retriever+rerank", "hybrid+rerank", "bm25+rerank"]);
      const evalAgain = await md2pr(["train", "--stage", "eval", ...args, "--vocab", vocab]);
      assert.equal(evalAgain.code, 0, evalAgain.stderr);
      assert.ok(existsSync(join(out, "runs", "hybrid+rerank.trec")));
      const noBase = await md2pr(["train-ranker", ...args.filter((a, i) => a !== "--ranker-base" && args[i - 1] !== "--ranker-base"), "--out", join(tmp, "run2")]);
      assert.equal(noBase.code, 1);
      assert.match(noBase.stderr, /needs --ranker-base DIR/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("md2pr pretrain --arch deberta-v2 --spm-model FILE writes a DeBERTa MLM base that --ranker-base starts a ranker from", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "md2pr-deberta-pretrain-cli-"));
    try {
      const data = join(tmp, "toy");
      mkdirSync(join(data, "qrels"), { recursive: true });
      writeFileSync(join(data, "corpus.jsonl"), TOY_TOPICS.map(([t, x], i) => JSON.stringify({ _id: `d${i}`, title: t, text: x })).join("\n") + "\n");
      writeFileSync(join(data, "queries.jsonl"), TOY_TOPICS.map(([t], i) => JSON.stringify({ _id: `q${i}`, text: `what is known about ${t}` })).join("\n") + "\n");
      const qrels = (ids: number[]): string => `query-id\tcorpus-id\tscore\n${ids.map((i) => `q${i}\td${i}\t1\n`).join("")}`;
      writeFileSync(join(data, "qrels", "train.tsv"), qrels([0, 1, 2, 3, 4, 5]));
      writeFileSync(join(data, "qrels", "test.tsv"), qrels([6, 7]));
      const spm = fileURLToPath(new URL("../fixtures/spm-scifact/spm.model", import.meta.url));
      const base = join(tmp, "deberta-base");
      const sizes = ["--hidden", "16", "--layers", "1", "--heads", "2", "--intermediate", "32", "--max-length", "24", "--batch-size", "4"];
      const refused = await md2pr(["pretrain", "--arch", "deberta-v2", "--data", data, "--out", base, "--steps", "2", ...sizes]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /--arch deberta-v2 needs --spm-model/);
      assert.ok(!existsSync(base), "no output folder is left");
      const pre = await md2pr(["pretrain", "--arch", "deberta-v2", "--spm-model", spm, "--data", data, "--out", base, "--steps", "3",
        "--position-buckets", "8", "--max-relative-positions", "32", "--checkpoint-every", "0", ...sizes]);
      assert.equal(pre.code, 0, pre.stderr);
      assert.match(pre.stderr, /pretrain: final MLM loss \d+\.\d{4}/);
      const config = JSON.parse(readFileSync(join(base, "config.json"), "utf8")) as Record<string, unknown>;
      assert.equal(config.model_type, "deberta-v2");
      assert.deepEqual(config.architectures, ["DebertaV2ForMaskedLM"]);
      assert.equal(config.position_buckets, 8);
      assert.equal(config.hidden_size, 16);
      assert.ok(existsSync(join(base, "spm.model")));
      const ranker = await md2pr(["train-ranker", "--data", data, "--out", join(tmp, "run"), "--base", "none", "--ranker-arch", "deberta-v2",
        "--ranker-base", base, "--ranker-steps", "2", "--batch-size", "2", "--negatives", "2", "--dev-queries", "2", "--mined-negatives", "3",
        "--max-query-length", "12", "--max-passage-length", "24", "--max-pair-length", "36", "--checkpoint-every", "0"]);
      assert.equal(ranker.code, 0, ranker.stderr);
      assert.match(ranker.stderr, /ranker \(deberta-v2\)/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
