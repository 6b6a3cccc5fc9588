/**
 * BERT WordPiece tokenizer, equivalent to Hugging Face's `BertTokenizer` (tokenization_bert.py) for the
 * settings BERT checkpoints use, written for speed (a per-word cache, an ASCII fast path, no regex in the
 * inner loop).
 *
 * Pipeline for one text:
 *  1. Special tokens ([CLS], [SEP], [PAD], [MASK], [UNK] and any added tokens) that occur verbatim in the
 *     text are kept as single tokens (HF splits on added tokens before anything else).
 *  2. Normalisation: when `doLowerCase`: lower case, then NFD and removal of non-spacing marks (Mn), i.e.
 *     accent stripping ("Héllo" -> "hello"); `stripAccents` true/false overrides the accent part (null:
 *     follow `doLowerCase`). Without lower casing and accent stripping the text is NFC-normalised (as HF's
 *     Python BasicTokenizer does).
 *  3. Basic tokenisation: NUL, U+FFFD and control characters (Unicode C*, except \t \n \r) are removed;
 *     whitespace (\t \n \r, Unicode Zs, U+2028/2029) separates words; CJK ideographs (BERT's block list)
 *     and punctuation (ASCII 33-47, 58-64, 91-96, 123-126 and Unicode P*) become single-character tokens.
 *  4. WordPiece: greedy longest-match-first with the `##` continuation prefix; a word longer than
 *     `maxInputCharsPerWord` (100) code points, or one that cannot be fully matched, becomes [UNK].
 *
 * Differences from HF that are deliberate or unimportant: (a) normalisation (step 2) is applied to the whole
 * text before cleaning instead of per whitespace token; this gives the same tokens since lower casing and
 * NFD neither create nor remove whitespace, control, CJK or punctuation characters in practice;
 * (b) `decode` does not apply HF's `clean_up_tokenization_spaces` rules.
 *
 * Encodings: ids, tokenTypeIds and attentionMask are Int32Arrays. Single texts become `[CLS] a [SEP]`, pairs
 * `[CLS] a [SEP] b [SEP]` with token type 0 for `[CLS] a [SEP]` and 1 for `b [SEP]`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../../util/atomic.ts";
import { ASCII_CLASS, C_DROP, C_NORMAL, C_SPACE, RE_MN, RE_MN_TEST, RE_NON_ASCII, classOf, countCodePoints, escapeRegExp } from "./char-classes.ts";
import { stripBom } from "../../util/config-file.ts";
import {
  assemblePair, assembleSingle, padEncodings, truncatePair,
  type BatchEncoding, type BatchOptions, type EncodeOptions, type EncodePairOptions, type Encoding, type PairBatchOptions,
} from "./encoding.ts";

/** Construction options; the defaults are those of bert-base-uncased. */
export interface WordPieceOptions {
  /** Lower-case the text (default true). */
  readonly doLowerCase?: boolean;
  /** Strip accents (NFD + drop Mn). null/undefined: strip exactly when lower casing (HF default). */
  readonly stripAccents?: boolean | null;
  /** Put spaces around CJK ideographs (default true). */
  readonly tokenizeChineseChars?: boolean;
  readonly unkToken?: string;
  readonly clsToken?: string;
  readonly sepToken?: string;
  readonly padToken?: string;
  readonly maskToken?: string;
  /** Further tokens that are never split (they must be in the vocabulary). */
  readonly extraSpecialTokens?: readonly string[];
  /** Words longer than this many code points become [UNK] (default 100). */
  readonly maxInputCharsPerWord?: number;
  /** Continuation prefix of word pieces (default "##"). */
  readonly continuingSubwordPrefix?: string;
  /** Default `maxLength` of the encode functions (default 512, bert-base's model_max_length). */
  readonly modelMaxLength?: number;
}

const WORD_CACHE_LIMIT = 200_000;
const PLAIN = 0;
const SPECIAL = 1;

/** BERT WordPiece tokenizer (see the module comment). Immutable after construction except for its cache. */
export class WordPieceTokenizer {
  readonly doLowerCase: boolean;
  readonly stripAccents: boolean;
  readonly tokenizeChineseChars: boolean;
  readonly maxInputCharsPerWord: number;
  readonly continuingSubwordPrefix: string;
  readonly modelMaxLength: number;
  readonly unkToken: string;
  readonly clsToken: string;
  readonly sepToken: string;
  readonly padToken: string;
  readonly maskToken: string;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  /** -1 when the vocabulary has no mask token. */
  readonly maskId: number;
  /** Tokens never split and matched verbatim in input text. */
  readonly specialTokens: readonly string[];

  private readonly vocab: readonly string[];
  private readonly initialMap = new Map<string, number>();
  /** Continuation pieces keyed WITHOUT the prefix. */
  private readonly contMap = new Map<string, number>();
  private readonly maxInitialLen: number;
  private readonly maxContLen: number;
  private readonly tokenIds = new Map<string, number>();
  private readonly specialRe: RegExp | null;
  private readonly specialFirstChars: string;
  private readonly cache = new Map<string, number | readonly number[]>();
  private readonly wordBuf: string[] = [];

  constructor(vocab: readonly string[], options: WordPieceOptions = {}) {
    if (vocab.length === 0) throw new Error("WordPieceTokenizer: empty vocabulary");
    this.vocab = [...vocab];
    this.doLowerCase = options.doLowerCase ?? true;
    this.stripAccents = options.stripAccents ?? this.doLowerCase;
    this.tokenizeChineseChars = options.tokenizeChineseChars ?? true;
    this.maxInputCharsPerWord = options.maxInputCharsPerWord ?? 100;
    this.continuingSubwordPrefix = options.continuingSubwordPrefix ?? "##";
    this.modelMaxLength = options.modelMaxLength ?? 512;
    this.unkToken = options.unkToken ?? "[UNK]";
    this.clsToken = options.clsToken ?? "[CLS]";
    this.sepToken = options.sepToken ?? "[SEP]";
    this.padToken = options.padToken ?? "[PAD]";
    this.maskToken = options.maskToken ?? "[MASK]";
    // Later duplicates win, as in HF's load_vocab.
    for (let i = 0; i < this.vocab.length; i++) this.tokenIds.set(this.vocab[i]!, i);
    const need = (tok: string, what: string): number => {
      const id = this.tokenIds.get(tok);
      if (id === undefined) throw new Error(`WordPieceTokenizer: ${what} token "${tok}" is not in the vocabulary`);
      return id;
    };
    this.unkId = need(this.unkToken, "unk");
    this.clsId = need(this.clsToken, "cls");
    this.sepId = need(this.sepToken, "sep");
    this.padId = need(this.padToken, "pad");
    this.maskId = this.tokenIds.get(this.maskToken) ?? -1;
    const specials = [this.unkToken, this.clsToken, this.sepToken, this.padToken];
    if (this.maskId >= 0) specials.push(this.maskToken);
    for (const t of options.extraSpecialTokens ?? []) {
      need(t, "special");
      if (!specials.includes(t)) specials.push(t);
    }
    this.specialTokens = specials;
    const sortedSpecials = [...specials].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
    this.specialRe = sortedSpecials.length > 0 ? new RegExp(`(${sortedSpecials.map(escapeRegExp).join("|")})`) : null;
    this.specialFirstChars = [...new Set(sortedSpecials.map((s) => s[0]!))].join("");

    const prefix = this.continuingSubwordPrefix;
    let maxI = 0;
    let maxC = 0;
    for (const [tok, id] of this.tokenIds) {
      if (prefix.length > 0 && tok.startsWith(prefix) && tok.length > prefix.length) {
        const rest = tok.slice(prefix.length);
        this.contMap.set(rest, id);
        if (rest.length > maxC) maxC = rest.length;
      }
      // A token that starts with the prefix can still match at a word start (e.g. the word "##"),
      // exactly as in HF, so every token is also an initial piece.
      this.initialMap.set(tok, id);
      if (tok.length > maxI) maxI = tok.length;
    }
    this.maxInitialLen = maxI;
    this.maxContLen = maxC;
  }

  // ---------------------------------------------------------------- loading and saving

  /** Loads a `vocab.txt` (one token per line; the line number is the id). */
  static fromVocabFile(file: string, options: WordPieceOptions = {}): WordPieceTokenizer {
    let text: string;
    try {
      text = stripBom(fs.readFileSync(file, "utf8"));
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`WordPieceTokenizer: cannot read vocabulary ${file}: ${msg}`, { cause: err });
    }
    const lines = text.split("\n");
    if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    // Tolerate CRLF files: HF would keep the "\r"; a token never legitimately ends with it.
    const vocab = lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
    try {
      return new WordPieceTokenizer(vocab, options);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`${file}: ${msg}`, { cause: err });
    }
  }

  /**
   * Loads a Hugging Face `tokenizer.json` whose model is WordPiece (BertNormalizer, BertPreTokenizer).
   * Added tokens become never-split tokens; [CLS]/[SEP] come from the post-processor when present.
   * Options given here override what the file says.
   */
  static fromTokenizerJson(file: string, options: WordPieceOptions = {}): WordPieceTokenizer {
    const fail = (what: string): never => { throw new Error(`WordPieceTokenizer: ${file}: ${what}`); };
    let json: unknown;
    try {
      json = JSON.parse(stripBom(fs.readFileSync(file, "utf8")));
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`WordPieceTokenizer: ${file}: cannot read tokenizer.json (${msg})`, { cause: err });
    }
    const obj = asRecord(json) ?? fail("not a JSON object");
    const model = asRecord(obj["model"]) ?? fail("missing \"model\"");
    if (model["type"] !== "WordPiece") fail(`model type ${JSON.stringify(model["type"])} is not WordPiece`);
    const vocabObj = asRecord(model["vocab"]) ?? fail("model.vocab is not an object");
    const byId: (string | undefined)[] = [];
    for (const [tok, id] of Object.entries(vocabObj)) {
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0) fail(`bad id for token ${JSON.stringify(tok)}`);
      byId[id as number] = tok;
    }
    const added: string[] = [];
    const addedList = obj["added_tokens"];
    if (Array.isArray(addedList)) {
      for (const a of addedList) {
        const r = asRecord(a);
        if (!r || typeof r["content"] !== "string" || typeof r["id"] !== "number") fail("bad entry in added_tokens");
        const content = r!["content"] as string;
        const id = r!["id"] as number;
        if (byId[id] === undefined) byId[id] = content;
        else if (byId[id] !== content) fail(`added token ${JSON.stringify(content)} has id ${id} of ${JSON.stringify(byId[id])}`);
        added.push(content);
      }
    }
    const vocab: string[] = [];
    for (let i = 0; i < byId.length; i++) {
      const t = byId[i];
      if (t === undefined) fail(`vocabulary ids are not contiguous: id ${i} is missing`);
      vocab.push(t as string);
    }

    const opts: { -readonly [K in keyof WordPieceOptions]: WordPieceOptions[K] } = {};
    if (typeof model["unk_token"] === "string") opts.unkToken = model["unk_token"];
    if (typeof model["continuing_subword_prefix"] === "string") opts.continuingSubwordPrefix = model["continuing_subword_prefix"];
    if (typeof model["max_input_chars_per_word"] === "number") opts.maxInputCharsPerWord = model["max_input_chars_per_word"];

    const norm = obj["normalizer"];
    if (norm !== null && norm !== undefined) {
      const n = asRecord(norm) ?? fail("normalizer is not an object");
      if (n["type"] !== "BertNormalizer") fail(`normalizer ${JSON.stringify(n["type"])} is not supported (only BertNormalizer)`);
      if (n["clean_text"] === false) fail("BertNormalizer with clean_text=false is not supported");
      opts.doLowerCase = n["lowercase"] !== false;
      opts.stripAccents = typeof n["strip_accents"] === "boolean" ? n["strip_accents"] : null;
      opts.tokenizeChineseChars = n["handle_chinese_chars"] !== false;
    } else {
      fail("a normalizer is required (BertNormalizer)");
    }
    const pre = asRecord(obj["pre_tokenizer"]);
    if (pre && pre["type"] !== "BertPreTokenizer") {
      fail(`pre_tokenizer ${JSON.stringify(pre["type"])} is not supported (only BertPreTokenizer)`);
    }
    const post = asRecord(obj["post_processor"]);
    if (post) {
      if (post["type"] === "BertProcessing") {
        const cls = post["cls"];
        const sep = post["sep"];
        if (Array.isArray(cls) && typeof cls[0] === "string") opts.clsToken = cls[0];
        if (Array.isArray(sep) && typeof sep[0] === "string") opts.sepToken = sep[0];
      } else if (post["type"] === "TemplateProcessing") {
        const single = post["single"];
        if (Array.isArray(single)) {
          const sp = single.map((x) => asRecord(asRecord(x)?.["SpecialToken"])?.["id"]).filter((x): x is string => typeof x === "string");
          if (sp.length >= 2) { opts.clsToken = sp[0]; opts.sepToken = sp[sp.length - 1]; }
        }
      }
    }
    const padding = asRecord(obj["padding"]);
    if (padding && typeof padding["pad_token"] === "string") opts.padToken = padding["pad_token"];
    const truncation = asRecord(obj["truncation"]);
    if (truncation && typeof truncation["max_length"] === "number") opts.modelMaxLength = truncation["max_length"];
    const known = new Set([opts.unkToken ?? "[UNK]", opts.clsToken ?? "[CLS]", opts.sepToken ?? "[SEP]", opts.padToken ?? "[PAD]", "[MASK]"]);
    opts.extraSpecialTokens = added.filter((t) => !known.has(t));
    try {
      return new WordPieceTokenizer(vocab, { ...opts, ...options });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`${file}: ${msg}`, { cause: err });
    }
  }

  /**
   * Loads from a model directory: `tokenizer.json` when present, else `vocab.txt`. `tokenizer_config.json`
   * (when present) supplies do_lower_case, strip_accents, tokenize_chinese_chars and model_max_length.
   */
  static fromDirectory(dir: string, options: WordPieceOptions = {}): WordPieceTokenizer {
    const cfgOpts: { -readonly [K in keyof WordPieceOptions]: WordPieceOptions[K] } = {};
    const cfgPath = path.join(dir, "tokenizer_config.json");
    if (fs.existsSync(cfgPath)) {
      let cfg: Record<string, unknown> | undefined;
      try {
        cfg = asRecord(JSON.parse(stripBom(fs.readFileSync(cfgPath, "utf8"))));
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        throw new Error(`WordPieceTokenizer: ${cfgPath}: invalid JSON (${msg})`, { cause: err });
      }
      if (cfg) {
        if (typeof cfg["do_lower_case"] === "boolean") cfgOpts.doLowerCase = cfg["do_lower_case"];
        if (typeof cfg["strip_accents"] === "boolean") cfgOpts.stripAccents = cfg["strip_accents"];
        if (typeof cfg["tokenize_chinese_chars"] === "boolean") cfgOpts.tokenizeChineseChars = cfg["tokenize_chinese_chars"];
        const mml = cfg["model_max_length"];
        if (typeof mml === "number" && Number.isSafeInteger(mml) && mml > 0) cfgOpts.modelMaxLength = mml;
      }
    }
    const tj = path.join(dir, "tokenizer.json");
    if (fs.existsSync(tj)) {
      // tokenizer.json's normalizer is authoritative for casing; the config only adds model_max_length.
      const fromJson = WordPieceTokenizer.fromTokenizerJson(tj, options);
      if (cfgOpts.modelMaxLength === undefined || options.modelMaxLength !== undefined) return fromJson;
      return fromJson.withOptions({ modelMaxLength: cfgOpts.modelMaxLength });
    }
    const vt = path.join(dir, "vocab.txt");
    if (!fs.existsSync(vt)) throw new Error(`WordPieceTokenizer: ${dir}: neither tokenizer.json nor vocab.txt found`);
    return WordPieceTokenizer.fromVocabFile(vt, { ...cfgOpts, ...options });
  }

  /** The options this tokenizer was built with (special tokens included). */
  get options(): WordPieceOptions {
    const base = new Set([this.unkToken, this.clsToken, this.sepToken, this.padToken, this.maskToken]);
    return {
      doLowerCase: this.doLowerCase,
      stripAccents: this.stripAccents,
      tokenizeChineseChars: this.tokenizeChineseChars,
      unkToken: this.unkToken,
      clsToken: this.clsToken,
      sepToken: this.sepToken,
      padToken: this.padToken,
      maskToken: this.maskToken,
      extraSpecialTokens: this.specialTokens.filter((t) => !base.has(t)),
      maxInputCharsPerWord: this.maxInputCharsPerWord,
      continuingSubwordPrefix: this.continuingSubwordPrefix,
      modelMaxLength: this.modelMaxLength,
    };
  }

  /** A copy with some options changed (same vocabulary). */
  withOptions(options: WordPieceOptions): WordPieceTokenizer {
    return new WordPieceTokenizer(this.vocab, { ...this.options, ...options });
  }

  /**
   * Writes `vocab.txt`, `tokenizer.json` (HF fast-tokenizer format), `tokenizer_config.json` and
   * `special_tokens_map.json` into `dir` (created if needed), each atomically. HF's `BertTokenizer`,
   * `BertTokenizerFast` / `AutoTokenizer` and {@link WordPieceTokenizer.fromDirectory} load the result.
   */
  save(dir: string): void {
    for (const t of this.vocab) {
      if (t.includes("\n")) throw new Error(`WordPieceTokenizer.save: token ${JSON.stringify(t)} contains a newline`);
    }
    writeFileAtomic(path.join(dir, "vocab.txt"), this.vocab.join("\n") + "\n");
    const specialsMap: Record<string, string> = {
      unk_token: this.unkToken, sep_token: this.sepToken, pad_token: this.padToken, cls_token: this.clsToken,
    };
    if (this.maskId >= 0) specialsMap["mask_token"] = this.maskToken;
    writeJsonAtomic(path.join(dir, "special_tokens_map.json"), specialsMap);
    writeJsonAtomic(path.join(dir, "tokenizer_config.json"), {
      tokenizer_class: "BertTokenizer",
      do_lower_case: this.doLowerCase,
      strip_accents: this.stripAccents === this.doLowerCase ? null : this.stripAccents,
      tokenize_chinese_chars: this.tokenizeChineseChars,
      model_max_length: this.modelMaxLength,
      ...specialsMap,
    });
    writeJsonAtomic(path.join(dir, "tokenizer.json"), this.toTokenizerJson(), { indent: 0 });
  }

  /** The HF `tokenizer.json` object describing this tokenizer. */
  toTokenizerJson(): Record<string, unknown> {
    const vocabObj: Record<string, number> = {};
    for (const [tok, id] of this.tokenIds) vocabObj[tok] = id;
    const addedTokens = this.specialTokens
      .map((t) => ({ id: this.tokenIds.get(t)!, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }))
      .sort((a, b) => a.id - b.id);
    const special = (t: string, typeId: number) => ({ SpecialToken: { id: t, type_id: typeId } });
    return {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: addedTokens,
      normalizer: {
        type: "BertNormalizer", clean_text: true, handle_chinese_chars: this.tokenizeChineseChars,
        strip_accents: this.stripAccents === this.doLowerCase ? null : this.stripAccents, lowercase: this.doLowerCase,
      },
      pre_tokenizer: { type: "BertPreTokenizer" },
      post_processor: {
        type: "TemplateProcessing",
        single: [special(this.clsToken, 0), { Sequence: { id: "A", type_id: 0 } }, special(this.sepToken, 0)],
        pair: [special(this.clsToken, 0), { Sequence: { id: "A", type_id: 0 } }, special(this.sepToken, 0),
          { Sequence: { id: "B", type_id: 1 } }, special(this.sepToken, 1)],
        special_tokens: {
          [this.clsToken]: { id: this.clsToken, ids: [this.clsId], tokens: [this.clsToken] },
          [this.sepToken]: { id: this.sepToken, ids: [this.sepId], tokens: [this.sepToken] },
        },
      },
      decoder: { type: "WordPiece", prefix: this.continuingSubwordPrefix, cleanup: true },
      model: {
        type: "WordPiece", unk_token: this.unkToken, continuing_subword_prefix: this.continuingSubwordPrefix,
        max_input_chars_per_word: this.maxInputCharsPerWord, vocab: vocabObj,
      },
    };
  }

  // ---------------------------------------------------------------- vocabulary

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** The vocabulary in id order (a copy). */
  getVocab(): string[] {
    return [...this.vocab];
  }

  idToToken(id: number): string {
    const t = this.vocab[id];
    if (t === undefined) throw new Error(`WordPieceTokenizer: id ${id} outside vocabulary of ${this.vocab.length}`);
    return t;
  }

  /** The id of a token, or undefined when it is not in the vocabulary. */
  tokenToId(token: string): number | undefined {
    return this.tokenIds.get(token);
  }

  convertIdsToTokens(ids: ArrayLike<number>): string[] {
    const out = new Array<string>(ids.length);
    for (let i = 0; i < ids.length; i++) out[i] = this.idToToken(ids[i]!);
    return out;
  }

  /** Token ids of `tokens` ([UNK] id for unknown tokens). */
  convertTokensToIds(tokens: readonly string[]): number[] {
    return tokens.map((t) => this.tokenIds.get(t) ?? this.unkId);
  }

  // ---------------------------------------------------------------- tokenization

  /** Word pieces of `text` (no [CLS]/[SEP]). */
  tokenize(text: string): string[] {
    const ids = this.tokenizeToIds(text);
    const out = new Array<string>(ids.length);
    for (let i = 0; i < ids.length; i++) out[i] = this.vocab[ids[i]!]!;
    return out;
  }

  /** Word-piece ids of `text` (no [CLS]/[SEP]). */
  tokenizeToIds(text: string): number[] {
    const out: number[] = [];
    this.tokenizeInto(text, out, null);
    return out;
  }

  /** Words after basic tokenisation (normalised, split on whitespace / punctuation / CJK), before WordPiece. */
  basicTokenize(text: string): string[] {
    const out: string[] = [];
    const segs = this.segments(text);
    for (let k = 0; k < segs.length; k += 2) {
      if (segs[k + 1] === SPECIAL) out.push(segs[k] as string);
      else this.splitWords(segs[k] as string, out);
    }
    return out;
  }

  /**
   * Splits `text` on verbatim special tokens: a flat list [segment, kind, segment, kind, ...] where kind is
   * SPECIAL or PLAIN (plain segments are non-empty).
   */
  private segments(text: string): (string | number)[] {
    if (this.specialRe === null || !this.containsAny(text, this.specialFirstChars)) return [text, PLAIN];
    const parts = text.split(this.specialRe);
    const out: (string | number)[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i % 2 === 1) out.push(p, SPECIAL);
      else if (p.length > 0) out.push(p, PLAIN);
    }
    return out;
  }

  private containsAny(text: string, chars: string): boolean {
    for (let i = 0; i < chars.length; i++) if (text.includes(chars[i]!)) return true;
    return false;
  }

  /** Appends the ids of `text` to `out`. With `visited`, also records every piece the greedy matcher matched. */
  private tokenizeInto(text: string, out: number[], visited: Set<number> | null): void {
    const segs = this.segments(text);
    const words = this.wordBuf;
    for (let k = 0; k < segs.length; k += 2) {
      if (segs[k + 1] === SPECIAL) {
        out.push(this.tokenIds.get(segs[k] as string)!);
        continue;
      }
      words.length = 0;
      this.splitWords(segs[k] as string, words);
      for (let j = 0; j < words.length; j++) {
        const w = words[j]!;
        if (visited !== null) {
          this.wordPiece(w, out, visited);
          continue;
        }
        const cached = this.cache.get(w);
        if (cached !== undefined) {
          if (typeof cached === "number") out.push(cached);
          else for (let i = 0; i < cached.length; i++) out.push(cached[i]!);
          continue;
        }
        const start = out.length;
        this.wordPiece(w, out, null);
        if (this.cache.size >= WORD_CACHE_LIMIT) this.cache.clear();
        this.cache.set(w, out.length - start === 1 ? out[start]! : out.slice(start));
      }
    }
    words.length = 0;
  }

  private normalize(text: string): string {
    if (!RE_NON_ASCII.test(text)) return this.doLowerCase ? text.toLowerCase() : text;
    let s = this.doLowerCase ? text.toLowerCase() : text;
    if (this.stripAccents) {
      s = s.normalize("NFD");
      if (RE_MN_TEST.test(s)) s = s.replace(RE_MN, "");
    } else {
      s = s.normalize("NFC");
    }
    return s;
  }

  /** Basic tokenisation of one segment (no special tokens inside): appends its words to `out`. */
  private splitWords(text: string, out: string[]): void {
    const s = this.normalize(text);
    const n = s.length;
    const cjk = this.tokenizeChineseChars;
    let word = "";
    let segStart = -1;
    for (let i = 0; i < n;) {
      let cp = s.charCodeAt(i);
      let len = 1;
      let cls: number;
      if (cp < 128) {
        cls = ASCII_CLASS[cp]!;
      } else {
        if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < n) {
          const lo = s.charCodeAt(i + 1);
          if (lo >= 0xdc00 && lo <= 0xdfff) { cp = ((cp - 0xd800) << 10) + (lo - 0xdc00) + 0x10000; len = 2; }
        }
        cls = classOf(cp, cjk);
      }
      if (cls === C_NORMAL) {
        if (segStart < 0) segStart = i;
      } else {
        if (segStart >= 0) { word = word.length === 0 ? s.slice(segStart, i) : word + s.slice(segStart, i); segStart = -1; }
        if (cls !== C_DROP) {
          if (word.length > 0) { out.push(word); word = ""; }
          if (cls !== C_SPACE) out.push(s.slice(i, i + len));
        }
      }
      i += len;
    }
    if (segStart >= 0) word = word.length === 0 ? s.slice(segStart) : word + s.slice(segStart);
    if (word.length > 0) out.push(word);
  }

  /** Greedy longest-match-first WordPiece of one word, appended to `out`. */
  private wordPiece(word: string, out: number[], visited: Set<number> | null): void {
    const n = word.length;
    if (n > this.maxInputCharsPerWord && countCodePoints(word) > this.maxInputCharsPerWord) {
      out.push(this.unkId);
      return;
    }
    const whole = this.initialMap.get(word);
    if (whole !== undefined) {
      out.push(whole);
      if (visited !== null) visited.add(whole);
      return;
    }
    const startLen = out.length;
    let start = 0;
    while (start < n) {
      const map = start === 0 ? this.initialMap : this.contMap;
      let end = Math.min(n, start + (start === 0 ? this.maxInitialLen : this.maxContLen));
      let id: number | undefined;
      while (end > start) {
        id = map.get(word.slice(start, end));
        if (id !== undefined) break;
        end--;
      }
      if (id === undefined) {
        out.length = startLen;
        out.push(this.unkId);
        return;
      }
      out.push(id);
      if (visited !== null) visited.add(id);
      start = end;
    }
  }

  // ---------------------------------------------------------------- encoding

  /** `[CLS] text [SEP]`, truncated to `maxLength` (default modelMaxLength) tokens. */
  encode(text: string, options: EncodeOptions = {}): Encoding {
    const maxLength = this.checkMaxLength(options.maxLength, 2);
    return assembleSingle(this.tokenizeToIds(text), maxLength, this.clsId, this.sepId);
  }

  /** `[CLS] a [SEP] b [SEP]` with token types 0 (through the first [SEP]) and 1, truncated per `truncation`. */
  encodePair(a: string, b: string, options: EncodePairOptions = {}): Encoding {
    const maxLength = this.checkMaxLength(options.maxLength, 3);
    const [ia, ib] = truncatePair(this.tokenizeToIds(a), this.tokenizeToIds(b), maxLength - 3,
      options.truncation ?? "longest_first");
    return assemblePair(ia, ib, this.clsId, this.sepId);
  }

  /** Encodes texts and pads them with the pad id into flat [batchSize * seqLen] arrays. */
  encodeBatch(texts: readonly string[], options: BatchOptions = {}): BatchEncoding {
    const maxLength = this.batchMaxLength(options, 2);
    return this.pad(texts.map((t) => this.encode(t, { maxLength })), options.padTo);
  }

  /** Encodes (a, b) pairs and pads them into flat [batchSize * seqLen] arrays. */
  encodePairBatch(pairs: readonly (readonly [string, string])[], options: PairBatchOptions = {}): BatchEncoding {
    const maxLength = this.batchMaxLength(options, 3);
    const truncation = options.truncation;
    return this.pad(pairs.map(([a, b]) => this.encodePair(a, b, { maxLength, truncation })), options.padTo);
  }

  /**
   * Pads already-encoded sequences into a batch: to the longest (default) or to exactly `padTo` tokens
   * (throws if a sequence is longer than `padTo`).
   */
  pad(encodings: readonly Encoding[], padTo: "longest" | number = "longest"): BatchEncoding {
    return padEncodings(encodings, padTo, this.padId, "WordPieceTokenizer.pad");
  }


  /**
   * Turns ids back into text: special tokens skipped (unless `skipSpecialTokens` is false), pieces joined,
   * "##" continuations glued to the previous piece. No further clean-up of spaces around punctuation.
   */
  decode(ids: ArrayLike<number>, skipSpecialTokens = true): string {
    const specials = new Set(this.specialTokens.map((t) => this.tokenIds.get(t)!));
    const prefix = this.continuingSubwordPrefix;
    let s = "";
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (skipSpecialTokens && specials.has(id)) continue;
      const t = this.idToToken(id);
      if (prefix.length > 0 && t.startsWith(prefix) && s.length > 0) s += t.slice(prefix.length);
      else s += (s.length > 0 ? " " : "") + t;
    }
    return s;
  }

  private checkMaxLength(maxLength: number | undefined, minimum: number): number {
    const m = maxLength ?? this.modelMaxLength;
    if (!Number.isSafeInteger(m) || m < minimum) {
      throw new Error(`WordPieceTokenizer: maxLength must be an integer >= ${minimum} (room for special tokens), got ${m}`);
    }
    return m;
  }

  private batchMaxLength(options: BatchOptions, minimum: number): number {
    let m = options.maxLength ?? this.modelMaxLength;
    if (typeof options.padTo === "number") {
      if (!Number.isSafeInteger(options.padTo) || options.padTo < minimum) {
        throw new Error(`WordPieceTokenizer: padTo must be an integer >= ${minimum}, got ${options.padTo}`);
      }
      m = Math.min(m, options.padTo);
    }
    return this.checkMaxLength(m, minimum);
  }

  // ---------------------------------------------------------------- internals used by restrictVocabulary

  /** @internal Ids used on `texts`, including every piece the greedy matcher matched inside words that end up [UNK]. */
  collectPieceIds(texts: Iterable<string>): Set<number> {
    const visited = new Set<number>();
    const sink: number[] = [];
    const seen = new Set<string>();
    const words: string[] = [];
    for (const text of texts) {
      const segs = this.segments(text);
      for (let k = 0; k < segs.length; k += 2) {
        if (segs[k + 1] === SPECIAL) { visited.add(this.tokenIds.get(segs[k] as string)!); continue; }
        words.length = 0;
        this.splitWords(segs[k] as string, words);
        for (const w of words) {
          if (seen.has(w)) continue;
          seen.add(w);
          sink.length = 0;
          this.wordPiece(w, sink, visited);
        }
      }
    }
    return visited;
  }
}

function asRecord(x: unknown): Record<string, unknown> | undefined {
  return x !== null && typeof x === "object" && !Array.isArray(x) ? (x as Record<string, unknown>) : undefined;
}
