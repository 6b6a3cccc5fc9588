/**
 * Dev-split probe of a retriever setting (README, "Choices made on the dev split"): trains the retriever with the
 * demo's settings but the named changes (steps, seed, alpha, beta, filter, T_C, self-supervised warm-up steps) and
 * prints its dev metrics. Single seed; the learning-rate warm-up is 10% of the steps.
 *
 *   node --import tsx tools/dev-probe-retriever.ts --warmup 200 --out runs/exp/con-warm200
 *   node --import tsx tools/dev-probe-retriever.ts --ranker runs/exp/rk-lr1e3-l1/model --alpha 1 --beta 0.1 --tc 4 --filter --warmup 200 --out runs/exp/full-tc4-b01-warm
 *
 * --base DIR starts from another base (e.g. a contrastive-pretrained one, tools/contrastive-base.ts); --strategy picks
 * the false-negative rule. Needs runs/demo (BM25 index and training file). A copy of another run's <out>/retriever-warmup skips the warm-up.
 */
import { parseArgs } from "node:util";
import { CrossEncoder } from "../src/models/cross-encoder.ts";
import { TokenizedCorpus } from "../src/retrieval/tokenized-corpus.ts";
import { loadPipelineData, readPipelineConfig, loadOrBuildBm25, mineTrainingExamples, loadTokenizer, trainRetriever } from "../src/training/pipeline.ts";
import { DEMO_OVERRIDES, DEMO_BASE } from "../src/cli/demo.ts";
import type { FalseNegativeStrategy } from "../src/training/false-negatives.ts";
const { values: a } = parseArgs({ options: { ranker: { type: "string" }, alpha: { type: "string", default: "0" }, beta: { type: "string", default: "0" }, filter: { type: "boolean", default: false }, tc: { type: "string", default: "1" }, warmup: { type: "string", default: "0" }, wbs: { type: "string", default: "32" }, wlr: { type: "string", default: "1e-3" }, kinds: { type: "string", default: "title" }, steps: { type: "string", default: "100" }, seed: { type: "string", default: "0" }, out: { type: "string" }, rho: { type: "string", default: "0.1" }, base: { type: "string", default: DEMO_BASE }, strategy: { type: "string", default: "dynamic" } } });
const cfg = readPipelineConfig(null, { ...DEMO_OVERRIDES, base: DEMO_BASE, outputDir: "runs/demo" });
const data = await loadPipelineData(cfg);
const bm25 = await loadOrBuildBm25(cfg, data.docs);
const ex = await mineTrainingExamples(cfg, data, bm25);
const corpus = new TokenizedCorpus(data.docs, loadTokenizer(cfg));
cfg.outputDir = a.out!; cfg.seed = Number(a.seed); cfg.base = a.base!;
cfg.retriever.steps = Number(a.steps); cfg.retriever.warmupSteps = Math.round(cfg.retriever.steps / 10);
const ws = Number(a.warmup);
cfg.warmup = { ...cfg.warmup, steps: ws, batchSize: Number(a.wbs), learningRate: Number(a.wlr), warmupSteps: Math.round(ws / 10), kinds: a.kinds!.split(",") as never };
cfg.retriever.md2pr = { ...cfg.retriever.md2pr, alpha: Number(a.alpha), beta: Number(a.beta), teacherTemperature: Number(a.tc), filter: { ...cfg.retriever.md2pr.filter, enabled: a.filter!, rho: Number(a.rho), strategy: a.strategy as FalseNegativeStrategy } };
const ranker = a.ranker ? CrossEncoder.load(a.ranker) : null;
const t0 = Date.now();
const r = await trainRetriever(cfg, data, ex, corpus, ranker, bm25);
console.log("RESULT", JSON.stringify({ args: a, dev: r.dev, minutes: (Date.now() - t0) / 60000 }));
