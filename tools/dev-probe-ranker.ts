/**
 * Dev-split probe of a ranker setting (README, "Choices made on the dev split"): trains a cross-encoder from the
 * shipped base on the demo's BM25-mined SciFact training file with the given lr, steps and initial lexical-prior
 * weight lambda (0: no prior), then prints its dev nDCG@10 reranking BM25's top 20 and top 100, and how its scores
 * spread over [d+, 3 BM25 negatives] of 300 training queries (how often the positive is first; mean softmax mass
 * on it: what the sentence level would distill).
 *
 *   node --import tsx tools/dev-probe-ranker.ts --lr 1e-3 --steps 300 --lambda 1 --out runs/exp/rk-lr1e3-l1
 *
 * `--pool mean` swaps the classifier's input for the mean of the pair's states (an experiment; README, issue 8).
 * Needs runs/demo (the demo's BM25 index and training file); MD2PR_NUM_THREADS=1 to run two probes side by side.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { CrossEncoder } from "../src/models/cross-encoder.ts";
import { TokenizedCorpus } from "../src/retrieval/tokenized-corpus.ts";
import { loadPipelineData, readPipelineConfig, loadOrBuildBm25, mineTrainingExamples, loadTokenizer, queriesOf } from "../src/training/pipeline.ts";
import { DEMO_OVERRIDES, DEMO_BASE, DEMO_RANKER_BASE } from "../src/cli/demo.ts";
import { bm25LexicalScorer } from "../src/training/lexical.ts";
import { scorePairs, RankerStage } from "../src/training/ranker-stage.ts";
import { bm25Run, rerankRun, score } from "../src/training/evaluation.ts";
import { runTrainingLoop } from "../src/training/loop.ts";
import { meanPooledHead } from "./mean-pooled-head.ts";
const { values: a } = parseArgs({ options: { lr: { type: "string", default: "1e-3" }, steps: { type: "string", default: "300" }, lambda: { type: "string", default: "1" }, out: { type: "string" }, base: { type: "string", default: DEMO_RANKER_BASE }, bs: { type: "string", default: "8" }, n: { type: "string", default: "7" }, pool: { type: "string", default: "cls" } } });
const cfg = readPipelineConfig(null, { ...DEMO_OVERRIDES, base: DEMO_BASE, outputDir: "runs/demo" });
const data = await loadPipelineData(cfg);
const bm25 = await loadOrBuildBm25(cfg, data.docs);
const ex = await mineTrainingExamples(cfg, data, bm25);
const corpus = new TokenizedCorpus(data.docs, loadTokenizer(cfg));
const lam = Number(a.lambda);
const lex = lam > 0 ? bm25LexicalScorer(bm25) : undefined;
const r = CrossEncoder.load(a.base!, { lexicalPrior: lam > 0 ? lam : false, seed: 0 });
if (a.pool === "mean") meanPooledHead(r);
const steps = Number(a.steps);
const stage = new RankerStage(r, ex, corpus, { batchSize: Number(a.bs), negatives: Number(a.n), lengths: cfg.lengths, seed: 0, lexical: lex });
await runTrainingLoop(stage, { outputDir: a.out!, steps, gradientAccumulation: 1, learningRate: Number(a.lr), warmupSteps: Math.round(steps / 10), weightDecay: 0.01, maxGradNorm: 1, seed: 0, checkpointEvery: 100, evalEvery: 0, resume: true, label: "ranker" });
r.save(join(a.out!, "model"), {});
console.log("lambda", r.lexicalWeight?.data[0]);
const devQ = queriesOf(data, data.dev);
for (const depth of [20, 100]) {
  const first = bm25Run(bm25, devQ, depth);
  console.log(`dev rerank@${depth}`, JSON.stringify(score(await rerankRun(r, corpus, devQ, first, depth, cfg.lengths, lex), data.dev).metrics));
}
let top = 0, ppos = 0, n = 0;
for (const e of ex.slice(0, 300)) {
  const ids = [e.positiveIds[0]!, ...e.negativeIds.slice(0, 3)];
  const s = scorePairs(r, corpus, e.query, ids, cfg.lengths, 64, lex);
  const m = Math.max(...s); const e2 = [...s].map((x) => Math.exp(x - m)); const z = e2.reduce((x, y) => x + y);
  ppos += e2[0]! / z; if (s[0] === m) top++; n++;
  if (n <= 4) console.log([...s].map((x) => x.toFixed(2)).join(" "));
}
console.log("train teacher", JSON.stringify({ top1pos: top / n, meanPpos: ppos / n }));
