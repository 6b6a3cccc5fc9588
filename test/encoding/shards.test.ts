/** Sharded encoding: N shards + merge == one run, byte for byte; shard ranges; refusals. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { encodeCorpus, encodingOrder } from "../../src/encoding/encode-corpus.ts";
import { encodeShard, encodeShardFromStream, mergeShards, parseShardSpec, shardDir, shardRange } from "../../src/encoding/shards.ts";
import { toyModels, toySet, type Toy } from "../helpers/toy.ts";

let tmp = "";
let toy: Toy;
before(async () => {
  tmp = mkdtempSync(join(tmpdir(), "md2pr-shards-"));
  toy = await toySet();
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function files(dir: string): { emb: Buffer; ids: string; meta: string; artifact: string } {
  return {
    emb: readFileSync(join(dir, "embeddings.f32")), ids: readFileSync(join(dir, "ids.txt"), "utf8"), meta: readFileSync(join(dir, "index.json"), "utf8"),
    artifact: readFileSync(join(dir, "md2pr-artifact.json"), "utf8"),
  };
}

describe("sharded encoding", () => {
  it("parses I/N and refuses bad specs", () => {
    assert.deepEqual(parseShardSpec("1/4"), { index: 1, count: 4 });
    assert.deepEqual(parseShardSpec(" 0 / 1 "), { index: 0, count: 1 });
    for (const bad of ["4/4", "1", "-1/2", "a/b", "0/0", "1/2/3"]) assert.throws(() => parseShardSpec(bad), /--shard/);
  });

  it("cuts the order into contiguous ranges of whole batches that cover it", () => {
    for (const [total, batch, n] of [[16, 3, 2], [16, 3, 7], [100, 8, 3], [5, 64, 4], [0, 4, 2]] as const) {
      let next = 0;
      for (let i = 0; i < n; i++) {
        const r = shardRange(total, batch, { index: i, count: n });
        assert.equal(r.start, next, `shard ${i} of ${n} starts where the previous ended`);
        assert.ok(r.start % batch === 0 || r.start === total, "starts on a batch boundary");
        assert.ok(r.end >= r.start);
        next = r.end;
      }
      assert.equal(next, total, `${n} shards cover ${total} rows`);
    }
  });

  for (const [batchSize, count] of [[3, 2], [1, 3], [3, 7]] as const) {
    it(`${count} shards at batch size ${batchSize}, merged, equal one run byte for byte`, async () => {
      const { retriever } = toyModels(toy, 7);
      const single = join(tmp, `single-${batchSize}-${count}`);
      await encodeCorpus(retriever, toy.corpus, single, { batchSize, label: null });
      const out = join(tmp, `sharded-${batchSize}-${count}`);
      // shards in reverse order: each is independent of the others
      for (let i = count - 1; i >= 0; i--) {
        const r = await encodeShard(retriever, toy.corpus, out, { index: i, count }, { batchSize, label: null });
        assert.equal(r.shardsDone, count - i);
      }
      const meta = await mergeShards(out);
      assert.equal(meta.count, toy.corpus.ids.length);
      const a = files(single);
      const b = files(out);
      assert.ok(a.emb.some((x) => x !== 0), "the vectors are not all zero");
      assert.equal(Buffer.compare(a.emb, b.emb), 0, "embeddings.f32 identical");
      assert.equal(b.ids, a.ids);
      assert.equal(b.meta, a.meta);
      assert.equal(b.artifact, a.artifact, "the provenance record a single run writes");
      assert.equal(b.ids, encodingOrder(toy.corpus, retriever.settings.maxPassageLength).join("\n") + "\n");
      assert.ok(!existsSync(join(out, "shards")), "the shards are removed after the merge");
    });
  }

  it("reading the corpus as a stream, twice (what the CLI does for a shard), gives the same bytes", async () => {
    const { retriever } = toyModels(toy, 7);
    const single = join(tmp, "stream-single");
    await encodeCorpus(retriever, toy.corpus, single, { batchSize: 2, label: null });
    let passes = 0;
    const stream = async function* () {
      passes++;
      for (const [id, d] of toy.corpus.docs) yield { id, title: d.title, text: d.text };
    };
    const out = join(tmp, "stream-sharded");
    for (let i = 0; i < 3; i++) await encodeShardFromStream(retriever, toy.tokenizer, stream, out, { index: i, count: 3 }, { batchSize: 2, label: null });
    assert.equal(passes, 6, "two passes per shard");
    await mergeShards(out);
    assert.equal(Buffer.compare(files(single).emb, files(out).emb), 0);
    assert.equal(files(out).ids, files(single).ids);
    assert.equal(files(out).artifact, files(single).artifact, "the corpus fingerprint of the stream equals the loaded corpus's");
    // a finished shard is not read a second time
    await encodeShardFromStream(retriever, toy.tokenizer, stream, join(tmp, "stream-again"), { index: 0, count: 1 }, { batchSize: 2, label: null });
    const before = passes;
    await encodeShardFromStream(retriever, toy.tokenizer, stream, join(tmp, "stream-again"), { index: 0, count: 1 }, { batchSize: 2, label: null });
    assert.equal(passes, before + 1, "only the ordering pass");
    const dup = async function* () {
      yield { id: "a", title: "", text: "x" };
      yield { id: "a", title: "", text: "y" };
    };
    await assert.rejects(encodeShardFromStream(retriever, toy.tokenizer, dup, join(tmp, "dup"), { index: 0, count: 1 }), /duplicate document id "a"/);
  });

  it("without the piece cache (what the CLI does) the bytes are the same", async () => {
    const { retriever } = toyModels(toy, 7);
    const cached = join(tmp, "cached");
    const uncached = join(tmp, "uncached");
    await encodeCorpus(retriever, toy.corpus, cached, { batchSize: 3, label: null });
    for (let i = 0; i < 2; i++) await encodeShard(retriever, toy.corpus, uncached, { index: i, count: 2 }, { batchSize: 3, label: null, cachePieces: false });
    await mergeShards(uncached);
    assert.equal(Buffer.compare(files(cached).emb, files(uncached).emb), 0);
    assert.equal(files(uncached).ids, files(cached).ids);
  });

  it("refuses to merge an incomplete or inconsistent set, and a shard made with another batch size", async () => {
    const { retriever } = toyModels(toy, 7);
    const out = join(tmp, "partial");
    await encodeShard(retriever, toy.corpus, out, { index: 0, count: 2 }, { batchSize: 2, label: null });
    await assert.rejects(mergeShards(out), /1-of-2: missing; encode it with --shard 1\/2/);
    await assert.rejects(
      encodeShard(retriever, toy.corpus, out, { index: 0, count: 2 }, { batchSize: 4, label: null }),
      /made by another encode \(rowEnd .*|made by another encode \(batchSize/,
    );
    await encodeShard(retriever, toy.corpus, out, { index: 0, count: 3 }, { batchSize: 2, label: null });
    await assert.rejects(mergeShards(out), /shards of different runs/);
    rmSync(shardDir(out, { index: 0, count: 3 }), { recursive: true });
    const other = toyModels(toy, 8).retriever;
    await encodeShard(other, toy.corpus, out, { index: 1, count: 2 }, { batchSize: 2, label: null });
    await assert.rejects(mergeShards(out), /modelFingerprint .* differs from shard 0/);
  });

  it("md2pr encode --shard 0/2, --shard 1/2 (side by side), --merge == md2pr encode, with the shipped model", async () => {
    const root = fileURLToPath(new URL("../..", import.meta.url));
    const corpus = join(tmp, "collection.tsv");
    const words = "the of protein cell blood study patients results effect increased".split(" ");
    const lines = Array.from({ length: 40 }, (_, i) => `${1000 + i}\t${Array.from({ length: 5 + ((i * 7) % 23) }, (_, j) => words[(i + j * 3) % words.length]).join(" ")}`);
    writeFileSync(corpus, lines.join("\n") + "\n");
    const run = (args: string[]) => new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [join(root, "bin", "md2pr.js"), "encode", ...args], { cwd: root, env: { ...process.env, MD2PR_NUM_THREADS: "1" } });
      let err = "";
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`md2pr encode ${args.join(" ")}: exit ${code}: ${err}`))));
    });
    const model = join(root, "models", "base-scifact");
    const one = join(tmp, "cli-one");
    const two = join(tmp, "cli-two");
    await Promise.all([
      run(["--model", model, "--corpus", corpus, "--out", one, "--batch-size", "8"]),
      run(["--model", model, "--corpus", corpus, "--out", two, "--batch-size", "8", "--shard", "0/2"]),
      run(["--model", model, "--corpus", corpus, "--out", two, "--batch-size", "8", "--shard", "1/2"]),
    ]);
    await run(["--out", two, "--merge"]);
    assert.equal(Buffer.compare(files(one).emb, files(two).emb), 0);
    assert.equal(files(two).ids, files(one).ids);
    assert.equal(files(two).meta, files(one).meta);
    assert.equal(files(two).artifact, files(one).artifact);
  });

  it("a rerun of a finished shard keeps it and reports the count of finished shards", async () => {
    const { retriever } = toyModels(toy, 7);
    const out = join(tmp, "rerun");
    const first = await encodeShard(retriever, toy.corpus, out, { index: 1, count: 2 }, { batchSize: 2, label: null });
    const before = readFileSync(join(first.dir, "embeddings.f32"));
    const again = await encodeShard(retriever, toy.corpus, out, { index: 1, count: 2 }, { batchSize: 2, label: null });
    assert.equal(again.shardsDone, 1);
    assert.equal(Buffer.compare(before, readFileSync(join(again.dir, "embeddings.f32"))), 0);
  });
});
