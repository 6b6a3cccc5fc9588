/**
 * The search page in headless Chromium against `md2pr serve`'s app on a toy set: type a query, see ranked results
 * with highlighted terms and timings in both columns; an empty query shows a message instead of an error.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import type { Page } from "playwright-core";
import { buildApp } from "../../src/server/app.ts";
import { loadService } from "../../src/server/start.ts";
import { writeToyServingSet } from "../helpers/toy-server.ts";
import { launchChromium, type Browser } from "./chromium.ts";

const tmp = mkdtempSync(join(tmpdir(), "md2pr-page-"));
let app: FastifyInstance;
let url = "";
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

before(async () => {
  const set = await writeToyServingSet(join(tmp, "toy"));
  const service = await loadService({ retriever: set.retriever, index: set.index, bm25: set.bm25, ranker: set.ranker, corpus: async () => set.docs });
  app = await buildApp({ service: Promise.resolve(service) });
  url = await app.listen({ host: "127.0.0.1", port: 0 });
  browser = await launchChromium();
  page = await browser.context.newPage();
  page.on("pageerror", (err) => pageErrors.push(err.message));
  await page.goto(`${url}/`);
  await page.waitForSelector("body[data-ready=true]", { timeout: 20_000 });
});
after(async () => {
  await browser?.close();
  await app?.close();
  rmSync(tmp, { recursive: true, force: true });
});

interface Column { mode: string; timing: string; ids: string[]; scores: number[]; marks: string[]; error: string }

async function readColumn(side: "left" | "right"): Promise<Column> {
  return page.$eval(`#column-${side}`, (el) => ({
    mode: el.querySelector(".mode-name")!.textContent ?? "",
    timing: el.querySelector(".timing")!.textContent ?? "",
    ids: [...el.querySelectorAll<HTMLElement>("li.result")].map((li) => li.dataset.id ?? ""),
    scores: [...el.querySelectorAll<HTMLElement>("li.result")].map((li) => Number(li.dataset.score)),
    marks: [...el.querySelectorAll("li.result mark")].map((m) => m.textContent ?? ""),
    error: (el.querySelector(".column-error") as HTMLElement).hidden ? "" : el.querySelector(".column-error")!.textContent ?? "",
  }));
}

describe("search page", () => {
  it("shows ranked results of two modes side by side, with highlighted terms and timings", async () => {
    assert.deepEqual(await page.$$eval("#mode-left option", (os) => os.map((o) => (o as HTMLOptionElement).value)), ["dense", "bm25", "hybrid", "rerank"]);
    await page.fill("#query", "vitamin levels and sunlight");
    await page.selectOption("#mode-left", "bm25");
    await page.selectOption("#mode-right", "hybrid");
    await page.click("#search-button");
    await page.waitForSelector("#column-left[data-state=done]");
    await page.waitForSelector("#column-right[data-state=done]");
    const left = await readColumn("left");
    const right = await readColumn("right");
    assert.equal(left.mode, "bm25");
    assert.equal(right.mode, "hybrid");
    for (const col of [left, right]) {
      assert.equal(col.error, "");
      assert.ok(col.ids.length >= 2, `${col.mode}: ${col.ids.length} results`);
      col.scores.forEach((s, i) => assert.ok(i === 0 || s <= col.scores[i - 1]!, `${col.mode} scores descend`));
      assert.match(col.timing, /^\d+\.\d ms \(server \d+\.\d ms\)$/);
    }
    assert.equal(right.ids.length, 10);
    assert.equal(left.ids[0], "d1", "BM25 puts the vitamin d passage first");
    const marked = new Set(left.marks.map((m) => m.toLowerCase()));
    assert.ok(marked.has("vitamin") && marked.has("sunlight") && marked.has("levels"), [...marked].join(","));
    assert.ok(!marked.has("and"), "stop words are not highlighted");
    assert.equal(await page.isHidden("#message"), true);
  });
  it("an empty query shows a message, not an error, and clears the columns", async () => {
    await page.fill("#query", "   ");
    await page.click("#search-button");
    await page.waitForSelector("#message:not([hidden])");
    assert.equal(await page.textContent("#message"), "Type a query to search.");
    assert.deepEqual((await readColumn("left")).ids, []);
    assert.deepEqual((await readColumn("right")).ids, []);
    assert.equal((await readColumn("left")).error, "");
  });
  it("the rerank mode works from the page too, and no script error happened", async () => {
    await page.fill("#query", "insulin resistance");
    await page.selectOption("#mode-right", "rerank");
    await page.click("#search-button");
    await page.waitForSelector("#column-right[data-state=done]");
    const right = await readColumn("right");
    assert.equal(right.mode, "rerank");
    assert.equal(right.ids.length, 10);
    assert.deepEqual(pageErrors, []);
  });
});
