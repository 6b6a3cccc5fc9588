/**
 * Small file-system helpers shared by the retrieval layer: line streaming with line numbers, located errors,
 * and atomic writes (write under a temporary name in the same directory, fsync, then rename).
 */
import { createReadStream } from "node:fs";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { createInterface } from "node:readline";

/** An error in an input file; the message starts with `file:line:`. */
export class DataFormatError extends Error {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = "DataFormatError";
    this.file = file;
    this.line = line;
  }
}

export interface NumberedLine {
  /** The line without its terminator (a trailing "\r" is removed too). */
  readonly text: string;
  /** 1-based line number. */
  readonly lineNo: number;
}

/** Streams the lines of a (possibly huge) text file; memory use does not depend on the file size. */
export async function* readLines(file: string): AsyncGenerator<NumberedLine> {
  const stream = createReadStream(file, { encoding: "utf8", highWaterMark: 1 << 20 });
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const raw of rl) {
      lineNo++;
      const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      yield { text, lineNo };
    }
  } finally {
    rl.close();
    stream.destroy();
  }
}

function tempName(target: string): string {
  const dir = path.dirname(target);
  const base = path.basename(target);
  return path.join(dir, `.${base}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
}

/** Writes `data` to `file` atomically: a temp file in the same directory, fsync, rename over the target. */
export async function atomicWriteFile(file: string, data: string | Uint8Array): Promise<void> {
  await fsp.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = tempName(path.resolve(file));
  const fh = await fsp.open(tmp, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await fsp.rename(tmp, file);
}

/**
 * Builds a directory atomically: `fill(tmpDir)` writes every file into a fresh temporary directory next to
 * `dir`, which then replaces `dir` (an existing `dir` is moved aside first and removed after the swap).
 * Readers never see a half-written directory; a crash leaves at most a stray `.name.tmp-*` directory.
 */
export async function atomicWriteDir(dir: string, fill: (tmpDir: string) => Promise<void>): Promise<void> {
  const target = path.resolve(dir);
  await fsp.mkdir(path.dirname(target), { recursive: true });
  const tmp = tempName(target);
  await fsp.mkdir(tmp);
  try {
    await fill(tmp);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  let old: string | null = null;
  try {
    await fsp.rename(tmp, target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "EISDIR" && code !== "ENOTDIR") throw e;
    old = `${tmp}.old`;
    await fsp.rename(target, old);
    await fsp.rename(tmp, target);
  }
  if (old !== null) await fsp.rm(old, { recursive: true, force: true });
}

/** Writes a typed array's bytes (little-endian on every platform Node supports) to a file handle path. */
export function typedBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Reads a whole binary file into a fresh, aligned typed array of the given element type. */
export async function readTypedFile<T extends Int32Array | Float32Array | Float64Array | Uint8Array>(
  file: string,
  ctor: { new (buffer: ArrayBuffer, byteOffset?: number, length?: number): T; readonly BYTES_PER_ELEMENT: number },
): Promise<T> {
  const buf = await fsp.readFile(file);
  if (buf.byteLength % ctor.BYTES_PER_ELEMENT !== 0) {
    throw new Error(`${file}: size ${buf.byteLength} is not a multiple of ${ctor.BYTES_PER_ELEMENT}`);
  }
  const ab = new ArrayBuffer(buf.byteLength);
  new Uint8Array(ab).set(buf);
  return new ctor(ab, 0, buf.byteLength / ctor.BYTES_PER_ELEMENT);
}
