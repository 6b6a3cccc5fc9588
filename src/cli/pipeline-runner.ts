/**
 * The MD2PR pipeline as the `mine`, `train-ranker` and `train` commands run it: one stage, or all of them in order.
 * Every stage reuses what earlier ones wrote under the output directory (mined negatives, the BM25 index, the
 * ranker, the retriever), so `train --stage retriever` after `train-ranker` continues the same run.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CrossEncoder } from "../models/cross-encoder.ts";
import { DualEncoder } from "../models/dual-encoder.ts";
import { encodeCorpus } from "../encoding/encode-corpus.ts";
import { TokenizedCorpus } from "../retrieval/tokenized-corpus.ts";
import { readTrainingFile, writeTrainingFile, type TrainingExample } from "../training/data.ts";
import {
  evaluateSystems, loadOrBuildBm25, loadPipelineData, loadTokenizer, mineTrainingExamples, retrieverNegatives, trainRanker,
  trainRetriever, type PipelineConfig, type PipelineData, type SystemRow,
} from "../training/pipeline.ts";
import type { Bm25Index } from "../retrieval/bm25.ts";
import { CliError, formatTable, log } from "./util.ts";

export const STAGES = ["all", "mine", "ranker", "retriever", "eval"] as const;
export type Stage = (typeof STAGES)[number];

const metricsText = (m: Record<string, number>): string => Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(", ");

function hasRanker(cfg: PipelineConfig): boolean {
  return existsSync(join(cfg.outputDir, "ranker", "config.json"));
}

function hasRetriever(cfg: PipelineConfig, name: string): boolean {
  return existsSync(join(cfg.outputDir, name, "md2pr.json"));
}

/** Removes a derived dense index left by another model (the pipeline re-encodes into it). */
function clearStaleIndex(dir: string, fingerprint: string): void {
  for (const file of ["index.json", "progress.json"]) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    const meta = JSON.parse(readFileSync(path, "utf8")) as { modelFingerprint?: string };
    if (meta.modelFingerprint !== fingerprint) {
      log(`train: ${dir} holds embeddings of another model; re-encoding`);
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }
}

export function systemsTable(rows: readonly SystemRow[]): string {
  return formatTable(["system", "nDCG@10", "MRR@10", "R@100", "run"], rows.map((r) => [r.system, r.ndcg10, r.mrr10, r.recall100, r.run]));
}

interface Loaded {
  data: PipelineData;
  bm25: Bm25Index;
  examples: TrainingExample[];
}

async function prepare(cfg: PipelineConfig, mineFile: string): Promise<Loaded> {
  const data = await loadPipelineData(cfg);
  log(`data: ${data.docs.size} passages, ${data.train.size} train / ${data.dev.size} dev / ${data.test.size} test queries`);
  const bm25 = await loadOrBuildBm25(cfg, data.docs);
  const examples = await mineTrainingExamples(cfg, data, bm25, mineFile);
  return { data, bm25, examples };
}

/** Round two: negatives mined with the round-one retriever, and a retriever trained on from round one. */
async function secondRound(cfg: PipelineConfig, l: Loaded, corpus: TokenizedCorpus, ranker: CrossEncoder | null, first: DualEncoder): Promise<void> {
  const file = join(cfg.outputDir, "train-round2.jsonl");
  let examples: TrainingExample[];
  if (existsSync(file)) examples = await readTrainingFile(file, l.data.docs);
  else {
    const dir = join(cfg.outputDir, "index-round1");
    clearStaleIndex(dir, first.fingerprint());
    const index = await encodeCorpus(first, corpus, dir, { label: "encode (round 1)" });
    examples = retrieverNegatives(first, index, corpus, l.data, cfg.minedNegatives);
    writeTrainingFile(file, examples);
  }
  log(`round 2: ${examples.length} examples with retriever-mined negatives (${file})`);
  const r2 = await trainRetriever(cfg, l.data, examples, corpus, ranker, l.bm25, "retriever-round2", first);
  log(`retriever (round 2): ${r2.dir}; dev ${metricsText(r2.dev)}`);
}

/**
 * Runs `stage` (or every stage) of the pipeline; prints the evaluation table on stdout. `mineFile` is where the
 * `mine` stage writes (default <out>/train-bm25.jsonl, the file the other stages read).
 */
export async function runPipeline(cfg: PipelineConfig, stage: Stage, mineFile?: string): Promise<void> {
  const file = stage === "mine" && mineFile ? mineFile : join(cfg.outputDir, "train-bm25.jsonl");
  const l = await prepare(cfg, file);
  if (stage === "mine") {
    const negatives = l.examples.reduce((s, e) => s + e.negativeIds.length, 0);
    log(`mine: ${l.examples.length} training queries, ${negatives} BM25 negatives`);
    process.stdout.write(`${file}\n`);
    return;
  }
  const tokenizer = loadTokenizer(cfg);
  const corpus = new TokenizedCorpus(l.data.docs, tokenizer);

  let ranker: CrossEncoder | null = null;
  if (stage === "all" || stage === "ranker") {
    const r = await trainRanker(cfg, l.data, l.bm25, l.examples, corpus);
    log(`ranker: ${r.dir}; dev (BM25 top ${cfg.rerankDepth} reranked) ${metricsText(r.dev)}`);
    if (stage === "ranker") {
      process.stdout.write(`${r.dir}\n`);
      return;
    }
    ranker = r.ranker;
  } else if (hasRanker(cfg)) {
    ranker = CrossEncoder.load(join(cfg.outputDir, "ranker"));
  }

  if (stage === "all" || stage === "retriever") {
    const md = cfg.retriever.md2pr;
    if (!ranker && (md.alpha !== 0 || md.beta !== 0 || md.filter.enabled)) {
      throw new CliError(
        `no ranker in ${join(cfg.outputDir, "ranker")}: run \`md2pr train-ranker\` (or \`md2pr train --stage ranker\`) first, ` +
          "or train without a teacher: --alpha 0 --beta 0 --no-filter",
      );
    }
    const r = await trainRetriever(cfg, l.data, l.examples, corpus, ranker, l.bm25);
    log(`retriever: ${r.dir}; dev ${metricsText(r.dev)}`);
    if (cfg.secondRound) await secondRound(cfg, l, corpus, ranker, r.retriever);
    if (stage === "retriever") {
      process.stdout.write(`${cfg.secondRound ? join(cfg.outputDir, "retriever-round2") : r.dir}\n`);
      return;
    }
  }
  // The evaluated retriever is the saved one, as `md2pr search --model` loads it, so <out>/index-<name> serves both.
  const name = cfg.secondRound && hasRetriever(cfg, "retriever-round2") ? "retriever-round2" : "retriever";
  if (!hasRetriever(cfg, name)) {
    throw new CliError(`no retriever in ${join(cfg.outputDir, name)}: run \`md2pr train --stage retriever\` first`);
  }
  const retriever = DualEncoder.load(join(cfg.outputDir, name));

  clearStaleIndex(join(cfg.outputDir, `index-${name}`), retriever.fingerprint());
  const rows = await evaluateSystems(cfg, l.data, l.bm25, corpus, retriever, ranker, { indexName: name });
  process.stdout.write(`${cfg.testSplit} split, ${l.data.test.size} queries:\n`);
  process.stdout.write(systemsTable(rows));
  process.stdout.write(`results: ${join(cfg.outputDir, "results.json")}\n`);
}
