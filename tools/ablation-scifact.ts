/**
 * The MD2PR ablation on SciFact (issue: contrastive only; + sentence level; + word level; + both; + both + filter
 * (full MD2PR); and the ranker reranking BM25's top 100). One ranker (the teacher) is trained once per run of this
 * tool and shared by every variant; each retriever variant is trained with several seeds, evaluated on the test
 * queries, and the mean and spread written to results/ablation-scifact.json (and a Markdown table on stdout).
 *
 *   node --import tsx tools/ablation-scifact.ts [--seeds 0,1,2] [--variants contrastive,...] [--steps N] [--out runs/ablation]
 *
 * Each (variant, seed) run keeps its test metrics in <out>/<variant>-seed<seed>/test.json and is skipped when that
 * file exists, so disjoint --variants/--seeds subsets can run in parallel processes with --runs-only;
 * --aggregate-only then only collects the finished runs (and scores the ranker) into the JSON. --shared DIR reuses a trained ranker (for
 * example the demo's output directory, which has the same settings).
 * Settings come from DEFAULT_PIPELINE with the demo's sizes (src/cli/demo.ts), chosen on the dev split. Every
 * variant of a seed starts from the same self-supervised warm-up (title -> abstract, <out>/warmup-seed<seed>), made
 * by the first run of that seed: when splitting over processes, give each seed's first run to one process only.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DEMO_BASE, DEMO_OVERRIDES, DEMO_RANKER_BASE } from "../src/cli/demo.ts";
import { TokenizedCorpus } from "../src/retrieval/tokenized-corpus.ts";
import { evaluateRun } from "../src/retrieval/metrics.ts";
import { bm25Run, evaluateRetriever, rerankRun, score } from "../src/training/evaluation.ts";
import { bm25LexicalScorer } from "../src/training/lexical.ts";
import { pairedRandomizationTest, tInterval95 } from "../src/retrieval/significance.ts";
import type { FalseNegativeStrategy } from "../src/training/false-negatives.ts";
import { DEFAULT_MD2PR } from "../src/training/retriever-stage.ts";
import {
  loadOrBuildBm25, loadPipelineData, loadTokenizer, mineTrainingExamples, queriesOf, readPipelineConfig, trainRanker,
  trainRetriever, warmUpRetriever, type PipelineConfig,
} from "../src/training/pipeline.ts";
import { writeJsonAtomic } from "../src/util/atomic.ts";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "0,1,2" },
    steps: { type: "string" },
    out: { type: "string", default: "runs/ablation" },
    variants: { type: "string", default: "contrastive,sentence,word,both,full,full-static,full-margin" },
    shared: { type: "string" },
    // the retriever's base and warm-up (default: the demo's); the round of results/ablation-scifact.json used
    // --base models/base-scifact --warmup-steps 200 (the previous demo's MLM base and title warm-up)
    base: { type: "string", default: DEMO_BASE },
    "warmup-steps": { type: "string" },
    // the retriever's learning-rate warm-up: 30 steps in every recorded ablation run (the demo's 500-step retriever uses 50)
    "retriever-warmup": { type: "string", default: "30" },
    "runs-only": { type: "boolean", default: false },
    "aggregate-only": { type: "boolean", default: false },
  },
});
const seeds = values.seeds!.split(",").map(Number);
const out = values.out!;
// Each level at its default weight (DEFAULT_MD2PR: alpha 1, beta 0.1), or off.
const { alpha: A, beta: B } = DEFAULT_MD2PR;
// full-static and full-margin: both levels with another false-negative rule in place of the dynamic filter
// (false-negatives.ts: RocketQA's static threshold on the ranker's score; sentence-transformers' relative margin).
const variants: Record<string, { alpha: number; beta: number; filter: boolean; strategy?: FalseNegativeStrategy }> = {
  contrastive: { alpha: 0, beta: 0, filter: false },
  sentence: { alpha: A, beta: 0, filter: false },
  word: { alpha: 0, beta: B, filter: false },
  both: { alpha: A, beta: B, filter: false },
  full: { alpha: A, beta: B, filter: true, strategy: "dynamic" },
  "full-static": { alpha: A, beta: B, filter: true, strategy: "static" },
  "full-margin": { alpha: A, beta: B, filter: true, strategy: "margin" },
};
const chosen = values.variants!.split(",");
// The single command that produces every row (the runs may also be split over processes, see above).
const command = ["node --import tsx tools/ablation-scifact.ts", `--seeds ${values.seeds}`, values.steps ? `--steps ${values.steps}` : "",
  values.shared ? `--shared ${values.shared}` : "", values.base !== DEMO_BASE ? `--base ${values.base}` : "",
  values["warmup-steps"] ? `--warmup-steps ${values["warmup-steps"]}` : "",
  values["retriever-warmup"] !== "30" ? `--retriever-warmup ${values["retriever-warmup"]}` : "", `--out ${out}`].filter(Boolean).join(" ");

const baseCfg = readPipelineConfig(null, {
  ...DEMO_OVERRIDES, base: values.base!, ranker: { ...DEMO_OVERRIDES.ranker, base: DEMO_RANKER_BASE }, outputDir: values.shared ?? join(out, "shared"),
});
if (values["warmup-steps"]) baseCfg.warmup.steps = Number(values["warmup-steps"]);
if (values.steps) baseCfg.retriever.steps = Number(values.steps);
baseCfg.retriever.warmupSteps = Number(values["retriever-warmup"]);
const data = await loadPipelineData(baseCfg);
const bm25 = await loadOrBuildBm25(baseCfg, data.docs);
const examples = await mineTrainingExamples(baseCfg, data, bm25);
const corpus = new TokenizedCorpus(data.docs, loadTokenizer(baseCfg));
const ranker = await trainRanker(baseCfg, data, bm25, examples, corpus);
process.stdout.write(`ranker dev (reranking BM25 top ${baseCfg.rerankDepth}): ${JSON.stringify(ranker.dev)}\n`);

interface Row {
  variant: string;
  ndcg10_mean: number;
  ndcg10_std: number;
  mrr10_mean: number;
  mrr10_std: number;
  recall100_mean: number;
  recall100_std: number;
  dev_ndcg10_mean: number;
  seeds: number[];
  per_seed: { seed: number; ndcg10: number; mrr10: number; recall100: number; dev_ndcg10: number }[];
  command: string;
  /** Paired rows ("X - contrastive"): 95% t interval of the per-seed nDCG@10 difference, randomization p over queries. */
  ci95_low?: number;
  ci95_high?: number;
  p_value?: number;
  recall100_ci95_low?: number;
  recall100_ci95_high?: number;
  recall100_p_value?: number;
}

type PerQuery = Record<string, { ndcg10: number; recall100: number }>;
const perQueryOf = new Map<string, PerQuery[]>();

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]): number => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const testQueries = queriesOf(data, data.test);
const rows: Row[] = [];
for (const name of chosen) {
  const v = variants[name];
  if (!v) throw new Error(`unknown variant ${name}`);
  const perSeed: Row["per_seed"] = [];
  for (const seed of seeds) {
    const cfg: PipelineConfig = structuredClone(baseCfg);
    cfg.seed = seed;
    cfg.outputDir = join(out, `${name}-seed${seed}`);
    const done = join(cfg.outputDir, "test.json");
    const queryFile = join(cfg.outputDir, "test-per-query.json");
    const keepPerQuery = (q: PerQuery): void => void perQueryOf.set(name, [...(perQueryOf.get(name) ?? []), q]);
    if (existsSync(done)) {
      perSeed.push(JSON.parse(readFileSync(done, "utf8")) as Row["per_seed"][number]);
      if (existsSync(queryFile)) keepPerQuery(JSON.parse(readFileSync(queryFile, "utf8")) as PerQuery);
      continue;
    }
    if (values["aggregate-only"]) continue;
    cfg.retriever.md2pr = { ...cfg.retriever.md2pr, alpha: v.alpha, beta: v.beta, filter: { ...cfg.retriever.md2pr.filter, enabled: v.filter, strategy: v.strategy ?? "dynamic" } };
    const needsRanker = v.alpha > 0 || v.beta > 0 || v.filter;
    // Every variant of a seed starts from the same self-supervised warm-up (trained once per seed, then loaded).
    const warmDir = join(out, `warmup-seed${seed}`);
    const start = cfg.warmup.steps > 0 ? await warmUpRetriever({ ...cfg, outputDir: warmDir }, data, corpus) : null;
    const trained = await trainRetriever(cfg, data, examples, corpus, needsRanker ? ranker.ranker : null, bm25, "retriever", start);
    // the corpus index written by the dev evaluation (fingerprint-checked) serves the test queries too
    const test = await evaluateRetriever(trained.retriever, corpus, testQueries, data.test, 100, join(cfg.outputDir, "index-retriever"));
    const result = { seed, ndcg10: test.metrics["ndcg@10"]!, mrr10: test.metrics["mrr@10"]!, recall100: test.metrics["recall@100"]!, dev_ndcg10: trained.dev["ndcg@10"]! };
    const perQuery: PerQuery = {};
    for (const [qid, m] of evaluateRun(test.run, data.test, ["ndcg@10", "recall@100"]).perQuery) perQuery[qid] = { ndcg10: m["ndcg@10"]!, recall100: m["recall@100"]! };
    writeJsonAtomic(queryFile, perQuery);
    keepPerQuery(perQuery);
    writeJsonAtomic(done, result);
    perSeed.push(result);
    process.stdout.write(`${name} seed ${seed}: test ${JSON.stringify(test.metrics)} dev nDCG@10 ${trained.dev["ndcg@10"]!.toFixed(4)}\n`);
  }
  if (perSeed.length === 0) continue;
  const col = (k: "ndcg10" | "mrr10" | "recall100" | "dev_ndcg10"): number[] => perSeed.map((r) => r[k]);
  rows.push({
    variant: name, ndcg10_mean: mean(col("ndcg10")), ndcg10_std: std(col("ndcg10")), mrr10_mean: mean(col("mrr10")), mrr10_std: std(col("mrr10")),
    recall100_mean: mean(col("recall100")), recall100_std: std(col("recall100")), dev_ndcg10_mean: mean(col("dev_ndcg10")),
    seeds: perSeed.map((r) => r.seed), per_seed: perSeed, command,
  });
}
if (values["runs-only"]) process.exit(0);
// Paired rows: each variant minus contrastive, seed by seed (same warm-up and data order) and query by query.
const contrastive = rows.find((r) => r.variant === "contrastive");
for (const r of rows.filter((x) => x !== contrastive)) {
  if (!contrastive) break;
  const seedsBoth = r.seeds.filter((s) => contrastive.seeds.includes(s));
  if (seedsBoth.length === 0) continue;
  const diff = (k: "ndcg10" | "mrr10" | "recall100" | "dev_ndcg10"): number[] =>
    seedsBoth.map((s) => r.per_seed.find((p) => p.seed === s)![k] - contrastive.per_seed.find((p) => p.seed === s)![k]);
  const nd = tInterval95(diff("ndcg10"));
  const rc = tInterval95(diff("recall100"));
  // per query: the mean over seeds of the difference (randomization test over the 300 test queries)
  const queryDiffs = (k: "ndcg10" | "recall100"): number[] => {
    const a = perQueryOf.get(r.variant) ?? [];
    const b = perQueryOf.get("contrastive") ?? [];
    if (a.length !== r.seeds.length || b.length !== contrastive.seeds.length) return [];
    const qids = Object.keys(a[0]!);
    return qids.map((q) => seedsBoth.reduce((acc, s) => acc + a[r.seeds.indexOf(s)]![q]![k] - b[contrastive.seeds.indexOf(s)]![q]![k], 0) / seedsBoth.length);
  };
  const pOf = (k: "ndcg10" | "recall100"): number | undefined => {
    const d = queryDiffs(k);
    return d.length > 0 ? pairedRandomizationTest(d, { permutations: 10000, seed: 0 }) : undefined;
  };
  const mr = tInterval95(diff("mrr10"));
  rows.push({
    variant: `${r.variant} - contrastive`, ndcg10_mean: nd.mean, ndcg10_std: nd.std, mrr10_mean: mr.mean, mrr10_std: mr.std,
    recall100_mean: rc.mean, recall100_std: rc.std, dev_ndcg10_mean: tInterval95(diff("dev_ndcg10")).mean, seeds: seedsBoth,
    per_seed: seedsBoth.map((s, i) => ({ seed: s, ndcg10: diff("ndcg10")[i]!, mrr10: diff("mrr10")[i]!, recall100: diff("recall100")[i]!, dev_ndcg10: diff("dev_ndcg10")[i]! })),
    command, ci95_low: nd.low, ci95_high: nd.high, p_value: pOf("ndcg10"), recall100_ci95_low: rc.low, recall100_ci95_high: rc.high, recall100_p_value: pOf("recall100"),
  });
}
const lexical = ranker.ranker.lexicalWeight ? bm25LexicalScorer(bm25) : undefined;
const first = bm25Run(bm25, testQueries, 1000);
const reranked = score(await rerankRun(ranker.ranker, corpus, testQueries, first, 100, baseCfg.lengths, lexical), data.test).metrics;
rows.push({
  variant: "ranker-rerank", ndcg10_mean: reranked["ndcg@10"]!, ndcg10_std: 0, mrr10_mean: reranked["mrr@10"]!, mrr10_std: 0,
  recall100_mean: reranked["recall@100"]!, recall100_std: 0, dev_ndcg10_mean: ranker.dev["ndcg@10"]!, seeds: [baseCfg.seed],
  per_seed: [{ seed: baseCfg.seed, ndcg10: reranked["ndcg@10"]!, mrr10: reranked["mrr@10"]!, recall100: reranked["recall@100"]!, dev_ndcg10: ranker.dev["ndcg@10"]! }],
  command,
});
mkdirSync("results", { recursive: true });
writeJsonAtomic("results/ablation-scifact.json", rows);
process.stdout.write("\n| variant | nDCG@10 (mean ± std) | MRR@10 | R@100 | dev nDCG@10 | seeds |\n|---|---|---|---|---|---|\n");
for (const r of rows) {
  if (r.ci95_low !== undefined) {
    process.stdout.write(`| ${r.variant} (paired) | ${r.ndcg10_mean.toFixed(4)} [${r.ci95_low.toFixed(4)}, ${r.ci95_high!.toFixed(4)}] p ${r.p_value?.toFixed(4) ?? "-"} | ${r.mrr10_mean.toFixed(4)} | ${r.recall100_mean.toFixed(4)} [${r.recall100_ci95_low!.toFixed(4)}, ${r.recall100_ci95_high!.toFixed(4)}] p ${r.recall100_p_value?.toFixed(4) ?? "-"} | ${r.dev_ndcg10_mean.toFixed(4)} | ${r.seeds.join(",")} |\n`);
    continue;
  }
  process.stdout.write(`| ${r.variant} | ${r.ndcg10_mean.toFixed(4)} ± ${r.ndcg10_std.toFixed(4)} | ${r.mrr10_mean.toFixed(4)} ± ${r.mrr10_std.toFixed(4)} | ${r.recall100_mean.toFixed(4)} ± ${r.recall100_std.toFixed(4)} | ${r.dev_ndcg10_mean.toFixed(4)} | ${r.seeds.join(",")} |\n`);
}
