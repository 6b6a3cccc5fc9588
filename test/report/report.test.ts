/** The training report: log parsing, smoothing/thinning, chart grouping, and a whole report of a synthetic run. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ablationChart, chartedVariants, pairedChart, stepGroupOf, thinIndices, trailingMean } from "../../src/report/charts.ts";
import { escapeHtml } from "../../src/report/html.ts";
import { writeReport } from "../../src/report/index.ts";
import { readAblation } from "../../src/report/inputs.ts";
import { parseTrainingLog } from "../../src/report/logs.ts";
import { scopeSvgIds } from "../../src/report/render.ts";
import { writeSyntheticRun } from "../helpers/synthetic-run.ts";

const root = new URL("../../", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "md2pr-report-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe("training logs", () => {
  it("splits step and evaluation records and keeps every numeric field", () => {
    const log = parseTrainingLog("retriever", "f.jsonl",
      '{"stage":"retriever","step":1,"lr":0.001,"l_c":2.5,"masked_fraction":0.1}\n\n{"stage":"retriever","step":1,"eval":{"ndcg@10":0.4}}\n');
    assert.equal(log.label, "retriever");
    assert.deepEqual(log.steps, [{ step: 1, values: { lr: 0.001, l_c: 2.5, masked_fraction: 0.1 } }]);
    assert.deepEqual(log.evals, [{ step: 1, metrics: { "ndcg@10": 0.4 } }]);
  });
  it("names the file and line of a bad record", () => {
    assert.throws(() => parseTrainingLog("r", "w/train-log.jsonl", '{"step":1,"loss":1}\n{"step":2,"loss":\n'), /w\/train-log\.jsonl:2: not JSON/);
    assert.throws(() => parseTrainingLog("r", "w/train-log.jsonl", '{"loss":1}\n'), /w\/train-log\.jsonl:1: field 'step'/);
  });
});

describe("chart data", () => {
  it("trailing mean averages the last w values (fewer at the start)", () => {
    assert.deepEqual(trailingMean([1, 2, 3, 4, 5], 2), [1, 1.5, 2.5, 3.5, 4.5]);
    assert.deepEqual(trailingMean([4, 8], 1), [4, 8]);
  });
  it("thinning keeps the first and last point and at most max points (+1 for the last)", () => {
    assert.deepEqual(thinIndices(5, 10), [0, 1, 2, 3, 4]);
    const kept = thinIndices(10_001, 1000);
    assert.equal(kept[0], 0);
    assert.equal(kept[kept.length - 1], 10_000);
    assert.ok(kept.length <= 1001, `${kept.length}`);
  });
  it("groups logged keys into loss terms, lr, filter and the rest", () => {
    assert.deepEqual(["loss", "l_c", "l_hid", "lr", "masked_fraction", "filter_theta", "grad_norm", "masked_tokens"].map(stepGroupOf),
      ["loss", "loss", "loss", "lr", "filter", "filter", "other", "other"]);
  });
  it("the ablation chart has error bars for multi-seed variants only", () => {
    const rows = readAblation(join(root, "results", "ablation-scifact.json"));
    const charted = chartedVariants(rows).map((r) => r.variant);
    assert.ok(charted.includes("full") && !charted.includes("ranker-rerank"));
    const values = (ablationChart(rows).spec as { data: { values: { kind: string; variant: string; lo: number | null; hi: number | null; value: number }[] } }).data.values;
    const full = rows.find((r) => r.variant === "full")!;
    const bar = values.find((v) => v.kind === "mean" && v.variant === "full")!;
    assert.ok(Math.abs(bar.hi! - bar.lo! - 2 * full.ndcg10_std) < 1e-12);
    assert.equal(values.filter((v) => v.kind === "seed" && v.variant === "full").length, 3 * full.per_seed.length);
  });
  it("an ablation file with a wrong field is an error naming file and field", () => {
    const file = join(tmp, "bad-ablation.json");
    writeFileSync(file, JSON.stringify([{ variant: "x", ndcg10_mean: 0.4, ndcg10_std: "big" }]));
    assert.throws(() => readAblation(file), /bad-ablation\.json: field \[0\]\.ndcg10_std/);
  });
  it("scopes SVG ids and the references to them", () => {
    assert.equal(scopeSvgIds('<clipPath id="clip1"/><g clip-path="url(#clip1)"/><use href="#other"/>', "c"),
      '<clipPath id="c-clip1"/><g clip-path="url(#c-clip1)"/><use href="#other"/>');
    assert.equal(escapeHtml(`<a href="x">&'`), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
  });
});

describe("writeReport", () => {
  it("writes one self-contained HTML page with every chart inline and a PNG of each", async () => {
    const run = join(tmp, "run");
    writeSyntheticRun(run);
    const result = await writeReport(run);
    const html = readFileSync(result.html, "utf8");
    // results + ablation + ranker (loss, lr, other, dev) + retriever (loss, lr, filter, other, dev)
    assert.equal(result.charts, 11);
    assert.equal((html.match(/<figure class="chart"/g) ?? []).length, 11);
    assert.equal((html.match(/<svg /g) ?? []).length, 11);
    for (const id of ["results", "ablation", "stage-ranker-loss", "stage-retriever-filter", "stage-retriever-dev", "stage-retriever-lr"]) {
      assert.match(html, new RegExp(`id="chart-${id}"`), id);
    }
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|src=/i, "nothing to fetch or run");
    assert.match(html, /masked_fraction, filter_theta/);
    assert.match(html, /full<\/td><td class="num">0\.4004 ± 0\.0232/);
    // every loss term is drawn: the retriever's loss chart has a row header for each
    const lossFigure = html.slice(html.indexOf('id="chart-stage-retriever-loss"'), html.indexOf('id="chart-stage-retriever-lr"'));
    for (const term of ["l_c", "l_sent", "l_att", "l_hid", "loss"]) assert.match(lossFigure, new RegExp(`>${term}</text>`), term);
    for (const png of result.pngs) {
      const bytes = readFileSync(png);
      assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], `${png} is a PNG`);
      assert.ok(bytes.length > 5000, `${png}: ${bytes.length} bytes`);
    }
  });
  it("draws the paired rows of an ablation (difference to the baseline, 95% interval) in a chart of their own", async () => {
    const run = join(tmp, "run-paired");
    writeSyntheticRun(run, 12);
    const rows = JSON.parse(readFileSync(join(run, "ablation.json"), "utf8")) as Record<string, unknown>[];
    const full = rows.find((r) => r.variant === "full")!;
    rows.push({ ...full, variant: "full - contrastive", ndcg10_mean: 0.0085, ci95_low: -0.02, ci95_high: 0.037, p_value: 0.21,
      recall100_mean: 0.02, recall100_ci95_low: 0.001, recall100_ci95_high: 0.039, recall100_p_value: 0.03 });
    writeFileSync(join(run, "ablation.json"), JSON.stringify(rows));
    const parsed = readAblation(join(run, "ablation.json"));
    assert.ok(!chartedVariants(parsed).some((r) => r.variant.includes(" - ")), "paired rows stay out of the absolute chart");
    const paired = pairedChart(parsed)!;
    const values = (paired.spec as { data: { values: { metric: string; lo: number; hi: number }[] } }).data.values;
    assert.deepEqual(values.map((v) => [v.metric, v.lo, v.hi]), [["nDCG@10", -0.02, 0.037], ["R@100", 0.001, 0.039]]);
    const html = readFileSync((await writeReport(run)).html, "utf8");
    assert.match(html, /id="chart-ablation-paired"/);
    assert.match(html, /<td>full - contrastive<\/td><td class="num">0\.0085 \[-0\.0200, 0\.0370\]<\/td><td class="num">0\.2100/);
  });
  it("refuses a directory with nothing to report", async () => {
    const empty = join(tmp, "empty");
    mkdirSync(empty);
    await assert.rejects(writeReport(empty), /nothing to report/);
  });
});

describe("md2pr report", () => {
  const md2pr = (...args: string[]) => spawnSync(process.execPath, [join(root, "bin", "md2pr.js"), "report", ...args], { cwd: root, encoding: "utf8" });
  it("prints the HTML path and writes it where --out says", () => {
    const run = join(tmp, "cli-run");
    writeSyntheticRun(run, 12);
    const out = join(tmp, "cli-out");
    const r = md2pr(run, "--out", out);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), join(out, "report.html"));
    assert.match(readFileSync(join(out, "report.html"), "utf8"), /<svg /);
  });
  it("a missing run directory or ablation file is a one-line error", () => {
    const r = md2pr(join(tmp, "nope"));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^md2pr report: run directory not found: .*nope/m);
    const r2 = md2pr(tmp, "--ablation", join(tmp, "none.json"));
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /^md2pr report: ablation file not found/m);
  });
});
