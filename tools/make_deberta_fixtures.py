#!/usr/bin/python3
"""Reference fixtures for md2pr's DeBERTa-v2/v3 (tools/torch_deberta.py as the oracle).

    /usr/bin/python3 tools/make_deberta_fixtures.py

Writes test/fixtures/deberta-tiny (v3 layout: no absolute positions, no token types, shared position
projections, c2p + p2c, layer-normed relative embeddings, 8 position buckets over 16 relative positions, so
a 20-token sequence exercises both the log buckets and the span clamp) and test/fixtures/deberta-tiny-v2
(absolute positions, token types, separate pos_key_proj, c2p only, no bucketing, gelu_new, 2 labels) and
test/fixtures/deberta-tiny-proj (embedding_size 16 < hidden 32 through embed_proj, tanh pooler, c2p only, 4 buckets).
Each directory: config.json, model.safetensors (HF names), inputs.json, outputs.safetensors (hidden states,
attentions, pooled, logits, loss weights, loss, every parameter's gradient), fixture.json, and
outputs-short.safetensors (a batch of length 5: inputs, logits and the gradients of sum(logits * weights)). Also
test/fixtures/deberta-tiny/relative-positions.safetensors: HF's make_log_bucket_position of r = 0 .. T-1 (it is odd in r) for
several (buckets, max_relative_positions, length), including DeBERTa-v3's (256, 512, 512).

Deterministic (fixed seeds, one thread). Values are computed in float64 from float32-representable weights and
stored as F32.
"""

import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from safetensors_io import save_file  # noqa: E402
from torch_deberta import DebertaV2ForSequenceClassification, relative_positions  # noqa: E402

ROOT = os.path.dirname(HERE)
FIX = os.path.join(ROOT, "test", "fixtures")

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

V3_TINY = {
    "architectures": ["DebertaV2ForSequenceClassification"],
    "model_type": "deberta-v2",
    "vocab_size": 60,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 64,
    "type_vocab_size": 0,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-7,
    "relative_attention": True,
    "max_relative_positions": 16,
    "position_buckets": 8,
    "norm_rel_ebd": "layer_norm",
    "share_att_key": True,
    "pos_att_type": "p2c|c2p",
    "position_biased_input": False,
    "pad_token_id": 0,
    "pooler_hidden_size": 32,
    "pooler_dropout": 0,
    "pooler_hidden_act": "gelu",
    "id2label": {"0": "LABEL_0"},
    "label2id": {"LABEL_0": 0},
    "torch_dtype": "float32",
}

V2_TINY = dict(
    V3_TINY,
    vocab_size=50,
    hidden_size=24,
    num_attention_heads=3,
    intermediate_size=40,
    hidden_act="gelu_new",
    type_vocab_size=2,
    position_biased_input=True,
    max_relative_positions=12,
    position_buckets=-1,
    norm_rel_ebd="none",
    share_att_key=False,
    pos_att_type=["c2p"],
    pooler_hidden_size=24,
    id2label={"0": "LABEL_0", "1": "LABEL_1"},
    label2id={"LABEL_0": 0, "LABEL_1": 1},
)

# embedding_size below hidden_size (embed_proj), a tanh pooler, no p2c, 4 buckets over 8 positions
PROJ_TINY = dict(
    V3_TINY,
    vocab_size=40,
    embedding_size=16,
    pooler_hidden_act="tanh",
    pos_att_type="c2p",
    position_buckets=4,
    max_relative_positions=8,
    num_hidden_layers=1,
)

PAD_ID, CLS_ID, SEP_ID = 0, 1, 2
FIRST_WORD_ID = 4


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def f32(t):
    return t.detach().to(torch.float32).cpu().numpy()


def randn(g, *shape, std=1.0):
    return (torch.randn(*shape, generator=g, dtype=torch.float32) * std).to(torch.float64)


def random_weights(model, g):
    sd = {}
    for name, p in model.named_parameters():
        shape = tuple(p.shape)
        if "LayerNorm.weight" in name:
            v = 1.0 + randn(g, *shape, std=0.2)
        elif "LayerNorm.bias" in name or name.endswith(".bias"):
            v = randn(g, *shape, std=0.1)
        elif "embeddings" in name:
            v = randn(g, *shape, std=0.5)
        elif "query_proj" in name or "key_proj" in name:
            v = randn(g, *shape, std=1.5 / math.sqrt(shape[1]))
        else:
            v = randn(g, *shape, std=1.0 / math.sqrt(shape[1]))
        sd[name] = v.to(torch.float32).to(torch.float64)
    return sd


def make_inputs(g, lengths, T, vocab, pair_rows):
    B = len(lengths)
    ids = torch.full((B, T), PAD_ID, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    tt = torch.zeros(B, T, dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(FIRST_WORD_ID, vocab, (n,), generator=g)
        ids[b, 0] = CLS_ID
        ids[b, n - 1] = SEP_ID
        mask[b, :n] = 1
        if b in pair_rows:
            split = n // 2
            ids[b, split - 1] = SEP_ID
            tt[b, split:n] = 1
    return ids, mask, tt


def fixture(dirname, cfg, seed, lengths, T):
    out_dir = os.path.join(FIX, dirname)
    os.makedirs(out_dir, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    model = DebertaV2ForSequenceClassification(cfg).double()
    sd = random_weights(model, g)
    model.load_state_dict(sd)
    model.eval()
    c = model.c
    ids, mask, tt = make_inputs(g, lengths, T, c.vocab_size, pair_rows={0})
    if c.type_vocab_size == 0:
        tt.zero_()
    B, H, L, nh = len(lengths), c.hidden_size, c.num_hidden_layers, c.num_attention_heads
    m = mask.to(torch.float64)
    w_last = randn(g, B, T, H) * m[:, :, None]
    w_att = randn(g, B, nh, T, T) * (m[:, None, :, None] * m[:, None, None, :])
    w_logits = randn(g, B, c.num_labels)

    hidden, atts, pooled, logits = model(ids, mask, tt)
    loss = (hidden[-1] * w_last).sum() + (atts[0] * w_att).sum() + (logits * w_logits).sum()
    model.zero_grad()
    loss.backward()

    write_json(os.path.join(out_dir, "config.json"), cfg)
    save_file({k: f32(v) for k, v in sd.items()}, os.path.join(out_dir, "model.safetensors"), {"format": "pt"})
    with open(os.path.join(out_dir, "inputs.json"), "w") as f:
        parts = []
        for key, t in (("attention_mask", mask), ("input_ids", ids), ("token_type_ids", tt)):
            rows = ",\n    ".join(json.dumps(r) for r in t.tolist())
            parts.append(f'  "{key}": [\n    {rows}\n  ]')
        f.write("{\n" + ",\n".join(parts) + "\n}\n")
    outs = {f"hidden_states.{i}": f32(h) for i, h in enumerate(hidden)}
    outs.update({f"attentions.{i}": f32(a) for i, a in enumerate(atts)})
    outs["pooled"] = f32(pooled)
    outs["logits"] = f32(logits)
    outs["loss_weights.last_hidden"] = f32(w_last)
    outs["loss_weights.attentions0"] = f32(w_att)
    outs["loss_weights.logits"] = f32(w_logits)
    outs["loss"] = f32(loss.reshape(1))
    span, max_rel = c.rel_span()
    outs["relative_positions"] = relative_positions(T, T, c.position_buckets, max_rel).to(torch.int32).numpy()
    grads = {}
    for name, p in model.named_parameters():
        grads[name] = p.grad
        outs[f"grad.{name}"] = f32(p.grad)
    save_file(outs, os.path.join(out_dir, "outputs.safetensors"), {"format": "pt"})
    write_json(os.path.join(out_dir, "fixture.json"), {
        "description": "HF DebertaV2ForSequenceClassification forward/backward reference (tools/torch_deberta.py), eval mode",
        "generator": "tools/make_deberta_fixtures.py",
        "seed": seed,
        "compute_dtype": "float64 (weights float32-representable); stored as F32",
        "batch_size": B,
        "seq_len": T,
        "lengths": lengths,
        "special_ids": {"pad": PAD_ID, "cls": CLS_ID, "sep": SEP_ID},
        "loss_formula": "sum(hidden_states.L * loss_weights.last_hidden) + sum(attentions.0 * loss_weights.attentions0)"
                        " + sum(logits * loss_weights.logits); weights are zero at padded positions / rows / columns",
        "notes": [
            "hidden_states.0 is the embedding output (LayerNorm, then times the attention mask: zero at padding)",
            "padded query rows attend to the real keys (BERT's convention); HF's rows there differ and are unused",
            "relative_positions is delta(i, j) after log bucketing, [T, T] int32",
        ],
        "parameters": sorted(grads),
    })
    max_grad = max(float(gr.abs().max()) for gr in grads.values())
    # a short batch (T 5): only the middle rows of the relative table are reached, so the model may project just those
    ids_s, mask_s, tt_s = make_inputs(g, [5, 3], 5, c.vocab_size, pair_rows={0})
    if c.type_vocab_size == 0:
        tt_s.zero_()
    w_s = randn(g, 2, c.num_labels)
    model.zero_grad()
    _, _, _, logits_s = model(ids_s, mask_s, tt_s)
    (logits_s * w_s).sum().backward()
    short = {"input_ids": f32(ids_s.double()), "attention_mask": f32(mask_s.double()), "token_type_ids": f32(tt_s.double()),
             "logits": f32(logits_s), "loss_weights.logits": f32(w_s)}
    short.update({f"grad.{n}": f32(p.grad) for n, p in model.named_parameters()})
    save_file(short, os.path.join(out_dir, "outputs-short.safetensors"), {"format": "pt"})
    print(f"OK {dirname}: loss {loss.item():.6f}, {len(grads)} parameters, "
          f"max |grad| {max_grad:.3e}")
    return model, ids, mask, tt


def finite_difference_check(model, ids, mask, tt, seed):
    """A few float64 central differences of a random weighting of the logits against autograd."""
    g = torch.Generator().manual_seed(seed)
    w = randn(g, *model(ids, mask, tt)[3].shape)
    model.zero_grad()
    (model(ids, mask, tt)[3] * w).sum().backward()
    rng = np.random.RandomState(seed)
    params = dict(model.named_parameters())
    names = sorted(params)
    for _ in range(16):
        n = names[rng.randint(len(names))]
        p = params[n]
        idx = tuple(int(rng.randint(s)) for s in p.shape)
        with torch.no_grad():
            orig = p[idx].item()
            p[idx] = orig + 1e-6
            lp = (model(ids, mask, tt)[3] * w).sum().item()
            p[idx] = orig - 1e-6
            lm = (model(ids, mask, tt)[3] * w).sum().item()
            p[idx] = orig
        fd = (lp - lm) / 2e-6
        an = p.grad[idx].item()
        assert abs(fd - an) <= 1e-6 * max(1.0, abs(an)), (n, idx, fd, an)
    print("OK 16 finite-difference gradients match autograd")


def bucket_tables():
    cases = [(8, 16, 40), (8, 64, 100), (16, 64, 130), (32, 128, 300), (256, 512, 512), (256, 512, 700)]
    out = {}
    for buckets, max_rel, T in cases:
        # delta(i, j) depends on i - j only and is odd in it: store bucket(r) for r = 0 .. T-1
        table = relative_positions(T, T, buckets, max_rel)
        out[f"buckets{buckets}_max{max_rel}_len{T}"] = table[T - 1].flip(0).to(torch.int32).numpy()
    save_file(out, os.path.join(FIX, "deberta-tiny", "relative-positions.safetensors"), {"format": "pt"})
    print(f"OK {len(cases)} relative-position tables")


if __name__ == "__main__":
    model, ids, mask, tt = fixture("deberta-tiny", V3_TINY, 0, [20, 13, 6], 20)
    finite_difference_check(model, ids, mask, tt, 1)
    model, ids, mask, tt = fixture("deberta-tiny-v2", V2_TINY, 1, [15, 9], 15)
    finite_difference_check(model, ids, mask, tt, 2)
    model, ids, mask, tt = fixture("deberta-tiny-proj", PROJ_TINY, 2, [12, 7], 12)
    finite_difference_check(model, ids, mask, tt, 3)
    bucket_tables()
