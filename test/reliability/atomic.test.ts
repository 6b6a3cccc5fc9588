/**
 * The one atomic-write module and the lock, in process: a folder appears whole or the old one stays; temporary
 * names of live writers are kept and those of dead ones removed (a folder moved aside by an interrupted swap comes
 * back); re-entrant locks; a failing fill leaves nothing.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { cleanStaleTemps, isTempName, writeDirAtomic, writeFileAtomic } from "../../src/util/atomic.ts";
import { acquireOutputLock, lockPathFor, LockedError } from "../../src/util/lock.ts";

const dir = mkdtempSync(join(tmpdir(), "md2pr-atomic-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const deadPid = (): number => Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout);

describe("atomic folders", () => {
  it("a failing fill leaves the previous folder as it was and no temporary folder", () => {
    const target = join(dir, "model");
    writeDirAtomic(target, (tmp) => writeFileSync(join(tmp, "a.txt"), "one"));
    assert.throws(() => writeDirAtomic(target, (tmp) => {
      writeFileSync(join(tmp, "a.txt"), "two");
      throw Object.assign(new Error("no space"), { code: "ENOSPC" });
    }), /cannot write .*model: ENOSPC \(the disk is full/);
    assert.equal(readFileSync(join(target, "a.txt"), "utf8"), "one");
    assert.deepEqual(readdirSync(dir).filter(isTempName), []);
    writeDirAtomic(target, (tmp) => writeFileSync(join(tmp, "b.txt"), "three"));
    assert.deepEqual(readdirSync(target), ["b.txt"], "replaced whole");
  });

  it("cleanStaleTemps: dead writers' temps go, live ones stay, a folder moved aside comes back", () => {
    const root = join(dir, "run");
    mkdirSync(join(root, "work", "ranker"), { recursive: true });
    const dead = deadPid();
    const stale = join(root, "work", "ranker", `checkpoint.tmp-${dead}`);
    mkdirSync(stale);
    const live = join(root, "work", "ranker", `.checkpoint.tmp-${process.pid}-abc123`);
    mkdirSync(live);
    const staleFile = join(root, `.results.json.tmp-${dead}-ff00`);
    writeFileSync(staleFile, "partial");
    // an interrupted swap: `ranker` moved aside, not yet replaced
    const aside = join(root, `.ranker.tmp-${dead}-beef.old`);
    mkdirSync(aside);
    writeFileSync(join(aside, "config.json"), "{}");
    const report = cleanStaleTemps(root);
    assert.deepEqual(report.removed.sort(), [staleFile, stale].sort());
    assert.deepEqual(report.restored, [join(root, "ranker")]);
    assert.ok(existsSync(live) && existsSync(join(root, "ranker", "config.json")) && !existsSync(aside));
  });

  it("writeFileAtomic names the target on failure and leaves no temporary file", () => {
    const target = join(dir, "isdir");
    mkdirSync(target);
    assert.throws(() => writeFileAtomic(target, "x"), /cannot write .*isdir: EISDIR/);
    assert.deepEqual(readdirSync(dir).filter(isTempName), []);
  });
});

describe("output locks", () => {
  it("re-entrant in one process; refused for a live other owner; taken over from a dead one", () => {
    const out = join(dir, "locked");
    const a = acquireOutputLock(out);
    assert.equal(acquireOutputLock(out), a);
    a.release();
    assert.ok(!existsSync(lockPathFor(out)));
    // a live other process: the parent of this test runner
    writeFileSync(lockPathFor(out), JSON.stringify({ pid: process.ppid, host: hostname(), command: "md2pr train", since: "now" }));
    assert.throws(() => acquireOutputLock(out), (err: unknown) => err instanceof LockedError && err.message.includes(`pid ${process.ppid}`));
    const dead = deadPid();
    writeFileSync(lockPathFor(out), JSON.stringify({ pid: dead, host: hostname(), command: "md2pr train", since: "then" }));
    const b = acquireOutputLock(out);
    assert.equal(b.tookOver?.pid, dead);
    assert.equal(JSON.parse(readFileSync(lockPathFor(out), "utf8")).pid, process.pid);
    b.release();
  });
});
