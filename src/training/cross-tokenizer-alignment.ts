/**
 * Word-level alignment between two tokenizations of the same text (a SentencePiece teacher and a WordPiece
 * student, issue 11 item 4): both sides' pieces are pooled into common units, so attention maps and hidden
 * states can be compared unit by unit.
 *
 * Each piece is reduced to its canonical surface: the piece text without its markers ("##" continuation,
 * "▁" word start), NFKD-decomposed, lower-cased, without combining marks, control / format characters and whitespace; SentencePiece byte
 * pieces (<0xXX>) are decoded together with their neighbours into the characters they form. Concatenated, both
 * sides then spell the same string (both tokenizers only drop whitespace and control characters, and map
 * compatibility forms to the same letters). Units are the finest segmentation into which both sides' pieces
 * fit whole: the connected groups of pieces whose canonical character spans overlap. A piece with no known surface
 * ([UNK], or one whose surface disagrees) is absorbed: its unit extends until both sides agree again.
 *
 * Pooling (see poolingMatrices): a unit's hidden state is the mean of its pieces' states; a unit-to-unit attention
 * weight is the mean over the unit's query pieces of the summed attention on the key unit's pieces, so pooled
 * rows still sum to what the piece rows summed to.
 */

export type PieceKind = "wordpiece" | "sentencepiece";

export interface UnitAlignment {
  /** Number of units. */
  units: number;
  /** Unit of each piece of side a / side b (every piece belongs to one unit). */
  unitOfA: Int32Array;
  unitOfB: Int32Array;
}

const RE_DROPPED = /[\p{M}\p{Cc}\p{Cf}\s]/gu;

/**
 * The canonical surface of a text: NFKD, lower case, without combining marks, control and format characters
 * (zero-width joiners and the like, which one tokenizer keeps and the other drops) and whitespace.
 */
export function canonical(text: string): string {
  return text.normalize("NFKD").toLowerCase().replace(RE_DROPPED, "");
}

/**
 * Canonical surfaces of pieces (null where unknown). WordPiece: "##" dropped, `unkToken` unknown. SentencePiece:
 * "▁" dropped, runs of byte pieces decoded as UTF-8 (the whole run's surface goes to its last piece, the others
 * get ""), `unkToken` unknown.
 */
export function canonicalPieces(pieces: readonly string[], kind: PieceKind, unkToken = "[UNK]"): (string | null)[] {
  const out: (string | null)[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i]!;
    if (p === unkToken) {
      out.push(null);
      continue;
    }
    if (kind === "sentencepiece" && /^<0x[0-9A-F]{2}>$/.test(p)) {
      const bytes: number[] = [];
      let j = i;
      while (j < pieces.length && /^<0x[0-9A-F]{2}>$/.test(pieces[j]!)) bytes.push(parseInt(pieces[j++]!.slice(3, 5), 16));
      for (let k = i + 1; k < j; k++) out.push("");
      out.push(canonical(new TextDecoder().decode(Uint8Array.from(bytes))));
      i = j - 1;
      continue;
    }
    const body = kind === "wordpiece" ? (p.startsWith("##") ? p.slice(2) : p) : p.replaceAll("\u2581", "");
    out.push(canonical(body));
  }
  return out;
}

/**
 * Whether each piece starts a word on its side: WordPiece pieces without "##" (punctuation is a word of its own),
 * SentencePiece pieces with "▁".
 */
export function wordStarts(pieces: readonly string[], kind: PieceKind): boolean[] {
  return pieces.map((p) => (kind === "wordpiece" ? !p.startsWith("##") : p.startsWith("\u2581")));
}

/** Character spans [start, end) of pieces in their side's canonical string (an unknown piece spans nothing). */
function spans(pieces: readonly (string | null)[]): { start: Int32Array; end: Int32Array; text: string } {
  const start = new Int32Array(pieces.length);
  const end = new Int32Array(pieces.length);
  let text = "";
  pieces.forEach((p, k) => {
    start[k] = text.length;
    if (p !== null) text += p;
    end[k] = text.length;
  });
  return { start, end, text };
}

type Spans = ReturnType<typeof spans>;

/**
 * Aligns two tokenizations (canonical surfaces from canonicalPieces) into common units. Where both sides spell the
 * same characters, units are the overlap groups of the pieces' spans, closed only at word starts when `startsA` /
 * `startsB` (wordStarts) are given, so that units are words (or runs of words a piece spans); an unknown piece (null) or a disagreement
 * merges everything up to the next position where the texts agree again (or to the end). Pieces with an empty
 * surface (a lone "▁", the leading bytes of a byte run) join the unit of the next piece on their side.
 */
export function alignUnits(
  a: readonly (string | null)[], b: readonly (string | null)[], startsA?: readonly boolean[], startsB?: readonly boolean[],
): UnitAlignment {
  // a unit closes only where the sides are in step and the next piece of either side starts a word (no flags: anywhere)
  const boundary = (): boolean =>
    (!startsA && !startsB) || i >= a.length || j >= b.length || startsA?.[i] === true || startsB?.[j] === true;
  const unitOfA = new Int32Array(a.length).fill(-1);
  const unitOfB = new Int32Array(b.length).fill(-1);
  const sa = spans(a);
  const sb = spans(b);
  let i = 0;
  let j = 0;
  let units = 0;
  /** B's canonical offset minus A's at the last point where the sides were in step. */
  let shift = 0;
  const takeA = (u: number): void => void (unitOfA[i++] = u);
  const takeB = (u: number): void => void (unitOfB[j++] = u);
  while (i < a.length || j < b.length) {
    const u = units++;
    const startA = sa.start[i] ?? sa.text.length;
    const startB = sb.start[j] ?? sb.text.length;
    let unknown = false;
    // leading empty pieces, then one piece from each side
    while (i < a.length && a[i] === "") takeA(u);
    while (j < b.length && b[j] === "") takeB(u);
    if (i < a.length) { unknown ||= a[i] === null; takeA(u); }
    if (j < b.length) { unknown ||= b[j] === null; takeB(u); }
    for (;;) {
      const pa = (sa.end[i - 1] ?? 0) + shift;
      const pb = sb.end[j - 1] ?? 0;
      if (unknown) break;
      if (pa === pb && boundary()) break;
      if (pa === pb) {
        // in step inside a word: continue with the next piece of both sides
        if (i < a.length) { unknown ||= a[i] === null; takeA(u); }
        if (j < b.length) { unknown ||= b[j] === null; takeB(u); }
        continue;
      }
      if (pa < pb && i < a.length) { unknown ||= a[i] === null; takeA(u); }
      else if (pb < pa && j < b.length) { unknown ||= b[j] === null; takeB(u); }
      else break;
    }
    const endA = sa.end[i - 1] ?? 0;
    const endB = sb.end[j - 1] ?? 0;
    const same = !unknown && sa.text.slice(startA, endA) === sb.text.slice(startB, endB);
    if (!same) {
      const sync = resync(a, b, sa, sb, i, j);
      while (i < sync.i) takeA(u);
      while (j < sync.j) takeB(u);
      if (sync.i < a.length && sync.j < b.length) shift = sb.start[sync.j]! - sa.start[sync.i]!;
    }
    // trailing empty pieces at the very end stay with the last unit
    if (!a.slice(i).some((p) => p !== "") && !b.slice(j).some((p) => p !== "")) {
      while (i < a.length) takeA(u);
      while (j < b.length) takeB(u);
    }
  }
  return { units, unitOfA, unitOfB };
}

/**
 * The first piece indices x >= i, y >= j (known, non-empty pieces) from which both texts read the same for the
 * next characters (up to 8); the ends of both sides when there is none.
 */
function resync(a: readonly (string | null)[], b: readonly (string | null)[], sa: Spans, sb: Spans, i: number, j: number): { i: number; j: number } {
  for (let x = i; x < a.length; x++) {
    if (a[x] === null || a[x] === "") continue;
    const key = sa.text.slice(sa.start[x]!, sa.start[x]! + 8);
    for (let y = j; y < b.length; y++) {
      if (b[y] === null || b[y] === "") continue;
      if (sb.text.startsWith(key, sb.start[y]!) && (key.length >= 8 || sb.text.length - sb.start[y]! === key.length)) {
        return { i: x, j: y };
      }
    }
  }
  return { i: a.length, j: b.length };
}

/**
 * Pooling matrices for one side: mean [units, pieces] (row u averages the unit's pieces; for hidden states and
 * attention rows) and sum [units, pieces] (row u adds them; for attention columns). Pooled attention of a
 * [pieces x pieces] map A is mean · A · sumᵀ.
 */
export function poolingMatrices(unitOf: Int32Array, units: number): { mean: Float32Array; sum: Float32Array } {
  const n = unitOf.length;
  const mean = new Float32Array(units * n);
  const sum = new Float32Array(units * n);
  const counts = new Int32Array(units);
  for (let k = 0; k < n; k++) counts[unitOf[k]!]!++;
  for (let k = 0; k < n; k++) {
    const u = unitOf[k]!;
    sum[u * n + k] = 1;
    mean[u * n + k] = 1 / counts[u]!;
  }
  return { mean, sum };
}
