/** BM25 as the lexical scorer of the ranker's optional lexical prior: s(q, d) for any listed passages. */
import type { Bm25Index } from "../retrieval/bm25.ts";
import type { LexicalScorer } from "./ranker-stage.ts";

export function bm25LexicalScorer(bm25: Bm25Index): LexicalScorer {
  const n = bm25.numDocs;
  const acc = new Float64Array(n);
  const mark = new Uint8Array(n);
  return (query, ids) => {
    const touched: number[] = [];
    bm25.accumulate(query, acc, mark, touched);
    const out = new Float32Array(ids.length);
    ids.forEach((id, i) => {
      const d = bm25.docIndex(id);
      out[i] = d >= 0 && mark[d] ? acc[d]! : 0;
    });
    for (const d of touched) mark[d] = 0;
    return out;
  };
}
