/**
 * SentencePiece unigram tokenizer (the DeBERTa-v3 tokenizer), written from SentencePiece's model format and
 * algorithm; equal to `SentencePieceProcessor.encode` (python3-sentencepiece 0.1.97) on the fixture cases.
 *
 *  1. `spm.model` is a protobuf `ModelProto`: pieces (string, float score, type), the trainer spec (byte
 *     fallback) and the normalizer spec (precompiled charsmap, add_dummy_prefix, remove_extra_whitespaces,
 *     escape_whitespaces). A small protobuf reader below parses just those fields.
 *  2. Normalisation (`nmt_nfkc` and the like) replays the precompiled charsmap: a darts-clone double-array trie
 *     over UTF-8 bytes whose longest match at each position is replaced by a NUL-terminated string of the pool;
 *     unmatched characters are copied. User-defined pieces pass through unnormalised. Leading, trailing and
 *     repeated spaces are removed, "▁" is prepended (dummy prefix) and spaces become "▁".
 *  3. Segmentation: Viterbi over the normalised bytes, maximising the sum of piece scores (SentencePiece's
 *     arithmetic: a candidate is a double compared with the float32 best stored so far, and must be strictly
 *     better); user-defined pieces score length * max_score - 0.1; a character no piece covers is [UNK] with
 *     min_score - 10. Runs of [UNK] merge into one; with byte fallback an [UNK] becomes the pieces <0xXX> of its
 *     UTF-8 bytes.
 * *
 * `tokenizer.json` (HF tokenizers' Unigram model with a Precompiled normalizer and Metaspace, as transformers
 * converts DeBERTa-v2/v3) is read into the same engine. As in HF's tokenizers, special-token strings in the text
 * are split out before SentencePiece runs (`spmEncode` is SentencePiece alone); encodings are `[CLS] a [SEP]` and `[CLS] a [SEP] b [SEP]` (token types 0, then
 * 1 for `b [SEP]`) with HF's pair truncation.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  assemblePair, assembleSingle, padEncodings, truncatePair,
  type BatchEncoding, type BatchOptions, type EncodeOptions, type EncodePairOptions, type Encoding, type PairBatchOptions,
} from "./encoding.ts";
import { escapeRegExp } from "./char-classes.ts";

// ---------------------------------------------------------------- the model file

/** SentencePiece's piece types (ModelProto.SentencePiece.Type). */
export const PieceType = { Normal: 1, Unknown: 2, Control: 3, UserDefined: 4, Unused: 5, Byte: 6 } as const;
export type PieceType = (typeof PieceType)[keyof typeof PieceType];

export interface SentencePiece {
  readonly piece: string;
  readonly score: number;
  readonly type: PieceType;
}

export interface NormalizerSpec {
  readonly name: string;
  readonly precompiledCharsmap: Uint8Array;
  readonly addDummyPrefix: boolean;
  readonly removeExtraWhitespaces: boolean;
  readonly escapeWhitespaces: boolean;
}

export interface SentencePieceModelProto {
  readonly pieces: readonly SentencePiece[];
  /** 1 unigram, 2 BPE, 3 word, 4 char (only unigram is supported for encoding). */
  readonly modelType: number;
  readonly byteFallback: boolean;
  readonly treatWhitespaceAsSuffix: boolean;
  readonly normalizer: NormalizerSpec;
}

/** Minimal protobuf wire-format reader. */
class ProtoReader {
  pos = 0;
  constructor(readonly buf: Uint8Array, readonly source: string, readonly end = buf.length) {}
  fail(what: string): never {
    throw new Error(`${this.source}: malformed SentencePiece model (${what} at byte ${this.pos})`);
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) this.fail("truncated varint");
      const b = this.buf[this.pos++]!;
      if (shift < 49) result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 70) this.fail("varint too long");
    }
  }
  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.end) this.fail("truncated field");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  float(): number {
    if (this.pos + 4 > this.end) this.fail("truncated float");
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else this.fail(`unsupported wire type ${wire}`);
    if (this.pos > this.end) this.fail("truncated field");
  }
  /** Calls fn(field, wire) for each field until the end; fn returns false to skip the field. */
  fields(fn: (field: number, wire: number) => boolean): void {
    while (this.pos < this.end) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (!fn(field, wire)) this.skip(wire);
    }
  }
  sub(): ProtoReader {
    const b = this.bytes();
    return new ProtoReader(b, this.source);
  }
}

const utf8 = new TextDecoder("utf-8");
const utf8Encoder = new TextEncoder();

/** Parses `spm.model` bytes (`source` names the file in errors). */
export function parseSentencePieceModel(bytes: Uint8Array, source: string): SentencePieceModelProto {
  const r = new ProtoReader(bytes, source);
  const pieces: SentencePiece[] = [];
  let modelType = 1;
  let byteFallback = false;
  let treatWhitespaceAsSuffix = false;
  let normalizer: NormalizerSpec = {
    name: "identity", precompiledCharsmap: new Uint8Array(0), addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true,
  };
  r.fields((field, wire) => {
    if (field === 1 && wire === 2) {
      const p = r.sub();
      let piece = "";
      let score = 0;
      let type: PieceType = PieceType.Normal;
      p.fields((f, w) => {
        if (f === 1 && w === 2) piece = utf8.decode(p.bytes());
        else if (f === 2 && w === 5) score = p.float();
        else if (f === 3 && w === 0) type = p.varint() as PieceType;
        else return false;
        return true;
      });
      pieces.push({ piece, score, type });
    } else if (field === 2 && wire === 2) {
      const t = r.sub();
      t.fields((f, w) => {
        if (f === 3 && w === 0) modelType = t.varint();
        else if (f === 35 && w === 0) byteFallback = t.varint() !== 0;
        else if (f === 24 && w === 0) treatWhitespaceAsSuffix = t.varint() !== 0;
        else return false;
        return true;
      });
    } else if (field === 3 && wire === 2) {
      const n = r.sub();
      const spec = { ...normalizer };
      n.fields((f, w) => {
        if (f === 1 && w === 2) spec.name = utf8.decode(n.bytes());
        else if (f === 2 && w === 2) spec.precompiledCharsmap = n.bytes().slice();
        else if (f === 3 && w === 0) spec.addDummyPrefix = n.varint() !== 0;
        else if (f === 4 && w === 0) spec.removeExtraWhitespaces = n.varint() !== 0;
        else if (f === 5 && w === 0) spec.escapeWhitespaces = n.varint() !== 0;
        else return false;
        return true;
      });
      normalizer = spec;
    } else return false;
    return true;
  });
  if (pieces.length === 0) throw new Error(`${source}: SentencePiece model has no pieces`);
  return { pieces, modelType, byteFallback, treatWhitespaceAsSuffix, normalizer };
}

// ---------------------------------------------------------------- normalisation

const SPACE_SYMBOL = utf8Encoder.encode("\u2581");
const REPLACEMENT = utf8Encoder.encode("\ufffd");

/** The precompiled charsmap: a darts-clone double array over UTF-8 bytes and its pool of replacements. */
class CharsMap {
  private readonly units: Uint32Array;
  private readonly pool: Uint8Array;
  private readonly replacements = new Map<number, Uint8Array>();

  constructor(blob: Uint8Array, source: string) {
    if (blob.length < 4) throw new Error(`${source}: precompiled charsmap too short`);
    const view = new DataView(blob.buffer, blob.byteOffset, blob.length);
    const trieSize = view.getUint32(0, true);
    if (trieSize % 4 !== 0 || 4 + trieSize > blob.length) throw new Error(`${source}: precompiled charsmap trie size ${trieSize} does not fit ${blob.length} bytes`);
    this.units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + 4 * i, true);
    this.pool = blob.subarray(4 + trieSize);
  }

  /** Longest match at pos: [replacement bytes, matched length], or null. */
  match(bytes: Uint8Array, pos: number, end: number): [Uint8Array, number] | null {
    const u = this.units;
    if (u.length === 0) return null;
    let node = offsetOf(u[0]!);
    let bestLen = 0;
    let bestValue = -1;
    for (let i = pos; i < end; i++) {
      const c = bytes[i]!;
      node ^= c;
      if (node >= u.length) break;
      const unit = u[node]!;
      if ((unit & 0x800000ff) >>> 0 !== c) break;
      node ^= offsetOf(unit);
      if ((unit >>> 8) & 1) {
        bestValue = u[node]! & 0x7fffffff;
        bestLen = i - pos + 1;
      }
    }
    if (bestLen === 0) return null;
    return [this.replacement(bestValue), bestLen];
  }

  private replacement(offset: number): Uint8Array {
    let r = this.replacements.get(offset);
    if (!r) {
      let e = offset;
      while (e < this.pool.length && this.pool[e] !== 0) e++;
      r = this.pool.subarray(offset, e);
      this.replacements.set(offset, r);
    }
    return r;
  }
}

function offsetOf(unit: number): number {
  return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
}

function utf8Length(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead < 0xe0) return 2;
  if (lead >= 0xe0 && lead < 0xf0) return 3;
  if (lead >= 0xf0 && lead < 0xf5) return 4;
  return 0;
}

/** A byte trie (transitions in one hash map) with a value at some nodes. */
class ByteTrie {
  private readonly next = new Map<number, number>();
  private values: Int32Array = new Int32Array(1).fill(-1);
  private nodes = 1;
  maxDepth = 0;

  insert(key: Uint8Array, value: number): void {
    let node = 0;
    for (const b of key) {
      const k = node * 256 + b;
      let child = this.next.get(k);
      if (child === undefined) {
        child = this.nodes++;
        this.next.set(k, child);
        if (child >= this.values.length) {
          const grown = new Int32Array(this.values.length * 2).fill(-1);
          grown.set(this.values);
          this.values = grown;
        }
      }
      node = child;
    }
    this.values[node] = value;
    this.maxDepth = Math.max(this.maxDepth, key.length);
  }
  child(node: number, b: number): number {
    return this.next.get(node * 256 + b) ?? -1;
  }
  value(node: number): number {
    return this.values[node]!;
  }
}

// ---------------------------------------------------------------- the tokenizer

export interface SentencePieceOptions {
  readonly unkToken?: string;
  readonly clsToken?: string;
  readonly sepToken?: string;
  readonly padToken?: string;
  readonly maskToken?: string;
  /** Tokens outside the SentencePiece vocabulary with their ids (HF added_tokens.json, e.g. DeBERTa-v3's [MASK] 128000). */
  readonly addedTokens?: Readonly<Record<string, number>>;
  /** Default maxLength of the encode functions (default 512). */
  readonly modelMaxLength?: number;
}

export class SentencePieceTokenizer {
  readonly pieces: readonly SentencePiece[];
  readonly byteFallback: boolean;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  readonly maskId: number | undefined;
  readonly modelMaxLength: number;
  /** The spm.model bytes when loaded from one (saved as is). */
  readonly modelBytes: Uint8Array | null;
  private readonly normalizer: NormalizerSpec;
  private readonly charsMap: CharsMap | null;
  private readonly trie = new ByteTrie();
  private readonly userDefined = new ByteTrie();
  private readonly pieceIds = new Map<string, number>();
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly addedTokens: Map<string, number>;
  private readonly addedById = new Map<number, string>();
  private readonly scores: Float32Array;
  private readonly isUserDefined: Uint8Array;
  private readonly maxScore: number;
  private readonly unkScore: number;
  private readonly specialPattern: RegExp | null;
  private readonly options: SentencePieceOptions;

  constructor(model: SentencePieceModelProto, source: string, options: SentencePieceOptions = {}, modelBytes: Uint8Array | null = null) {
    if (model.modelType !== 1) throw new Error(`${source}: SentencePiece model type ${model.modelType} is not unigram (1)`);
    this.options = options;
    this.modelBytes = modelBytes;
    this.pieces = model.pieces;
    this.byteFallback = model.byteFallback;
    this.normalizer = model.normalizer;
    this.charsMap = model.normalizer.precompiledCharsmap.length > 0 ? new CharsMap(model.normalizer.precompiledCharsmap, source) : null;
    const n = model.pieces.length;
    this.scores = new Float32Array(n);
    this.isUserDefined = new Uint8Array(n);
    let minScore = Infinity;
    let maxScore = -Infinity;
    let unkId = -1;
    model.pieces.forEach((p, id) => {
      this.scores[id] = p.score;
      if (!this.pieceIds.has(p.piece)) this.pieceIds.set(p.piece, id);
      if (p.type === PieceType.Normal) {
        minScore = Math.min(minScore, p.score);
        maxScore = Math.max(maxScore, p.score);
      }
      if (p.type === PieceType.Unknown) unkId = id;
      if (p.type === PieceType.Byte) {
        const m = /^<0x([0-9A-F]{2})>$/.exec(p.piece);
        if (m) this.byteIds[parseInt(m[1]!, 16)] = id;
      }
      if (p.type === PieceType.Normal || p.type === PieceType.UserDefined) {
        const key = utf8Encoder.encode(p.piece);
        this.trie.insert(key, id);
        if (p.type === PieceType.UserDefined) {
          this.isUserDefined[id] = 1;
          this.userDefined.insert(key, id);
        }
      }
    });
    if (unkId < 0) throw new Error(`${source}: SentencePiece model has no unknown piece`);
    if (this.byteFallback && this.byteIds.some((id) => id < 0)) throw new Error(`${source}: byte fallback is on but not all 256 byte pieces exist`);
    this.unkId = unkId;
    this.maxScore = maxScore;
    this.unkScore = Math.fround(minScore - 10);
    this.addedTokens = new Map(Object.entries(options.addedTokens ?? {}));
    for (const [t, id] of this.addedTokens) this.addedById.set(id, t);
    const idOf = (token: string, what: string): number => {
      const id = this.addedTokens.get(token) ?? this.pieceIds.get(token);
      if (id === undefined) throw new Error(`${source}: the ${what} token "${token}" is neither a piece nor an added token`);
      return id;
    };
    this.clsId = idOf(options.clsToken ?? "[CLS]", "cls");
    this.sepId = idOf(options.sepToken ?? "[SEP]", "sep");
    this.padId = idOf(options.padToken ?? "[PAD]", "pad");
    const mask = options.maskToken ?? "[MASK]";
    this.maskId = this.addedTokens.get(mask) ?? this.pieceIds.get(mask);
    this.modelMaxLength = options.modelMaxLength ?? 512;
    const specials = new Set([options.clsToken ?? "[CLS]", options.sepToken ?? "[SEP]", options.padToken ?? "[PAD]",
      options.unkToken ?? "[UNK]", mask, ...this.addedTokens.keys()].filter((t) => t.length > 0 && this.tokenToId(t) !== undefined));
    const sorted = [...specials].sort((a, b) => b.length - a.length);
    this.specialPattern = sorted.length > 0 ? new RegExp(sorted.map(escapeRegExp).join("|"), "g") : null;
  }

  // ---------------------------------------------------------------- loading and saving

  static fromModelFile(file: string, options: SentencePieceOptions = {}): SentencePieceTokenizer {
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(file);
    } catch (err) {
      throw new Error(`${file}: cannot read SentencePiece model (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
    return new SentencePieceTokenizer(parseSentencePieceModel(bytes, file), file, options, new Uint8Array(bytes));
  }

  /** Reads an HF tokenizer.json with a Unigram model (DeBERTa-v2/v3 layout). */
  static fromTokenizerJson(file: string, options: SentencePieceOptions = {}): SentencePieceTokenizer {
    let json: TokenizerJson;
    try {
      json = JSON.parse(fs.readFileSync(file, "utf8")) as TokenizerJson;
    } catch (err) {
      throw new Error(`${file}: cannot read tokenizer.json (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
    return new SentencePieceTokenizer(unigramFromTokenizerJson(json, file), file, {
      ...options, addedTokens: { ...addedFromJson(json), ...options.addedTokens },
    });
  }

  /**
   * A model directory: `spm.model` (with `tokenizer_config.json` and `added_tokens.json` when present), else
   * `tokenizer.json`.
   */
  static fromDirectory(dir: string, options: SentencePieceOptions = {}): SentencePieceTokenizer {
    const config = readJsonIfExists(path.join(dir, "tokenizer_config.json")) as Record<string, unknown> | null;
    const fromConfig: SentencePieceOptions = {};
    if (config) {
      const str = (k: string): string | undefined => (typeof config[k] === "string" ? (config[k] as string) : undefined);
      Object.assign(fromConfig, {
        ...(str("cls_token") && { clsToken: str("cls_token") }),
        ...(str("sep_token") && { sepToken: str("sep_token") }),
        ...(str("pad_token") && { padToken: str("pad_token") }),
        ...(str("unk_token") && { unkToken: str("unk_token") }),
        ...(str("mask_token") && { maskToken: str("mask_token") }),
        ...(typeof config.model_max_length === "number" && config.model_max_length < 1e9 && { modelMaxLength: config.model_max_length }),
      });
      if (config.do_lower_case === true) throw new Error(`${dir}/tokenizer_config.json: do_lower_case true is not supported for SentencePiece`);
      if (config.split_by_punct === true) throw new Error(`${dir}/tokenizer_config.json: split_by_punct true is not supported`);
    }
    const added = readJsonIfExists(path.join(dir, "added_tokens.json")) as Record<string, number> | null;
    const merged: SentencePieceOptions = { ...fromConfig, ...options, addedTokens: { ...(added ?? {}), ...options.addedTokens } };
    const spmFile = path.join(dir, "spm.model");
    if (fs.existsSync(spmFile)) return SentencePieceTokenizer.fromModelFile(spmFile, merged);
    const jsonFile = path.join(dir, "tokenizer.json");
    if (fs.existsSync(jsonFile)) return SentencePieceTokenizer.fromTokenizerJson(jsonFile, merged);
    throw new Error(`${dir}: no spm.model or tokenizer.json`);
  }

  /** True when the directory holds a SentencePiece tokenizer (spm.model, or a Unigram tokenizer.json). */
  static isSentencePieceDirectory(dir: string): boolean {
    if (fs.existsSync(path.join(dir, "spm.model"))) return true;
    const json = readJsonIfExists(path.join(dir, "tokenizer.json")) as TokenizerJson | null;
    return json?.model?.type === "Unigram";
  }

  /** Writes spm.model (when loaded from one), tokenizer_config.json and added_tokens.json (when any). */
  save(dir: string): void {
    if (!this.modelBytes) throw new Error("SentencePieceTokenizer.save: only a tokenizer loaded from spm.model can be saved");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "spm.model"), this.modelBytes);
    const o = this.options;
    fs.writeFileSync(path.join(dir, "tokenizer_config.json"), `${JSON.stringify({
      tokenizer_class: "DebertaV2Tokenizer", do_lower_case: false, split_by_punct: false, vocab_type: "spm",
      bos_token: o.clsToken ?? "[CLS]", eos_token: o.sepToken ?? "[SEP]", cls_token: o.clsToken ?? "[CLS]", sep_token: o.sepToken ?? "[SEP]",
      pad_token: o.padToken ?? "[PAD]", unk_token: o.unkToken ?? "[UNK]", mask_token: o.maskToken ?? "[MASK]", model_max_length: this.modelMaxLength,
    }, null, 2)}\n`);
    if (this.addedTokens.size > 0) fs.writeFileSync(path.join(dir, "added_tokens.json"), `${JSON.stringify(Object.fromEntries(this.addedTokens), null, 2)}\n`);
  }

  // ---------------------------------------------------------------- vocabulary

  /** Pieces plus added tokens beyond them. */
  get vocabSize(): number {
    let n = this.pieces.length;
    for (const id of this.addedTokens.values()) n = Math.max(n, id + 1);
    return n;
  }

  idToToken(id: number): string {
    const t = this.pieces[id]?.piece ?? this.addedById.get(id);
    if (t === undefined) throw new Error(`SentencePieceTokenizer: id ${id} outside the vocabulary`);
    return t;
  }

  tokenToId(token: string): number | undefined {
    return this.addedTokens.get(token) ?? this.pieceIds.get(token);
  }

  // ---------------------------------------------------------------- tokenization

  /** The normalised text (with "▁" for spaces and the dummy prefix), as SentencePiece's normalizer gives it. */
  normalize(text: string): string {
    return utf8.decode(this.normalizeBytes(utf8Encoder.encode(text)));
  }

  /**
   * Piece ids of a text as HF's DeBERTa-v2 tokenizers give them: special and added tokens that occur verbatim
   * ([CLS], [SEP], [PAD], [UNK], [MASK], added_tokens) are split out first and kept as their ids; the text
   * between them goes through SentencePiece ({@link spmEncode}).
   */
  tokenizeToIds(text: string): number[] {
    const re = this.specialPattern;
    if (re === null) return this.spmEncode(text);
    const out: number[] = [];
    let last = 0;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (m.index > last) for (const id of this.spmEncode(text.slice(last, m.index))) out.push(id);
      out.push(this.tokenToId(m[0])!);
      last = m.index + m[0].length;
    }
    if (last === 0) return this.spmEncode(text);
    if (last < text.length) for (const id of this.spmEncode(text.slice(last))) out.push(id);
    return out;
  }

  /** Piece ids exactly as SentencePiece's `encode` gives them (special-token strings are not split out). */
  spmEncode(text: string): number[] {
    const norm = this.normalizeBytes(utf8Encoder.encode(text));
    const out: number[] = [];
    // One lattice over the whole text: SentencePiece's float32 path sums start at the text's beginning, and
    // ties between equal-score segmentations (e.g. "00"+"0" vs "0"+"00") are decided by their rounding (segmentInto).
    // tools/spm-corpus-check.ts: all 5,183 SciFact documents identical to python3-sentencepiece for both fixtures.
    this.segmentInto(norm, 0, norm.length, out);
    return out;
  }

  /** Pieces of a text (byte-fallback pieces as <0xXX>). */
  tokenize(text: string): string[] {
    return this.tokenizeToIds(text).map((id) => this.idToToken(id));
  }

  private normalizeBytes(input: Uint8Array): Uint8Array {
    const spec = this.normalizer;
    const len = input.length;
    let pos = 0;
    const out: number[] = [];
    const removeExtra = spec.removeExtraWhitespaces;
    if (removeExtra) {
      while (pos < len) {
        const [rep, consumed] = this.normalizePrefix(input, pos);
        if (!(rep.length === 1 && rep[0] === 0x20)) break;
        pos += consumed;
      }
    }
    if (pos >= len) return new Uint8Array(0);
    const space = spec.escapeWhitespaces ? SPACE_SYMBOL : Uint8Array.of(0x20);
    if (spec.addDummyPrefix) for (const b of space) out.push(b);
    let prevSpace = removeExtra;
    while (pos < len) {
      const [rep, consumed] = this.normalizePrefix(input, pos);
      let s = 0;
      if (prevSpace && removeExtra) while (s < rep.length && rep[s] === 0x20) s++;
      if (s < rep.length) {
        for (let i = s; i < rep.length; i++) {
          const b = rep[i]!;
          if (b === 0x20 && spec.escapeWhitespaces) for (const x of SPACE_SYMBOL) out.push(x);
          else out.push(b);
        }
        prevSpace = rep[rep.length - 1] === 0x20;
      }
      pos += consumed;
      if (!removeExtra) prevSpace = false;
    }
    if (removeExtra) {
      const k = space.length;
      while (out.length >= k && space.every((b, i) => out[out.length - k + i] === b)) out.length -= k;
    }
    return Uint8Array.from(out);
  }

  /** [replacement, consumed bytes] at pos: user-defined pieces as is, the charsmap's longest match, or one character. */
  private normalizePrefix(input: Uint8Array, pos: number): [Uint8Array, number] {
    let node = 0;
    let udLen = 0;
    for (let i = pos; i < input.length; i++) {
      node = this.userDefined.child(node, input[i]!);
      if (node < 0) break;
      if (this.userDefined.value(node) >= 0) udLen = i - pos + 1;
    }
    if (udLen > 0) return [input.subarray(pos, pos + udLen), udLen];
    const m = this.charsMap?.match(input, pos, input.length);
    if (m) return m;
    const n = utf8Length(input[pos]!);
    if (n === 0 || pos + n > input.length) return [REPLACEMENT, 1];
    return [input.subarray(pos, pos + n), n];
  }

  /** Viterbi over bytes [start, end) of the normalised text; appends the ids (unknowns merged / byte fallback). */
  private segmentInto(norm: Uint8Array, start: number, end: number, out: number[]): void {
    const size = end - start;
    if (size === 0) return;
    const f = Math.fround;
    const bestScore = new Float64Array(size + 1);
    const startsAt = new Int32Array(size + 1).fill(-1);
    const pieceId = new Int32Array(size + 1).fill(-1);
    startsAt[0] = 0;
    let pos = 0;
    while (pos < size) {
      const till = bestScore[pos]!;
      const charLen = Math.min(Math.max(utf8Length(norm[start + pos]!), 1), size - pos);
      let hasSingle = false;
      let node = 0;
      for (let k = pos; k < size; k++) {
        node = this.trie.child(node, norm[start + k]!);
        if (node < 0) break;
        const id = this.trie.value(node);
        if (id < 0) continue;
        const length = k + 1 - pos;
        // SentencePiece's candidate is a double (its score is the double `user-defined ? length * max_score - 0.1 :
        // float score`), compared unrounded with the float32 best score stored so far, then stored as float32.
        // Rounding it before the comparison breaks equal-score ties ("0"+"00" vs "00"+"0") the other way.
        const candidate = (this.isUserDefined[id] ? length * this.maxScore - 0.1 : this.scores[id]!) + till;
        const e = k + 1;
        if (startsAt[e] === -1 || candidate > bestScore[e]!) {
          bestScore[e] = f(candidate);
          startsAt[e] = pos;
          pieceId[e] = id;
        }
        if (length === charLen) hasSingle = true;
      }
      if (!hasSingle) {
        const e = pos + charLen;
        const candidate = f(this.unkScore + till);
        if (startsAt[e] === -1 || candidate > bestScore[e]!) {
          bestScore[e] = candidate;
          startsAt[e] = pos;
          pieceId[e] = this.unkId;
        }
      }
      pos += charLen;
    }
    // backtrack, merging runs of unknowns
    const spans: [number, number, number][] = [];
    for (let e = size; e > 0;) {
      const s = startsAt[e]!;
      const id = pieceId[e]!;
      const last = spans[spans.length - 1];
      if (id === this.unkId && last && last[2] === this.unkId) last[0] = s;
      else spans.push([s, e, id]);
      e = s;
    }
    for (let i = spans.length - 1; i >= 0; i--) {
      const [s, e, id] = spans[i]!;
      if (id === this.unkId && this.byteFallback) {
        for (let b = s; b < e; b++) out.push(this.byteIds[norm[start + b]!]!);
      } else out.push(id);
    }
  }

  // ---------------------------------------------------------------- encoding

  /** `[CLS] text [SEP]`, truncated to maxLength (default modelMaxLength) tokens. */
  encode(text: string, options: EncodeOptions = {}): Encoding {
    const maxLength = this.checkMaxLength(options.maxLength, 2);
    return assembleSingle(this.tokenizeToIds(text), maxLength, this.clsId, this.sepId);
  }

  /** `[CLS] a [SEP] b [SEP]` (token types 0 through the first [SEP], then 1), truncated per `truncation`. */
  encodePair(a: string, b: string, options: EncodePairOptions = {}): Encoding {
    const maxLength = this.checkMaxLength(options.maxLength, 3);
    const [ia, ib] = truncatePair(this.tokenizeToIds(a), this.tokenizeToIds(b), maxLength - 3, options.truncation ?? "longest_first");
    return assemblePair(ia, ib, this.clsId, this.sepId);
  }

  encodeBatch(texts: readonly string[], options: BatchOptions = {}): BatchEncoding {
    const maxLength = this.batchMaxLength(options, 2);
    return this.pad(texts.map((t) => this.encode(t, { maxLength })), options.padTo);
  }

  encodePairBatch(pairs: readonly (readonly [string, string])[], options: PairBatchOptions = {}): BatchEncoding {
    const maxLength = this.batchMaxLength(options, 3);
    return this.pad(pairs.map(([a, b]) => this.encodePair(a, b, { maxLength, truncation: options.truncation })), options.padTo);
  }

  pad(encodings: readonly Encoding[], padTo: "longest" | number = "longest"): BatchEncoding {
    return padEncodings(encodings, padTo, this.padId, "SentencePieceTokenizer.pad");
  }

  /** Pieces joined, "▁" as spaces, byte pieces decoded; special tokens skipped unless asked. */
  decode(ids: ArrayLike<number>, skipSpecialTokens = true): string {
    const special = new Set([this.clsId, this.sepId, this.padId, ...(this.maskId === undefined ? [] : [this.maskId])]);
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (skipSpecialTokens && special.has(id)) continue;
      const p = this.pieces[id];
      if (p?.type === PieceType.Byte) bytes.push(parseInt(p.piece.slice(3, 5), 16));
      else for (const b of utf8Encoder.encode(this.idToToken(id))) bytes.push(b);
    }
    return utf8.decode(Uint8Array.from(bytes)).replaceAll("\u2581", " ").trim();
  }

  private checkMaxLength(maxLength: number | undefined, minimum: number): number {
    const m = maxLength ?? this.modelMaxLength;
    if (!Number.isSafeInteger(m) || m < minimum) throw new Error(`SentencePieceTokenizer: maxLength must be an integer >= ${minimum}, got ${m}`);
    return m;
  }

  private batchMaxLength(options: BatchOptions, minimum: number): number {
    let m = options.maxLength ?? this.modelMaxLength;
    if (typeof options.padTo === "number") {
      if (!Number.isSafeInteger(options.padTo) || options.padTo < minimum) throw new Error(`SentencePieceTokenizer: padTo must be an integer >= ${minimum}, got ${options.padTo}`);
      m = Math.min(m, options.padTo);
    }
    return this.checkMaxLength(m, minimum);
  }
}

// ---------------------------------------------------------------- tokenizer.json

interface TokenizerJson {
  added_tokens?: { id: number; content: string }[];
  normalizer?: { type: string; normalizers?: { type: string; precompiled_charsmap?: string }[]; precompiled_charsmap?: string } | null;
  pre_tokenizer?: unknown;
  model?: { type?: string; unk_id?: number | null; vocab?: [string, number][]; byte_fallback?: boolean };
}

function unigramFromTokenizerJson(json: TokenizerJson, source: string): SentencePieceModelProto {
  const model = json.model;
  if (model?.type !== "Unigram" || !Array.isArray(model.vocab)) throw new Error(`${source}: model.type must be "Unigram" with a vocab list`);
  const unkId = model.unk_id ?? -1;
  const special = new Set((json.added_tokens ?? []).map((t) => t.content));
  const pieces: SentencePiece[] = model.vocab.map(([piece, score], id) => {
    if (typeof piece !== "string" || typeof score !== "number") throw new Error(`${source}: model.vocab[${id}] must be [string, number]`);
    let type: PieceType = PieceType.Normal;
    if (id === unkId) type = PieceType.Unknown;
    else if (/^<0x[0-9A-F]{2}>$/.test(piece)) type = PieceType.Byte;
    else if (special.has(piece)) type = PieceType.Control;
    return { piece, score, type };
  });
  if (unkId < 0) throw new Error(`${source}: model.unk_id is missing`);
  const norms = json.normalizer?.type === "Sequence" ? json.normalizer.normalizers ?? [] : json.normalizer ? [json.normalizer] : [];
  const precompiled = norms.find((n) => n.type === "Precompiled")?.precompiled_charsmap;
  return {
    pieces,
    modelType: 1,
    byteFallback: model.byte_fallback === true,
    treatWhitespaceAsSuffix: false,
    normalizer: {
      name: "tokenizer.json",
      precompiledCharsmap: precompiled ? new Uint8Array(Buffer.from(precompiled, "base64")) : new Uint8Array(0),
      addDummyPrefix: true,
      removeExtraWhitespaces: true,
      escapeWhitespaces: true,
    },
  };
}

function addedFromJson(json: TokenizerJson): Record<string, number> {
  const vocabSize = json.model?.vocab?.length ?? 0;
  const out: Record<string, number> = {};
  for (const t of json.added_tokens ?? []) if (t.id >= vocabSize) out[t.content] = t.id;
  return out;
}

function readJsonIfExists(file: string): unknown {
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`${file}: invalid JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}
