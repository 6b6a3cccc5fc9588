import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { readTrainingFile, writeTrainingFile, type TrainingExample } from "../../src/training/data.ts";

describe("training files (JSONL)", () => {
  const dir = mkdtempSync(join(tmpdir(), "md2pr-data-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const corpus = new Set(["d1", "d2", "d3"]);
  const good = { query_id: "q1", query: "what is x", positive_ids: ["d1"], negative_ids: ["d2", "d3"] };
  const fileWith = (name: string, lines: unknown[]): string => {
    const file = join(dir, name);
    writeFileSync(file, lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n");
    return file;
  };

  it("round-trips what writeTrainingFile writes", async () => {
    const examples: TrainingExample[] = [{ queryId: "q1", query: "what is x", positiveIds: ["d1"], negativeIds: ["d2", "d3"] }];
    const file = join(dir, "ok.jsonl");
    writeTrainingFile(file, examples);
    assert.deepEqual(await readTrainingFile(file, corpus), examples);
  });

  const cases: [string, unknown, RegExp][] = [
    ["a query without a positive", { ...good, positive_ids: [] }, /bad-0\.jsonl:2: query 'q1' has no positive passage/],
    ["an unknown passage id", { ...good, negative_ids: ["d2", "d9"] }, /bad-1\.jsonl:2: unknown passage id 'd9'/],
    ["an empty query text", { ...good, query: "  " }, /bad-2\.jsonl:2: empty or missing 'query' text/],
    ["malformed JSON", "{\"query\": ", /bad-3\.jsonl:2: malformed JSON/],
  ];
  cases.forEach(([what, bad, message], i) => {
    it(`names the file and line of ${what}`, async () => {
      const file = fileWith(`bad-${i}.jsonl`, [good, bad, good]);
      await assert.rejects(readTrainingFile(file, corpus), message);
    });
  });
});
