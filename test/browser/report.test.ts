/** The training report opened in headless Chromium from disk, with every request that is not a local file blocked. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import { writeReport, type ReportResult } from "../../src/report/index.ts";
import { writeSyntheticRun } from "../helpers/synthetic-run.ts";
import { launchChromium, type Browser } from "./chromium.ts";

const tmp = mkdtempSync(join(tmpdir(), "md2pr-report-browser-"));
let browser: Browser;
let report: ReportResult;

before(async () => {
  const run = join(tmp, "run");
  writeSyntheticRun(run, 60);
  report = await writeReport(run);
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("report in a browser", () => {
  it("renders every chart without fetching anything", async () => {
    const requests: string[] = [];
    const page = await browser.context.newPage();
    await page.route("**/*", (route) => {
      requests.push(route.request().url());
      return route.request().url().startsWith("file:") ? route.continue() : route.abort();
    });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(pathToFileURL(report.html).href);
    const charts = await page.$$eval("figure.chart", (figures) => figures.map((f) => {
      const svg = f.querySelector("svg");
      const box = svg?.getBoundingClientRect();
      return {
        id: (f as HTMLElement).dataset.chart ?? "",
        width: box?.width ?? 0,
        height: box?.height ?? 0,
        lines: f.querySelectorAll("g.mark-line path").length,
        symbols: f.querySelectorAll("g.mark-symbol path").length,
        rules: f.querySelectorAll("g.mark-rule.role-mark line, g.mark-rule.role-mark path").length,
        bars: f.querySelectorAll("g.mark-rect.role-mark path").length,
      };
    }));
    assert.equal(charts.length, report.charts);
    for (const c of charts) {
      assert.ok(c.width > 300 && c.height > 150, `${c.id}: drawn at ${c.width}x${c.height}`);
    }
    const byId = new Map(charts.map((c) => [c.id, c]));
    // the retriever's loss chart: 5 terms, each a raw and a smoothed line
    assert.equal(byId.get("stage-retriever-loss")!.lines, 10);
    assert.equal(byId.get("stage-retriever-filter")!.lines, 4);
    assert.ok(byId.get("stage-retriever-dev")!.lines >= 2);
    // the ablation: a mean point and an error bar per charted variant and metric, and a point per seed
    const ablation = byId.get("ablation")!;
    assert.ok(ablation.symbols >= 3 * 5 * (1 + 3), `ablation symbols ${ablation.symbols}`);
    assert.ok(ablation.rules >= 3 * 5, `ablation error bars ${ablation.rules}`);
    assert.equal(byId.get("results")!.bars, 2 * 3);
    assert.ok(requests.every((u) => u.startsWith("file:")), requests.join("\n"));
    assert.deepEqual(errors, []);
    await page.close();
  });
});
