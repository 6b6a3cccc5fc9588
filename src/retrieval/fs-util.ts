/**
 * Small file-system helpers shared by the retrieval layer: line streaming with line numbers, located errors,
 * and (re-exported from src/util/atomic.ts) atomic writes.
 */
import { createReadStream } from "node:fs";
import { promises as fsp } from "node:fs";
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

/**
 * Atomic writes live in one module (src/util/atomic.ts); these are its async file and directory writers under the
 * names the retrieval layer has used.
 */
export { writeFileAtomicAsync as atomicWriteFile, writeDirAtomicAsync as atomicWriteDir } from "../util/atomic.ts";

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
