/**
 * Atomic file writes: the data goes to a temporary sibling file (`<path>.tmp-<pid>-<random>`), is fsync'ed,
 * and is then renamed over `path`. A reader therefore sees either the old complete file or the new complete
 * file, never a partial one, even if the process dies mid-write. Parent directories are created as needed.
 * After the rename the parent directory is fsync'ed too (best effort: ignored where the platform refuses).
 *
 * Every checkpoint and index file in the project is written through these functions.
 * The functions are synchronous; `writeFileAtomicAsync` is the promise-returning variant.
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

/** What can be written: a string (UTF-8), one byte array, or a list of byte arrays written back to back. */
export type AtomicData = string | Uint8Array | readonly Uint8Array[];

function tmpPathFor(target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
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
    fs.renameSync(tmp, target);
  } catch (err) {
    if (fd !== undefined) {
      try { fs.closeSync(fd); } catch { /* ignore */ }
    }
    try { fs.unlinkSync(tmp); } catch { /* ignore */ }
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`writeFileAtomic: failed to write ${target}: ${msg}`, { cause: err });
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
    await fsp.rename(tmp, target);
  } catch (err) {
    if (handle !== undefined) {
      try { await handle.close(); } catch { /* ignore */ }
    }
    try { await fsp.unlink(tmp); } catch { /* ignore */ }
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`writeFileAtomic: failed to write ${target}: ${msg}`, { cause: err });
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
