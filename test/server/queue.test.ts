/** The service's work queue: batching of same-key jobs, the batch size cap, the bound, and errors. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ServiceBusyError, WorkQueue } from "../../src/server/queue.ts";

describe("WorkQueue", () => {
  it("runs jobs of one key submitted together as one batch, in order", async () => {
    const q = new WorkQueue({ maxPending: 100, maxBatch: 32 });
    const batches: number[][] = [];
    const run = (xs: number[]): number[] => { batches.push(xs); return xs.map((x) => x * 10); };
    const results = await Promise.all([1, 2, 3, 4, 5].map((x) => q.submit("a", x, run)));
    assert.deepEqual(results, [10, 20, 30, 40, 50]);
    assert.deepEqual(batches, [[1, 2, 3, 4, 5]]);
    assert.equal(q.stats.largestBatch, 5);
  });
  it("caps batches at maxBatch and never mixes keys", async () => {
    const q = new WorkQueue({ maxPending: 100, maxBatch: 2 });
    const seen: string[] = [];
    const runner = (key: string) => (xs: number[]): number[] => { seen.push(`${key}:${xs.join(",")}`); return xs; };
    await Promise.all([q.submit("a", 1, runner("a")), q.submit("b", 2, runner("b")), q.submit("a", 3, runner("a")), q.submit("a", 4, runner("a")), q.submit("b", 5, runner("b"))]);
    assert.deepEqual(seen, ["a:1,3", "b:2,5", "a:4"]);
  });
  it("refuses jobs beyond maxPending with ServiceBusyError, and serves again once drained", async () => {
    const q = new WorkQueue({ maxPending: 3, maxBatch: 1 });
    const run = async (xs: number[]): Promise<number[]> => xs;
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => q.submit(`k${i}`, i, run)));
    assert.equal(outcomes.filter((o) => o.status === "fulfilled").length, 3);
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
    assert.equal(refused.length, 3);
    for (const r of refused) assert.ok(r.reason instanceof ServiceBusyError && /at capacity/.test(r.reason.message));
    assert.equal(q.stats.refused, 3);
    assert.equal(await q.submit("later", 7, run), 7);
  });
  it("a failing batch rejects its jobs only", async () => {
    const q = new WorkQueue({ maxPending: 10, maxBatch: 10 });
    const bad = q.submit("bad", 1, () => { throw new Error("boom"); });
    const good = q.submit("good", 2, (xs: number[]) => xs);
    await assert.rejects(bad, /boom/);
    assert.equal(await good, 2);
  });
  it("rejects bad options", () => {
    assert.throws(() => new WorkQueue({ maxPending: 0, maxBatch: 1 }), /maxPending/);
    assert.throws(() => new WorkQueue({ maxPending: 1, maxBatch: 1.5 }), /maxBatch/);
  });
});
