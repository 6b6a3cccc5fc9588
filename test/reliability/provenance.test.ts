/**
 * Provenance: artifacts used with partners they were not made from are refused, naming both sides and the command
 * that rebuilds; a resumed run under other settings is refused unless --force-resume (which says what changed); a
 * rerun that would reuse a stage folder made with other settings is refused.
 */
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Tensor } from "../../src/engine/tensor.ts";
import { mse } from "../../src/engine/ops/loss.ts";
import { runTrainingLoop, type TrainableStage } from "../../src/training/loop.ts";
import { readArtifact } from "../../src/util/provenance.ts";
import { md2pr, ok, refused, tinyFlags, toyBeir, toyRankerFolder, toyRetrieverFolder, vocabFile } from "./helpers.ts";

let tmp = "";
let data = "";
before(() => {
  tmp = mkdtempSync(join(tmpdir(), "md2pr-prov-"));
  data = toyBeir(join(tmp, "toy"));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("indexes know their model and corpus", () => {
  it("search, encode, rerank and hybrid refuse partners the artifacts were not made from", async () => {
    const corpus = join(data, "corpus.jsonl");
    const queries = join(data, "queries.jsonl");
    const other = toyBeir(join(tmp, "other"), (id, t, x) => [t, id === "d3" ? `${x} and more` : x]);
    const otherCorpus = join(other, "corpus.jsonl");
    const [a, b, ranker] = [join(tmp, "retriever-a"), join(tmp, "retriever-b"), join(tmp, "ranker")];
    toyRetrieverFolder(a, 1);
    toyRetrieverFolder(b, 2);
    toyRankerFolder(ranker, 3);
    const index = join(tmp, "index-a");
    const bm25Other = join(tmp, "bm25-other");
    const [enc, bm] = await Promise.all([
      md2pr(["encode", "--model", a, "--corpus", corpus, "--out", index]),
      md2pr(["bm25", "--corpus", otherCorpus, "--out", bm25Other]),
    ]);
    ok(enc, "encode");
    ok(bm, "bm25");
    const record = readArtifact(index)!;
    assert.equal(record.kind, "dense-index");
    assert.match(record.madeFrom.model!, /^sha256:/);
    assert.match(record.madeFrom.corpus!, /^sha256:/);
    // The same model with a different tokenizer is a different model.
    const aRetok = join(tmp, "retriever-a-retok");
    cpSync(a, aRetok, { recursive: true });
    const vocab = readFileSync(join(aRetok, "vocab.txt"), "utf8").split("\n");
    [vocab[200], vocab[201]] = [vocab[201]!, vocab[200]!];
    writeFileSync(join(aRetok, "vocab.txt"), vocab.join("\n"));
    rmSync(join(aRetok, "tokenizer.json"));

    // (the two encodes into one index run one after the other: a second writer would be refused by the lock)
    const wrongCorpus = await md2pr(["encode", "--model", a, "--corpus", otherCorpus, "--out", index]);
    const [wrongModel, reencodeRetok, hybrid, rankerIsRetriever] = await Promise.all([
      md2pr(["search", "--model", b, "--index", index, "--queries", queries, "--out", join(tmp, "b.trec")]),
      md2pr(["encode", "--model", aRetok, "--corpus", corpus, "--out", index]),
      md2pr(["search", "--model", a, "--index", index, "--bm25", bm25Other, "--queries", queries, "--out", join(tmp, "h.trec")]),
      md2pr(["rerank", "--ranker", a, "--corpus", corpus, "--queries", queries, "--run", join(tmp, "none.trec"), "--out", join(tmp, "r.trec")]),
    ]);
    // search --model b --index (made with a): both sides named, and the rebuild command
    const line = refused(wrongModel, "search", /index-a was made from model sha256:[0-9a-f]+, but the retriever .*retriever-b is sha256:[0-9a-f]+/);
    assert.match(line, /md2pr encode --model .*retriever-b/);
    refused(wrongCorpus, "encode", /index-a was made from corpus sha256:[0-9a-f]+, but the corpus given is sha256:/);
    refused(reencodeRetok, "encode", /index-a was made from model sha256:[0-9a-f]+, but the model given is sha256:/);
    refused(hybrid, "search", /was made from corpus sha256:[0-9a-f]+, but bm25-index .*bm25-other from corpus sha256:[0-9a-f]+; they cannot be fused/);
    refused(rankerIsRetriever, "rerank", /retriever-a holds a retriever, not a ranker/);
    // the right partners pass
    ok(await md2pr(["search", "--model", a, "--index", index, "--queries", queries, "--out", join(tmp, "a.trec")]), "search with the index's model");
    ok(await md2pr(["rerank", "--ranker", ranker, "--corpus", corpus, "--queries", queries, "--run", join(tmp, "a.trec"), "--depth", "3", "--out", join(tmp, "ar.trec")]), "rerank");
  });
});

/** A one-parameter stage whose loss pulls w to 3 (deterministic, instant). */
function toyStage(): TrainableStage & { w: Tensor } {
  const w = new Tensor(new Float32Array([0]), [1], true, "w");
  return {
    w,
    params: new Map([["w", w]]),
    microStep: () => {
      const loss = mse(w, new Tensor(new Float32Array([3]), [1]));
      return { loss, terms: { loss: loss.item() }, items: 1 };
    },
  };
}

describe("resume checks the settings", () => {
  it("a checkpoint resumed with another learning rate or batch size is refused; --force-resume says what changed", async () => {
    const out = join(tmp, "loop");
    const base = { outputDir: out, steps: 6, gradientAccumulation: 1, learningRate: 0.1, warmupSteps: 0, weightDecay: 0, maxGradNorm: 0, seed: 1, checkpointEvery: 2, evalEvery: 0, resume: true, label: "toy", settings: { batchSize: 4 } };
    await runTrainingLoop(toyStage(), { ...base, stopAfter: 2 });
    await assert.rejects(runTrainingLoop(toyStage(), { ...base, learningRate: 0.2 }), /toy: the checkpoint in .*checkpoint was made with other settings \(loop\.learningRate: 0\.1 -> 0\.2\).*--force-resume/);
    await assert.rejects(runTrainingLoop(toyStage(), { ...base, settings: { batchSize: 8 } }), /stage\.batchSize: 4 -> 8/);
    const forced = toyStage();
    const r = await runTrainingLoop(forced, { ...base, settings: { batchSize: 8 }, forceResume: true });
    assert.equal(r.steps, 6);
    // the same settings resume silently and match an uninterrupted run
    const again = join(tmp, "loop2");
    const whole = toyStage();
    await runTrainingLoop(whole, { ...base, outputDir: again });
    const resumedOut = join(tmp, "loop3");
    await runTrainingLoop(toyStage(), { ...base, outputDir: resumedOut, stopAfter: 3 });
    const resumed = toyStage();
    await runTrainingLoop(resumed, { ...base, outputDir: resumedOut });
    assert.equal(resumed.w.data[0], whole.w.data[0]);
  });

  it("train-ranker: a rerun with other ranker settings refuses to reuse the ranker folder, or to resume its checkpoint", async () => {
    const out = join(tmp, "run");
    const args = ["train-ranker", "--data", data, "--out", out, ...tinyFlags(4, 2)];
    ok(await md2pr(args), "train-ranker");
    const record = readArtifact(join(out, "ranker"))!;
    assert.equal(record.kind, "ranker");
    assert.equal((record.madeFrom.settings as { ranker: { steps: number } }).ranker.steps, 4);
    // the mined negatives and the BM25 index of the run are not reused under other settings either
    refused(await md2pr(["mine", "--data", data, "--out", out, ...tinyFlags(4, 2), "--mined-negatives", "2"]), "mine", /train-bm25\.jsonl was mined with other inputs than this run's \(minedNegatives: 3 -> 2\)/);
    refused(await md2pr(["mine", "--data", data, "--out", out, ...tinyFlags(4, 2), "--k1", "1.2"]), "mine", /bm25 was built from other inputs than this run's \(bm25\.k1: 0\.9 -> 1\.2\)/);
    refused(await md2pr([...args, "--ranker-steps", "6"]), "train-ranker", /ranker was made with other inputs than this run's \(ranker\.steps: 4 -> 6; ranker\.warmupSteps: 0 -> 1\)/);
    // an interrupted run (no ranker folder yet, a checkpoint in work/ranker) resumed with another learning rate
    rmSync(join(out, "ranker"), { recursive: true });
    refused(await md2pr([...args, "--ranker-lr", "0.5"]), "train-ranker", /the checkpoint in .*work.ranker.checkpoint was made with other settings \(loop\.learningRate: 0\.001 -> 0\.5; stage\.ranker\.learningRate: 0\.001 -> 0\.5\)/);
    const forced = await md2pr([...args, "--ranker-lr", "0.5", "--force-resume"]);
    ok(forced, "--force-resume");
    assert.match(forced.stderr, /--force-resume: continuing .* under changed settings \(loop\.learningRate: 0\.001 -> 0\.5;/);
  });
});

describe("a stage folder knows its base model", () => {
  it("after the base is pretrained again, train-ranker refuses to reuse the ranker made from the old base", async () => {
    const base = join(tmp, "base");
    const pretrain = (seed: string, ...more: string[]): string[] => ["pretrain", "--data", data, "--out", base, "--vocab", vocabFile, "--hidden", "16", "--layers", "1",
      "--heads", "2", "--intermediate", "32", "--steps", "2", "--batch-size", "4", "--max-length", "16", "--warmup-steps", "1", "--seed", seed, ...more];
    ok(await md2pr(pretrain("1")), "pretrain");
    const before = readArtifact(base)!;
    assert.equal(before.kind, "base-model");
    const out = join(tmp, "run-base");
    const args = ["train-ranker", "--data", data, "--out", out, ...tinyFlags(2, 0), "--base", base]; // the last --base wins
    ok(await md2pr(args), "train-ranker from the base");
    assert.equal(readArtifact(join(out, "ranker"))!.madeFrom.inputs!.base, before.fingerprint);
    // the same base pretrained again under another seed: resuming its checkpoint is refused, --no-resume retrains it
    refused(await md2pr(pretrain("2")), "pretrain", /loop\.seed: 1 -> 2/);
    ok(await md2pr(pretrain("2", "--no-resume")), "pretrain again");
    assert.notEqual(readArtifact(base)!.fingerprint, before.fingerprint);
    refused(await md2pr(args), "train-ranker", /ranker was made with other inputs than this run's \(base model .*base: sha256:[0-9a-f]+ -> sha256:[0-9a-f]+\)/);
  });
});

