/**
 * Claiming an output path before writing it (`--out`): one writer at a time (util/lock.ts), never replacing or
 * deleting what md2pr did not write, and clearing what an interrupted md2pr writer left behind.
 *
 * - A folder output may be missing, empty, or a folder md2pr wrote of the same kind (a rebuild or a resume).
 *   A file there, a folder of other files, or an md2pr folder of another kind is refused unless `overwrite`.
 * - A file output may be missing, or a file `recognize` accepts (e.g. a TREC run); a folder there is refused, and
 *   any other file is refused unless `overwrite`.
 */
import * as fs from "node:fs";
import { cleanStaleTemps, isTempName } from "./atomic.ts";
import { acquireOutputLock, type OutputLock } from "./lock.ts";
import { ARTIFACT_FILE, artifactKindOf, readArtifact, writeArtifact, type ArtifactKind, type MadeFrom } from "./provenance.ts";

/** An output that may not be written as asked; the message says why and what to do. */
export class OutputRefusedError extends Error {
  override readonly name = "OutputRefusedError";
}

export interface ClaimDir {
  type: "dir";
  /** The kind of artifact the folder will hold. */
  kind: ArtifactKind;
  /** Write the folder's record now (folders filled over time, such as a training run), marking it as md2pr's. */
  stamp?: MadeFrom;
  /** Other kinds the writer may find there and keep (e.g. a training run holds its own checkpoints). */
  accepts?: readonly ArtifactKind[];
}

export interface ClaimFile {
  type: "file";
  /** Whether an existing file is one md2pr wrote and may be replaced (e.g. a TREC run). */
  recognize: (file: string) => boolean;
  /** What the file is, for messages ("TREC run"). */
  what: string;
}

export interface ClaimOptions {
  /** Allow replacing an output md2pr would otherwise refuse to touch. */
  overwrite?: boolean;
  /** The option that named the path, for messages (default "--out"). */
  option?: string;
}

function entriesOf(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => !isTempName(name));
}

function refuse(option: string, target: string, why: string, overwrite: boolean): never {
  throw new OutputRefusedError(`${option} ${target}: ${why}${overwrite ? "" : `; choose another path, or give --overwrite to replace it`}`);
}

function checkDir(target: string, claim: ClaimDir, options: ClaimOptions): void {
  const option = options.option ?? "--out";
  const stat = fs.statSync(target);
  if (!stat.isDirectory()) {
    if (!options.overwrite) refuse(option, target, `is an existing file, not a ${claim.kind} folder`, false);
    fs.rmSync(target);
    return;
  }
  if (entriesOf(target).length === 0) return;
  const kind = artifactKindOf(target);
  if (kind === claim.kind || (kind !== null && claim.accepts?.includes(kind))) return;
  if (options.overwrite) return;
  if (kind === null) refuse(option, target, `holds files md2pr did not write (${entriesOf(target).slice(0, 3).join(", ")}${entriesOf(target).length > 3 ? ", ..." : ""})`, false);
  refuse(option, target, `holds a ${kind}, not a ${claim.kind}`, false);
}

function checkFile(target: string, claim: ClaimFile, options: ClaimOptions): void {
  const option = options.option ?? "--out";
  const stat = fs.statSync(target);
  if (stat.isDirectory()) throw new OutputRefusedError(`${option} ${target}: is a folder; give the path of the ${claim.what} file to write`);
  if (stat.size === 0 || claim.recognize(target) || options.overwrite) return;
  refuse(option, target, `is an existing file that is not a ${claim.what}`, false);
}

/**
 * Claims `target` for writing: takes its lock (a second writer is refused), checks what is there (see the module
 * comment), and removes temporary files of dead writers (restoring a folder an interrupted swap moved aside).
 * Returns the lock, released at exit.
 */
export function claimOutput(target: string, claim: ClaimDir | ClaimFile, options: ClaimOptions = {}): OutputLock {
  const lock = acquireOutputLock(target);
  try {
    cleanStaleTemps(target, -1);
    if (fs.existsSync(target)) {
      if (claim.type === "dir") checkDir(target, claim, options);
      else checkFile(target, claim, options);
    }
    if (claim.type === "dir" && fs.existsSync(target)) cleanStaleTemps(target, 3);
    if (claim.type === "dir" && claim.stamp && readArtifact(target)?.kind !== claim.kind) {
      const created = !fs.existsSync(target);
      fs.mkdirSync(target, { recursive: true });
      writeArtifact(target, claim.kind, claim.stamp);
      // A run that fails before writing anything does not leave a folder behind that it created.
      if (created) process.once("exit", (code) => removeIfOnlyRecord(target, code));
    }
    return lock;
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** Whether `file` starts like a TREC run (`qid Q0 docid rank score tag`). */
export function looksLikeTrecRun(file: string): boolean {
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const first = buf.subarray(0, n).toString("utf8").split("\n").find((l) => l.trim() !== "" && !l.startsWith("#"));
    if (first === undefined) return true;
    const fields = first.trim().split(/\s+/);
    return fields.length >= 6 && Number.isFinite(Number(fields[3])) && Number.isFinite(Number(fields[4]));
  } finally {
    fs.closeSync(fd);
  }
}

function removeIfOnlyRecord(dir: string, code: number): void {
  if (code === 0) return;
  try {
    const names = fs.readdirSync(dir);
    if (names.length === 1 && names[0] === ARTIFACT_FILE) fs.rmSync(dir, { recursive: true, force: true });
  } catch { /* gone already */ }
}
