/**
 * A Lucene-like English analyzer (the chain of Lucene's EnglishAnalyzer / Anserini's default analyzer):
 *   StandardTokenizer (Unicode UAX#29 word boundaries, simplified) -> EnglishPossessiveFilter (drop a
 *   trailing 's / ’s) -> LowerCaseFilter -> StopFilter (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET) ->
 *   PorterStemFilter (wooorm's `stemmer`, the Porter algorithm).
 *
 * Tokenizer rules implemented (UAX#29 WB5-WB13b, which Lucene's StandardTokenizer follows):
 *  - tokens are runs of letters, digits and connector punctuation ("_"); "covid19", "il_6" stay whole;
 *  - a letter run continues over one of  ' . : · ’  when a letter follows ("don't", "e.g", "u.s.a");
 *  - a digit run continues over one of  . , ; ' ’  when a digit follows ("1,000", "3.5", "0.05");
 *  - combining marks and format characters (e.g. U+200E, soft hyphen) inside a token are kept in it;
 *  - each Han ideograph and Hiragana character is its own token; everything else separates tokens
 *    (Lucene would also emit emoji tokens; they are dropped here);
 *  - tokens longer than 255 UTF-16 units are split into 255-unit pieces (Lucene's maxTokenLength).
 */
import { stemmer } from "stemmer";

/** Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (33 words). */
export const LUCENE_ENGLISH_STOP_WORDS: ReadonlySet<string> = new Set([
  "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
  "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was",
  "will", "with",
]);

export interface AnalyzerConfig {
  /** Stop word list: Lucene's English set, or none. Default "lucene-english". */
  readonly stopwords: "lucene-english" | "none";
  /** Porter stemming. Default "porter". */
  readonly stemmer: "porter" | "none";
  /** Remove English possessives ('s). Default true. */
  readonly possessive: boolean;
  /** Lower-case tokens. Default true. */
  readonly lowercase: boolean;
}

export const DEFAULT_ANALYZER_CONFIG: AnalyzerConfig = {
  stopwords: "lucene-english",
  stemmer: "porter",
  possessive: true,
  lowercase: true,
};

const MAX_TOKEN_LENGTH = 255;

// Character classes for the tokenizer.
const C_OTHER = 0;
const C_LETTER = 1;
const C_DIGIT = 2;
const C_EXTENDNUMLET = 3;
const C_MIDLETTER = 4; // : · etc.
const C_MIDNUM = 5; // , ;
const C_MIDNUMLET = 6; // . ’ etc. and '
const C_EXTEND = 7; // combining marks, format characters (attach to the previous char)
const C_SINGLE = 8; // Han ideographs, Hiragana: one token per char

const asciiClass = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[a-zA-Z]/.test(ch)) asciiClass[c] = C_LETTER;
  else if (/[0-9]/.test(ch)) asciiClass[c] = C_DIGIT;
  else if (ch === "_") asciiClass[c] = C_EXTENDNUMLET;
  else if (ch === ":") asciiClass[c] = C_MIDLETTER;
  else if (ch === "," || ch === ";") asciiClass[c] = C_MIDNUM;
  else if (ch === "." || ch === "'") asciiClass[c] = C_MIDNUMLET;
  else asciiClass[c] = C_OTHER;
}

const reSingle = /[\p{Script=Han}\p{Script=Hiragana}]/u;
const reLetter = /[\p{L}]/u;
const reDigit = /\p{Nd}/u;
const reExtend = /[\p{M}\p{Cf}]/u;
const reConnector = /\p{Pc}/u;
const MIDLETTER = new Set([0x3a, 0xb7, 0x387, 0x5f4, 0x2027, 0xfe13, 0xfe55, 0xff1a]);
const MIDNUM = new Set([0x2c, 0x3b, 0x37e, 0x589, 0x60c, 0x60d, 0x66c, 0x7f8, 0x2044, 0xfe10, 0xfe14, 0xfe50, 0xfe54, 0xff0c, 0xff1b]);
const MIDNUMLET = new Set([0x2e, 0x27, 0x2018, 0x2019, 0x2024, 0xfe52, 0xff07, 0xff0e]);

const classCache = new Map<number, number>();
function classify(cp: number): number {
  if (cp < 128) return asciiClass[cp]!;
  const cached = classCache.get(cp);
  if (cached !== undefined) return cached;
  const ch = String.fromCodePoint(cp);
  let k = C_OTHER;
  if (MIDLETTER.has(cp)) k = C_MIDLETTER;
  else if (MIDNUM.has(cp)) k = C_MIDNUM;
  else if (MIDNUMLET.has(cp)) k = C_MIDNUMLET;
  else if (reSingle.test(ch)) k = C_SINGLE;
  else if (reLetter.test(ch)) k = C_LETTER;
  else if (reDigit.test(ch)) k = C_DIGIT;
  else if (reExtend.test(ch)) k = C_EXTEND;
  else if (reConnector.test(ch)) k = C_EXTENDNUMLET;
  if (classCache.size < 65536) classCache.set(cp, k);
  return k;
}

/** Class of the code point starting at text[i] (a lone surrogate counts as OTHER). */
function classAt(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c < 128) return asciiClass[c]!;
  return classify(text.codePointAt(i)!);
}

function widthAt(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1;
}

/** Splits text into tokens (original case) with the simplified UAX#29 rules described above. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    let k = classAt(text, i);
    if (k === C_SINGLE) {
      const w = widthAt(text, i);
      out.push(text.slice(i, i + w));
      i += w;
      continue;
    }
    if (k !== C_LETTER && k !== C_DIGIT && k !== C_EXTENDNUMLET) {
      i += widthAt(text, i);
      continue;
    }
    const start = i;
    let last = k; // class of the last letter/digit/connector in the token
    let hasAlnum = k !== C_EXTENDNUMLET;
    i += widthAt(text, i);
    while (i < n) {
      const c = text.charCodeAt(i);
      k = c < 128 ? asciiClass[c]! : classAt(text, i);
      if (k === C_LETTER || k === C_DIGIT) {
        hasAlnum = true;
        last = k;
        i += c < 128 ? 1 : widthAt(text, i);
        continue;
      }
      if (k === C_EXTENDNUMLET) {
        last = k;
        i += c < 128 ? 1 : widthAt(text, i);
        continue;
      }
      if (k === C_EXTEND) {
        i += widthAt(text, i);
        continue;
      }
      if (k === C_MIDLETTER || k === C_MIDNUM || k === C_MIDNUMLET) {
        // look past the mid char (and any extend chars) for the char that decides
        let j = i + widthAt(text, i);
        while (j < n && classAt(text, j) === C_EXTEND) j += widthAt(text, j);
        if (j < n) {
          const nk = classAt(text, j);
          const letterJoin = last === C_LETTER && nk === C_LETTER && (k === C_MIDLETTER || k === C_MIDNUMLET);
          const digitJoin = last === C_DIGIT && nk === C_DIGIT && (k === C_MIDNUM || k === C_MIDNUMLET);
          if (letterJoin || digitJoin) {
            i = j;
            continue;
          }
        }
      }
      break;
    }
    if (hasAlnum) {
      if (i - start <= MAX_TOKEN_LENGTH) out.push(text.slice(start, i));
      else for (let s = start; s < i; s += MAX_TOKEN_LENGTH) out.push(text.slice(s, Math.min(i, s + MAX_TOKEN_LENGTH)));
    }
  }
  return out;
}

/** Lucene's EnglishPossessiveFilter: drop a trailing 's / ’s / ＇s (either case of s). */
export function removePossessive(token: string): string {
  const n = token.length;
  if (n >= 2) {
    const s = token.charCodeAt(n - 1);
    const q = token.charCodeAt(n - 2);
    if ((s === 0x73 || s === 0x53) && (q === 0x27 || q === 0x2019 || q === 0xff07)) return token.slice(0, n - 2);
  }
  return token;
}

/** A reusable analyzer: text -> normalized terms. Token -> term results are memoized. */
export class Analyzer {
  readonly config: AnalyzerConfig;
  /** raw token -> final term, or null for a dropped token (stop word / empty). */
  private readonly cache = new Map<string, string | null>();
  private readonly stop: ReadonlySet<string>;

  constructor(config: Partial<AnalyzerConfig> = {}) {
    this.config = { ...DEFAULT_ANALYZER_CONFIG, ...config };
    this.stop = this.config.stopwords === "lucene-english" ? LUCENE_ENGLISH_STOP_WORDS : new Set();
  }

  /** Terms of a text in order (stop words removed, so positions are not preserved). */
  analyze(text: string): string[] {
    const out: string[] = [];
    for (const tok of tokenize(text)) {
      let t = this.cache.get(tok);
      if (t === undefined) {
        t = this.term(tok);
        if (this.cache.size >= 2_000_000) this.cache.clear();
        this.cache.set(tok, t);
      }
      if (t !== null) out.push(t);
    }
    return out;
  }

  /** The filter chain for one token: possessive, lower case, stop words, Porter. */
  term(token: string): string | null {
    const { possessive, lowercase, stemmer: stem } = this.config;
    let t = token;
    if (possessive) t = removePossessive(t);
    if (lowercase) t = t.toLowerCase();
    if (t.length === 0 || this.stop.has(t)) return null;
    if (stem === "porter") t = stemmer(t);
    return t.length > 0 ? t : null;
  }
}
