/**
 * The pipeline's artifacts and what they were made from: the settings of each stage that change its result (recorded
 * in its checkpoints and its model folder), model folders written whole (a temporary folder renamed once, with the
 * tokenizer and the `md2pr-artifact.json` record inside), and the check that a folder a rerun would reuse was made
 * from the same corpus and settings (else the rerun is refused, naming what changed, instead of silently reusing it).
 */
import type { CrossEncoder } from "../models/cross-encoder.ts";
import type { DualEncoder } from "../models/dual-encoder.ts";
import { rankerFingerprint, retrieverFingerprint } from "../models/fingerprint.ts";
import type { TokenizedCorpus } from "../retrieval/tokenized-corpus.ts";
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { writeDirAtomic, writeJsonAtomic } from "../util/atomic.ts";
import {
  corpusFingerprint, readArtifact, settingsDiff, writeArtifact, ProvenanceError, type ArtifactKind, type MadeFrom,
} from "../util/provenance.ts";
import type { PipelineConfig } from "./pipeline.ts";

/** Settings every stage depends on (the data, the split, the starting models, the lengths, BM25 negatives). */
const COMMON: readonly (keyof PipelineConfig)[] = [
  "dataDir", "trainSplit", "devQueries", "seed", "base", "vocabFile", "model", "lengths", "bm25", "minedNegatives",
];

/**
 * The settings that change the result of a stage, by its loop label or folder name: "ranker", "warm-up" /
 * "<name>-warmup", "retriever" / "retriever-round2" (anything else: every result-changing setting).
 */
export function stageSettings(cfg: PipelineConfig, stage: string): Record<string, unknown> {
  const common: Record<string, unknown> = Object.fromEntries(COMMON.map((k) => [k, cfg[k]]));
  // paths as absolute paths, so `data/x` and `./data/x` are one setting
  for (const k of ["dataDir", "base", "vocabFile"] as const) if (typeof cfg[k] === "string") common[k] = resolve(cfg[k]);
  // the ranker starts from ranker.base when that is set (the retriever from base)
  if (stage === "ranker") return { ...common, base: cfg.ranker.base ? resolve(cfg.ranker.base) : common.base, ranker: cfg.ranker };
  const encoder = { shared: cfg.retriever.shared, pooling: cfg.retriever.pooling, similarity: cfg.retriever.similarity };
  if (stage === "warm-up" || stage.endsWith("-warmup")) return { ...common, warmup: cfg.warmup, retriever: encoder };
  const all = { ...common, warmup: cfg.warmup, ranker: cfg.ranker, retriever: cfg.retriever };
  return stage.endsWith("-round2") ? { ...all, secondRoundTeacherPrior: cfg.secondRoundTeacherPrior } : all;
}

/** Writes a model folder whole: `write(tmp)` saves weights, config and tokenizer; the record is added; one rename. */
export function writeModelFolder(dir: string, kind: ArtifactKind, fingerprint: string, madeFrom: MadeFrom, write: (tmp: string) => void): void {
  writeDirAtomic(dir, (tmp) => {
    write(tmp);
    writeArtifact(tmp, kind, madeFrom, fingerprint);
  });
}

function madeFrom(cfg: PipelineConfig, stage: string, corpus: TokenizedCorpus, inputs: Record<string, string> = {}): MadeFrom {
  const base = cfg.base ? readArtifact(cfg.base)?.fingerprint : undefined;
  return {
    corpus: corpusFingerprint(corpus.docs),
    inputs: { ...(base ? { base } : {}), ...inputs },
    settings: stageSettings(cfg, stage),
  };
}

/** Saves a trained retriever (weights, md2pr.json, tokenizer, record) as one folder. */
export function saveRetrieverFolder(dir: string, retriever: DualEncoder, corpus: TokenizedCorpus, cfg: PipelineConfig, stage: string, teacher: CrossEncoder | null = null): void {
  const inputs: Record<string, string> = teacher ? { ranker: rankerFingerprint(teacher, corpus.tokenizer) } : {};
  writeModelFolder(dir, "retriever", retrieverFingerprint(retriever, corpus.tokenizer), madeFrom(cfg, stage, corpus, inputs), (tmp) => {
    retriever.save(tmp, { md2pr_stage: stage });
    corpus.tokenizer.save(tmp);
  });
}

/** Saves a trained ranker (weights with its head, config, tokenizer, record) as one folder. */
export function saveRankerFolder(dir: string, ranker: CrossEncoder, corpus: TokenizedCorpus, cfg: PipelineConfig): void {
  writeModelFolder(dir, "ranker", rankerFingerprint(ranker, corpus.tokenizer), madeFrom(cfg, "ranker", corpus), (tmp) => {
    ranker.save(tmp, { md2pr_stage: "ranker" });
    corpus.tokenizer.save(tmp);
  });
}

/**
 * Before a stage reuses the folder an earlier run left (`<out>/ranker`, `<out>/retriever`...): refuses when that
 * folder was made from another corpus or other settings, naming what changed. Folders of older md2pr versions (no
 * record) are reused as before.
 */
export function checkReuse(dir: string, cfg: PipelineConfig, stage: string, corpus: TokenizedCorpus): void {
  const record = readArtifact(dir);
  if (!record) return;
  const corpusNow = corpusFingerprint(corpus.docs);
  const changed: string[] = [];
  if (record.madeFrom.corpus !== undefined && record.madeFrom.corpus !== corpusNow) {
    changed.push(`corpus: ${record.madeFrom.corpus} -> ${corpusNow} (${cfg.dataDir})`);
  }
  if (record.madeFrom.settings !== undefined) changed.push(...settingsDiff(record.madeFrom.settings, stageSettings(cfg, stage)));
  const baseThen = record.madeFrom.inputs?.base;
  const baseNow = cfg.base ? readArtifact(cfg.base)?.fingerprint : undefined;
  if (baseThen !== undefined && baseNow !== undefined && baseThen !== baseNow) changed.push(`base model ${cfg.base}: ${baseThen} -> ${baseNow}`);
  if (changed.length === 0) return;
  const list = changed.slice(0, 8).join("; ") + (changed.length > 8 ? `; and ${changed.length - 8} more` : "");
  throw new ProvenanceError(
    `${dir} was made with other inputs than this run's (${list}); reusing it would report results of the old settings. ` +
      `Use another --out, or move ${dir} away to retrain this stage`,
  );
}

/** Before the pipeline reuses `<out>/bm25`: refuses one made from another corpus or with other BM25 parameters. */
export function checkBm25Reuse(dir: string, docs: ReadonlyMap<string, { title?: string; text: string }>, cfg: PipelineConfig): void {
  const record = readArtifact(dir);
  if (!record) return;
  const changed: string[] = [];
  const corpusNow = corpusFingerprint(docs);
  if (record.madeFrom.corpus !== undefined && record.madeFrom.corpus !== corpusNow) changed.push(`corpus: ${record.madeFrom.corpus} -> ${corpusNow} (${cfg.dataDir})`);
  const recorded = (record.madeFrom.settings as { bm25?: unknown } | undefined)?.bm25;
  if (recorded !== undefined) changed.push(...settingsDiff({ bm25: recorded }, { bm25: cfg.bm25 }));
  if (changed.length === 0) return;
  throw new ProvenanceError(
    `${dir} was built from other inputs than this run's (${changed.join("; ")}); it would be reused as is. ` +
      `Use another --out, or move ${dir} away to rebuild it`,
  );
}

/** The record of a mined training file: `.<name>.provenance.json` beside it. */
function minedRecordPath(file: string): string {
  return join(dirname(file), `.${basename(file)}.provenance.json`);
}

function minedSettings(cfg: PipelineConfig): Record<string, unknown> {
  const { dataDir, trainSplit, devQueries, seed, bm25, minedNegatives } = cfg;
  return { dataDir: resolve(dataDir), trainSplit, devQueries, seed, bm25, minedNegatives };
}

/** Records what a mined training file was made from (the corpus, the split and mining settings). */
export function recordMined(file: string, cfg: PipelineConfig, docs: ReadonlyMap<string, { title?: string; text: string }>): void {
  writeJsonAtomic(minedRecordPath(file), { corpus: corpusFingerprint(docs), settings: minedSettings(cfg) });
}

/** Before the pipeline reuses a mined training file: refuses one mined from another corpus or with other settings. */
export function checkMinedReuse(file: string, cfg: PipelineConfig, docs: ReadonlyMap<string, { title?: string; text: string }>): void {
  const recordFile = minedRecordPath(file);
  if (!existsSync(recordFile)) return; // mined by an older md2pr, or written by hand: nothing recorded
  const record = JSON.parse(readFileSync(recordFile, "utf8")) as { corpus?: string; settings?: unknown };
  const changed: string[] = [];
  const corpusNow = corpusFingerprint(docs);
  if (record.corpus !== undefined && record.corpus !== corpusNow) changed.push(`corpus: ${record.corpus} -> ${corpusNow} (${cfg.dataDir})`);
  if (record.settings !== undefined) changed.push(...settingsDiff(record.settings, minedSettings(cfg)));
  if (changed.length === 0) return;
  throw new ProvenanceError(
    `${file} was mined with other inputs than this run's (${changed.join("; ")}); training on it would ignore them. ` +
      `Use another --out, or move ${file} away to mine again`,
  );
}
