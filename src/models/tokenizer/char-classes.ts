/** BERT's basic-tokenizer character classes (whitespace, dropped controls, punctuation, CJK), cached per BMP code point. */

export const C_NORMAL = 1;
export const C_SPACE = 2;
export const C_DROP = 3;
export const C_PUNCT = 4;
export const C_CJK = 5;

export const ASCII_CLASS: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) {
    if (c === 9 || c === 10 || c === 13 || c === 32) t[c] = C_SPACE;
    else if (c < 32 || c === 127) t[c] = C_DROP;
    else if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) t[c] = C_PUNCT;
    else t[c] = C_NORMAL;
  }
  return t;
})();

/** BERT's `_is_chinese_char` blocks. */
export function isCjk(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

const RE_ZS = /^\p{Zs}$/u;
const RE_C = /^\p{C}$/u;
const RE_P = /^\p{P}$/u;
export const RE_MN = /\p{Mn}/gu;
export const RE_MN_TEST = /\p{Mn}/u;
export const RE_NON_ASCII = /[^\x00-\x7f]/;

function classifyNonAscii(cp: number, chineseChars: boolean): number {
  if (cp === 0xfffd) return C_DROP;
  const ch = String.fromCodePoint(cp);
  if (RE_ZS.test(ch) || cp === 0x2028 || cp === 0x2029) return C_SPACE;
  if (RE_C.test(ch)) return C_DROP;
  if (chineseChars && isCjk(cp)) return C_CJK;
  if (RE_P.test(ch)) return C_PUNCT;
  return C_NORMAL;
}

/** Lazily filled classes of BMP characters (0 = not yet computed), per CJK setting. */
const BMP_CLASS: [Uint8Array, Uint8Array] = [new Uint8Array(65536), new Uint8Array(65536)];

export function classOf(cp: number, chineseChars: boolean): number {
  if (cp < 128) return ASCII_CLASS[cp]!;
  if (cp < 65536) {
    const table = BMP_CLASS[chineseChars ? 1 : 0];
    let c = table[cp]!;
    if (c === 0) { c = classifyNonAscii(cp, chineseChars); table[cp] = c; }
    return c;
  }
  return classifyNonAscii(cp, chineseChars);
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Number of Unicode code points of s (a surrogate pair counts once). */
export function countCodePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const lo = s.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}
