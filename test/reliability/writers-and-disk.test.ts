/**
 * One writer per output (a second is refused with a message naming the first; a dead writer's lock is taken over),
 * and a full disk: a small tmpfs where the machine allows mounting one (in a user and mount namespace), and a
 * simulated ENOSPC (MD2PR_TEST_FAULT) in the middle of a model folder otherwise and in any case. A full disk exits 1
 * with a message naming the output, leaves no partial folder or temporary file, and a rerun with space succeeds.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { acquireOutputLock, lockPathFor } from "../../src/util/lock.ts";
import { binFile, md2pr, ok, refused, run, tempLeftovers, tinyFlags, toyBeir } from "./helpers.ts";

let tmp = "";
let data = "";
before(() => {
  tmp = mkdtempSync(join(tmpdir(), "md2pr-writers-"));
  data = toyBeir(join(tmp, "toy"));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("one writer per output", () => {
  it("a second writer is refused naming the first; the first's output is untouched", async () => {
    const out = join(tmp, "run");
    const lock = acquireOutputLock(out); // this test process is the first writer
    try {
      const [train, bm25] = await Promise.all([
        md2pr(["train", "--data", data, "--out", out, ...tinyFlags(2, 0)]),
        md2pr(["bm25", "--corpus", join(data, "corpus.jsonl"), "--out", out]),
      ]);
      const line = refused(train, "train", new RegExp(`run is being written by another md2pr process \\(pid ${process.pid} on ${hostname()}, since .*\\); wait for it`));
      assert.ok(line.length > 0);
      refused(bm25, "bm25", new RegExp(`pid ${process.pid}`));
      assert.ok(!existsSync(out), "nothing written by the refused writers");
    } finally {
      lock.release();
    }
    assert.ok(!existsSync(lockPathFor(out)), "the lock is gone when released");
  });

  it("two real writers at once: exactly one runs, the other is refused", async () => {
    const out = join(tmp, "race");
    // The second starts once the first holds the lock (started together, on a loaded machine the first could finish
    // before the second reaches the lock); the first then trains for several seconds.
    const args = ["train-ranker", "--data", data, "--out", out, ...tinyFlags(3000, 0)];
    const first = md2pr(args);
    const t0 = Date.now();
    while (!existsSync(lockPathFor(out)) && Date.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 10));
    assert.ok(existsSync(lockPathFor(out)), "the first writer holds the lock");
    const b = await md2pr(args);
    const a = await first;
    assert.deepEqual([a.code, b.code], [0, 1], `the first succeeds, the second is refused\n${a.stderr}\n${b.stderr}`);
    refused(b, "train-ranker", /is being written by another md2pr process \(pid \d+/);
    assert.ok(existsSync(join(out, "ranker", "model.safetensors")));
    assert.deepEqual(tempLeftovers(out), []);
  });

  it("the lock of a killed writer is taken over", async () => {
    const out = join(tmp, "stale");
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    const deadPid = Number(dead.stdout);
    writeFileSync(lockPathFor(out), JSON.stringify({ pid: deadPid, host: hostname(), command: "md2pr bm25 (killed)", since: "2026-01-01T00:00:00.000Z" }));
    ok(await md2pr(["bm25", "--corpus", join(data, "corpus.jsonl"), "--out", out]), "bm25 over a stale lock");
    assert.ok(existsSync(join(out, "meta.json")));
    assert.ok(!existsSync(lockPathFor(out)));
  });
});

describe("a full disk", () => {
  it("simulated ENOSPC while writing a model folder: exit 1 naming it, no partial folder, a rerun completes", async () => {
    const out = join(tmp, "enospc");
    const args = ["train-ranker", "--data", data, "--out", out, ...tinyFlags(2, 0)];
    const full = await md2pr(args, { MD2PR_TEST_FAULT: "enospc:file:before-rename@model.safetensors" });
    refused(full, "train-ranker", /cannot write .*enospc.ranker: ENOSPC \(the disk is full; free space and rerun: nothing was replaced\)/);
    assert.ok(!existsSync(join(out, "ranker")), "no ranker folder");
    assert.deepEqual(tempLeftovers(out), [], "no temporary folder left");
    ok(await md2pr(args), "rerun with space");
    assert.ok(existsSync(join(out, "ranker", "vocab.txt")));
  });

  it("a 96 KiB tmpfs: bm25 fails cleanly and leaves nothing behind", async (t) => {
    const probe = spawnSync("unshare", ["--user", "--map-root-user", "--mount", "sh", "-c", `mount -t tmpfs -o size=4k tmpfs ${tmpdir()}`], { encoding: "utf8" });
    if (probe.status !== 0) {
      t.skip(`cannot mount a tmpfs here (${(probe.stderr || probe.error?.message || "").trim()}); the simulated ENOSPC test covers the class`);
      return;
    }
    const mnt = join(tmp, "mnt");
    mkdirSync(mnt);
    const corpus = join(tmp, "big.jsonl");
    const text = readFileSync(join(data, "corpus.jsonl"), "utf8").trim().split("\n");
    // enough distinct terms that the index outgrows 96 KiB
    writeFileSync(corpus, Array.from({ length: 3000 }, (_, i) => JSON.stringify({ _id: `p${i}`, title: `t${i}`, text: `${JSON.parse(text[i % text.length]!).text} w${i} v${i * 7}` })).join("\n") + "\n");
    const script = [
      `mount -t tmpfs -o size=96k tmpfs ${mnt}`,
      `"${process.execPath}" "${binFile}" bm25 --corpus ${corpus} --out ${mnt}/bm25; echo "exit=$?"`,
      `ls -A ${mnt}; echo "listed"`,
    ].join("; ");
    const r = await run("unshare", ["--user", "--map-root-user", "--mount", "sh", "-c", script]);
    assert.match(r.stdout, /exit=1/, r.stderr);
    const line = r.stderr.split("\n").find((l) => l.startsWith("md2pr bm25: "));
    assert.match(line ?? "", /cannot write .*bm25: ENOSPC \(the disk is full/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    const listing = r.stdout.slice(r.stdout.indexOf("exit=1") + "exit=1".length, r.stdout.indexOf("listed")).trim();
    assert.equal(listing, "", "nothing left on the full disk (no partial index, no temporary folder, no lock)");
    assert.deepEqual(readdirSync(mnt), [], "the mount was private to the namespace");
  });
});
