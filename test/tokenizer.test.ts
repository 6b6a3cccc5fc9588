/**
 * WordPiece tokenizer tests. Expected outputs come from:
 *  - [README] google-research/bert README, "Tokenization" section ("unaffable" -> una ##ffa ##ble;
 *    "John Johanson's house" -> john johan ##son ' s house).
 *  - [HF-T] huggingface/transformers tests/models/bert/test_tokenization_bert.py (BasicTokenizer and
 *    WordpieceTokenizer cases, the 15-token test vocabulary, test_offsets_with_special_characters for
 *    bert-base-uncased, test_clean_text).
 *  - [HF-DOC] transformers docs example: "Hello, my dog is cute" -> [101, 7592, 1010, 2026, 3899, 2003, 10140, 102].
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { WordPieceTokenizer, restrictVocabulary, remapIds, truncatePair } from "../src/models/tokenizer.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.join(here, "fixtures", "tokenizer");
const VOCAB = path.resolve(here, "..", "..", "shared", "data", "vocab", "bert-base-uncased-vocab.txt");
const CORPUS = path.resolve(here, "..", "..", "shared", "data", "scifact", "corpus.jsonl");
const haveVocab = fs.existsSync(VOCAB);
const skipNoVocab = haveVocab ? false : `missing ${VOCAB}`;

let bertCache: WordPieceTokenizer | undefined;
function bert(): WordPieceTokenizer {
  bertCache ??= WordPieceTokenizer.fromVocabFile(VOCAB);
  return bertCache;
}

const HF_TEST_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ",", "low", "lowest"];

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "md2pr-tok-"));
}

test("[HF-T] full tokenizer on the 15-token test vocabulary", () => {
  const tk = new WordPieceTokenizer(HF_TEST_VOCAB);
  const tokens = tk.tokenize("UNwant\u00E9d,running");
  assert.deepEqual(tokens, ["un", "##want", "##ed", ",", "runn", "##ing"]);
  assert.deepEqual(tk.convertTokensToIds(tokens), [9, 6, 7, 12, 10, 11]);
  assert.deepEqual(tk.tokenizeToIds("UNwant\u00E9d,running"), [9, 6, 7, 12, 10, 11]);
});

test("[HF-T] wordpiece: greedy longest match, unmatched word -> [UNK]", () => {
  const tk = new WordPieceTokenizer(["[UNK]", "[CLS]", "[SEP]", "[PAD]", "want", "##want", "##ed", "wa", "un", "runn", "##ing"], { doLowerCase: false });
  assert.deepEqual(tk.tokenize(""), []);
  assert.deepEqual(tk.tokenize("unwanted running"), ["un", "##want", "##ed", "runn", "##ing"]);
  assert.deepEqual(tk.tokenize("unwantedX running"), ["[UNK]", "runn", "##ing"]);
});

test("[HF-T] basic tokenizer: casing, accents, whitespace, punctuation, CJK, control chars", () => {
  const tk = new WordPieceTokenizer(HF_TEST_VOCAB);
  assert.deepEqual(tk.basicTokenize(" \tHeLLo!how  \n Are yoU?  "), ["hello", "!", "how", "are", "you", "?"]);
  assert.deepEqual(tk.basicTokenize("H\u00E9llo"), ["hello"]);
  assert.deepEqual(tk.basicTokenize(" \tHäLLo!how  \n Are yoU?  "), ["hallo", "!", "how", "are", "you", "?"]);
  assert.deepEqual(tk.basicTokenize("ah\u535A\u63A8zz"), ["ah", "\u535A", "\u63A8", "zz"]);
  assert.deepEqual(tk.basicTokenize("a\n'll !!to?'d of, can't."),
    ["a", "'", "ll", "!", "!", "to", "?", "'", "d", "of", ",", "can", "'", "t", "."]);
  assert.deepEqual(tk.basicTokenize("\u200E\u200F"), []);
  // test_clean_text: the soft hyphen is a format (control) character and disappears.
  assert.deepEqual(["Test", "\xad", "test"].map((t) => tk.tokenize(t)), [["[UNK]"], [], ["[UNK]"]]);

  const lowerKeep = new WordPieceTokenizer(HF_TEST_VOCAB, { doLowerCase: true, stripAccents: false });
  assert.deepEqual(lowerKeep.basicTokenize(" \tHäLLo!how  \n Are yoU?  "), ["hällo", "!", "how", "are", "you", "?"]);
  assert.deepEqual(lowerKeep.basicTokenize("H\u00E9llo"), ["h\u00E9llo"]);
  const cased = new WordPieceTokenizer(HF_TEST_VOCAB, { doLowerCase: false });
  assert.deepEqual(cased.basicTokenize(" \tHeLLo!how  \n Are yoU?  "), ["HeLLo", "!", "how", "Are", "yoU", "?"]);
  assert.deepEqual(cased.basicTokenize(" \tHäLLo!how  \n Are yoU?  "), ["HäLLo", "!", "how", "Are", "yoU", "?"]);
  const casedStrip = new WordPieceTokenizer(HF_TEST_VOCAB, { doLowerCase: false, stripAccents: true });
  assert.deepEqual(casedStrip.basicTokenize(" \tHäLLo!how  \n Are yoU?  "), ["HaLLo", "!", "how", "Are", "yoU", "?"]);
  // never_split: special tokens in the text are kept whole.
  assert.deepEqual(cased.basicTokenize(" \tHeLLo!how  \n Are yoU? [UNK]"), ["HeLLo", "!", "how", "Are", "yoU", "?", "[UNK]"]);
});

test("punctuation classes: ASCII symbol ranges and Unicode P*, but not other symbols", () => {
  const tk = new WordPieceTokenizer(HF_TEST_VOCAB);
  for (const ch of ["-", "$", "`", ".", "^", "|", "~", "+", "<", "@", "\u2014", "\u00BF", "\u3001", "\u201C"]) {
    assert.deepEqual(tk.basicTokenize(`a${ch}b`), ["a", ch, "b"], `punctuation ${JSON.stringify(ch)}`);
  }
  for (const ch of ["\u00B0", "\u00A9", "\u00D7", "\u20AC"]) {
    assert.deepEqual(tk.basicTokenize(`a${ch}b`), [`a${ch}b`], `not punctuation ${JSON.stringify(ch)}`);
  }
  // Unicode spaces separate words; NUL, U+FFFD and C* characters vanish without splitting the word.
  assert.deepEqual(tk.basicTokenize("a\u00A0b\u3000c\u2028d"), ["a", "b", "c", "d"]);
  assert.deepEqual(tk.basicTokenize("ab\u0000c\uFFFDd\u200Be\u0007f"), ["abcdef"]);
  // Astral CJK (Extension B) is split; an emoji is an ordinary character.
  assert.deepEqual(tk.basicTokenize("x\u{20000}y\u{1F600}z"), ["x", "\u{20000}", "y\u{1F600}z"]);
});

test("[README] [HF-T] [HF-DOC] bert-base-uncased known tokenizations", { skip: skipNoVocab }, () => {
  const tk = bert();
  assert.equal(tk.vocabSize, 30522);
  assert.deepEqual([tk.padId, tk.unkId, tk.clsId, tk.sepId, tk.maskId], [0, 100, 101, 102, 103]);
  assert.deepEqual(tk.tokenize("unaffable"), ["una", "##ffa", "##ble"]);
  assert.deepEqual(tk.tokenize("John Johanson's house"), ["john", "johan", "##son", "'", "s", "house"]);
  assert.deepEqual(Array.from(tk.encode("Hello, my dog is cute").ids), [101, 7592, 1010, 2026, 3899, 2003, 10140, 102]);
  const e = tk.encode("A, naïve [MASK] AllenNLP sentence.");
  assert.deepEqual(tk.convertIdsToTokens(e.ids),
    ["[CLS]", "a", ",", "naive", "[MASK]", "allen", "##nl", "##p", "sentence", ".", "[SEP]"]);
  assert.deepEqual(tk.tokenize("Héllo"), ["hello"]);
  // [HF-T] test_change_tokenize_chinese_chars: each common CJK character is its own token.
  assert.deepEqual(tk.tokenize("的人有"), ["的", "人", "有"]);
  assert.deepEqual(tk.withOptions({ tokenizeChineseChars: false }).tokenize("的人有"), ["的", "##人", "##有"]);
  // A word longer than 100 characters is [UNK].
  assert.deepEqual(tk.tokenize("a".repeat(101)), ["[UNK]"]);
  assert.notDeepEqual(tk.tokenize("a".repeat(100)), ["[UNK]"]);
  assert.equal(tk.decode(tk.encode("unaffable John Johanson").ids), "unaffable john johanson");
});

test("encode: [CLS] ... [SEP], truncation to maxLength, token types and mask", { skip: skipNoVocab }, () => {
  const tk = bert();
  const e = tk.encode("a b c d e f g", { maxLength: 5 });
  assert.deepEqual(tk.convertIdsToTokens(e.ids), ["[CLS]", "a", "b", "c", "[SEP]"]);
  assert.deepEqual(Array.from(e.tokenTypeIds), [0, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(e.attentionMask), [1, 1, 1, 1, 1]);
  assert.equal(tk.encode("word ".repeat(1000)).ids.length, 512);
  assert.deepEqual(Array.from(tk.encode("").ids), [101, 102]);
  assert.throws(() => tk.encode("x", { maxLength: 1 }), /maxLength/);
});

test("encodePair: layout, token type ids and HF truncation rules", { skip: skipNoVocab }, () => {
  const tk = bert();
  const p = tk.encodePair("a b", "c d e");
  assert.deepEqual(tk.convertIdsToTokens(p.ids), ["[CLS]", "a", "b", "[SEP]", "c", "d", "e", "[SEP]"]);
  assert.deepEqual(Array.from(p.tokenTypeIds), [0, 0, 0, 0, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(p.attentionMask), [1, 1, 1, 1, 1, 1, 1, 1]);
  const toks = (e: { ids: Int32Array }) => tk.convertIdsToTokens(e.ids).join(" ");
  // longest_first: remove from the longer one, one token at a time (from the second on ties).
  assert.equal(toks(tk.encodePair("a b c d e f", "x y", { maxLength: 7 })), "[CLS] a b [SEP] x y [SEP]");
  assert.equal(toks(tk.encodePair("a b c", "x y z", { maxLength: 8 })), "[CLS] a b c [SEP] x y [SEP]");
  assert.equal(toks(tk.encodePair("a b c", "x y z", { maxLength: 7 })), "[CLS] a b [SEP] x y [SEP]");
  assert.equal(toks(tk.encodePair("a b c d e", "x y z", { maxLength: 9 })), "[CLS] a b c [SEP] x y z [SEP]");
  assert.equal(toks(tk.encodePair("a b c d e", "x y z", { maxLength: 8 })), "[CLS] a b c [SEP] x y [SEP]");
  // only_second
  assert.equal(toks(tk.encodePair("a b", "x y z w", { maxLength: 7, truncation: "only_second" })), "[CLS] a b [SEP] x y [SEP]");
  assert.throws(() => tk.encodePair("a b c d e", "x", { maxLength: 6, truncation: "only_second" }), /only_second/);
  assert.equal(toks(tk.encodePair("a b c d", "x y", { maxLength: 7, truncation: "only_first" })), "[CLS] a b [SEP] x y [SEP]");
});

test("truncatePair matches HF's closed form for longest_first", () => {
  // transformers' truncate_sequences (LONGEST_FIRST): first remove the length difference from the longer,
  // then split the rest, the extra one going to the second sequence.
  const hf = (la: number, lb: number, remove: number): [number, number] => {
    const first = Math.min(Math.abs(lb - la), remove);
    const second = remove - first;
    if (la > lb) return [la - (first + Math.floor(second / 2)), lb - (second - Math.floor(second / 2))];
    return [la - Math.floor(second / 2), lb - (first + second - Math.floor(second / 2))];
  };
  for (let la = 0; la <= 9; la++) {
    for (let lb = 0; lb <= 9; lb++) {
      for (let budget = 0; budget <= la + lb; budget++) {
        const [a, b] = truncatePair(Array.from({ length: la }, (_, i) => i), Array.from({ length: lb }, (_, i) => i), budget, "longest_first");
        assert.deepEqual([a.length, b.length], hf(la, lb, la + lb - budget), `${la} ${lb} ${budget}`);
      }
    }
  }
});

test("batch helpers pad to the longest or to a fixed length", { skip: skipNoVocab }, () => {
  const tk = bert();
  const b = tk.encodeBatch(["a b c", "a", ""]);
  assert.equal(b.batchSize, 3);
  assert.equal(b.seqLen, 5);
  assert.deepEqual(Array.from(b.lengths), [5, 3, 2]);
  assert.equal(b.ids.length, 15);
  assert.deepEqual(Array.from(b.ids.subarray(5, 10)), [101, 1037, 102, 0, 0]);
  assert.deepEqual(Array.from(b.attentionMask.subarray(5, 10)), [1, 1, 1, 0, 0]);
  const f = tk.encodeBatch(["a b c d e f g h", "a"], { padTo: 6 });
  assert.equal(f.seqLen, 6);
  assert.deepEqual(tk.convertIdsToTokens(f.ids.subarray(0, 6)), ["[CLS]", "a", "b", "c", "d", "[SEP]"]);
  assert.deepEqual(Array.from(f.attentionMask.subarray(6, 12)), [1, 1, 1, 0, 0, 0]);
  const p = tk.encodePairBatch([["q", "a b c"], ["q r", "d"]], { maxLength: 6 });
  assert.equal(p.seqLen, 6);
  assert.deepEqual(Array.from(p.tokenTypeIds), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1]);
  assert.deepEqual(Array.from(p.attentionMask.subarray(6)), [1, 1, 1, 1, 1, 1]);
  const empty = tk.encodeBatch([]);
  assert.equal(empty.batchSize, 0);
});

test("loading: vocab.txt with tokenizer_config.json, tokenizer.json, fromDirectory, save round trip", () => {
  const fromVocabDir = WordPieceTokenizer.fromDirectory(path.join(FIXTURES, "tiny-vocab"));
  assert.equal(fromVocabDir.doLowerCase, false);
  assert.equal(fromVocabDir.modelMaxLength, 16);
  assert.deepEqual(fromVocabDir.tokenize("unwanted running"), ["un", "##want", "##ed", "runn", "##ing"]);
  assert.deepEqual(fromVocabDir.tokenize("UNwanted"), ["[UNK]"]);

  const fromJson = WordPieceTokenizer.fromDirectory(path.join(FIXTURES, "tiny-json"));
  assert.equal(fromJson.doLowerCase, true);
  assert.equal(fromJson.vocabSize, 15);
  assert.deepEqual(Array.from(fromJson.encode("UNwant\u00E9d,running").ids), [1, 9, 6, 7, 12, 10, 11, 2]);
  assert.equal(fromJson.tokenToId("lowest"), 14);
  assert.equal(fromJson.idToToken(13), "low");
  assert.equal(fromJson.tokenToId("nope"), undefined);

  const dir = tmpDir();
  fromJson.save(dir);
  assert.deepEqual(fs.readFileSync(path.join(dir, "vocab.txt"), "utf8").split("\n").slice(0, -1), HF_TEST_VOCAB);
  const again = WordPieceTokenizer.fromDirectory(dir);
  assert.deepEqual(again.getVocab(), HF_TEST_VOCAB);
  assert.deepEqual(again.options, fromJson.options);
  fs.rmSync(path.join(dir, "tokenizer.json"));
  const viaVocab = WordPieceTokenizer.fromDirectory(dir);
  assert.deepEqual(viaVocab.options, fromJson.options);
  assert.deepEqual(Array.from(viaVocab.encode("UNwant\u00E9d,running").ids), [1, 9, 6, 7, 12, 10, 11, 2]);

  assert.throws(() => WordPieceTokenizer.fromDirectory(tmpDir()), /neither tokenizer\.json nor vocab\.txt/);
  const bad = path.join(tmpDir(), "vocab.txt");
  fs.writeFileSync(bad, "a\nb\n");
  assert.throws(() => WordPieceTokenizer.fromVocabFile(bad), (err: unknown) => err instanceof Error && err.message.includes(bad) && /\[UNK\]/.test(err.message));
  const badJson = path.join(tmpDir(), "tokenizer.json");
  fs.writeFileSync(badJson, JSON.stringify({ model: { type: "BPE", vocab: {} } }));
  assert.throws(() => WordPieceTokenizer.fromTokenizerJson(badJson), /not WordPiece/);
});

test("restrictVocabulary keeps exactly the pieces needed and reproduces the tokenization", { skip: skipNoVocab }, () => {
  const tk = bert();
  const texts = ["The unaffable John Johanson's house.", "Hello, my dog is cute!", "naïve AllenNLP 的人 xqzzyqx"];
  const r = restrictVocabulary(tk, texts);
  const small = r.tokenizer;
  assert.ok(small.vocabSize < 60, `vocab size ${small.vocabSize}`);
  assert.deepEqual([small.padId, small.unkId, small.clsId, small.sepId], [0, 1, 2, 3]);
  assert.equal(small.maskId, 4);
  for (const t of texts) {
    assert.deepEqual(small.tokenize(t), tk.tokenize(t), t);
    assert.deepEqual(Array.from(small.encode(t).ids), Array.from(remapIds(tk.encode(t).ids, r.oldToNew, small.unkId)), t);
  }
  for (let i = 0; i < small.vocabSize; i++) {
    assert.equal(r.oldToNew[r.newToOld[i]!], i);
    assert.equal(small.idToToken(i), tk.idToToken(r.newToOld[i]!));
  }
  // Unseen text still tokenizes (possibly differently); remapIds maps dropped pieces to [UNK].
  assert.deepEqual(Array.from(remapIds([tk.tokenToId("zebra")!], r.oldToNew, small.unkId)), [small.unkId]);
  const withChars = restrictVocabulary(tk, texts, { keepSingleCharacters: true, keepTokens: ["zebra"] });
  assert.deepEqual(withChars.tokenizer.tokenize("zebra"), ["zebra"]);
  assert.deepEqual(withChars.tokenizer.tokenize("zebras"), ["zebra", "##s"]);
});

test("restrictVocabulary keeps pieces matched inside words that end up [UNK]", () => {
  // Original greedy: "abc" -> "ab" then "##c" is missing -> [UNK]. If "ab" were dropped, a restricted
  // tokenizer would find "a" + "##bc" instead; keeping the visited "ab" reproduces the [UNK].
  const tk = new WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "ab", "a", "##bc", "x"]);
  assert.deepEqual(tk.tokenize("abc a"), ["[UNK]", "a"]);
  const texts = ["abc a", "a"];
  const r = restrictVocabulary(tk, texts);
  assert.ok(r.tokenizer.tokenToId("ab") !== undefined);
  assert.deepEqual(r.tokenizer.tokenize("abc a"), ["[UNK]", "a"]);
  assert.equal(r.tokenizer.tokenToId("x"), undefined);
});

test("SciFact sample: restricted vocabulary reproduces every document", { skip: haveVocab && fs.existsSync(CORPUS) ? false : "no shared data" }, () => {
  const tk = bert();
  const lines = fs.readFileSync(CORPUS, "utf8").split("\n").filter((l) => l.trim() !== "").slice(0, 300);
  const texts = lines.map((l) => {
    const d = JSON.parse(l) as { title: string; text: string };
    return `${d.title} ${d.text}`;
  });
  const r = restrictVocabulary(tk, texts);
  assert.ok(r.tokenizer.vocabSize < tk.vocabSize);
  for (const t of texts) assert.deepEqual(r.tokenizer.tokenizeToIds(t), Array.from(remapIds(tk.tokenizeToIds(t), r.oldToNew, -1)));
});
