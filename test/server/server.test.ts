/**
 * The HTTP service on a toy set (tiny random retriever and ranker, exact dense index, BM25): every mode, /embed and
 * /rerank against the library called directly, every bad request of the list (4xx with a message, then a
 * good query still works), 503 while loading and after a failed load, batching of concurrent queries, a flood
 * beyond the queue's bound, graceful close with a request in flight, and SIGTERM on `md2pr serve`.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { Ranker, Retriever, Searcher } from "../../src/index.ts";
import { buildApp, describeSchemaError } from "../../src/server/app.ts";
import { SearchService } from "../../src/server/service.ts";
import { loadService } from "../../src/server/start.ts";
import { writeToyServingSet, type ToyServingSet } from "../helpers/toy-server.ts";

const root = new URL("../../", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "md2pr-server-"));
let set: ToyServingSet;
let app: FastifyInstance;
let service: SearchService;

const sources = (s: ToyServingSet) => ({ retriever: s.retriever, index: s.index, bm25: s.bm25, ranker: s.ranker, corpus: async () => s.docs });

before(async () => {
  set = await writeToyServingSet(join(tmp, "toy"));
  service = await loadService(sources(set));
  app = await buildApp({ service: Promise.resolve(service), limits: { bodyBytes: 16 * 1024, maxQueryChars: 200, maxK: 20 } });
});
after(async () => {
  await app?.close();
  rmSync(tmp, { recursive: true, force: true });
});

interface Hit { rank: number; id: string; score: number; title?: string; text?: string }
const post = (url: string, payload: unknown, a: FastifyInstance = app) => a.inject({ method: "POST", url, payload: payload as object });

describe("POST /search", () => {
  for (const mode of ["dense", "bm25", "hybrid", "rerank"] as const) {
    it(`${mode}: k ranked hits with ids, scores, titles and text from the corpus`, async () => {
      const res = await post("/search", { query: "vitamin d and sunlight", k: 5, mode });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json<{ mode: string; k: number; took_ms: number; results: Hit[] }>();
      assert.equal(body.mode, mode);
      const n = mode === "bm25" ? body.results.length : 5; // BM25 returns only passages sharing a term
      assert.equal(body.results.length, n);
      assert.ok(n >= 1);
      body.results.forEach((h, i) => {
        assert.equal(h.rank, i + 1);
        if (i > 0) assert.ok(h.score <= body.results[i - 1]!.score, "scores descend");
        assert.deepEqual({ title: h.title, text: h.text }, set.docs.get(h.id), `${h.id}'s text`);
      });
      assert.ok(body.took_ms >= 0);
    });
  }
  it("answers what the library's Searcher answers (no second search path)", async () => {
    const searcher = await Searcher.open({ retriever: set.retriever, index: set.index, bm25: set.bm25, corpus: set.docs });
    for (const mode of ["dense", "bm25", "hybrid"] as const) {
      const direct = await searcher.search("insulin in type two diabetes", { k: 4, mode, rerank: false });
      const res = (await post("/search", { query: "insulin in type two diabetes", k: 4, mode })).json<{ results: Hit[] }>();
      assert.deepEqual(res.results.map((h) => [h.id, h.score]), direct.map((h) => [h.id, h.score]), mode);
    }
    searcher.close();
  });
  it("BM25 finds the passage that shares the query's words first", async () => {
    const res = (await post("/search", { query: "intestine immunity", k: 3, mode: "bm25" })).json<{ results: Hit[] }>();
    assert.equal(res.results[0]!.id, "d3");
  });
  it("the default mode is hybrid when both indexes are loaded, and k defaults to 10", async () => {
    const body = (await post("/search", { query: "sleep" })).json<{ mode: string; k: number; results: Hit[] }>();
    assert.equal(body.mode, "hybrid");
    assert.equal(body.k, 10);
    assert.equal(body.results.length, 10);
  });
});

describe("bad requests", () => {
  const cases: { what: string; url?: string; payload: unknown; status: number; message: RegExp; headers?: Record<string, string> }[] = [
    { what: "empty query", payload: { query: "" }, status: 400, message: /body\.query must not be empty/ },
    { what: "blank query", payload: { query: "  \t " }, status: 400, message: /body\.query must contain a non-space character/ },
    { what: "oversized query", payload: { query: "a".repeat(201) }, status: 400, message: /body\.query is too long \(at most 200 characters\)/ },
    { what: "missing query", payload: { k: 3 }, status: 400, message: /body must have the field 'query'/ },
    { what: "k = 0", payload: { query: "x", k: 0 }, status: 400, message: /body\.k must be >= 1/ },
    { what: "k above the limit", payload: { query: "x", k: 21 }, status: 400, message: /body\.k must be <= 20/ },
    { what: "fractional k", payload: { query: "x", k: 2.5 }, status: 400, message: /body\.k must be integer/ },
    { what: "k as a string", payload: { query: "x", k: "5" }, status: 400, message: /body\.k must be integer/ },
    { what: "query as a number", payload: { query: 42 }, status: 400, message: /body\.query must be string/ },
    { what: "unknown mode", payload: { query: "x", mode: "semantic" }, status: 400, message: /body\.mode must be one of: dense, bm25, hybrid, rerank/ },
    { what: "unknown field", payload: { query: "x", top: 3 }, status: 400, message: /body has an unknown field 'top'/ },
    { what: "body not an object", payload: [1, 2], status: 400, message: /body must be object/ },
    { what: "body too large", payload: { query: "x", pad: "y".repeat(20_000) }, status: 413, message: /body is too large|Request body is too large/i },
    { what: "invalid JSON", payload: '{"query": "x",', status: 400, message: /JSON/, headers: { "content-type": "application/json" } },
    { what: "embed: empty list", url: "/embed", payload: { texts: [] }, status: 400, message: /body\.texts must NOT have fewer than 1 items/ },
    { what: "embed: unknown side", url: "/embed", payload: { texts: ["a"], side: "doc" }, status: 400, message: /body\.side must be one of: query, passage/ },
    { what: "rerank: passage without text", url: "/rerank", payload: { query: "x", passages: [{ id: "a" }] }, status: 400, message: /body\.passages\.0 must have the field 'text'/ },
  ];
  it("each answers 4xx with a message naming the problem, and a good query works afterwards", async () => {
    for (const c of cases) {
      const res = await app.inject({ method: "POST", url: c.url ?? "/search", payload: c.payload as string, headers: c.headers });
      assert.equal(res.statusCode, c.status, `${c.what}: ${res.body}`);
      const body = res.json<{ statusCode: number; message: string }>();
      assert.equal(body.statusCode, c.status, c.what);
      assert.match(body.message, c.message, c.what);
    }
    const res = await post("/search", { query: "stem cells", k: 3, mode: "dense" });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json<{ results: Hit[] }>().results.length, 3);
  });
  it("a mode the server cannot run, an unknown route and a wrong method are 4xx with a message", async () => {
    const bm25Only = await buildApp({ service: Promise.resolve(await loadService({ bm25: set.bm25, corpus: async () => set.docs })) });
    const res = await post("/search", { query: "x", mode: "dense" }, bm25Only);
    assert.equal(res.statusCode, 400);
    assert.match(res.json<{ message: string }>().message, /mode "dense" needs a dense index.*this server has: bm25/);
    const embed = await post("/embed", { texts: ["x"] }, bm25Only);
    assert.equal(embed.statusCode, 400);
    assert.match(embed.json<{ message: string }>().message, /no retriever/);
    await bm25Only.close();
    const missing = await app.inject({ method: "GET", url: "/nope" });
    assert.equal(missing.statusCode, 404);
    assert.match(missing.json<{ message: string }>().message, /no route GET \/nope/);
  });
  it("schema messages name the field", () => {
    assert.equal(describeSchemaError({ keyword: "maximum", instancePath: "/k", message: "must be <= 100", params: {} }, "body"), "body.k must be <= 100");
  });
});

describe("POST /embed and /rerank", () => {
  it("/embed returns the retriever's vectors", async () => {
    const res = await post("/embed", { texts: ["vitamin d", "blood pressure and salt"], side: "passage" });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json<{ dim: number; embeddings: number[][] }>();
    const direct = Retriever.load(set.retriever).encode(["vitamin d", "blood pressure and salt"], { side: "passage" });
    assert.equal(body.dim, direct[0]!.length);
    body.embeddings.forEach((v, i) => v.forEach((x, j) => assert.ok(Math.abs(x - direct[i]![j]!) < 1e-6)));
  });
  it("/rerank returns the ranker's scores, sorted", async () => {
    const passages = ["d2", "d4", "x6"].map((id) => ({ id, ...set.docs.get(id)! }));
    const res = await post("/rerank", { query: "lack of sleep", passages });
    assert.equal(res.statusCode, 200, res.body);
    const results = res.json<{ results: Hit[] }>().results;
    const scores = Ranker.load(set.ranker).predict(passages.map((p) => ["lack of sleep", `${p.title} ${p.text}`] as const));
    const expected = passages.map((p, i) => ({ id: p.id, score: scores[i]! })).sort((a, b) => b.score - a.score);
    assert.deepEqual(results.map((r) => r.id), expected.map((e) => e.id));
    results.forEach((r, i) => assert.ok(Math.abs(r.score - expected[i]!.score) < 1e-6));
  });
});

describe("health, OpenAPI, page", () => {
  it("/health reports the modes and the index", async () => {
    const body = (await app.inject({ method: "GET", url: "/health" })).json<{ status: string; modes: string[]; index: { count: number } }>();
    assert.equal(body.status, "ok");
    assert.deepEqual(body.modes, ["dense", "bm25", "hybrid", "rerank"]);
    assert.equal(body.index.count, set.docs.size);
  });
  it("/openapi.json describes the four routes with their request schemas", async () => {
    const doc = (await app.inject({ method: "GET", url: "/openapi.json" })).json<{ openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> } }>> }>();
    assert.match(doc.openapi, /^3\./);
    assert.deepEqual(Object.keys(doc.paths).sort(), ["/embed", "/health", "/rerank", "/search"]);
    const search = doc.paths["/search"]!.post!.requestBody!.content["application/json"]!.schema.properties;
    assert.deepEqual(Object.keys(search).sort(), ["k", "mode", "query"]);
  });
  it("/ serves the search page", async () => {
    const res = await app.inject({ method: "GET", url: "/" });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers["content-type"]), /text\/html/);
    assert.match(res.body, /<form id="search-form"/);
    assert.equal((await app.inject({ method: "GET", url: "/page/app.js" })).statusCode, 200);
  });
});

describe("loading, capacity, batching, shutdown", () => {
  it("answers 503 with Retry-After while loading, then serves", async () => {
    let resolve!: (s: SearchService) => void;
    const loading = await buildApp({ service: new Promise<SearchService>((r) => { resolve = r; }) });
    const early = await post("/search", { query: "x" }, loading);
    assert.equal(early.statusCode, 503);
    assert.equal(early.headers["retry-after"], "1");
    assert.match(early.json<{ message: string }>().message, /still loading/);
    assert.equal((await loading.inject({ method: "GET", url: "/health" })).json<{ status: string }>().status, "loading");
    resolve(await loadService(sources(set)));
    await new Promise((r) => setImmediate(r));
    assert.equal((await post("/search", { query: "x", k: 2 }, loading)).statusCode, 200);
    await loading.close();
  });
  it("answers 503 with the reason after a failed load", async () => {
    const failed = await buildApp({ service: loadService({ bm25: join(tmp, "no-such-bm25") }) });
    await new Promise((r) => setTimeout(r, 50));
    const res = await post("/search", { query: "x" }, failed);
    assert.equal(res.statusCode, 503);
    assert.match(res.json<{ message: string }>().message, /failed to load: .*no-such-bm25/);
    await failed.close();
  });
  it("concurrent queries of one mode share a batch and get the answers they get alone", async () => {
    const queries = ["protein folding", "vitamin d", "insulin", "gut bacteria", "sleep", "antibiotics", "blood pressure", "stem cells"];
    const alone: { results: Hit[]; batch: number }[] = [];
    for (const q of queries) alone.push((await post("/search", { query: q, k: 4, mode: "dense" })).json<{ results: Hit[]; batch: number }>());
    assert.ok(alone.every((a) => a.batch === 1));
    // every passage's score for each query, to check batched hits (the toy model's scores are close: near-ties may swap)
    const all = await Promise.all(queries.map(async (q) => new Map((await service.searcher.search(q, { k: 16, mode: "dense", rerank: false })).map((h) => [h.id, h.score]))));
    const together = await Promise.all(queries.map((q) => post("/search", { query: q, k: 4, mode: "dense" })));
    const bodies = together.map((r) => r.json<{ results: Hit[]; batch: number }>());
    assert.ok(bodies.some((b) => b.batch > 1), `batches: ${bodies.map((b) => b.batch)}`);
    bodies.forEach((b, i) => {
      assert.equal(b.results.length, 4);
      b.results.forEach((h, j) => {
        assert.ok(Math.abs(h.score - alone[i]!.results[j]!.score) < 1e-4, `${queries[i]} rank ${j + 1}: the same score as alone`);
        assert.ok(Math.abs(h.score - all[i]!.get(h.id)!) < 1e-4, `${queries[i]} ${h.id}: its own score`);
      });
    });
  });
  it("a flood beyond the queue's bound gets 503 with Retry-After, not a crash; the server then serves again", async () => {
    const small = new SearchService(service.searcher, { maxPending: 4, maxBatch: 1, rerankDepth: 20 });
    const flooded = await buildApp({ service: Promise.resolve(small) });
    const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => post("/search", { query: `blood ${i}`, k: 3, mode: "rerank" }, flooded)));
    const codes = responses.map((r) => r.statusCode);
    assert.ok(codes.every((c) => c === 200 || c === 503), codes.join(","));
    const busy = responses.filter((r) => r.statusCode === 503);
    assert.ok(busy.length > 0 && busy.length < 40, `503s: ${busy.length}`);
    assert.equal(busy[0]!.headers["retry-after"], "1");
    assert.match(busy[0]!.json<{ message: string }>().message, /at capacity/);
    assert.equal((await post("/search", { query: "salt", k: 2, mode: "bm25" }, flooded)).statusCode, 200);
  });
  it("close() lets a request in flight finish and refuses new connections", async () => {
    const slowService = await loadService(sources(set));
    const original = slowService.searcher.searchBatch.bind(slowService.searcher);
    slowService.searcher.searchBatch = async (...args) => {
      await new Promise((r) => setTimeout(r, 300));
      return original(...args);
    };
    const slow = await buildApp({ service: Promise.resolve(slowService) });
    const url = await slow.listen({ host: "127.0.0.1", port: 0 });
    const inFlight = fetch(`${url}/search`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "vitamin", k: 2, mode: "dense" }) });
    await new Promise((r) => setTimeout(r, 100));
    const closed = slow.close();
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { results: Hit[] }).results.length, 2);
    await closed;
    await assert.rejects(fetch(`${url}/health`));
  });
});

describe("md2pr serve", () => {
  it("prints its URL, serves, and exits 0 on SIGTERM", async () => {
    const child = spawn(process.execPath, [join(root, "bin", "md2pr.js"), "serve", "--retriever", set.retriever, "--index", set.index, "--bm25", set.bm25,
      "--corpus", set.corpus, "--port", "0"], { cwd: root, env: { ...process.env, MD2PR_NUM_THREADS: "1" } });
    let stderr = "";
    const ready = new Promise<string>((resolve, reject) => {
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        const m = /ready in .* search page (http:\/\/127\.0\.0\.1:\d+)\//.exec(stderr);
        if (m) resolve(m[1]!);
      });
      child.on("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const url = await ready;
    const res = await fetch(`${url}/search`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "hypertension", k: 2, mode: "hybrid" }) });
    assert.equal(res.status, 200);
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    child.kill("SIGTERM");
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /SIGTERM: no new connections[\s\S]*serve: stopped/);
  });
  it("refuses --retriever without --index", async () => {
    const child = spawn(process.execPath, [join(root, "bin", "md2pr.js"), "serve", "--retriever", set.retriever], { cwd: root });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 1);
    assert.match(stderr, /^md2pr serve: --retriever and --index go together/m);
  });
});
