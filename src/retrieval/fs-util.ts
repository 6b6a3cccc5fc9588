/**
 * Small file-system helpers shared by the retrieval layer: line streaming with line numbers, located errors,
 * and (re-exported from src/util/atomic.ts) atomic writes.
 */
import { createReadStream } from "node:fs";
import { promises as fsp } from "node:fs";

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

/**
 * Streams the lines of a (possibly huge) UTF-8 text file; memory use does not depend on the file size. A UTF-8 byte
 * order mark at the start is skipped; "\n" and "\r\n" both end lines; a line that is not valid UTF-8 raises a
 * {@link DataFormatError} naming the file and line (never a silent U+FFFD).
 */
export async function* readLines(file: string): AsyncGenerator<NumberedLine> {
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let lineNo = 0;
  let carry: Buffer = Buffer.alloc(0);
  const decode = (bytes: Buffer): NumberedLine => {
    lineNo++;
    let body = bytes;
    if (lineNo === 1 && body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) body = body.subarray(3);
    if (body.length > 0 && body[body.length - 1] === 0x0d) body = body.subarray(0, body.length - 1);
    try {
      return { text: decoder.decode(body), lineNo };
    } catch {
      throw new DataFormatError(file, lineNo, `invalid UTF-8 at byte ${firstInvalidUtf8(body)} of the line (the file must be UTF-8 text)`);
    }
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let buf = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      let start = 0;
      for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
        yield decode(buf.subarray(start, nl));
        start = nl + 1;
      }
      carry = Buffer.from(buf.subarray(start));
      buf = carry;
    }
    if (carry.length > 0) yield decode(carry);
  } finally {
    stream.destroy();
  }
}

/** The 0-based offset of the first byte of the first ill-formed UTF-8 sequence (only called on a bad line). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const [n, min] = b < 0x80 ? [0, 0] : b >= 0xc2 && b < 0xe0 ? [1, 0x80] : b >= 0xe0 && b < 0xf0 ? [2, 0x800] : b >= 0xf0 && b < 0xf5 ? [3, 0x10000] : [-1, 0];
    if (n < 0) return i;
    let cp = n === 0 ? b : b & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return i;
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
