/**
 * Dense retrieval, one import for its parts: exact inner-product search and the exact index (dense-exact.ts),
 * the on-disk format (dense-format.ts), the resumable writer for encoding runs (embedding-writer.ts) and the
 * approximate HNSW index (hnsw-index.ts).
 */
export { exactTopK, DenseIndex, normalizeRows, type Gemm, type ExactSearchOptions } from "./dense-exact.ts";
export type { TopKResult, DenseIndexInfo, DenseIndexMeta } from "./dense-format.ts";
export { EmbeddingWriter } from "./embedding-writer.ts";
export { HnswIndex, recallAgainstExact, type HnswOptions } from "./hnsw-index.ts";
