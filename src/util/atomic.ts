/**
 * The one atomic-write module of md2pr. Every file and directory the project writes goes through it.
 *
 * Files: the data goes to a hidden temporary sibling (`.<name>.tmp-<pid>-<random>`), is fsync'ed, and is renamed
 * over the target; a reader sees the old complete file or the new complete file, never a partial one, even if the
 * process dies mid-write. Parent directories are created as needed; the parent is fsync'ed after the rename (best
 * effort). On failure (a full disk: ENOSPC) the temporary file is removed and the error names the target.
 *
 * Directories (a model folder, an index, a checkpoint): {@link writeDirAtomic} fills a temporary sibling directory
 * and renames it into place once, so the folder appears whole or not at all. An existing target is first moved
 * aside to `<temp>.old` and removed after the swap; a crash between the two renames leaves no target and the
 * `.old` copy, which {@link cleanStaleTemps} (run by every writer before it starts) renames back.
 *
 * Temporary names carry the writer's pid; {@link cleanStaleTemps} removes those of processes that are gone.
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

/**
 * Fault injection for the reliability tests (test/reliability/), off unless MD2PR_TEST_FAULT is set:
 * "kill:<point>[@<name>][:<n>]" SIGKILLs the process the n-th time (default 1) it reaches <point> (for a target
 * named <name>, when given); "enospc:..." throws ENOSPC there instead. Points: "file:before-rename",
 * "dir:before-swap", "dir:between-renames".
 */
const FAULT = /^(kill|enospc):([a-z:-]+?)(?:@([^:]+))?(?::(\d+))?$/.exec(process.env.MD2PR_TEST_FAULT ?? "");
let faultPasses = 0;

function faultPoint(point: string, target: string): void {
  if (!FAULT || FAULT[2] !== point || (FAULT[3] !== undefined && path.basename(target) !== FAULT[3])) return;
  if (++faultPasses !== Number(FAULT[4] ?? 1)) return;
  if (FAULT[1] === "kill") process.kill(process.pid, "SIGKILL");
  throw Object.assign(new Error(`ENOSPC: no space left on device, write (MD2PR_TEST_FAULT)`), { code: "ENOSPC" });
}

/** What can be written: a string (UTF-8), one byte array, or a list of byte arrays written back to back. */
export type AtomicData = string | Uint8Array | readonly Uint8Array[];

/** The hidden temporary sibling of `target`: `.<name>.tmp-<pid>-<random>`. */
export function tmpPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
}

/** A temporary name of this module (or of older md2pr versions: `<name>.tmp-<pid>[-<random>]`), parsed. */
const TEMP_NAME = /^(\.?)(.+?)\.tmp-(\d+)(?:-[0-9a-z]+)?(\.old)?$/;

/** Whether `name` is a temporary file or folder name of md2pr's writers. */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/** Whether process `pid` is alive (EPERM: it exists but belongs to someone else). */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function chunksOf(data: AtomicData): readonly Uint8Array[] {
  if (typeof data === "string") return [Buffer.from(data, "utf8")];
  if (data instanceof Uint8Array) return [data];
  return data;
}

function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // Directory fsync is not supported everywhere (e.g. Windows); the rename itself is still atomic.
  } finally {
    if (fd !== undefined) {
      try { fs.closeSync(fd); } catch { /* ignore */ }
    }
  }
}

/**
 * Writes `data` to `filePath` atomically (temp file, fsync, rename). Creates parent directories.
 * On failure the temporary file is removed and the error is rethrown with the target path in its message.
 */
export function writeFileAtomic(filePath: string, data: AtomicData): void {
  const target = path.resolve(filePath);
  const dir = path.dirname(target);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = tmpPathFor(target);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, "w", 0o644);
    for (const chunk of chunksOf(data)) {
      let off = 0;
      while (off < chunk.byteLength) {
        off += fs.writeSync(fd, chunk, off, chunk.byteLength - off);
      }
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    faultPoint("file:before-rename", target);
    fs.renameSync(tmp, target);
  } catch (err) {
    if (fd !== undefined) {
      try { fs.closeSync(fd); } catch { /* ignore */ }
    }
    try { fs.unlinkSync(tmp); } catch { /* ignore */ }
    throw errorFor(target, err);
  }
  fsyncDirSync(dir);
}

/** Promise-returning variant of {@link writeFileAtomic} (same guarantees). */
export async function writeFileAtomicAsync(filePath: string, data: AtomicData): Promise<void> {
  const target = path.resolve(filePath);
  const dir = path.dirname(target);
  await fsp.mkdir(dir, { recursive: true });
  const tmp = tmpPathFor(target);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(tmp, "w", 0o644);
    for (const chunk of chunksOf(data)) {
      let off = 0;
      while (off < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, off, chunk.byteLength - off);
        off += bytesWritten;
      }
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    faultPoint("file:before-rename", target);
    await fsp.rename(tmp, target);
  } catch (err) {
    if (handle !== undefined) {
      try { await handle.close(); } catch { /* ignore */ }
    }
    try { await fsp.unlink(tmp); } catch { /* ignore */ }
    throw errorFor(target, err);
  }
  fsyncDirSync(dir);
}

/** Options for {@link writeJsonAtomic}. */
export interface WriteJsonOptions {
  /** Indentation passed to JSON.stringify; default 2. Use 0 for compact output. */
  readonly indent?: number;
}

/**
 * Serialises `value` with JSON.stringify (plus a trailing newline) and writes it atomically.
 * Throws if the value is not JSON-serialisable (e.g. `undefined` at the top level).
 */
export function writeJsonAtomic(filePath: string, value: unknown, options: WriteJsonOptions = {}): void {
  const indent = options.indent ?? 2;
  const text = JSON.stringify(value, null, indent > 0 ? indent : undefined);
  if (typeof text !== "string") {
    throw new Error(`writeJsonAtomic: value for ${filePath} is not JSON-serialisable`);
  }
  writeFileAtomic(filePath, text + "\n");
}

function errorFor(target: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  if (e.code === undefined && err instanceof Error) return err; // not a file-system error: as it was
  const hint = e.code === "ENOSPC" ? " (the disk is full; free space and rerun: nothing was replaced)" : "";
  return Object.assign(new Error(`cannot write ${target}: ${e.code ?? e.message}${hint}`, { cause: err }), { code: e.code });
}

/** Puts the filled temporary directory `tmp` in place of `target` (see the module comment). */
function swapIntoPlace(tmp: string, target: string): void {
  faultPoint("dir:before-swap", target);
  let old: string | null = null;
  if (fs.existsSync(target)) {
    old = `${tmp}.old`;
    fs.renameSync(target, old);
  }
  try {
    if (old !== null) faultPoint("dir:between-renames", target);
    fs.renameSync(tmp, target);
  } catch (err) {
    if (old !== null) fs.renameSync(old, target); // put the previous folder back
    throw err;
  }
  fsyncDirSync(path.dirname(target));
  if (old !== null) fs.rmSync(old, { recursive: true, force: true });
}

/**
 * Builds directory `dir` atomically: `fill(tmp)` writes every file into a fresh temporary directory next to `dir`,
 * which is then renamed into place (replacing an existing `dir`). On failure the temporary directory is removed and
 * `dir` is left as it was.
 */
export function writeDirAtomic(dir: string, fill: (tmp: string) => void): void {
  const target = path.resolve(dir);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = tmpPathFor(target);
  try {
    fs.mkdirSync(tmp);
    fill(tmp);
    swapIntoPlace(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw errorFor(target, err);
  }
}

/** Promise-returning variant of {@link writeDirAtomic} (same guarantees). */
export async function writeDirAtomicAsync(dir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const target = path.resolve(dir);
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = tmpPathFor(target);
  try {
    await fsp.mkdir(tmp);
    await fill(tmp);
    swapIntoPlace(tmp, target);
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw errorFor(target, err);
  }
}

/** What {@link cleanStaleTemps} did. */
export interface CleanReport {
  removed: string[];
  /** Targets put back from their `.old` copy (a crash between a directory swap's renames). */
  restored: string[];
}

/**
 * Removes the temporary files and folders that writers which are no longer running left under `root` (and `root`'s
 * own temporary siblings), `depth` levels deep (-1: only the siblings); a target missing after an interrupted swap is
 * restored from `.old`.
 */
export function cleanStaleTemps(root: string, depth = 3): CleanReport {
  const report: CleanReport = { removed: [], restored: [] };
  const abs = path.resolve(root);
  scan(path.dirname(abs), 0, report, path.basename(abs));
  if (depth >= 0) scan(abs, depth, report);
  return report;
}

function scan(dir: string, depth: number, report: CleanReport, onlyFor?: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const m = TEMP_NAME.exec(e.name);
    if (m) {
      const [, , base, pid, old] = m;
      if (onlyFor !== undefined && base !== onlyFor) continue;
      if (processAlive(Number(pid))) continue;
      const full = path.join(dir, e.name);
      const target = path.join(dir, base!);
      if (old && !fs.existsSync(target)) {
        fs.renameSync(full, target);
        report.restored.push(target);
      } else {
        fs.rmSync(full, { recursive: true, force: true });
        report.removed.push(full);
      }
    } else if (depth > 0 && onlyFor === undefined && e.isDirectory()) {
      scan(path.join(dir, e.name), depth - 1, report);
    }
  }
}
