/**
 * `md2pr demo`: the main job on the shipped SciFact. BM25, then the MD2PR pipeline (BM25 negatives, ranker,
 * retriever distilled from it with the false-negative filter), then a table of BM25, the retriever, hybrid and
 * retrieve+rerank on the test queries, with the paths of everything written. It starts from the base checkpoint
 * shipped in models/base-scifact (made by `md2pr pretrain`, see its md2pr-pretrain.json); --from-scratch
 * pretrains that base first.
 */
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { kernelsInfo } from "../engine/kernels/index.ts";
import { describeFusion, FUSION_FILE, readRecordedFusion } from "../retrieval/fusion.ts";
import { TokenizedCorpus } from "../retrieval/tokenized-corpus.ts";
import {
  evaluateSystems, loadOrBuildBm25, loadPipelineData, loadTokenizer, mineTrainingExamples, readPipelineConfig,
  trainRanker, trainRetriever, type PipelineConfig, type SystemRow,
} from "../training/pipeline.ts";
import { DEFAULT_CONTRASTIVE_PRETRAIN, runContrastiveRounds, SHIPPED_CONTRASTIVE_ROUNDS } from "../training/contrastive-pretrain.ts";
import { DEFAULT_PRETRAIN, runPretrain } from "../training/pretrain.ts";
import { writeReport } from "../report/index.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { rankerArchOf } from "../training/deberta-ranker.ts";
import { formatSeconds } from "../util/progress.ts";

export interface DemoOptions {
  fromScratch: boolean;
  outputDir: string;
  configFile: string | null;
  seed: number;
  /** Where the table is written as JSON (`[{ system, ndcg10, mrr10, recall100, command }]`); null: not written. */
  resultsFile: string | null;
}

/** The demo's sizes: chosen to finish in about 13 minutes on 2 idle cores (README, "What `md2pr demo` does and prints"). */
export const DEMO_OVERRIDES = {
  lengths: { maxQueryLength: 32, maxPassageLength: 96, maxPairLength: 128 },
  ranker: { steps: 300, batchSize: 8, negatives: 7, learningRate: 1e-3, warmupSteps: 30 },
  retriever: { steps: 500, batchSize: 16, negatives: 3, learningRate: 1e-3, warmupSteps: 50 },
  // The retriever starts from the contrastive-pretrained base, which already had (a longer) self-supervised warm-up.
  warmup: { steps: 0 },
  rerankDepth: 20,
  checkpointEvery: 20,
};

export function formatTable(rows: readonly SystemRow[]): string {
  const header = `${"system".padEnd(18)} ${"nDCG@10".padStart(8)} ${"MRR@10".padStart(8)} ${"R@100".padStart(8)}`;
  const lines = rows.map((r) => `${r.system.padEnd(18)} ${r.ndcg10.toFixed(4).padStart(8)} ${r.mrr10.toFixed(4).padStart(8)} ${r.recall100.toFixed(4).padStart(8)}`);
  return [header, "-".repeat(header.length), ...lines].join("\n");
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const t0 = Date.now();
  const log = (msg: string): void => {
    process.stdout.write(`[demo ${formatSeconds((Date.now() - t0) / 1000)}] ${msg}\n`);
  };
  log(`kernels: ${kernelsInfo()}`);
  let base = DEMO_BASE;
  let rankerBase = DEMO_RANKER_BASE;
  if (options.fromScratch || !existsSync(join(base, "config.json")) || !existsSync(join(rankerBase, "config.json"))) {
    rankerBase = join(options.outputDir, "base-mlm");
    base = join(options.outputDir, "base");
    if (!existsSync(join(rankerBase, "config.json"))) {
      log(`pretraining a base BERT by MLM into ${rankerBase} (--from-scratch)`);
      await runPretrain({ ...DEFAULT_PRETRAIN, ...DEMO_PRETRAIN, outputDir: rankerBase, seed: options.seed });
    }
    log(`contrastive pretraining of ${rankerBase} on the corpus into ${base}, ${SHIPPED_CONTRASTIVE_ROUNDS.length} rounds (--from-scratch)`);
    const rounds = SHIPPED_CONTRASTIVE_ROUNDS.map((r) => ({ steps: r.steps, seed: r.seed + options.seed }));
    await runContrastiveRounds({ ...DEFAULT_CONTRASTIVE_PRETRAIN, from: rankerBase, outputDir: base }, rounds, "md2pr demo --from-scratch");
  }
  // The demo's sizes, then the user's config file, then the output directory, seed and bases of this run.
  const demoDefaults = readPipelineConfig(null, DEMO_OVERRIDES);
  const runSettings = { outputDir: options.outputDir, seed: options.seed, base, ranker: { base: rankerBase } };
  const cfg: PipelineConfig = readPipelineConfig(options.configFile, runSettings, demoDefaults);
  refuseWhatTheDemoSkips(cfg, options.configFile);
  const data = await loadPipelineData(cfg);
  log(`SciFact: ${data.docs.size} passages, ${data.train.size} train / ${data.dev.size} dev / ${data.test.size} test queries`);
  const bm25 = await loadOrBuildBm25(cfg, data.docs);
  const examples = await mineTrainingExamples(cfg, data, bm25);
  log(`BM25 index and ${examples.length} training queries with ${cfg.minedNegatives} mined negatives each`);
  const corpus = new TokenizedCorpus(data.docs, loadTokenizer(cfg));
  const ranker = await trainRanker(cfg, data, bm25, examples, corpus);
  log(`ranker: ${ranker.dir} (dev, reranking BM25 top ${cfg.rerankDepth}: nDCG@10 ${ranker.dev["ndcg@10"]!.toFixed(4)})`);
  const retriever = await trainRetriever(cfg, data, examples, corpus, ranker.ranker, bm25);
  log(`retriever: ${retriever.dir} (dev nDCG@10 ${retriever.dev["ndcg@10"]!.toFixed(4)})`);
  const rows = await evaluateSystems(cfg, data, bm25, corpus, retriever.retriever, ranker.ranker, { bm25Rerank: false });
  const fusion = readRecordedFusion(retriever.dir)!;
  log(`fusion chosen on dev (${join(retriever.dir, FUSION_FILE)}): hybrid ${describeFusion(fusion.hybrid)}; ranker over the hybrid's top ` +
    `${cfg.hybridRerankDepth}: ${fusion.rerank ? describeFusion(fusion.rerank) : "-"}`);
  if (options.resultsFile) writeDemoResults(options.resultsFile, rows, demoCommand(options));
  process.stdout.write(`\nSciFact test (${data.test.size} queries)\n${formatTable(rows)}\n\n`);
  process.stdout.write(`wrote:\n  ${join(cfg.outputDir, "results.json")}\n${rows.map((r) => `  ${r.run}`).join("\n")}\n`);
  process.stdout.write(`  ${ranker.dir}\n  ${retriever.dir}\n  ${join(cfg.outputDir, "index-retriever")}\n  ${join(cfg.outputDir, "work")} (training logs: */train-log.jsonl)\n`);
  const report = await writeReport(cfg.outputDir, { ablationFile: existsSync(DEMO_ABLATION) ? DEMO_ABLATION : null });
  process.stdout.write(`  ${report.html} (report: ${report.charts} charts, PNGs beside it)\n`);
  log("done");
}

/** The demo runs one round with a BERT ranker; a config asking for more is refused rather than silently ignored. */
function refuseWhatTheDemoSkips(cfg: PipelineConfig, configFile: string | null): void {
  const asked: string[] = [];
  if (cfg.secondRound) asked.push("secondRound (use `md2pr train --second-round`)");
  if (rankerArchOf(cfg).arch !== "bert") asked.push(`ranker.arch ${rankerArchOf(cfg).arch} (use \`md2pr train --ranker-arch\`, e.g. tools/deberta-teacher-demo.sh)`);
  if (asked.length > 0) throw new Error(`${configFile ?? "demo config"}: the demo does not run ${asked.join("; ")}`);
}

/** The command line that reproduces a demo run (recorded next to each row of the results file). */
export function demoCommand(options: DemoOptions): string {
  const parts = ["npx md2pr demo", `--out ${options.outputDir}`];
  if (options.seed !== 0) parts.push(`--seed ${options.seed}`);
  if (options.configFile) parts.push(`--config ${options.configFile}`);
  if (options.fromScratch) parts.push("--from-scratch");
  return parts.join(" ");
}

/** Writes the demo's table as `[{ system, ndcg10, mrr10, recall100, command }]` (atomically). */
export function writeDemoResults(file: string, rows: readonly SystemRow[], command: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeJsonAtomic(file, rows.map((r) => ({ system: r.system, ndcg10: r.ndcg10, mrr10: r.mrr10, recall100: r.recall100, command })));
}

/** The ablation the demo's report shows when present (made by tools/ablation-scifact.ts; its command is in the file). */
export const DEMO_ABLATION = "results/ablation-scifact.json";

/**
 * The shipped bases: the retriever starts from the contrastive-pretrained one (tools/contrastive-base.ts), the ranker
 * from the MLM one it was made from (`md2pr pretrain`); each has its command in md2pr-pretrain.json. Chosen on dev
 * (README, "Choices made on the dev split").
 */
export const DEMO_BASE = "models/base-scifact-cpt";
export const DEMO_RANKER_BASE = "models/base-scifact";

/** Sizes of the base that --from-scratch pretrains (the same as the shipped one). */
export const DEMO_PRETRAIN = {
  model: { hiddenSize: 128, numHiddenLayers: 4, numAttentionHeads: 2, intermediateSize: 512 },
  steps: 700,
  warmupSteps: 100,
  learningRate: 1e-3,
};
