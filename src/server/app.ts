/**
 * The HTTP service of `md2pr serve` on Fastify: POST /search, /embed, /rerank, GET /health, the OpenAPI
 * description at /openapi.json, and the search page at /. It listens while the models load (503 with Retry-After
 * until they are), validates every body by schema (400 with a message; bodies over the limit 413), and answers 503
 * when the work queue is full. Closing it (SIGTERM in `md2pr serve`) stops accepting connections and lets the
 * requests in flight finish.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from "fastify";
import { ServiceBusyError } from "./queue.ts";
import { DEFAULT_LIMITS, embedSchema, healthSchema, rerankSchema, searchSchema, type Limits } from "./schemas.ts";
import type { RerankPassage, SearchService, ServeMode } from "./service.ts";

export interface AppOptions {
  /** Resolves to the loaded service; until it does, model routes answer 503. */
  service: Promise<SearchService>;
  limits?: Partial<Limits>;
  /** Fastify's logger (false: none). */
  logger?: boolean;
  version?: string;
}

/** An error the client caused: answered 400 with its message. */
export class BadRequestError extends Error {}

type LoadState = { status: "loading" } | { status: "ready"; service: SearchService } | { status: "failed"; message: string };

interface SchemaIssue {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/** One readable sentence for the first schema violation, naming the field: "body.k must be <= 100". */
export function describeSchemaError(issue: SchemaIssue, dataVar: string): string {
  const field = `${dataVar}${issue.instancePath.replace(/\//g, ".")}`;
  switch (issue.keyword) {
    case "required": return `${field} must have the field '${String(issue.params.missingProperty)}'`;
    case "additionalProperties": return `${field} has an unknown field '${String(issue.params.additionalProperty)}'`;
    case "enum": return `${field} must be one of: ${(issue.params.allowedValues as unknown[]).join(", ")}`;
    case "pattern": return `${field} must contain a non-space character`;
    case "minLength": return issue.params.limit === 1 ? `${field} must not be empty` : `${field} ${issue.message}`;
    case "maxLength": return `${field} is too long (at most ${String(issue.params.limit)} characters)`;
    default: return `${field} ${issue.message ?? "is invalid"}`;
  }
}

/**
 * A file of the search page: next to this module (src/server/page), or, when running the compiled dist/server/,
 * from the checkout's src/server/page (tsc does not copy non-TypeScript files).
 */
function page(name: string): string {
  for (const dir of ["./page/", "../../src/server/page/"]) {
    const url = new URL(`${dir}${name}`, import.meta.url);
    if (existsSync(url)) return readFileSync(url, "utf8");
  }
  throw new Error(`search page file ${name} not found next to ${fileURLToPath(import.meta.url)} (copy src/server/page/ beside the compiled server)`);
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: limits.bodyBytes,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    requestTimeout: 60_000,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    schemaErrorFormatter: (errors, dataVar) => new BadRequestError(describeSchemaError(errors[0] as SchemaIssue, dataVar)),
  });

  let state: LoadState = { status: "loading" };
  options.service.then(
    (service) => { state = { status: "ready", service }; },
    (err: unknown) => { state = { status: "failed", message: err instanceof Error ? err.message : String(err) }; },
  );
  // While closing, answers (to the requests in flight) end their keep-alive connection so close() need not wait for it.
  let closing = false;
  app.addHook("preClose", async () => { closing = true; });
  app.addHook("onSend", async (_request, reply) => {
    if (closing) reply.header("connection", "close");
  });
  app.addHook("onClose", async () => {
    if (state.status === "ready") await state.service.close();
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: { title: "md2pr search service", version: options.version ?? "0.0.0", description: "Dense, BM25, hybrid and reranked passage search with md2pr models." },
    },
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof BadRequestError || err.validation) return sendError(reply, 400, err.message);
    if (err instanceof ServiceBusyError) return sendError(reply.header("retry-after", "1"), 503, err.message);
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) return sendError(reply, status, err.message);
    request.log.error(err);
    return sendError(reply, 500, `internal error: ${err.message}`);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, 404, `no route ${request.method} ${request.url}; the API is described at /openapi.json`));

  /** The loaded service, or a 503 answer while loading / after a failed load. */
  const ready = (reply: FastifyReply): SearchService | null => {
    if (state.status === "ready") return state.service;
    if (state.status === "loading") sendError(reply.header("retry-after", "1"), 503, "the models are still loading; retry shortly");
    else sendError(reply, 503, `the models failed to load: ${state.message}`);
    return null;
  };

  app.post<{ Body: { query: string; k: number; mode?: ServeMode } }>("/search", { schema: searchSchema(limits) }, async (request, reply) => {
    const t0 = performance.now();
    const service = ready(reply);
    if (!service) return reply;
    const { query, k } = request.body;
    const mode = request.body.mode ?? service.searcher.defaultMode;
    const reason = service.unavailable(mode);
    if (reason) throw new BadRequestError(reason);
    const answer = await service.search(query, k, mode);
    return { query, mode, k, took_ms: performance.now() - t0, batch: answer.batch, results: answer.results };
  });

  app.post<{ Body: { texts: string[]; side: "query" | "passage" } }>("/embed", { schema: embedSchema(limits) }, async (request, reply) => {
    const service = ready(reply);
    if (!service) return reply;
    if (!service.searcher.retriever) throw new BadRequestError("this server has no retriever (start it with --retriever)");
    const vectors = await service.embed(request.body.texts, request.body.side);
    return { dim: service.searcher.retriever.dim, side: request.body.side, embeddings: vectors.map((v) => Array.from(v)) };
  });

  app.post<{ Body: { query: string; passages: RerankPassage[] } }>("/rerank", { schema: rerankSchema(limits) }, async (request, reply) => {
    const service = ready(reply);
    if (!service) return reply;
    if (!service.searcher.ranker) throw new BadRequestError("this server has no ranker (start it with --ranker)");
    return { results: await service.rerank(request.body.query, request.body.passages) };
  });

  app.get("/health", { schema: healthSchema }, async (_request, reply) => {
    if (state.status === "ready") return { status: "ok", ...state.service.info, limits, queue: state.service.stats };
    reply.code(503).header("retry-after", "1");
    return state.status === "loading" ? { status: "loading", message: "the models are still loading" } : { status: "failed", message: state.message };
  });

  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  const files = { "index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8" } as const;
  const contents = Object.fromEntries(Object.keys(files).map((f) => [f, page(f)])) as Record<keyof typeof files, string>;
  app.get("/", { schema: { hide: true } }, async (_request, reply) => reply.type(files["index.html"]).send(contents["index.html"]));
  for (const name of ["app.js", "style.css"] as const) {
    app.get(`/page/${name}`, { schema: { hide: true } }, async (_request, reply) => reply.type(files[name]).send(contents[name]));
  }
  return app;
}

function sendError(reply: FastifyReply, statusCode: number, message: string): FastifyReply {
  const error = { 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large", 415: "Unsupported Media Type", 500: "Internal Server Error", 503: "Service Unavailable" }[statusCode] ?? "Error";
  return reply.code(statusCode).send({ statusCode, error, message });
}
