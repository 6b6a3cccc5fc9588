/**
 * Training throughput of the retriever step on SciFact, per MD2PR variant: contrastive only, + sentence level,
 * + word level, full (both + filter). Query-passage pairs per second (B queries x (n+1) candidates per step),
 * median over steps after a warm-up, all in the first epoch (so the ranker's scores are never served from its
 * cache: the cost of the teacher is fully counted). Uses the shipped base checkpoint for both models.
 *
 * With --deberta DIR (a DeBERTa-v2/v3 directory with its spm.model, e.g. from `md2pr pretrain --arch deberta-v2`), the
 * teacher variants are measured again with that ranker as the teacher (its own SentencePiece pair batches, the word
 * level pooled onto shared words).
 *
 *   node --import tsx bench/md2pr-step.ts [--steps 6] [--warmup 2] [--json] [--deberta DIR]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DEMO_BASE, DEMO_OVERRIDES } from "../src/cli/demo.ts";
import { kernelsInfo } from "../src/engine/kernels/index.ts";
import { backward } from "../src/engine/autograd.ts";
import { Rng } from "../src/engine/rng.ts";
import { CrossEncoder } from "../src/models/cross-encoder.ts";
import { DebertaCrossEncoder } from "../src/models/deberta-cross-encoder.ts";
import { SentencePieceTokenizer } from "../src/models/tokenizer/sentencepiece.ts";
import { sentencePieceTeacher, type TeacherTokenization } from "../src/training/cross-tokenizer-word-level.ts";
import { DualEncoder } from "../src/models/dual-encoder.ts";
import { AdamW } from "../src/nn/optim.ts";
import { TokenizedCorpus } from "../src/retrieval/tokenized-corpus.ts";
import { loadOrBuildBm25, loadPipelineData, loadTokenizer, mineTrainingExamples, readPipelineConfig } from "../src/training/pipeline.ts";
import { DEFAULT_MD2PR, RetrieverStage, type TeacherRanker } from "../src/training/retriever-stage.ts";
import { bm25LexicalScorer } from "../src/training/lexical.ts";

const { values } = parseArgs({ options: {
  steps: { type: "string", default: "6" }, warmup: { type: "string", default: "2" }, json: { type: "boolean", default: false },
  deberta: { type: "string" },
} });
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const work = mkdtempSync(join(tmpdir(), "md2pr-step-bench-"));
const cfg = readPipelineConfig(null, { ...DEMO_OVERRIDES, base: DEMO_BASE, outputDir: work });
const data = await loadPipelineData(cfg);
const bm25 = await loadOrBuildBm25(cfg, data.docs);
const examples = await mineTrainingExamples(cfg, data, bm25);
const corpus = new TokenizedCorpus(data.docs, loadTokenizer(cfg));
const ranker = CrossEncoder.load(DEMO_BASE, { lexicalPrior: true, seed: 0 });
interface Variant { alpha: number; beta: number; filter: boolean; teacher?: { ranker: TeacherRanker; tokens: TeacherTokenization } }
const variants: Record<string, Variant> = {
  contrastive: { alpha: 0, beta: 0, filter: false },
  sentence: { alpha: 1, beta: 0, filter: false },
  word: { alpha: 0, beta: 1, filter: false },
  full: { alpha: 1, beta: 1, filter: true },
};
if (values.deberta) {
  const teacher = { ranker: DebertaCrossEncoder.load(values.deberta, { lexicalPrior: true, seed: 0 }), tokens: sentencePieceTeacher(data.docs, SentencePieceTokenizer.fromDirectory(values.deberta)) };
  variants["sentence (DeBERTa teacher)"] = { alpha: 1, beta: 0, filter: false, teacher };
  variants["word (DeBERTa teacher)"] = { alpha: 0, beta: 1, filter: false, teacher };
  variants["full (DeBERTa teacher)"] = { alpha: 1, beta: 1, filter: true, teacher };
}
const rows: { variant: string; medianMs: number; pairsPerSecond: number }[] = [];
for (const [name, v] of Object.entries(variants)) {
  const retriever = DualEncoder.fromBert(DEMO_BASE, { maxQueryLength: cfg.lengths.maxQueryLength, maxPassageLength: cfg.lengths.maxPassageLength });
  const teacher = v.teacher?.ranker ?? ranker;
  const stage = new RetrieverStage(retriever, v.alpha || v.beta || v.filter ? teacher : null, examples, corpus, {
    batchSize: cfg.retriever.batchSize, negatives: cfg.retriever.negatives, lengths: cfg.lengths, seed: 0,
    md2pr: { ...DEFAULT_MD2PR, alpha: v.alpha, beta: v.beta, filter: { ...DEFAULT_MD2PR.filter, enabled: v.filter } },
    lexical: bm25LexicalScorer(bm25),
    ...(v.teacher ? { teacher: v.teacher.tokens } : {}),
  });
  const optimizer = new AdamW(stage.params, { lr: 1e-5 });
  const rng = new Rng(0);
  const times: number[] = [];
  for (let s = 0; s < warmup + steps; s++) {
    const t0 = performance.now();
    const r = stage.microStep(s, rng);
    backward(r.loss);
    optimizer.step();
    optimizer.zeroGrad();
    if (s >= warmup) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const medianMs = times[Math.floor(times.length / 2)]!;
  const pairs = cfg.retriever.batchSize * (cfg.retriever.negatives + 1);
  rows.push({ variant: name, medianMs, pairsPerSecond: (pairs * 1000) / medianMs });
}
rmSync(work, { recursive: true, force: true });
if (values.json) process.stdout.write(`${JSON.stringify({ kernels: kernelsInfo(), load: loadavg()[0], rows })}\n`);
else {
  process.stdout.write(`retriever step on SciFact (base ${DEMO_BASE}, ${cfg.retriever.batchSize} queries x ${cfg.retriever.negatives + 1} candidates, ranker = the same base${values.deberta ? `; DeBERTa teacher ${values.deberta}` : ""}), kernels: ${kernelsInfo()}, load ${loadavg()[0]!.toFixed(1)}\n`);
  process.stdout.write("| variant | median ms/step | pairs/s | cost vs contrastive |\n|---|---|---|---|\n");
  const base = rows[0]!.medianMs;
  for (const r of rows) process.stdout.write(`| ${r.variant} | ${r.medianMs.toFixed(0)} | ${r.pairsPerSecond.toFixed(1)} | ${(r.medianMs / base).toFixed(2)}x |\n`);
}
