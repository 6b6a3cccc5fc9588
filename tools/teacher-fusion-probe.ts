/**
 * Issue 8, "what would make the teacher stronger": scores dev's and test's BM25 top 100 with BM25, a ranker (its
 * whole score and its neural part, score - lambda * BM25), the contrastive base as a zero-shot dense retriever
 * (models/base-scifact-cpt, mean pooling, dot) and the demo's retriever, then reports nDCG@10 of each alone and of
 * convex z-score fusions of two of them, the weight chosen on dev (grid 0, 0.05, ..., 1) and then applied to test.
 *
 *   node --import tsx tools/teacher-fusion-probe.ts --ranker runs/demo-v4/ranker --retriever runs/demo-v4/retriever \
 *     [--pool mean] [--cache runs/exp/posthoc-scores.json] [--prior-record runs/r2/teacher-prior-round2.json]
 *
 * --prior-record: also the round-two teacher s_C + mu x s_R1 with the mu the pipeline chose on dev
 * (--second-round-teacher-prior), on dev and test; --retriever must then be the round-one retriever.
 *
 * Needs runs/demo (BM25 index, as tools/dev-probe-ranker.ts). The scores are cached in --cache (a rerun only
 * re-analyses). MD2PR_NUM_THREADS=1: about 5 minutes on one core.
 */
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { CrossEncoder } from "../src/models/cross-encoder.ts";
import { DualEncoder } from "../src/models/dual-encoder.ts";
import { TokenizedCorpus } from "../src/retrieval/tokenized-corpus.ts";
import { convexFusion } from "../src/retrieval/fusion.ts";
import { evaluateRun, type SearchHit } from "../src/retrieval/metrics.ts";
import { loadPipelineData, readPipelineConfig, loadOrBuildBm25, loadTokenizer, queriesOf } from "../src/training/pipeline.ts";
import { DEMO_OVERRIDES, DEMO_BASE } from "../src/cli/demo.ts";
import { bm25LexicalScorer } from "../src/training/lexical.ts";
import { scorePairs } from "../src/training/ranker-stage.ts";
import { bm25Run } from "../src/training/evaluation.ts";
import { encodePieces, encodeQueries } from "../src/encoding/encode-corpus.ts";
import { writeJsonAtomic } from "../src/util/atomic.ts";
import { meanPooledHead } from "./mean-pooled-head.ts";

const { values: a } = parseArgs({ options: {
  ranker: { type: "string", default: "runs/demo-v4/ranker" }, retriever: { type: "string", default: "runs/demo-v4/retriever" },
  pool: { type: "string", default: "cls" }, "prior-record": { type: "string" }, cache: { type: "string", default: "runs/exp/teacher-fusion-scores.json" },
} });
type Row = { ids: string[]; bm25: number[]; ranker: number[]; base: number[]; final: number[] };
type Split = { qrels: Record<string, Record<string, number>>; rows: Record<string, Row> };
type Cache = { lambda: number; dev: Split; test: Split };

async function computeScores(): Promise<Cache> {
  const cfg = readPipelineConfig(null, { ...DEMO_OVERRIDES, base: DEMO_BASE, outputDir: "runs/demo" });
  const data = await loadPipelineData(cfg);
  const bm25 = await loadOrBuildBm25(cfg, data.docs);
  const corpus = new TokenizedCorpus(data.docs, loadTokenizer(cfg));
  const lex = bm25LexicalScorer(bm25);
  const ranker = CrossEncoder.load(a.ranker!);
  if (a.pool === "mean") meanPooledHead(ranker);
  const encoders = {
    base: DualEncoder.fromBert(DEMO_BASE, { pooling: "mean", similarity: "dot", maxQueryLength: 32, maxPassageLength: 96 }),
    final: DualEncoder.load(a.retriever!),
  };
  const docRow = new Map(corpus.ids.map((id, i) => [id, i]));
  const H = encoders.base.config.hiddenSize;
  const docVectors = Object.fromEntries(Object.entries(encoders).map(([k, m]) => [k, encodePieces(m, corpus.ids.map((id) => corpus.passage(id)), "passage", corpus.specials)]));
  const split = (qrels: typeof data.dev): Split => {
    const queries = queriesOf(data, qrels);
    const qids = [...queries.keys()];
    const run = bm25Run(bm25, queries, 100);
    const qVectors = Object.fromEntries(Object.entries(encoders).map(([k, m]) => [k, encodeQueries(m, corpus, qids.map((q) => queries.get(q)!))]));
    const dot = (k: string, qi: number, id: string): number => {
      const q = qVectors[k]!, d = docVectors[k]!, o = docRow.get(id)! * H;
      let s = 0;
      for (let j = 0; j < H; j++) s += q[qi * H + j]! * d[o + j]!;
      return s;
    };
    const rows: Record<string, Row> = {};
    qids.forEach((qid, qi) => {
      const ids = run.get(qid)!.map((h) => h.id);
      rows[qid] = {
        ids, bm25: run.get(qid)!.map((h) => h.score), ranker: [...scorePairs(ranker, corpus, queries.get(qid)!, ids, cfg.lengths, 64, lex)],
        base: ids.map((id) => dot("base", qi, id)), final: ids.map((id) => dot("final", qi, id)),
      };
    });
    return { qrels: Object.fromEntries([...qrels].map(([q, m]) => [q, Object.fromEntries(m)])), rows };
  };
  return { lambda: ranker.lexicalWeight?.data[0] ?? 0, dev: split(data.dev), test: split(data.test) };
}

const cache: Cache = existsSync(a.cache!) ? JSON.parse(readFileSync(a.cache!, "utf8")) as Cache : await computeScores();
if (!existsSync(a.cache!)) writeJsonAtomic(a.cache!, cache);

type Feature = (r: Row) => number[];
const features: Record<string, Feature> = {
  bm25: (r) => r.bm25, ranker: (r) => r.ranker, "ranker neural part": (r) => r.ranker.map((s, i) => s - cache.lambda * r.bm25[i]!),
  "base dense": (r) => r.base, "demo retriever": (r) => r.final,
};
const hitsOf = (r: Row, f: Feature): SearchHit[] => f(r).map((score, i) => ({ id: r.ids[i]!, score }));
function ndcg(s: Split, rank: (r: Row) => SearchHit[]): number {
  const run = new Map(Object.entries(s.rows).map(([q, r]) => [q, rank(r)]));
  const qrels = new Map(Object.entries(s.qrels).map(([q, m]) => [q, new Map(Object.entries(m))]));
  return evaluateRun(run, qrels, ["ndcg@10"]).mean["ndcg@10"]!;
}
console.log(`lambda ${cache.lambda.toFixed(4)}`);
for (const [name, f] of Object.entries(features)) {
  console.log(`${name.padEnd(20)} dev ${ndcg(cache.dev, (r) => hitsOf(r, f)).toFixed(4)} test ${ndcg(cache.test, (r) => hitsOf(r, f)).toFixed(4)}`);
}
const weights = Array.from({ length: 21 }, (_, i) => i / 20);
for (const [x, y] of [["bm25", "ranker"], ["ranker", "base dense"], ["bm25", "base dense"], ["ranker", "demo retriever"], ["bm25", "demo retriever"]] as const) {
  const fused = (w: number) => (r: Row): SearchHit[] => convexFusion(hitsOf(r, features[x]!), hitsOf(r, features[y]!), "zscore", w);
  const dev = weights.map((w) => ndcg(cache.dev, fused(w)));
  const best = dev.indexOf(Math.max(...dev));
  console.log(`${x} + ${y}: dev best w ${weights[best]!.toFixed(2)} ${dev[best]!.toFixed(4)}, test ${ndcg(cache.test, fused(weights[best]!)).toFixed(4)}`);
}

if (a["prior-record"]) {
  const mu = (JSON.parse(readFileSync(a["prior-record"], "utf8")) as { weight: number }).weight;
  const teacher = (r: Row): SearchHit[] => r.ranker.map((s, i) => ({ id: r.ids[i]!, score: s + mu * r.final[i]! }));
  console.log(`round-two teacher, ranker + ${mu.toFixed(4)} x retriever: dev ${ndcg(cache.dev, teacher).toFixed(4)} test ${ndcg(cache.test, teacher).toFixed(4)}`);
}
