import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  readSafetensors, writeSafetensors, readSafetensorsHeader, loadSafetensorsFromDirectory, f16ToF32, bf16ToF32,
} from "../src/models/safetensors.ts";
import { writeFileAtomic, writeJsonAtomic } from "../src/util/atomic.ts";

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "md2pr-st-"));
}

/** Builds a raw safetensors file from a header object (serialised as given) and a data buffer. */
function rawFile(header: unknown, data: Uint8Array, opts: { headerText?: string; lenOverride?: bigint } = {}): Buffer {
  const text = opts.headerText ?? JSON.stringify(header);
  const h = Buffer.from(text, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(opts.lenOverride ?? BigInt(h.length));
  return Buffer.concat([len, h, Buffer.from(data)]);
}

function u16le(values: number[]): Uint8Array {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16LE(v, i * 2));
  return b;
}

test("round trip F32 with metadata; tensors sorted; header padded to 8 with spaces", () => {
  const dir = tmpDir();
  const file = path.join(dir, "sub", "model.safetensors");
  const tensors = new Map([
    ["z.weight", { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.5]) }],
    ["a.bias", { shape: [3], data: new Float32Array([0.1, -0.2, 1e-30]) }],
    ["scalar", { shape: [], data: new Float32Array([42]) }],
    ["empty", { shape: [0, 4], data: new Float32Array(0) }],
  ]);
  writeSafetensors(file, tensors, { note: "hi" });
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  assert.equal(n % 8, 0);
  const headerText = buf.subarray(8, 8 + n).toString("utf8");
  assert.match(headerText, /^\{"__metadata__":/);
  assert.match(headerText, /\} *$/);
  const parsed = JSON.parse(headerText) as Record<string, unknown>;
  assert.deepEqual(Object.keys(parsed), ["__metadata__", "a.bias", "empty", "scalar", "z.weight"]);
  const { tensors: back, metadata } = readSafetensors(file);
  assert.deepEqual(metadata, { format: "pt", note: "hi" });
  assert.deepEqual([...back.keys()], ["a.bias", "empty", "scalar", "z.weight"]);
  for (const [k, v] of tensors) {
    const got = back.get(k)!;
    assert.deepEqual(got.shape, v.shape);
    assert.deepEqual(Array.from(got.data), Array.from(v.data));
    assert.equal(got.dtype, "F32");
  }
  const h = readSafetensorsHeader(file);
  assert.deepEqual(h.entries.get("z.weight")!.dataOffsets, [12 + 0 + 4, 12 + 4 + 24]);
  // No leftover temp files.
  assert.deepEqual(fs.readdirSync(path.join(dir, "sub")), ["model.safetensors"]);
});

test("bit-exact round trip of a larger random tensor (NaN, -0, denormals included)", () => {
  const dir = tmpDir();
  const file = path.join(dir, "big.safetensors");
  const n = 300_000;
  const bits = new Uint32Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; bits[i] = x; }
  bits[0] = 0x7fc00001; bits[1] = 0x80000000; bits[2] = 0x00000001;
  const data = new Float32Array(bits.buffer);
  writeSafetensors(file, { "encoder.layer.0.weight": { shape: [300, 1000], data } });
  const back = readSafetensors(file).tensors.get("encoder.layer.0.weight")!;
  assert.deepEqual(back.shape, [300, 1000]);
  assert.deepEqual(new Uint32Array(back.data.buffer), bits);
});

test("Record input and unaligned data offsets are accepted", () => {
  const dir = tmpDir();
  const file = path.join(dir, "m.safetensors");
  writeSafetensors(file, { b: { shape: [1], data: new Float32Array([2]) }, a: { shape: [1], data: new Float32Array([1]) } });
  const back = readSafetensors(file);
  assert.deepEqual([...back.tensors.keys()], ["a", "b"]);
  assert.deepEqual(back.metadata, { format: "pt" });
  // An I8 tensor of 1 byte before an F32 one makes the F32 data unaligned.
  const data = Buffer.alloc(5);
  data.writeInt8(-3, 0);
  data.writeFloatLE(1.5, 1);
  const f2 = path.join(dir, "unaligned.safetensors");
  fs.writeFileSync(f2, rawFile({
    i: { dtype: "I8", shape: [1], data_offsets: [0, 1] },
    f: { dtype: "F32", shape: [1], data_offsets: [1, 5] },
  }, data));
  const t = readSafetensors(f2).tensors;
  assert.equal(t.get("i")!.data[0], -3);
  assert.equal(t.get("f")!.data[0], 1.5);
});

test("F16 and BF16 known values convert exactly", () => {
  const f16 = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555, 0x7c00, 0x8000, 0x0000];
  const f16Expect = [1, -2, 65504, 2 ** -24, 0.333251953125, Infinity, -0, 0];
  const bf16 = [0x3f80, 0xc040, 0x4049, 0x7f80, 0x0000, 0xbf00];
  const bf16Expect = [1, -3, 3.140625, Infinity, 0, -0.5];
  const dir = tmpDir();
  const file = path.join(dir, "half.safetensors");
  const data = Buffer.concat([u16le(f16), u16le(bf16)]);
  fs.writeFileSync(file, rawFile({
    h: { dtype: "F16", shape: [f16.length], data_offsets: [0, f16.length * 2] },
    b: { dtype: "BF16", shape: [2, 3], data_offsets: [f16.length * 2, data.length] },
  }, data));
  const t = readSafetensors(file).tensors;
  assert.deepEqual(Array.from(t.get("h")!.data), f16Expect);
  assert.ok(Object.is(t.get("h")!.data[6], -0));
  assert.deepEqual(Array.from(t.get("b")!.data), bf16Expect);
  assert.deepEqual(t.get("b")!.shape, [2, 3]);
  assert.equal(t.get("h")!.dtype, "F16");
  assert.ok(Number.isNaN(f16ToF32(0x7e00)));
  assert.equal(bf16ToF32(0x3f80), 1);
});

test("integer dtypes (I64 position_ids, I32, U8, BOOL) and F64 read as float32 numbers", () => {
  const dir = tmpDir();
  const file = path.join(dir, "ints.safetensors");
  const i64 = Buffer.alloc(4 * 8);
  [0, 1, 2, -5].forEach((v, i) => i64.writeBigInt64LE(BigInt(v), i * 8));
  const i32 = Buffer.alloc(8);
  i32.writeInt32LE(-7, 0); i32.writeInt32LE(123456, 4);
  const f64 = Buffer.alloc(8);
  f64.writeDoubleLE(0.25, 0);
  const u8 = Buffer.from([255, 0]);
  const bool = Buffer.from([1, 0]);
  const data = Buffer.concat([i64, i32, f64, u8, bool]);
  fs.writeFileSync(file, rawFile({
    pos: { dtype: "I64", shape: [1, 4], data_offsets: [0, 32] },
    i: { dtype: "I32", shape: [2], data_offsets: [32, 40] },
    d: { dtype: "F64", shape: [1], data_offsets: [40, 48] },
    u: { dtype: "U8", shape: [2], data_offsets: [48, 50] },
    m: { dtype: "BOOL", shape: [2], data_offsets: [50, 52] },
  }, data));
  const t = readSafetensors(file).tensors;
  assert.deepEqual(Array.from(t.get("pos")!.data), [0, 1, 2, -5]);
  assert.equal(t.get("pos")!.dtype, "I64");
  assert.deepEqual(Array.from(t.get("i")!.data), [-7, 123456]);
  assert.deepEqual(Array.from(t.get("d")!.data), [0.25]);
  assert.deepEqual(Array.from(t.get("u")!.data), [255, 0]);
  assert.deepEqual(Array.from(t.get("m")!.data), [1, 0]);
});

test("every corruption case is refused with an error naming the file (and tensor)", () => {
  const dir = tmpDir();
  const good = { w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } };
  const data8 = new Uint8Array(8);
  const cases: { name: string; bytes: Buffer; expect: RegExp }[] = [
    { name: "empty", bytes: Buffer.alloc(0), expect: /truncated/ },
    { name: "short", bytes: Buffer.from([1, 2, 3]), expect: /truncated/ },
    { name: "hugelen", bytes: rawFile(good, data8, { lenOverride: 1n << 40n }), expect: /header length .* exceeds the file size/ },
    { name: "lenpastend", bytes: rawFile(good, new Uint8Array(0), { lenOverride: 1000n }), expect: /exceeds the file size/ },
    { name: "badjson", bytes: rawFile(null, data8, { headerText: '{"w": {"dtype": "F32",' }), expect: /not valid JSON/ },
    { name: "notobject", bytes: rawFile([1, 2], data8), expect: /not a JSON object/ },
    { name: "truncdata", bytes: rawFile(good, new Uint8Array(4)), expect: /tensor "w".*out of range.*truncated/ },
    {
      name: "outofrange",
      bytes: rawFile({ w: { dtype: "F32", shape: [2], data_offsets: [8, 16] } }, data8),
      expect: /tensor "w".*out of range/,
    },
    {
      name: "overlap",
      bytes: rawFile({
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
      }, data8),
      expect: /overlap/,
    },
    {
      name: "gap",
      bytes: rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, data8),
      expect: /tensor "a".*gap/,
    },
    {
      name: "trailing",
      bytes: rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, data8),
      expect: /trailing/,
    },
    {
      name: "sizemismatch",
      bytes: rawFile({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, data8),
      expect: /tensor "w".*needs 12/,
    },
    {
      name: "unknowndtype",
      bytes: rawFile({ w: { dtype: "F8_E9M9", shape: [8], data_offsets: [0, 8] } }, data8),
      expect: /tensor "w": unknown dtype "F8_E9M9"/,
    },
    {
      name: "badshape",
      bytes: rawFile({ w: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, data8),
      expect: /tensor "w": shape/,
    },
    {
      name: "endbeforebegin",
      bytes: rawFile({ w: { dtype: "F32", shape: [0], data_offsets: [8, 0] } }, data8),
      expect: /end < begin/,
    },
    {
      name: "badmetadata",
      bytes: rawFile({ __metadata__: { n: 3 }, ...good }, data8),
      expect: /__metadata__/,
    },
  ];
  for (const c of cases) {
    const file = path.join(dir, `${c.name}.safetensors`);
    fs.writeFileSync(file, c.bytes);
    assert.throws(() => readSafetensors(file), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.ok(err.message.includes(file), `${c.name}: message should name the file: ${err.message}`);
      assert.match(err.message, c.expect, `${c.name}: ${err.message}`);
      return true;
    }, c.name);
  }
  assert.throws(() => readSafetensors(path.join(dir, "missing.safetensors")), /missing\.safetensors/);
});

test("writer validates shapes", () => {
  const dir = tmpDir();
  assert.throws(() => writeSafetensors(path.join(dir, "x.safetensors"),
    { w: { shape: [2, 2], data: new Float32Array(3) } }), /tensor "w".*4 elements.*3/);
  assert.equal(fs.readdirSync(dir).length, 0);
});

test("loadSafetensorsFromDirectory: single file and sharded index", () => {
  const dir = tmpDir();
  writeSafetensors(path.join(dir, "model-00001-of-00002.safetensors"), { a: { shape: [1], data: new Float32Array([1]) } });
  writeSafetensors(path.join(dir, "model-00002-of-00002.safetensors"), { b: { shape: [1], data: new Float32Array([2]) } });
  writeJsonAtomic(path.join(dir, "model.safetensors.index.json"), {
    metadata: {}, weight_map: { a: "model-00001-of-00002.safetensors", b: "model-00002-of-00002.safetensors" },
  });
  const s = loadSafetensorsFromDirectory(dir);
  assert.deepEqual([...s.tensors.keys()].sort(), ["a", "b"]);
  writeSafetensors(path.join(dir, "model.safetensors"), { c: { shape: [1], data: new Float32Array([3]) } });
  assert.deepEqual([...loadSafetensorsFromDirectory(dir).tensors.keys()], ["c"]);
  assert.throws(() => loadSafetensorsFromDirectory(tmpDir()), /neither model\.safetensors/);
});

test("writeFileAtomic replaces content and creates parents", () => {
  const dir = tmpDir();
  const f = path.join(dir, "a", "b", "c.txt");
  writeFileAtomic(f, "one");
  writeFileAtomic(f, [Buffer.from("tw"), Buffer.from("o")]);
  assert.equal(fs.readFileSync(f, "utf8"), "two");
  writeJsonAtomic(f, { x: 1 });
  assert.deepEqual(JSON.parse(fs.readFileSync(f, "utf8")), { x: 1 });
  assert.deepEqual(fs.readdirSync(path.dirname(f)), ["c.txt"]);
});
