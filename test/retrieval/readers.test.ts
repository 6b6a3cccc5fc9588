import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import {
  collect, DataFormatError, loadBeir, loadQrels, loadQueries, parsePythonStringList, readBeirCorpus, readBeirQrels, readBeirQueries,
  readDprPassages, readDprQaTopics, readMsMarcoCollection, readTrecQrels, readTriples, readTsvQueries,
} from "../../src/retrieval/readers.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const shared = path.resolve(repo, "../shared/data");
const haveShared = existsSync(shared);
const tmp = mkdtempSync(path.join(tmpdir(), "md2pr-readers-"));

function tmpFile(name: string, content: string): string {
  const f = path.join(tmp, name);
  writeFileSync(f, content);
  return f;
}

async function rejectsAt(p: Promise<unknown>, file: string, line: number, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof Error, "an Error");
    assert.ok(e.message.startsWith(`${file}:${line}:`), `message names ${file}:${line}: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

test("loadBeir reads the shipped SciFact test and train splits", async () => {
  const dir = path.join(repo, "data/scifact");
  const ds = await loadBeir(dir, "test");
  assert.equal(ds.corpus.size, 5183);
  assert.equal(ds.queries.size, 300);
  let pairs = 0;
  for (const m of ds.qrels.values()) pairs += m.size;
  assert.equal(pairs, 339);
  assert.equal(ds.queries.get("1"), "0-dimensional biomaterials show inductive properties.");
  assert.deepEqual(ds.qrels.get("1"), new Map([["31715818", 1]]));
  const doc = ds.corpus.get("4983")!;
  assert.match(doc.title, /^Microstructural development of human newborn/);
  const train = await loadBeir(dir, "train");
  assert.equal(train.queries.size, 809);
  let trainPairs = 0;
  for (const m of train.qrels.values()) trainPairs += m.size;
  assert.equal(trainPairs, 919);
  const all = await loadBeir(dir, "test", { onlyJudgedQueries: false });
  assert.equal(all.queries.size, 1109);
});

test("streaming BEIR readers yield records one by one", async () => {
  let n = 0;
  for await (const d of readBeirCorpus(path.join(repo, "data/scifact/corpus.jsonl"))) {
    assert.ok(d.id.length > 0 && d.text.length > 0);
    n++;
  }
  assert.equal(n, 5183);
  assert.equal((await collect(readBeirQueries(path.join(repo, "data/scifact/queries.jsonl")))).length, 1109);
  assert.equal((await collect(readBeirQrels(path.join(repo, "data/scifact/qrels/test.tsv")))).length, 339);
});

test("MS MARCO dev topics and qrels, TREC DL 2019 files", { skip: !haveShared && "../shared/data absent" }, async () => {
  const topics = await collect(readTsvQueries(path.join(shared, "msmarco/topics.msmarco-passage.dev-subset.txt")));
  assert.equal(topics.length, 6980);
  assert.deepEqual(topics[0], { id: "1048585", text: "what is paula deen's brother" });
  assert.deepEqual(topics[1], { id: "2", text: "Androgen receptor define" }); // leading space trimmed
  const qrels = await collect(readTrecQrels(path.join(shared, "msmarco/qrels.msmarco-passage.dev-subset.txt")));
  assert.equal(qrels.length, 7437);
  assert.deepEqual(qrels[0], { queryId: "300674", docId: "7067032", rel: 1 });
  const tmap = await loadQueries(path.join(shared, "msmarco/topics.msmarco-passage.dev-subset.txt"));
  assert.equal(tmap.get("1048585"), "what is paula deen's brother");
  assert.equal((await loadQueries(path.join(repo, "data/scifact/queries.jsonl"))).size, 1109);
  const qmap = await loadQrels(path.join(shared, "msmarco/qrels.msmarco-passage.dev-subset.txt"), "trec", {
    queryIds: new Set(topics.map((t) => t.id)),
  });
  assert.equal(qmap.size, 6980);

  const dlTopics = await collect(readTsvQueries(path.join(shared, "msmarco/dl19/topics.dl19-passage.txt")));
  assert.equal(dlTopics.length, 43);
  const dlQrels = await collect(readTrecQrels(path.join(shared, "msmarco/dl19/qrels.dl19-passage.txt")));
  assert.equal(dlQrels.length, 9260);
  const grades = new Map<number, number>();
  for (const q of dlQrels) grades.set(q.rel, (grades.get(q.rel) ?? 0) + 1);
  assert.deepEqual([...grades.entries()].sort(), [[0, 5158], [1, 1601], [2, 1804], [3, 697]]);
  const coll = await collect(readMsMarcoCollection(path.join(shared, "msmarco/dl19/dl19-judged-rel-collection.tsv")));
  assert.equal(coll.length, 4103);
  assert.equal(coll[0]!.id, "1729");
  assert.match(coll[0]!.text, /^Graduate Study in Anthropology/);
});

test("NQ DPR topics: python list answers parsed without eval, CSV quoting and CRLF handled", { skip: !haveShared && "../shared/data absent" }, async () => {
  const topics = await collect(readDprQaTopics(path.join(shared, "nq/topics.dpr.nq.test.txt")));
  assert.equal(topics.length, 3610);
  assert.deepEqual(topics[0], { question: "who got the first nobel prize in physics", answers: ["Wilhelm Conrad Röntgen"] });
  assert.deepEqual(topics[36]!.answers, ["Solange Knowles", "Destiny 's Child"]);
  assert.deepEqual(topics[1975]!.answers, ["Algeria", "Angola", "Angola \u200e", "Algeria \u200e"]);
  for (const t of topics) assert.ok(t.answers.length > 0 && !t.question.endsWith("\r"));
});

test("parsePythonStringList", () => {
  assert.deepEqual(parsePythonStringList("[]"), []);
  assert.deepEqual(parsePythonStringList(`['a', "b's", 'c\\'d', 'x\\\\y',]`), ["a", "b's", "c'd", "x\\y"]);
  assert.deepEqual(parsePythonStringList(`[u'caf\\xe9', '\\u00e9\\U0001F600', 'a' 'b', r'\\n']`), ["café", "é😀", "ab", "\\n"]);
  assert.deepEqual(parsePythonStringList(`['tab\\there', '\\101']`), ["tab\there", "A"]);
  assert.throws(() => parsePythonStringList("['a'"), /expected ',' or '\]'|unterminated/);
  assert.throws(() => parsePythonStringList("['a', __import__('os')]"), /expected a string/);
  assert.throws(() => parsePythonStringList("['a'] + ['b']"), /trailing/);
  assert.throws(() => parsePythonStringList("[1, 2]"), /expected a string/);
});

test("MS MARCO triples (text and id forms) and DPR passages", async () => {
  const f = tmpFile("triples.tsv", "what is x\tx is a letter\ty is a letter\n1\t2\t3\n");
  const t = await collect(readTriples(f));
  assert.deepEqual(t, [
    { form: "text", query: "what is x", pos: "x is a letter", neg: "y is a letter" },
    { form: "ids", queryId: "1", posId: "2", negId: "3" },
  ]);
  await rejectsAt(collect(readTriples(tmpFile("tr2.tsv", "1\t2\t3\nq\tp\n"))), path.join(tmp, "tr2.tsv"), 2, /expected 3/);
  await rejectsAt(collect(readTriples(tmpFile("tr3.tsv", "q\tp\tn\n"), { form: "ids" })), path.join(tmp, "tr3.tsv"), 1, /integer ids/);
  const p = tmpFile("psgs.tsv", 'id\ttext\ttitle\n1\t"Aaron is a ""prophet"""\tAaron\n2\tplain text\tB\n');
  assert.deepEqual(await collect(readDprPassages(p)), [
    { id: "1", text: 'Aaron is a "prophet"', title: "Aaron" },
    { id: "2", text: "plain text", title: "B" },
  ]);
});

test("malformed files raise errors naming file and line", async () => {
  const c1 = tmpFile("c1.jsonl", '{"_id":"a","title":"","text":"x"}\n{"_id":"b","text":\n');
  await rejectsAt(collect(readBeirCorpus(c1)), c1, 2, /malformed JSON/);
  const c2 = tmpFile("c2.jsonl", '{"_id":"a","title":"t"}\n');
  await rejectsAt(collect(readBeirCorpus(c2)), c2, 1, /missing field "text"/);
  const c3 = tmpFile("c3.jsonl", '\n{"title":"t","text":"x"}\n');
  await rejectsAt(collect(readBeirCorpus(c3)), c3, 2, /missing field "_id"/);
  const c4 = tmpFile("c4.jsonl", '["a"]\n');
  await rejectsAt(collect(readBeirCorpus(c4)), c4, 1, /JSON object/);
  const q1 = tmpFile("q1.jsonl", '{"_id":"1","text":"ok"}\n{"_id":"2","text":"   "}\n');
  await rejectsAt(collect(readBeirQueries(q1)), q1, 2, /empty text/);
  const r1 = tmpFile("r1.tsv", "query-id\tcorpus-id\tscore\n1\ta\t1\n1\tb\n");
  await rejectsAt(collect(readBeirQrels(r1)), r1, 3, /3 tab-separated/);
  const r2 = tmpFile("r2.tsv", "query-id\tcorpus-id\tscore\n1\ta\thigh\n");
  await rejectsAt(collect(readBeirQrels(r2)), r2, 2, /not an integer/);
  const t1 = tmpFile("t1.tsv", "1\thello\n2\t\n");
  await rejectsAt(collect(readTsvQueries(t1)), t1, 2, /empty text/);
  const m1 = tmpFile("m1.tsv", "1\thello\n2 no tab\n");
  await rejectsAt(collect(readMsMarcoCollection(m1)), m1, 2, /2 tab-separated fields, got 1/);
  const tq = tmpFile("tq.txt", "1 0 d1 1\n1 0 d2\n");
  await rejectsAt(collect(readTrecQrels(tq)), tq, 2, /TREC qrels/);
  const nq = tmpFile("nq.txt", "q1\t['a']\nq2\t['a', b]\n");
  await rejectsAt(collect(readDprQaTopics(nq)), nq, 2, /python list literal/);
  await assert.rejects(collect(readBeirCorpus(c1)), DataFormatError);
});

test("loadBeir: qrels naming unknown queries or documents, duplicate ids", async () => {
  const make = (name: string, corpus: string, queries: string, qrels: string): string => {
    const d = path.join(tmp, name);
    mkdirSync(path.join(d, "qrels"), { recursive: true });
    writeFileSync(path.join(d, "corpus.jsonl"), corpus);
    writeFileSync(path.join(d, "queries.jsonl"), queries);
    writeFileSync(path.join(d, "qrels/test.tsv"), qrels);
    return d;
  };
  const corpus = '{"_id":"d1","title":"T","text":"x"}\n{"_id":"d2","title":"","text":"y"}\n';
  const queries = '{"_id":"q1","text":"x?"}\n{"_id":"q2","text":"y?"}\n';
  const ok = make("ok", corpus, queries, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\n");
  const ds = await loadBeir(ok, "test");
  assert.equal(ds.corpus.size, 2);
  assert.deepEqual(ds.qrels.get("q2"), new Map([["d2", 2]]));
  const badDoc = make("baddoc", corpus, queries, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td9\t1\n");
  await rejectsAt(loadBeir(badDoc, "test"), path.join(badDoc, "qrels/test.tsv"), 3, /unknown document id "d9"/);
  const badQ = make("badq", corpus, queries, "query-id\tcorpus-id\tscore\nq7\td1\t1\n");
  await rejectsAt(loadBeir(badQ, "test"), path.join(badQ, "qrels/test.tsv"), 2, /unknown query id "q7"/);
  const dupDoc = make("dup", corpus + '{"_id":"d1","title":"","text":"z"}\n', queries, "query-id\tcorpus-id\tscore\n");
  await rejectsAt(loadBeir(dupDoc, "test"), path.join(dupDoc, "corpus.jsonl"), 3, /duplicate document id "d1"/);
  await assert.rejects(loadBeir(ok, "dev"), /missing file .*dev\.tsv/);
});
