/**
 * Request and response schemas of the HTTP service (JSON Schema, used by Fastify for validation and fast
 * serialisation, and by @fastify/swagger for the OpenAPI description). Types are strict: no coercion ("5" is not
 * a k), no unknown fields.
 */
import { SERVE_MODES } from "./service.ts";

export interface Limits {
  /** Longest query, in characters. */
  maxQueryChars: number;
  /** Largest k of /search. */
  maxK: number;
  /** Most texts of one /embed call, and most passages of one /rerank call. */
  maxItems: number;
  /** Longest text of /embed and /rerank, in characters. */
  maxTextChars: number;
  /** Largest request body, in bytes (more: 413). */
  bodyBytes: number;
}

export const DEFAULT_LIMITS: Limits = { maxQueryChars: 1000, maxK: 100, maxItems: 64, maxTextChars: 10_000, bodyBytes: 256 * 1024 };

const errorBody = {
  type: "object",
  properties: { statusCode: { type: "integer" }, error: { type: "string" }, message: { type: "string" } },
  required: ["statusCode", "error", "message"],
} as const;

/** A string with at least one non-space character. */
const text = (maxLength: number, description: string) => ({ type: "string", minLength: 1, maxLength, pattern: "\\S", description }) as const;

const errors = { 400: errorBody, 503: errorBody } as const;

export function searchSchema(limits: Limits) {
  return {
    summary: "Search the passages",
    description: "dense: the retriever over the dense index; bm25; hybrid: BM25 and dense fused; rerank: the ranker over the top of the first stage (see /health). Default mode: hybrid when there are both indexes, else the one there is.",
    body: {
      type: "object",
      additionalProperties: false,
      required: ["query"],
      properties: {
        query: text(limits.maxQueryChars, "the query text"),
        k: { type: "integer", minimum: 1, maximum: limits.maxK, default: 10, description: "number of results" },
        mode: { type: "string", enum: [...SERVE_MODES], description: "retrieval mode" },
      },
    },
    response: {
      200: {
        type: "object",
        properties: {
          query: { type: "string" },
          mode: { type: "string" },
          k: { type: "integer" },
          took_ms: { type: "number", description: "server time for this request, queueing included" },
          batch: { type: "integer", description: "queries that shared this request's encoder pass" },
          results: {
            type: "array",
            items: {
              type: "object",
              properties: { rank: { type: "integer" }, id: { type: "string" }, score: { type: "number" }, title: { type: "string" }, text: { type: "string" } },
              required: ["rank", "id", "score"],
            },
          },
        },
        required: ["query", "mode", "k", "took_ms", "results"],
      },
      ...errors,
    },
  };
}

export function embedSchema(limits: Limits) {
  return {
    summary: "Embed texts with the retriever",
    body: {
      type: "object",
      additionalProperties: false,
      required: ["texts"],
      properties: {
        texts: { type: "array", minItems: 1, maxItems: limits.maxItems, items: text(limits.maxTextChars, "a text") },
        side: { type: "string", enum: ["query", "passage"], default: "query", description: "encode as queries or as passages" },
      },
    },
    response: {
      200: {
        type: "object",
        properties: { dim: { type: "integer" }, side: { type: "string" }, embeddings: { type: "array", items: { type: "array", items: { type: "number" } } } },
        required: ["dim", "side", "embeddings"],
      },
      ...errors,
    },
  };
}

export function rerankSchema(limits: Limits) {
  return {
    summary: "Score passages for a query with the ranker",
    body: {
      type: "object",
      additionalProperties: false,
      required: ["query", "passages"],
      properties: {
        query: text(limits.maxQueryChars, "the query text"),
        passages: {
          type: "array",
          minItems: 1,
          maxItems: limits.maxItems,
          items: {
            type: "object",
            additionalProperties: false,
            required: ["id", "text"],
            properties: { id: { type: "string", minLength: 1, maxLength: 200 }, title: { type: "string", maxLength: limits.maxTextChars }, text: text(limits.maxTextChars, "the passage") },
          },
        },
      },
    },
    response: {
      200: {
        type: "object",
        properties: {
          results: { type: "array", items: { type: "object", properties: { rank: { type: "integer" }, id: { type: "string" }, score: { type: "number" } }, required: ["rank", "id", "score"] } },
        },
        required: ["results"],
      },
      ...errors,
    },
  };
}

export const healthSchema = {
  summary: "Whether the models are loaded, what the server can do, and its queue",
  response: {
    200: { type: "object", additionalProperties: true, properties: { status: { type: "string" } }, required: ["status"] },
    503: { type: "object", additionalProperties: true, properties: { status: { type: "string" }, message: { type: "string" } }, required: ["status"] },
  },
};
