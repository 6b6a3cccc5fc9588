/** The retrieval layer: data readers, metrics, BM25, dense exact/HNSW search, fusion. */
export * from "./readers.ts";
export * from "./metrics.ts";
export * from "./analyzer.ts";
export * from "./bm25.ts";
export * from "./dense-index.ts";
export * from "./fusion.ts";
export { TopK } from "./topk.ts";
export { atomicWriteFile, atomicWriteDir, readLines, type NumberedLine } from "./fs-util.ts";
