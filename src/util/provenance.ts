/**
 * What every md2pr artifact was made from, in one place: fingerprints (of a model with its tokenizer, of a corpus,
 * of settings) and the record each artifact folder carries, `md2pr-artifact.json`:
 *
 *   { "format": "md2pr-artifact", "version": 1, "kind": "dense-index", "createdBy": "md2pr 0.1.0",
 *     "madeFrom": { "model": "sha256:...", "corpus": "sha256:...", "settings": { ... } } }
 *
 * The record also marks the folder as md2pr's own (an `--out` that holds anything else is never replaced).
 * Consumers compare a partner's fingerprint with the record ({@link checkPartner}) and refuse a mismatch with a
 * message naming both sides and the command that rebuilds the artifact.
 *
 * Fingerprints are SHA-256 over a canonical serialisation: a model's is over its settings, its parameters (names,
 * shapes, float bytes) and its tokenizer's full description; a corpus's over every (id, title, text) in file order.
 */
import { createHash, type Hash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { writeJsonAtomic } from "./atomic.ts";
import { parseJsonText, validateConfig } from "./config-file.ts";

export const ARTIFACT_FILE = "md2pr-artifact.json";

export const ARTIFACT_KINDS = ["retriever", "ranker", "base-model", "dense-index", "hnsw-index", "bm25-index", "vector-table", "training-run", "checkpoint"] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

const MadeFromSchema = z.object({
  /** Fingerprint of the model (weights, settings, tokenizer) that made it / that it belongs to. */
  model: z.string().optional(),
  /** Fingerprint of the corpus it was made from. */
  corpus: z.string().optional(),
  /** Fingerprints of other inputs (e.g. the base model, the ranker a retriever was distilled from, the data). */
  inputs: z.record(z.string()).optional(),
  /** Settings that change its content. */
  settings: z.record(z.unknown()).optional(),
}).strict();
export type MadeFrom = z.infer<typeof MadeFromSchema>;

export const ArtifactRecordSchema = z.object({
  format: z.literal("md2pr-artifact"),
  version: z.literal(1),
  kind: z.enum(ARTIFACT_KINDS),
  createdBy: z.string(),
  /** The artifact's own fingerprint where it has one (a model's), so partners can be checked against it. */
  fingerprint: z.string().optional(),
  madeFrom: MadeFromSchema,
}).strict();
export type ArtifactRecord = z.infer<typeof ArtifactRecordSchema>;

// ------------------------------------------------------------------------------------------------ fingerprints

/** An incremental SHA-256 over typed parts (each part is length-prefixed, so part boundaries are unambiguous). */
export class Fingerprinter {
  private readonly h: Hash = createHash("sha256");

  text(s: string): this {
    const b = Buffer.from(s, "utf8");
    this.h.update(`s${b.length}:`);
    this.h.update(b);
    return this;
  }

  json(v: unknown): this {
    return this.text(canonicalJson(v));
  }

  bytes(a: ArrayBufferView): this {
    this.h.update(`b${a.byteLength}:`);
    this.h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return this;
  }

  digest(): string {
    return `sha256:${this.h.digest("hex").slice(0, 32)}`;
  }
}

/** JSON with object keys sorted (so equal settings give equal text whatever the key order). */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === "object" && !Array.isArray(val) && !ArrayBuffer.isView(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : val);
}

/** A model's parts as the fingerprint sees them: settings, named tensors, and the tokenizer's description. */
export interface ModelParts {
  settings: unknown;
  params: Iterable<readonly [string, { readonly shape: readonly number[]; readonly data: Float32Array }]>;
  /** Everything that decides how the tokenizer splits text (e.g. HF's tokenizer.json object); null if none. */
  tokenizer: unknown;
}

export function modelFingerprint(parts: ModelParts): string {
  const f = new Fingerprinter().text("model").json(parts.settings).json(parts.tokenizer ?? null);
  for (const [name, t] of parts.params) f.text(name).json(t.shape).bytes(t.data);
  return f.digest();
}

/** A corpus's fingerprint, fed passage by passage in the corpus's own order (streaming: no passage is kept). */
export class CorpusFingerprinter {
  private readonly f = new Fingerprinter().text("corpus");
  private n = 0;

  add(id: string, title: string | undefined, text: string): void {
    this.f.text(id).text(title ?? "").text(text);
    this.n++;
  }

  get count(): number {
    return this.n;
  }

  digest(): string {
    return this.f.digest();
  }
}

const corpusCache = new WeakMap<object, string>();

/** A corpus's fingerprint: every passage (id, title, text) in the corpus's order (cached per map). */
export function corpusFingerprint(docs: ReadonlyMap<string, { readonly title?: string; readonly text: string }>): string {
  const cached = corpusCache.get(docs);
  if (cached) return cached;
  const f = new CorpusFingerprinter();
  for (const [id, d] of docs) f.add(id, d.title, d.text);
  const fp = f.digest();
  corpusCache.set(docs, fp);
  return fp;
}

/** A fingerprint of settings (canonical JSON). */
export function settingsFingerprint(settings: unknown): string {
  return new Fingerprinter().text("settings").json(settings).digest();
}

// ------------------------------------------------------------------------------------------------ records

export function packageVersion(): string {
  try {
    const file = new URL("../../package.json", import.meta.url);
    return `md2pr ${(JSON.parse(readFileSync(file, "utf8")) as { version?: string }).version ?? "?"}`;
  } catch {
    return "md2pr";
  }
}

/** Writes `<dir>/md2pr-artifact.json` (atomically). */
export function writeArtifact(dir: string, kind: ArtifactKind, madeFrom: MadeFrom, fingerprint?: string): ArtifactRecord {
  const record: ArtifactRecord = { format: "md2pr-artifact", version: 1, kind, createdBy: packageVersion(), madeFrom, ...(fingerprint ? { fingerprint } : {}) };
  writeJsonAtomic(path.join(dir, ARTIFACT_FILE), record);
  return record;
}

/** The record of `dir`, or null when it has none (written by an older md2pr, or not md2pr's). */
export function readArtifact(dir: string): ArtifactRecord | null {
  const file = path.join(dir, ARTIFACT_FILE);
  if (!existsSync(file)) return null;
  return validateConfig(ArtifactRecordSchema, parseJsonText(readFileSync(file, "utf8"), file), file);
}

/** Files that mark folders written by md2pr before artifact records existed, and the kind they imply. */
const LEGACY_MARKERS: readonly [string, ArtifactKind][] = [
  ["md2pr.json", "retriever"],
  ["md2pr-pretrain.json", "base-model"],
  ["index.json", "dense-index"],
  ["progress.json", "dense-index"],
  ["hnsw.json", "hnsw-index"],
  ["results.json", "training-run"],
  ["train-bm25.jsonl", "training-run"],
  ["work", "training-run"],
  ["train-log.jsonl", "training-run"],
  ["state.json", "checkpoint"],
];

/** The kind of md2pr artifact `dir` holds (from its record, else from the files older versions wrote), or null. */
export function artifactKindOf(dir: string): ArtifactKind | null {
  const record = readArtifact(dir);
  if (record) return record.kind;
  const meta = path.join(dir, "meta.json");
  if (existsSync(meta)) {
    try {
      if ((JSON.parse(readFileSync(meta, "utf8")) as { format?: string }).format === "md2pr-bm25") return "bm25-index";
    } catch { /* not ours */ }
  }
  for (const [file, kind] of LEGACY_MARKERS) if (existsSync(path.join(dir, file))) return kind;
  return null;
}

/** Raised when an artifact is used with a partner it was not made from. */
export class ProvenanceError extends Error {
  override readonly name = "ProvenanceError";
}

/**
 * Checks that a partner matches what an artifact was made from: `recorded` (from the artifact) against `actual`
 * (the partner in hand). Throws a {@link ProvenanceError} naming both sides and the rebuild command.
 */
export function checkPartner(what: { artifact: string; field: string; recorded: string | undefined; partner: string; actual: string; rebuild: string }): void {
  if (what.recorded === undefined || what.recorded === what.actual) return;
  throw new ProvenanceError(
    `${what.artifact} was made from ${what.field} ${what.recorded}, but ${what.partner} is ${what.actual}; ` +
      `they do not belong together. Rebuild it: ${what.rebuild}`,
  );
}

/** The settings that differ between two records (dotted paths, "a.b: 1 -> 2"), for resume messages. */
export function settingsDiff(before: unknown, after: unknown, prefix = ""): string[] {
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => settingsDiff(before[k], after[k], prefix ? `${prefix}.${k}` : k));
  }
  return canonicalJson(before) === canonicalJson(after) ? [] : [`${prefix || "(value)"}: ${canonicalJson(before) ?? "unset"} -> ${canonicalJson(after) ?? "unset"}`];
}

/** What a consumer has in hand: the fingerprints of its partners and how to name them. */
export interface Partners {
  model?: { fingerprint: string; name: string };
  corpus?: { fingerprint: string; name: string };
}

/**
 * Checks the record of artifact `dir` against the partners in hand: a model or corpus other than the one it was
 * made from is refused, naming both sides and `rebuild` (the command that makes a matching artifact). A folder
 * without a record (older md2pr) passes.
 */
export function checkMadeFrom(dir: string, partners: Partners, rebuild: string): ArtifactRecord | null {
  const record = readArtifact(dir);
  if (!record) return null;
  const what = record.kind;
  if (partners.model) {
    checkPartner({ artifact: `${what} ${dir}`, field: "model", recorded: record.madeFrom.model, partner: `the model ${partners.model.name}`, actual: partners.model.fingerprint, rebuild });
  }
  if (partners.corpus) {
    checkPartner({ artifact: `${what} ${dir}`, field: "corpus", recorded: record.madeFrom.corpus, partner: `the corpus ${partners.corpus.name}`, actual: partners.corpus.fingerprint, rebuild });
  }
  return record;
}

/**
 * For artifacts filled over time (a dense index being encoded): a folder with a record must match `madeFrom`
 * (else the {@link checkMadeFrom} error); a new or empty folder gets the record now, so that a resume or a reuse
 * with other partners is refused later.
 */
export function stampOrCheck(dir: string, kind: ArtifactKind, madeFrom: MadeFrom, partners: Partners, rebuild: string): void {
  if (checkMadeFrom(dir, partners, rebuild)) return;
  const hasFiles = existsSync(dir) && readdirSync(dir).some((n) => !n.startsWith("."));
  if (hasFiles) return; // written by an older md2pr: nothing recorded to compare
  mkdirSync(dir, { recursive: true });
  writeArtifact(dir, kind, madeFrom);
}

/** Artifact folders used together (any may be absent), and the corpus in hand if any. */
export interface ArtifactSet {
  /** A retriever folder (its record's fingerprint is the model's). */
  retriever?: string;
  /** A dense index, an HNSW index or a vector table made with the retriever. */
  index?: string;
  bm25?: string;
  corpus?: { fingerprint: string; name: string };
}

/**
 * Checks that artifacts used together belong together, from their records: the index was made with this retriever;
 * the index, the BM25 index and the corpus in hand are one corpus. Throws a {@link ProvenanceError} naming both sides
 * and the rebuild command. Folders without records (older md2pr) are not checked.
 */
export function checkArtifactSet(set: ArtifactSet): void {
  const retriever = set.retriever ? readArtifact(set.retriever) : null;
  const index = set.index ? readArtifact(set.index) : null;
  const bm25 = set.bm25 ? readArtifact(set.bm25) : null;
  if (retriever?.fingerprint && index) {
    checkPartner({
      artifact: `${index.kind} ${set.index}`, field: "model", recorded: index.madeFrom.model, partner: `the retriever ${set.retriever}`,
      actual: retriever.fingerprint, rebuild: `md2pr encode --model ${set.retriever} --corpus CORPUS --out NEW_INDEX`,
    });
  }
  const corpora: { name: string; fingerprint: string | undefined; rebuild: string }[] = [
    { name: `${index?.kind ?? "index"} ${set.index}`, fingerprint: index?.madeFrom.corpus, rebuild: `md2pr encode --model MODEL --corpus CORPUS --out NEW_INDEX` },
    { name: `bm25-index ${set.bm25}`, fingerprint: bm25?.madeFrom.corpus, rebuild: `md2pr bm25 --corpus CORPUS --out NEW_BM25` },
  ];
  if (set.corpus) {
    for (const c of corpora) {
      checkPartner({ artifact: c.name, field: "corpus", recorded: c.fingerprint, partner: `the corpus ${set.corpus.name}`, actual: set.corpus.fingerprint, rebuild: c.rebuild });
    }
  }
  const [a, b] = corpora;
  if (a!.fingerprint && b!.fingerprint && a!.fingerprint !== b!.fingerprint) {
    throw new ProvenanceError(
      `${a!.name} was made from corpus ${a!.fingerprint}, but ${b!.name} from corpus ${b!.fingerprint}; they cannot be fused. ` +
        `Rebuild one from the other's corpus: ${b!.rebuild}`,
    );
  }
}
