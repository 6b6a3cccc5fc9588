/**
 * Starting and stopping the service: listen first, then load the models (requests get 503 until they are loaded),
 * and on SIGTERM / SIGINT close gracefully (no new connections; the requests in flight finish; then exit).
 */
import type { FastifyInstance } from "fastify";
import { Searcher, type CorpusText } from "../index.ts";
import { buildApp } from "./app.ts";
import type { Limits } from "./schemas.ts";
import { DEFAULT_SERVICE_OPTIONS, SearchService, type ServiceOptions } from "./service.ts";

export interface ServerSources {
  retriever?: string;
  index?: string;
  bm25?: string;
  ranker?: string;
  /** Loads the passages (id -> title, text) when the index stores none. */
  corpus?: () => Promise<ReadonlyMap<string, CorpusText>>;
}

export interface StartOptions {
  sources: ServerSources;
  host: string;
  port: number;
  version?: string;
  limits?: Partial<Limits>;
  service?: Partial<ServiceOptions>;
  /** Status lines (default: stderr). */
  log?: (message: string) => void;
  /** Install SIGTERM/SIGINT handlers that close the server and exit (default true). */
  handleSignals?: boolean;
}

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  /** Resolves when the models are loaded; rejects (after closing the server) when loading fails. */
  loaded: Promise<SearchService>;
  /** Stops accepting connections, waits for the requests in flight, releases the models. */
  close(): Promise<void>;
}

/** Loads the searcher of `sources` and wraps it in a service. */
export async function loadService(sources: ServerSources, options: Partial<ServiceOptions> = {}): Promise<SearchService> {
  const corpus = sources.corpus ? await sources.corpus() : undefined;
  const searcher = await Searcher.open({ retriever: sources.retriever, index: sources.index, bm25: sources.bm25, ranker: sources.ranker, corpus });
  return new SearchService(searcher, { ...DEFAULT_SERVICE_OPTIONS, ...options });
}

export async function startServer(options: StartOptions): Promise<RunningServer> {
  const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  let resolveLoad!: (s: SearchService) => void;
  let rejectLoad!: (e: unknown) => void;
  const service = new Promise<SearchService>((resolve, reject) => { resolveLoad = resolve; rejectLoad = reject; });
  service.catch(() => {}); // the app and `loaded` report the failure
  const app = await buildApp({ service, limits: options.limits, version: options.version });
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const url = `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`;
  log(`serve: listening on ${url} (loading the models; /health says when they are ready)`);

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => (closing ??= app.close());
  const loaded = (async () => {
    const t0 = Date.now();
    try {
      const s = await loadService(options.sources, options.service);
      resolveLoad(s);
      log(`serve: ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; modes ${s.modes.join(", ")}; search page ${url}/ ; API ${url}/openapi.json`);
      return s;
    } catch (err) {
      rejectLoad(err);
      await close();
      throw err;
    }
  })();
  loaded.catch(() => {});

  if (options.handleSignals ?? true) {
    const onSignal = (signal: NodeJS.Signals): void => {
      log(`serve: ${signal}: no new connections; finishing the requests in flight`);
      close().then(
        () => { log("serve: stopped"); process.exit(0); },
        (err: unknown) => { log(`serve: error while closing: ${(err as Error).message}`); process.exit(1); },
      );
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  }
  return { app, url, loaded, close };
}
