#!/usr/bin/python3
"""A small SentencePiece unigram model trained on SciFact, and tokenizer cases from Debian's python3-sentencepiece.

    /usr/bin/python3 tools/make_spm_fixtures.py [--corpus /work/shared/data/scifact/corpus.jsonl]

Writes test/fixtures/spm-scifact/:
  spm.model       unigram, vocab 4000, nmt_nfkc, byte fallback, DeBERTa-v3's special pieces
                  ([PAD] 0, [CLS] 1, [SEP] 2, [UNK] 3) and [MASK] as a user-defined piece
  tokenizer.json  the same model in Hugging Face tokenizers' format, laid out as transformers' DeBERTa-v2
                  converter does (Strip, Precompiled charsmap, Replace " {2,}"; Metaspace; Unigram with byte
                  fallback; [CLS] $A [SEP] / [CLS] $A [SEP] $B [SEP] template)
  tokenizer_config.json  DebertaV2Tokenizer settings
  cases.json      {"text", "ids", "pieces"} from SentencePieceProcessor.encode for 300 SciFact sentences
                  (seeded sample) and tricky strings (accents, full-width, digits, emoji, unseen scripts,
                  whitespace runs, control characters)
test/fixtures/spm-scifact-nobyte/: a 1000-piece model without byte fallback (unknown characters -> [UNK]) and
its cases (100 of the sentences and the tricky strings).
Deterministic: one training thread, fixed seeds.
"""

import argparse
import base64
import json
import os
import random
import re
import sys
import tempfile

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as model_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "spm-scifact")

TRICKY = [
    "",
    " ",
    "Hello world",
    "  leading and   inner   spaces  ",
    "tabs\tand\nnewlines\r\nhere",
    "Crème brûlée, naïve café, Ångström, façade",
    "ＦＵＬＬ－ＷＩＤＴＨ ｔｅｘｔ １２３ （括弧）",
    "ﬁ ligature ﬂow, ½ and ² and ℃ and ™",
    "Digits: 3.14159, 1,000,000 and 42nd; p<0.05; IL-6/IL-10 ratio 2:1",
    "Emoji 🧬🦠 and 😀 in text",
    "Greek αβγ δ-catenin, μM, Δψ",
    "Unseen scripts: 日本語のテキスト, 한국어, עברית, हिन्दी",
    "Control\u0001chars\u0007and zero\u200bwidth\u200d joiners",
    "NBSP\u00a0and\u2003em\u3000ideographic spaces",
    "[MASK] is a user-defined piece, [CLS] and [SEP] are not matched in text",
    "Quotes ``like this'' and “curly” ‘ones’",
    "a" * 120,
    "TNF-α–induced NF-κB activation (n = 12; 95% CI, 0.8–1.2)",
    "ﾊﾝｶｸ half-width katakana",
    "\u00c5 vs A\u030a (composed vs decomposed)",
]


def sentences(corpus):
    out = []
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            out.append(doc["title"])
            out.extend(s for s in re.split(r"(?<=[.!?])\s+", doc["text"]) if s.strip())
    return out


def train(sents, prefix, vocab_size=4000, byte_fallback=True, coverage=0.9995):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        for s in sents:
            f.write(s.replace("\n", " ") + "\n")
        path = f.name
    try:
        spm.SentencePieceTrainer.train(
            input=path, model_prefix=prefix, vocab_size=vocab_size, model_type="unigram",
            character_coverage=coverage, byte_fallback=byte_fallback, normalization_rule_name="nmt_nfkc",
            pad_id=0, bos_id=1, eos_id=2, unk_id=3,
            pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]", unk_piece="[UNK]",
            user_defined_symbols=["[MASK]"], num_threads=1, seed_sentencepiece_size=200000,
            input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2,
        )
    finally:
        os.unlink(path)


def tokenizer_json(model_file):
    proto = model_pb2.ModelProto()
    with open(model_file, "rb") as f:
        proto.ParseFromString(f.read())
    vocab = [[p.piece, float(p.score)] for p in proto.pieces]
    ids = {p.piece: i for i, p in enumerate(proto.pieces)}
    special = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]
    added = [{"id": ids[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for t in special]
    charsmap = base64.b64encode(proto.normalizer_spec.precompiled_charsmap).decode("ascii")
    seq = lambda name, tid: {"Sequence": {"id": name, "type_id": tid}}  # noqa: E731
    tok = lambda name, tid: {"SpecialToken": {"id": name, "type_id": tid}}  # noqa: E731
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Strip", "strip_left": True, "strip_right": True},
            {"type": "Precompiled", "precompiled_charsmap": charsmap},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
        ]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        ]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [tok("[CLS]", 0), seq("A", 0), tok("[SEP]", 0)],
            "pair": [tok("[CLS]", 0), seq("A", 0), tok("[SEP]", 0), seq("B", 1), tok("[SEP]", 1)],
            "special_tokens": {t: {"id": t, "ids": [ids[t]], "tokens": [t]} for t in ("[CLS]", "[SEP]")},
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": ids["[UNK]"], "vocab": vocab, "byte_fallback": True},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/work/shared/data/scifact/corpus.jsonl")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    sents = sentences(args.corpus)
    train(sents, os.path.join(OUT, "spm"))
    os.unlink(os.path.join(OUT, "spm.vocab"))
    sp = spm.SentencePieceProcessor(model_file=os.path.join(OUT, "spm.model"))
    rng = random.Random(11)
    sample = rng.sample(sents, 300)
    cases = [{"text": t, "ids": sp.encode(t), "pieces": sp.encode(t, out_type=str)} for t in sample + TRICKY]
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]\n")
    with open(os.path.join(OUT, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(os.path.join(OUT, "spm.model")), f, ensure_ascii=False)
    with open(os.path.join(OUT, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "DebertaV2Tokenizer", "do_lower_case": False, "split_by_punct": False,
                   "bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "[UNK]", "sep_token": "[SEP]",
                   "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]", "model_max_length": 512,
                   "vocab_type": "spm"}, f, indent=2)
        f.write("\n")
    # a second, smaller model without byte fallback: unknown characters become [UNK]
    nobyte = OUT + "-nobyte"
    os.makedirs(nobyte, exist_ok=True)
    train(sents, os.path.join(nobyte, "spm"), vocab_size=1000, byte_fallback=False, coverage=0.995)
    os.unlink(os.path.join(nobyte, "spm.vocab"))
    sp2 = spm.SentencePieceProcessor(model_file=os.path.join(nobyte, "spm.model"))
    cases2 = [{"text": t, "ids": sp2.encode(t), "pieces": sp2.encode(t, out_type=str)} for t in sample[:100] + TRICKY]
    with open(os.path.join(nobyte, "cases.json"), "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases2) + "\n]\n")
    unk_cases = sum(3 in c["ids"] for c in cases2)
    print(f"OK no-byte-fallback model: {sp2.get_piece_size()} pieces, {len(cases2)} cases ({unk_cases} with [UNK])")
    byte_cases = sum(any(p.startswith("<0x") for p in c["pieces"]) for c in cases)
    print(f"OK {sp.get_piece_size()} pieces, {len(cases)} cases ({byte_cases} with byte fallback), "
          f"{len(sents)} training sentences")


if __name__ == "__main__":
    sys.exit(main())
