/**
 * Load test of `md2pr serve` on loopback: concurrent clients (autocannon) POST /search in each mode, for a bounded
 * number of requests and a bounded time per run; throughput, p50/p99 latency and errors, with the machine's state.
 *
 *   node --import tsx bench/load.ts [--run runs/demo] [--corpus data/scifact/corpus.jsonl] [--modes dense,bm25,hybrid,rerank]
 *       [--connections 1,16] [--requests 2000] [--seconds 10] [--batching] [--flood] [--json FILE]
 *
 * The server runs in a child process (`md2pr serve --port 0`, loopback only) on the run directory's retriever,
 * index-retriever, bm25 and ranker; the queries are SciFact's test queries, cycled. --batching also runs dense at the
 * largest connection count with the server's batching off (--max-batch 1) to show what batching changes. --flood
 * starts a server with a small queue (--max-queue 16) and sends 512 connections of dense queries: the excess must get
 * 503 (counted), no socket errors, and the server must still answer /health afterwards.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "./common.ts";

const { values } = parseArgs({
  options: {
    run: { type: "string", default: "runs/demo" },
    corpus: { type: "string", default: "data/scifact/corpus.jsonl" },
    queries: { type: "string", default: "data/scifact/queries.jsonl" },
    qrels: { type: "string", default: "data/scifact/qrels/test.tsv" },
    modes: { type: "string", default: "dense,bm25,hybrid,rerank" },
    connections: { type: "string", default: "1,16" },
    requests: { type: "string", default: "2000" },
    seconds: { type: "string", default: "10" },
    k: { type: "string", default: "10" },
    batching: { type: "boolean", default: false },
    flood: { type: "boolean", default: false },
    json: { type: "string" },
  },
});

const MAX_SECONDS = Number(values.seconds);
const MAX_REQUESTS = Number(values.requests);
const K = Number(values.k);

interface Row {
  mode: string;
  connections: number;
  maxBatch: number;
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  status503: number;
  meanBatch: number | null;
}

/** The test queries (SciFact queries judged in the qrels), in file order. */
function testQueries(): string[] {
  const judged = new Set(readFileSync(join(REPO_ROOT, values.qrels), "utf8").split("\n").slice(1).map((l) => l.split("\t")[0]).filter(Boolean));
  return readFileSync(join(REPO_ROOT, values.queries), "utf8").split("\n").filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { _id: string; text: string }).filter((q) => judged.has(q._id)).map((q) => q.text);
}

interface Server { child: ChildProcess; url: string; stop(): Promise<number | null> }

async function startServer(extra: string[]): Promise<Server> {
  const run = join(REPO_ROOT, values.run);
  const args = [join(REPO_ROOT, "bin", "md2pr.js"), "serve", "--retriever", join(run, "retriever"), "--index", join(run, "index-retriever"),
    "--bm25", join(run, "bm25"), "--ranker", join(run, "ranker"), "--corpus", join(REPO_ROOT, values.corpus), "--host", "127.0.0.1", "--port", "0", ...extra];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: process.env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
      const m = /ready in .* search page (http:\/\/127\.0\.0\.1:\d+)\//.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.on("exit", (code) => reject(new Error(`md2pr serve exited ${code}:\n${stderr}`)));
  });
  return {
    child, url,
    stop: () => new Promise((resolve) => { child.once("exit", resolve); child.kill("SIGTERM"); }),
  };
}

interface ClientResult { requests: number; duration: number; p50: number; p99: number; errors: number; timeouts: number; non2xx: number; status503: number; meanBatch: number | null }

/** One autocannon run in a plain-node child (bench/load-client.mjs), so the client does not share the server's CPU time slice either. */
async function load(url: string, mode: string, connections: number, queries: string[], seconds = MAX_SECONDS, amount = MAX_REQUESTS): Promise<Omit<Row, "maxBatch">> {
  const options = JSON.stringify({ url, mode, k: K, connections, amount, seconds, queries });
  const child = spawn(process.execPath, [join(REPO_ROOT, "bench", "load-client.mjs"), options], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`load client exited ${code}`);
  const r = JSON.parse(stdout) as ClientResult;
  return {
    mode, connections, requests: r.requests, seconds: r.duration, rps: r.requests / r.duration, p50: r.p50, p99: r.p99,
    errors: r.errors + r.timeouts, non2xx: r.non2xx, status503: r.status503, meanBatch: r.meanBatch,
  };
}

function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? "?"} x ${cpus.length}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}; ` +
    `node ${process.version}; MD2PR_NUM_THREADS=${process.env.MD2PR_NUM_THREADS ?? "(unset)"}`;
}

function table(rows: Row[]): string {
  const head = "| mode | clients | server max batch | requests | req/s | p50 ms | p99 ms | mean batch | errors | non-2xx (503) |";
  const sep = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|";
  const lines = rows.map((r) => `| ${r.mode} | ${r.connections} | ${r.maxBatch} | ${r.requests} | ${r.rps.toFixed(1)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ` +
    `${r.meanBatch === null ? "-" : r.meanBatch.toFixed(1)} | ${r.errors} | ${r.non2xx} (${r.status503}) |`);
  return [head, sep, ...lines].join("\n");
}

const queries = testQueries();
const modes = values.modes.split(",").map((m) => m.trim()).filter(Boolean);
const connectionCounts = values.connections.split(",").map(Number);
console.error(`machine: ${machine()}`);
console.error(`${queries.length} SciFact test queries, k ${K}; each run at most ${MAX_REQUESTS} requests and ${MAX_SECONDS} s`);
const rows: Row[] = [];
const before = machine();

const server = await startServer([]);
for (const mode of modes) {
  await load(server.url, mode, 1, queries, 2, 20); // warm-up (first-call costs: tokenizer caches, JIT)
  for (const connections of connectionCounts) {
    const r = { ...(await load(server.url, mode, connections, queries)), maxBatch: 32 };
    rows.push(r);
    console.error(table([r]).split("\n")[2]);
  }
}
await server.stop();

if (values.batching) {
  const top = Math.max(...connectionCounts);
  const unbatched = await startServer(["--max-batch", "1"]);
  await load(unbatched.url, "dense", 1, queries, 2, 20);
  const r = { ...(await load(unbatched.url, "dense", top, queries)), maxBatch: 1 };
  rows.push(r);
  console.error(table([r]).split("\n")[2]);
  await unbatched.stop();
}

let flood: { connections: number; requests: number; ok: number; status503: number; errors: number; healthAfter: number; exitCode: number | null } | null = null;
if (values.flood) {
  const small = await startServer(["--max-queue", "16"]);
  const r = await load(small.url, "dense", 512, queries, 5, 20000);
  const health = await fetch(`${small.url}/health`);
  flood = { connections: 512, requests: r.requests, ok: r.requests - r.non2xx, status503: r.status503, errors: r.errors, healthAfter: health.status, exitCode: await small.stop() };
  console.error(`flood: ${JSON.stringify(flood)}`);
}

console.log(`\nmachine before: ${before}\nmachine after:  ${machine()}\n`);
console.log(table(rows));
if (flood) {
  console.log(`\nflood (dense, ${flood.connections} clients, server --max-queue 16): ${flood.requests} requests, ${flood.ok} answered 200, ` +
    `${flood.status503} refused with 503, ${flood.errors} socket errors/timeouts; /health afterwards ${flood.healthAfter}; server exit code on SIGTERM ${flood.exitCode}`);
}
if (values.json) writeFileSync(values.json, `${JSON.stringify({ machine: before, rows, flood }, null, 2)}\n`);
