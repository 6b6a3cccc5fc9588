/**
 * Bad inputs through the CLI: every one exits 1 with `md2pr <command>: ` and a message naming the option, file, line
 * or key path, and no stack trace; what was at an --out md2pr did not write is still there afterwards.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { md2pr, ok, refused, tempLeftovers, toyBeir, toyRetrieverFolder } from "./helpers.ts";

let tmp = "";
let data = "";
before(() => {
  tmp = mkdtempSync(join(tmpdir(), "md2pr-bad-"));
  data = toyBeir(join(tmp, "toy"));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("bad settings are refused by the one schema, from flags and config files alike", () => {
  it("negative steps, a negative learning rate, a bad enum in a file, a length of 1, an unknown key", async () => {
    const badFile = join(tmp, "bad.json");
    writeFileSync(badFile, JSON.stringify({ retriever: { pooling: "max", steps: -5 } }));
    const unknownFile = join(tmp, "unknown.json");
    writeFileSync(unknownFile, `\ufeff${JSON.stringify({ ranker: { step: 3 } })}`);
    const [steps, lr, file, len, unknown, pre, neg] = await Promise.all([
      md2pr(["train", "--retriever-steps", "-5", "--print-config"]),
      md2pr(["train", "--ranker-lr", "-1", "--print-config"]),
      md2pr(["train", "--config", badFile, "--print-config"]),
      md2pr(["train", "--max-query-length", "1", "--print-config"]),
      md2pr(["train-ranker", "--config", unknownFile, "--print-config"]),
      md2pr(["pretrain", "--batch-size", "0", "--print-config"]),
      md2pr(["train", "--alpha", "-0.5", "--print-config"]),
    ]);
    refused(steps, "train", /--retriever-steps \(retriever\.steps\): must be >= 0, got -5/);
    refused(lr, "train", /--ranker-lr \(ranker\.learningRate\): must be > 0, got -1/);
    const line = refused(file, "train", /retriever\.pooling': expected one of "cls", "mean", got "max"/);
    assert.ok(line.includes(badFile), "names the file");
    assert.match(line, /retriever\.steps': must be >= 0, got -5/);
    refused(len, "train", /--max-query-length \(lengths\.maxQueryLength\): must be >= 2, got 1/);
    refused(unknown, "train-ranker", /unknown setting 'ranker\.step'/);
    refused(pre, "pretrain", /--batch-size \(batchSize\): must be >= 1, got 0/);
    refused(neg, "train", /--alpha \(retriever\.md2pr\.alpha\): must be >= 0, got -0\.5/);
  });

  it("a dev split that leaves nothing to train on, or no dev queries, is refused with the counts", async () => {
    const [tooMany, none] = await Promise.all([
      md2pr(["train-ranker", "--data", data, "--out", join(tmp, "dev-100"), "--base", "none", "--dev-queries", "100"]),
      md2pr(["train-ranker", "--data", data, "--out", join(tmp, "dev-0"), "--base", "none", "--dev-queries", "0"]),
    ]);
    refused(tooMany, "train-ranker", /the train split has 6 judged queries; devQueries 100 leaves 0 to train on and 6 for dev/);
    refused(none, "train-ranker", /--dev-queries \(devQueries\): must be >= 1, got 0/);
    assert.ok(!existsSync(join(tmp, "dev-100")) && !existsSync(join(tmp, "dev-0")), "no output folder left by a refused run");
  });
});

describe("--out never replaces what md2pr did not write", () => {
  it("a folder of other files, a file where a folder goes, a folder where a run file goes, a file that is not a run", async () => {
    const corpus = join(data, "corpus.jsonl");
    const userDir = join(tmp, "mine");
    mkdirSync(userDir);
    writeFileSync(join(userDir, "notes.txt"), "keep me");
    const userFile = join(tmp, "thesis.txt");
    writeFileSync(userFile, "keep me too");
    const runDir = join(tmp, "rundir");
    mkdirSync(runDir);
    const bm25 = join(tmp, "bm25");
    ok(await md2pr(["bm25", "--corpus", corpus, "--out", bm25]), "bm25");
    const queries = join(data, "queries.jsonl");
    const [dirOut, fileOut, runIsDir, runIsText, trainInto] = await Promise.all([
      md2pr(["bm25", "--corpus", corpus, "--out", userDir]),
      md2pr(["bm25", "--corpus", corpus, "--out", userFile]),
      md2pr(["search", "--bm25", bm25, "--queries", queries, "--out", runDir]),
      md2pr(["search", "--bm25", bm25, "--queries", queries, "--out", userFile]),
      md2pr(["train", "--data", data, "--out", userDir, "--base", "none"]),
    ]);
    refused(dirOut, "bm25", /--out .*mine: holds files md2pr did not write \(notes\.txt\).*--overwrite/);
    refused(fileOut, "bm25", /--out .*thesis\.txt: is an existing file, not a bm25-index folder/);
    refused(runIsDir, "search", /--out .*rundir: is a folder; give the path of the TREC run file/);
    refused(runIsText, "search", /--out .*thesis\.txt: is an existing file that is not a TREC run/);
    refused(trainInto, "train", /--out .*mine: holds files md2pr did not write/);
    assert.equal(readFileSync(join(userDir, "notes.txt"), "utf8"), "keep me");
    assert.deepEqual(readdirSync(userDir), ["notes.txt"]);
    assert.equal(readFileSync(userFile, "utf8"), "keep me too");
    assert.deepEqual(readdirSync(runDir), [], "no temporary file left in the folder");
    assert.deepEqual(tempLeftovers(tmp), [], "no temporary files or locks left");
    // md2pr's own output is rebuilt in place; --overwrite replaces a folder of other files.
    ok(await md2pr(["bm25", "--corpus", corpus, "--out", bm25]), "bm25 rebuilt");
    ok(await md2pr(["bm25", "--corpus", corpus, "--out", userDir, "--overwrite"]), "bm25 --overwrite");
    assert.ok(existsSync(join(userDir, "meta.json")) && !existsSync(join(userDir, "notes.txt")));
  });

  it("an index of one kind is not replaced by another kind", async () => {
    const corpus = join(data, "corpus.jsonl");
    const model = join(tmp, "retriever-a");
    toyRetrieverFolder(model, 1);
    const dense = join(tmp, "dense-a");
    ok(await md2pr(["encode", "--model", model, "--corpus", corpus, "--out", dense]), "encode");
    refused(await md2pr(["bm25", "--corpus", corpus, "--out", dense]), "bm25", /holds a dense-index, not a bm25-index/);
    assert.ok(existsSync(join(dense, "index.json")));
  });
});

describe("inputs people have", () => {
  it("a UTF-8 BOM is accepted; invalid UTF-8 is reported with file:line", async () => {
    const bomData = toyBeir(join(tmp, "bom"));
    const corpusFile = join(bomData, "corpus.jsonl");
    writeFileSync(corpusFile, `\ufeff${readFileSync(corpusFile, "utf8")}`);
    const qrels = join(bomData, "qrels", "test.tsv");
    writeFileSync(qrels, `\ufeff${readFileSync(qrels, "utf8")}`);
    const badData = toyBeir(join(tmp, "latin1"));
    const badCorpus = join(badData, "corpus.jsonl");
    const lines = readFileSync(badCorpus, "utf8").split("\n");
    writeFileSync(badCorpus, Buffer.concat([Buffer.from(lines.slice(0, 2).join("\n") + "\n"), Buffer.from('{"_id": "z", "text": "caf', "utf8"), Buffer.from([0xe9]), Buffer.from('"}\n'), Buffer.from(lines.slice(2).join("\n"))]));
    const [bom, bad] = await Promise.all([
      md2pr(["bm25", "--corpus", corpusFile, "--out", join(tmp, "bm25-bom")]),
      md2pr(["bm25", "--corpus", badCorpus, "--out", join(tmp, "bm25-latin1")]),
    ]);
    ok(bom, "bm25 of a corpus with a BOM");
    refused(bad, "bm25", new RegExp(`${badCorpus.replace(/[.]/g, "\\.")}:3: invalid UTF-8 at byte 25`));
    assert.ok(!existsSync(join(tmp, "bm25-latin1")), "nothing written");
    const run = join(tmp, "bom.trec");
    ok(await md2pr(["search", "--bm25", join(tmp, "bm25-bom"), "--queries", join(bomData, "queries.jsonl"), "--qrels", qrels, "--out", run]), "search with BOM qrels");
    assert.equal(new Set(readFileSync(run, "utf8").trim().split("\n").map((l) => l.split(" ")[0])).size, 2, "both judged queries (the BOM is not part of the first id)");
  });
});
