/**
 * Reader and writer for the safetensors format (https://github.com/huggingface/safetensors):
 *
 *   [u64 little-endian N][N bytes of JSON header][raw little-endian tensor bytes]
 *
 * The header maps tensor names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the start
 * of the byte buffer after the header) plus an optional `"__metadata__": {string: string}` entry.
 *
 * Reading: every tensor comes back as a fresh `Float32Array` (a copy, independent of the file):
 *   - F32 is read as is; F64, F16 and BF16 are converted to float32;
 *   - integer and bool dtypes (I64, I32, I16, I8, U64, U32, U16, U8, BOOL) are converted to float32 numbers
 *     too (exact for |v| <= 2^24; larger values round). The original dtype is reported in `dtype`.
 *   Validation follows the reference implementation and refuses, with the file (and tensor) named:
 *   a file shorter than 8 bytes, a header length beyond the file size, a header that is not valid JSON or not
 *   an object, an unknown dtype, a bad shape, data_offsets that are out of range, overlapping, leave gaps or
 *   trailing bytes, or whose size does not match shape x dtype size.
 *
 * Writing: F32 only, tensors sorted by name, `__metadata__` first, header padded with spaces to a multiple of
 * 8 bytes (as the reference implementation does), written atomically via `writeFileAtomic`. The metadata always
 * carries `"format": "pt"` unless the caller sets another format: transformers' `from_pretrained` refuses
 * safetensors files without it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";

/** Dtypes this module can read. */
export type SafetensorsDtype =
  | "F64" | "F32" | "F16" | "BF16"
  | "I64" | "I32" | "I16" | "I8"
  | "U64" | "U32" | "U16" | "U8" | "BOOL";

const DTYPE_SIZE: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2,
  I64: 8, I32: 4, I16: 2, I8: 1,
  U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

function isKnownDtype(d: string): d is SafetensorsDtype {
  return Object.prototype.hasOwnProperty.call(DTYPE_SIZE, d);
}

/** A tensor to write: row-major float32 data with `data.length === product(shape)`. */
export interface TensorInput {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** A tensor read from a file (always float32; `dtype` is the dtype stored in the file). */
export interface LoadedTensor {
  readonly shape: number[];
  readonly data: Float32Array;
  readonly dtype: SafetensorsDtype;
}

/** Result of {@link readSafetensors}. */
export interface SafetensorsFile {
  /** Tensors in header order (which for files written here is sorted by name). */
  readonly tensors: Map<string, LoadedTensor>;
  /** The `__metadata__` map, empty when absent. */
  readonly metadata: Record<string, string>;
}

/** Header entry of one tensor, as stored in the file. */
export interface SafetensorsHeaderEntry {
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  readonly dataOffsets: [number, number];
}

/** Parsed header, without tensor data (see {@link readSafetensorsHeader}). */
export interface SafetensorsHeader {
  readonly entries: Map<string, SafetensorsHeaderEntry>;
  readonly metadata: Record<string, string>;
  /** Absolute file offset where the tensor byte buffer starts (8 + header length). */
  readonly dataStart: number;
}

/** Upper bound on the header size, as in the reference implementation (100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

function fail(file: string, what: string): never {
  throw new Error(`safetensors: ${file}: ${what}`);
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

/** Parses and validates the header given the first bytes of the file and the total file size. */
function parseHeader(file: string, headerBytes: Buffer, fileSize: number): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(headerBytes.toString("utf8"));
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    fail(file, `header is not valid JSON (${msg})`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    fail(file, "header is not a JSON object");
  }
  const dataStart = 8 + headerBytes.length;
  const bufferLen = fileSize - dataStart;
  const entries = new Map<string, SafetensorsHeaderEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        fail(file, "__metadata__ is not an object of strings");
      }
      const md: Record<string, string> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string") fail(file, `__metadata__ value for "${k}" is not a string`);
        md[k] = v;
      }
      metadata = md;
      continue;
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      fail(file, `tensor "${name}": header entry is not an object`);
    }
    const e = value as Record<string, unknown>;
    const dtype = e["dtype"];
    if (typeof dtype !== "string") fail(file, `tensor "${name}": missing dtype`);
    if (!isKnownDtype(dtype)) fail(file, `tensor "${name}": unknown dtype "${dtype}"`);
    const shape = e["shape"];
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      fail(file, `tensor "${name}": shape must be an array of non-negative integers`);
    }
    const offs = e["data_offsets"];
    if (!Array.isArray(offs) || offs.length !== 2 || !isNonNegInt(offs[0]) || !isNonNegInt(offs[1])) {
      fail(file, `tensor "${name}": data_offsets must be [begin, end] non-negative integers`);
    }
    const begin = offs[0] as number;
    const end = offs[1] as number;
    if (end < begin) fail(file, `tensor "${name}": data_offsets [${begin}, ${end}] has end < begin`);
    if (end > bufferLen) {
      fail(file, `tensor "${name}": data_offsets [${begin}, ${end}] out of range: data section has ` +
        `${bufferLen} bytes (file truncated?)`);
    }
    let numel = 1;
    for (const d of shape as number[]) numel *= d;
    const expected = numel * DTYPE_SIZE[dtype];
    if (end - begin !== expected) {
      fail(file, `tensor "${name}": data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape ` +
        `[${(shape as number[]).join(", ")}] x ${dtype} needs ${expected}`);
    }
    entries.set(name, { dtype, shape: [...(shape as number[])], dataOffsets: [begin, end] });
  }
  // Offsets must tile the data buffer exactly: no overlap, no gap, no trailing bytes (reference behaviour).
  const sorted = [...entries.entries()].sort((a, b) =>
    a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  let pos = 0;
  let prevName = "";
  for (const [name, ent] of sorted) {
    const [begin, end] = ent.dataOffsets;
    if (begin < pos) {
      fail(file, `tensor "${name}": data_offsets [${begin}, ${end}] overlap tensor "${prevName}" (ends at ${pos})`);
    }
    if (begin > pos) {
      fail(file, `tensor "${name}": data_offsets [${begin}, ${end}] leave a gap after byte ${pos}`);
    }
    pos = end;
    prevName = name;
  }
  if (pos !== bufferLen) {
    fail(file, `data section has ${bufferLen} bytes but tensors cover ${pos} (trailing bytes or bad offsets)`);
  }
  return { entries, metadata, dataStart };
}

function readHeaderFromFd(file: string, fd: number, fileSize: number): SafetensorsHeader {
  if (fileSize < 8) fail(file, `file is truncated: ${fileSize} bytes, need at least 8 for the header length`);
  const lenBuf = Buffer.alloc(8);
  fs.readSync(fd, lenBuf, 0, 8, 0);
  const n = lenBuf.readBigUInt64LE(0);
  if (n > BigInt(fileSize - 8)) {
    fail(file, `header length ${n} exceeds the file size (${fileSize} bytes): file truncated or not safetensors`);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) fail(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLen = Number(n);
  const headerBytes = Buffer.alloc(headerLen);
  let got = 0;
  while (got < headerLen) {
    const r = fs.readSync(fd, headerBytes, got, headerLen - got, 8 + got);
    if (r === 0) fail(file, "file is truncated inside the header");
    got += r;
  }
  return parseHeader(file, headerBytes, fileSize);
}

/** Reads and validates only the header (cheap; no tensor data is read). */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const fd = fs.openSync(file, "r");
  try {
    return readHeaderFromFd(file, fd, fs.fstatSync(fd).size);
  } finally {
    fs.closeSync(fd);
  }
}

const f16Table = /* @__PURE__ */ (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    let v: number;
    if (exp === 0) v = frac * 2 ** -24; // subnormal (or zero)
    else if (exp === 31) v = frac === 0 ? Infinity : NaN;
    else v = (1 + frac / 1024) * 2 ** (exp - 15);
    t[h] = sign * v;
  }
  return t;
})();

/** Converts IEEE half-precision bit patterns to float32 (exact). */
export function f16ToF32(bits: number): number {
  return f16Table[bits & 0xffff]!;
}

/** Converts bfloat16 bit patterns to float32 (exact: bf16 is the top half of a float32). */
export function bf16ToF32(bits: number): number {
  const u = new Uint32Array([(bits & 0xffff) << 16]);
  return new Float32Array(u.buffer)[0]!;
}

function decode(file: string, name: string, dtype: SafetensorsDtype, bytes: Buffer, numel: number): Float32Array {
  const out = new Float32Array(numel);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "F32": {
      // Copy the bytes into the output (handles unaligned offsets and is independent of the file buffer).
      new Uint8Array(out.buffer).set(bytes);
      if (os.endianness() !== "LE") for (let i = 0; i < numel; i++) out[i] = dv.getFloat32(i * 4, true);
      return out;
    }
    case "F64": for (let i = 0; i < numel; i++) out[i] = dv.getFloat64(i * 8, true); return out;
    case "F16": for (let i = 0; i < numel; i++) out[i] = f16Table[dv.getUint16(i * 2, true)]!; return out;
    case "BF16": {
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < numel; i++) u[i] = dv.getUint16(i * 2, true) << 16;
      return out;
    }
    case "I64": for (let i = 0; i < numel; i++) out[i] = Number(dv.getBigInt64(i * 8, true)); return out;
    case "U64": for (let i = 0; i < numel; i++) out[i] = Number(dv.getBigUint64(i * 8, true)); return out;
    case "I32": for (let i = 0; i < numel; i++) out[i] = dv.getInt32(i * 4, true); return out;
    case "U32": for (let i = 0; i < numel; i++) out[i] = dv.getUint32(i * 4, true); return out;
    case "I16": for (let i = 0; i < numel; i++) out[i] = dv.getInt16(i * 2, true); return out;
    case "U16": for (let i = 0; i < numel; i++) out[i] = dv.getUint16(i * 2, true); return out;
    case "I8": for (let i = 0; i < numel; i++) out[i] = dv.getInt8(i); return out;
    case "U8": for (let i = 0; i < numel; i++) out[i] = dv.getUint8(i); return out;
    case "BOOL": {
      for (let i = 0; i < numel; i++) {
        const b = dv.getUint8(i);
        if (b > 1) fail(file, `tensor "${name}": BOOL byte ${b} at element ${i} is not 0 or 1`);
        out[i] = b;
      }
      return out;
    }
  }
}

/**
 * Reads a safetensors file. Every tensor is returned as a float32 copy (see the module comment for dtype
 * conversions). Throws an Error naming the file (and tensor) on any format violation.
 */
export function readSafetensors(file: string): SafetensorsFile {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`safetensors: cannot read ${file}: ${msg}`, { cause: err });
  }
  try {
    const header = readHeaderFromFd(file, fd, fs.fstatSync(fd).size);
    const tensors = new Map<string, LoadedTensor>();
    const le = os.endianness() === "LE";
    for (const [name, ent] of header.entries) {
      const [begin, end] = ent.dataOffsets;
      let numel = 1;
      for (const d of ent.shape) numel *= d;
      let data: Float32Array;
      if (ent.dtype === "F32" && le) {
        // Read straight into the result: no intermediate copy of the whole file.
        data = new Float32Array(numel);
        readFully(file, fd, new Uint8Array(data.buffer), header.dataStart + begin);
      } else {
        const bytes = Buffer.alloc(end - begin);
        readFully(file, fd, bytes, header.dataStart + begin);
        data = decode(file, name, ent.dtype, bytes, numel);
      }
      tensors.set(name, { shape: ent.shape, data, dtype: ent.dtype });
    }
    return { tensors, metadata: header.metadata };
  } finally {
    fs.closeSync(fd);
  }
}

function readFully(file: string, fd: number, into: Uint8Array, position: number): void {
  let got = 0;
  while (got < into.byteLength) {
    const r = fs.readSync(fd, into, got, into.byteLength - got, position + got);
    if (r === 0) fail(file, `file is truncated: unexpected end of file at byte ${position + got}`);
    got += r;
  }
}

/**
 * Builds the bytes of a safetensors file (F32, sorted by name, header space-padded to 8 bytes).
 * Returned as chunks (header, then one view per tensor) so large models are not copied twice.
 */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, TensorInput> | Readonly<Record<string, TensorInput>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array[] {
  const entries: [string, TensorInput][] = tensors instanceof Map
    ? [...tensors.entries()]
    : Object.entries(tensors as Readonly<Record<string, TensorInput>>);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const header: Record<string, unknown> = {};
  const md: Record<string, string> = { format: "pt" };
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (typeof v !== "string") throw new Error(`safetensors: metadata value for "${k}" is not a string`);
    md[k] = v;
  }
  header["__metadata__"] = md;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const le = os.endianness() === "LE";
  for (const [name, t] of entries) {
    if (name === "__metadata__") throw new Error(`safetensors: "__metadata__" cannot be used as a tensor name`);
    if (!(t.data instanceof Float32Array)) throw new Error(`safetensors: tensor "${name}": data must be a Float32Array`);
    let numel = 1;
    for (const d of t.shape) {
      if (!isNonNegInt(d)) throw new Error(`safetensors: tensor "${name}": invalid shape [${t.shape.join(", ")}]`);
      numel *= d;
    }
    if (numel !== t.data.length) {
      throw new Error(`safetensors: tensor "${name}": shape [${t.shape.join(", ")}] has ${numel} elements ` +
        `but data has ${t.data.length}`);
    }
    const nbytes = numel * 4;
    header[name] = { dtype: "F32", shape: [...t.shape], data_offsets: [offset, offset + nbytes] };
    offset += nbytes;
    if (le) {
      chunks.push(new Uint8Array(t.data.buffer, t.data.byteOffset, nbytes));
    } else {
      const b = Buffer.alloc(nbytes);
      for (let i = 0; i < numel; i++) b.writeFloatLE(t.data[i]!, i * 4);
      chunks.push(b);
    }
  }
  let headerBytes = Buffer.from(JSON.stringify(header), "utf8");
  const pad = (8 - (headerBytes.length % 8)) % 8;
  if (pad > 0) headerBytes = Buffer.concat([headerBytes, Buffer.alloc(pad, 0x20)]);
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  return [lenBuf, headerBytes, ...chunks];
}

/**
 * Writes tensors as an F32 safetensors file, atomically (temp file + fsync + rename).
 * Tensors are sorted by name; `metadata` (string -> string) goes into `__metadata__`, with `format: "pt"` added
 * when absent (needed by transformers' `from_pretrained`).
 */
export function writeSafetensors(
  file: string,
  tensors: ReadonlyMap<string, TensorInput> | Readonly<Record<string, TensorInput>>,
  metadata?: Readonly<Record<string, string>>,
): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

/**
 * Loads the weights of a Hugging Face model directory: `model.safetensors`, or a sharded checkpoint described
 * by `model.safetensors.index.json` (`{"weight_map": {tensor: shard file}}`). Tensor names are returned as
 * stored (e.g. with or without a `bert.` prefix). Metadata of all shards is merged.
 */
export function loadSafetensorsFromDirectory(dir: string): SafetensorsFile {
  const single = path.join(dir, "model.safetensors");
  if (fs.existsSync(single)) return readSafetensors(single);
  const indexPath = path.join(dir, "model.safetensors.index.json");
  if (!fs.existsSync(indexPath)) {
    throw new Error(`safetensors: ${dir}: neither model.safetensors nor model.safetensors.index.json found`);
  }
  let index: unknown;
  try {
    index = JSON.parse(fs.readFileSync(indexPath, "utf8"));
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`safetensors: ${indexPath}: invalid JSON (${msg})`, { cause: err });
  }
  const weightMap = (index !== null && typeof index === "object")
    ? (index as Record<string, unknown>)["weight_map"] : undefined;
  if (weightMap === null || typeof weightMap !== "object" || Array.isArray(weightMap)) {
    throw new Error(`safetensors: ${indexPath}: missing "weight_map" object`);
  }
  const shards = new Set<string>();
  for (const [tensor, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== "string" || shard.includes("/") || shard.includes("\\")) {
      throw new Error(`safetensors: ${indexPath}: bad shard file name for tensor "${tensor}"`);
    }
    shards.add(shard);
  }
  const tensors = new Map<string, LoadedTensor>();
  const metadata: Record<string, string> = {};
  for (const shard of [...shards].sort()) {
    const f = readSafetensors(path.join(dir, shard));
    for (const [k, v] of f.tensors) {
      if (tensors.has(k)) throw new Error(`safetensors: tensor "${k}" appears in more than one shard (${shard})`);
      tensors.set(k, v);
    }
    Object.assign(metadata, f.metadata);
  }
  return { tensors, metadata };
}
