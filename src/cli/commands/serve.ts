/** `md2pr serve`: the HTTP search service and search page (src/server). */
import type { Command } from "commander";
import { loadCorpusFile } from "../io.ts";
import { action, CliError, log, newCommand, packageVersion, parsePositiveIntArg, requireDir, requireFile } from "../util.ts";

interface ServeCommandOptions {
  retriever?: string;
  index?: string;
  ranker?: string;
  bm25?: string;
  corpus?: string;
  host: string;
  port: number;
  maxK: number;
  maxQueryChars: number;
  bodyLimit: number;
  maxQueue: number;
  maxBatch: number;
  rerankDepth: number;
}

export function serveCommand(): Command {
  const cmd = newCommand(
    "serve",
    "Serves search over HTTP (Fastify): POST /search {query, k, mode: dense|bm25|hybrid|rerank}, POST /embed {texts, side}, " +
      "POST /rerank {query, passages}, GET /health, the OpenAPI description at /openapi.json, and a search page at / " +
      "comparing two modes side by side. --retriever with --index (exact, HNSW or LanceDB) gives dense search, --bm25 " +
      "BM25, both hybrid; --ranker adds the rerank mode (the ranker over the top --rerank-depth results of dense search, " +
      "or BM25 without a dense index). Passage text comes from a LanceDB index or --corpus. Concurrent queries of one " +
      "mode share an encoder forward pass (up to --max-batch); beyond --max-queue waiting requests the server answers " +
      "503. SIGTERM or Ctrl-C stops it after the requests in flight.",
    "md2pr serve --retriever runs/demo/retriever --index runs/demo/index-retriever --bm25 runs/demo/bm25 " +
      "--ranker runs/demo/ranker --corpus data/scifact/corpus.jsonl --port 8080",
  );
  cmd
    .option("--retriever <dir>", "retriever directory (dense and hybrid search, /embed)")
    .option("--index <dir>", "dense index of that retriever: exact or HNSW directory, or LanceDB location")
    .option("--bm25 <dir>", "BM25 index directory")
    .option("--ranker <dir>", "ranker directory (rerank mode, /rerank)")
    .option("--corpus <file>", "the passages (BEIR corpus.jsonl, MS MARCO or DPR tsv) for titles and text")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port (0: any free port)", (v) => Number.parseInt(v, 10), 8080)
    .option("--max-k <n>", "largest k of /search", parsePositiveIntArg, 100)
    .option("--max-query-chars <n>", "longest query", parsePositiveIntArg, 1000)
    .option("--body-limit <bytes>", "largest request body (more: 413)", parsePositiveIntArg, 256 * 1024)
    .option("--max-queue <n>", "requests allowed to wait for the models (more: 503)", parsePositiveIntArg, 256)
    .option("--max-batch <n>", "most concurrent queries in one encoder forward pass (1: no batching)", parsePositiveIntArg, 32)
    .option("--rerank-depth <n>", "rerank mode: first-stage results the ranker rescores", parsePositiveIntArg, 20)
    .action(action("serve", async () => {
      const o = cmd.opts<ServeCommandOptions>();
      if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new CliError(`--port must be 0..65535, got ${o.port}`);
      if (Boolean(o.retriever) !== Boolean(o.index)) throw new CliError("--retriever and --index go together (the index must be made by that retriever)");
      if (!o.index && !o.bm25) throw new CliError("give --retriever and --index (dense), --bm25, or both (hybrid)");
      if (o.retriever) requireDir(o.retriever, "retriever directory");
      if (o.ranker) requireDir(o.ranker, "ranker directory");
      if (o.bm25) requireDir(o.bm25, "BM25 index directory");
      if (o.corpus) requireFile(o.corpus, "corpus file");
      const { startServer } = await import("../../server/start.ts");
      const server = await startServer({
        sources: { retriever: o.retriever, index: o.index, bm25: o.bm25, ranker: o.ranker, corpus: o.corpus ? () => loadCorpusFile(o.corpus!) : undefined },
        host: o.host, port: o.port, version: packageVersion(),
        limits: { maxK: o.maxK, maxQueryChars: o.maxQueryChars, bodyBytes: o.bodyLimit },
        service: { maxPending: o.maxQueue, maxBatch: o.maxBatch, rerankDepth: o.rerankDepth },
        log,
      });
      await server.loaded;
    }));
  return cmd;
}
