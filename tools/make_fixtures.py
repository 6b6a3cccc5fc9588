#!/usr/bin/python3
"""Generate the reference fixtures for the md2pr TypeScript engine (PyTorch oracle).

Run from the repository root with Debian's system python (torch + numpy):

    /usr/bin/python3 tools/make_fixtures.py            # write + verify
    /usr/bin/python3 tools/make_fixtures.py --no-check # write only (skip gradcheck etc.)

Deterministic: fixed seeds, single-threaded torch, sorted safetensors/JSON output,
so running it twice gives byte-identical files.

All reference values are computed in float64 from float32-representable inputs
and stored as F32 (so the stored inputs are exact and the stored outputs are the
float32 rounding of the exact result).
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from safetensors_io import load_file, save_file  # noqa: E402
from torch_bert import BertConfig, BertModel  # noqa: E402

ROOT = os.path.dirname(HERE)
FIX = os.path.join(ROOT, "test", "fixtures")

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def f32(t):
    """float64/float32 tensor -> numpy float32."""
    return t.detach().to(torch.float32).cpu().numpy()


def randn(g, *shape, std=1.0):
    # float32-representable values, returned as float64
    return (torch.randn(*shape, generator=g, dtype=torch.float32) * std).to(torch.float64)


# ----------------------------------------------------------------------------------------------
# BERT fixtures
# ----------------------------------------------------------------------------------------------

BERT_TINY_CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "vocab_size": 100,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "torch_dtype": "float32",
}

BERT_TINY_GELU_NEW_CONFIG = dict(
    BERT_TINY_CONFIG,
    vocab_size=50,
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=32,
    hidden_act="gelu_new",
)

PAD_ID, CLS_ID, SEP_ID = 0, 2, 3
FIRST_WORD_ID = 5

BERT_LOSS_FORMULA = (
    "loss = sum_{b,t,h} last_hidden[b,t,h] * loss_weights.last_hidden[b,t,h]"
    " + sum_{b,h} pooler_output[b,h] * loss_weights.pooled[b,h]; eval mode (no dropout); "
    "loss_weights.last_hidden is zero at padded positions (attention_mask == 0)"
)


def random_bert_weights(model, g):
    """Non-trivial random weights (not HF init): LayerNorm gamma/beta random, biases non-zero,
    Linear std chosen so attention is clearly non-uniform. float32-representable values."""
    H = model.config.hidden_size
    sd = {}
    for name, p in model.named_parameters():
        shape = tuple(p.shape)
        if "LayerNorm.weight" in name:
            v = 1.0 + randn(g, *shape, std=0.2)
        elif "LayerNorm.bias" in name or name.endswith(".bias"):
            v = randn(g, *shape, std=0.1)
        elif "embeddings" in name:
            v = randn(g, *shape, std=0.5)
        elif "attention.self.query" in name or "attention.self.key" in name:
            v = randn(g, *shape, std=1.5 / math.sqrt(H))
        else:  # other Linear weights [out, in]
            v = randn(g, *shape, std=1.0 / math.sqrt(shape[1]))
        sd[name] = v.to(torch.float32).to(torch.float64)
    return sd


def make_inputs(g, lengths, T, vocab, pair_row):
    B = len(lengths)
    ids = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    tt = torch.zeros(B, T, dtype=torch.long)
    for b, n in enumerate(lengths):
        words = torch.randint(FIRST_WORD_ID, vocab, (n,), generator=g)
        ids[b, :n] = words
        ids[b, 0] = CLS_ID
        ids[b, n - 1] = SEP_ID
        mask[b, :n] = 1
        if b == pair_row:
            split = n // 2  # [CLS] a.. [SEP] b.. [SEP]
            ids[b, split - 1] = SEP_ID
            tt[b, split:n] = 1
    return ids, mask, tt


def bert_loss(out, w_last, w_pooled):
    return (out.last_hidden_state * w_last).sum() + (out.pooler_output * w_pooled).sum()


def numpy_bert_forward(cfg, W, ids, mask, tt):
    """Independent float64 numpy implementation of HF BertModel forward (eval mode)."""
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    dh = H // nh
    eps = cfg["layer_norm_eps"]
    act = cfg["hidden_act"]
    from math import erf

    erf_v = np.vectorize(erf)

    def ln(x, gname):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * W[gname + ".weight"] + W[gname + ".bias"]

    def lin(x, name):
        return x @ W[name + ".weight"].T + W[name + ".bias"]

    def gelu(x):
        if act == "gelu":
            return 0.5 * x * (1.0 + erf_v(x / np.sqrt(2.0)))
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))

    B, T = ids.shape
    h = (
        W["embeddings.word_embeddings.weight"][ids]
        + W["embeddings.position_embeddings.weight"][np.arange(T)][None]
        + W["embeddings.token_type_embeddings.weight"][tt]
    )
    h = ln(h, "embeddings.LayerNorm")
    hs, atts = [h], []
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = lin(h, p + "attention.self.query")
        k = lin(h, p + "attention.self.key")
        v = lin(h, p + "attention.self.value")
        probs = np.zeros((B, nh, T, T))
        ctx = np.zeros((B, T, H))
        for b in range(B):
            valid = mask[b] == 1
            for hd in range(nh):
                sl = slice(hd * dh, (hd + 1) * dh)
                s = q[b, :, sl] @ k[b, :, sl].T / np.sqrt(dh)
                s = np.where(valid[None, :], s, -np.inf)  # masked keys get exactly zero weight
                s = s - s.max(-1, keepdims=True)
                e = np.exp(s)
                pr = e / e.sum(-1, keepdims=True)
                probs[b, hd] = pr
                ctx[b, :, sl] = pr @ v[b, :, sl]
        a = ln(lin(ctx, p + "attention.output.dense") + h, p + "attention.output.LayerNorm")
        it = gelu(lin(a, p + "intermediate.dense"))
        h = ln(lin(it, p + "output.dense") + a, p + "output.LayerNorm")
        hs.append(h)
        atts.append(probs)
    pooled = np.tanh(lin(h[:, 0], "pooler.dense"))
    return hs, atts, pooled


def bert_fixture(dirname, cfg, seed, lengths, T, pair_row, check):
    out_dir = os.path.join(FIX, dirname)
    os.makedirs(out_dir, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    model = BertModel(cfg).double()
    sd = random_bert_weights(model, g)
    model.load_state_dict(sd)
    model.eval()

    ids, mask, tt = make_inputs(g, lengths, T, cfg["vocab_size"], pair_row)
    B = len(lengths)
    H = cfg["hidden_size"]
    L = cfg["num_hidden_layers"]
    w_last = randn(g, B, T, H) * mask[:, :, None].to(torch.float64)
    w_pooled = randn(g, B, H)

    out = model(ids, mask, tt, output_hidden_states=True, output_attentions=True)
    loss = bert_loss(out, w_last, w_pooled)
    model.zero_grad()
    loss.backward()

    # --- write files
    write_json(os.path.join(out_dir, "config.json"), cfg)
    save_file({k: f32(v) for k, v in sd.items()}, os.path.join(out_dir, "model.safetensors"), {"format": "pt"})
    with open(os.path.join(out_dir, "inputs.json"), "w") as f:  # one row per line
        parts = []
        for key, t in (("attention_mask", mask), ("input_ids", ids), ("token_type_ids", tt)):
            rows = ",\n    ".join(json.dumps(r) for r in t.tolist())
            parts.append(f'  "{key}": [\n    {rows}\n  ]')
        f.write("{\n" + ",\n".join(parts) + "\n}\n")
    outs = {}
    for i, h in enumerate(out.hidden_states):
        outs[f"hidden_states.{i}"] = f32(h)
    for i, a in enumerate(out.attentions):
        outs[f"attentions.{i}"] = f32(a)
    outs["pooler_output"] = f32(out.pooler_output)
    outs["loss_weights.last_hidden"] = f32(w_last)
    outs["loss_weights.pooled"] = f32(w_pooled)
    outs["loss"] = f32(loss.reshape(1))
    for name, p in model.named_parameters():
        outs[f"grad.{name}"] = f32(p.grad)
    save_file(outs, os.path.join(out_dir, "outputs.safetensors"), {"format": "pt"})
    write_json(
        os.path.join(out_dir, "fixture.json"),
        {
            "description": "HF BertModel (absolute positions) forward/backward reference, eval mode",
            "generator": "tools/make_fixtures.py",
            "seed": seed,
            "compute_dtype": "float64 (inputs/weights are float32-representable); stored as F32",
            "batch_size": B,
            "seq_len": T,
            "lengths": lengths,
            "pair_row": pair_row,
            "special_ids": {"pad": PAD_ID, "cls": CLS_ID, "sep": SEP_ID},
            "attention_mask_formula": "scores += (1 - attention_mask[b, None, None, :]) * finfo.min (HF); "
            "masked keys get probability exactly 0",
            "hidden_act": cfg["hidden_act"],
            "gelu_formula": {
                "gelu": "0.5 * x * (1 + erf(x / sqrt(2)))",
                "gelu_new": "0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))",
            }[cfg["hidden_act"]],
            "pooler_formula": "pooler_output = tanh(pooler.dense(hidden_states[L][:, 0]))",
            "loss_formula": BERT_LOSS_FORMULA,
            "files": {
                "config.json": "HF BertConfig fields",
                "model.safetensors": "F32 weights, HF BertModel state_dict names without prefix",
                "inputs.json": "input_ids, attention_mask, token_type_ids: int [B][T]",
                "outputs.safetensors": "see tensors",
            },
            "tensors": {
                **{f"hidden_states.{i}": [B, T, H] for i in range(L + 1)},
                **{f"attentions.{i}": [B, cfg["num_attention_heads"], T, T] for i in range(L)},
                "pooler_output": [B, H],
                "loss_weights.last_hidden": [B, T, H],
                "loss_weights.pooled": [B, H],
                "loss": [1],
                **{f"grad.{n}": list(p.shape) for n, p in model.named_parameters()},
            },
            "notes": [
                "hidden_states.0 is the embedding output (after embeddings.LayerNorm); hidden_states.L is last_hidden_state",
                "attentions.i are the post-softmax probabilities of layer i, [B, heads, T_query, T_key]",
                "hidden states at padded positions are included (HF computes them; they attend only to valid keys)",
                "the word_embeddings row pad_token_id gets zero gradient both mathematically (padded positions carry "
                "zero loss weight and pad ids appear only at padded positions) and in HF (nn.Embedding padding_idx)",
                "dropout probabilities in config.json are 0.1 but all reference values are computed in eval mode",
            ],
        },
    )

    # --- verification
    if check:
        W = {k: v.numpy() for k, v in sd.items()}
        hs, atts, pooled = numpy_bert_forward(cfg, W, ids.numpy(), mask.numpy(), tt.numpy())
        err = 0.0
        for i in range(L + 1):
            err = max(err, float(np.abs(hs[i] - out.hidden_states[i].detach().numpy()).max()))
        for i in range(L):
            err = max(err, float(np.abs(atts[i] - out.attentions[i].detach().numpy()).max()))
        err = max(err, float(np.abs(pooled - out.pooler_output.detach().numpy()).max()))
        assert err < 1e-10, f"{dirname}: numpy forward mismatch {err}"
        for a in out.attentions:
            a = a.detach()
            assert torch.allclose(a.sum(-1), torch.ones_like(a.sum(-1)), atol=1e-12)
            assert float(a.masked_select(mask[:, None, None, :].expand_as(a) == 0).abs().max()) == 0.0
        # attention is not uniform (weights are non-trivial)
        assert float(out.attentions[0].detach().std()) > 1e-2
        # HF activation equivalence
        x = torch.linspace(-6, 6, 1001, dtype=torch.float64)
        if cfg["hidden_act"] == "gelu":
            assert torch.allclose(model.encoder.layer[0].intermediate.act(x), F.gelu(x), atol=1e-14)
        else:
            assert torch.allclose(model.encoder.layer[0].intermediate.act(x), F.gelu(x, approximate="tanh"), atol=1e-14)
        # round-trip of what was written
        rt = load_file(os.path.join(out_dir, "model.safetensors"))
        assert sorted(rt) == sorted(sd) and all(np.array_equal(rt[k], f32(sd[k])) for k in sd)
        assert "embeddings.position_ids" not in rt
        # the model re-loaded from the F32 file in float32 reproduces the stored outputs closely
        m32 = BertModel(cfg)
        m32.load_state_dict({k: torch.from_numpy(v) for k, v in rt.items()})
        m32.eval()
        with torch.no_grad():
            o32 = m32(ids, mask, tt)
        e32 = float((o32.last_hidden_state.double() - out.last_hidden_state).abs().max())
        assert e32 < 1e-4, e32
        # finite-difference spot check of a few stored gradients on the real fixture
        rng = np.random.RandomState(seed)
        names = [n for n, _ in model.named_parameters()]
        params = dict(model.named_parameters())
        for _ in range(12):
            n = names[rng.randint(len(names))]
            p = params[n]
            idx = tuple(int(rng.randint(s)) for s in p.shape)
            if n == "embeddings.word_embeddings.weight":
                idx = (int(ids[0, 1]),) + idx[1:]
            eps = 1e-6
            with torch.no_grad():
                orig = p[idx].item()
                p[idx] = orig + eps
                lp = bert_loss(model(ids, mask, tt), w_last, w_pooled).item()
                p[idx] = orig - eps
                lm = bert_loss(model(ids, mask, tt), w_last, w_pooled).item()
                p[idx] = orig
            fd = (lp - lm) / (2 * eps)
            an = p.grad[idx].item()
            assert abs(fd - an) <= 1e-6 * max(1.0, abs(an)), (n, idx, fd, an)
        print(f"OK {dirname}: numpy forward max|diff|={err:.2e}, attention rows sum to 1, masked keys 0, "
              f"f32 reload max|diff|={e32:.2e}, 12 finite-difference grads match")


def gradcheck_bert(act):
    """torch.autograd.gradcheck (float64) of the BERT fixture loss w.r.t. every parameter, tiny config."""
    cfg = dict(
        BERT_TINY_CONFIG,
        vocab_size=13,
        hidden_size=8,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=12,
        max_position_embeddings=8,
        hidden_act=act,
    )
    g = torch.Generator().manual_seed(123)
    model = BertModel(cfg).double()
    sd = random_bert_weights(model, g)
    model.load_state_dict(sd)
    model.eval()
    ids, mask, tt = make_inputs(g, [5, 3], 5, cfg["vocab_size"], pair_row=0)
    w_last = randn(g, 2, 5, 8) * mask[:, :, None].to(torch.float64)
    w_pooled = randn(g, 2, 8)
    names = list(sd)
    tensors = tuple(sd[n].clone().requires_grad_(True) for n in names)

    def fn(*ps):
        out = torch.nn.utils.stateless.functional_call(model, dict(zip(names, ps)), (ids, mask, tt))
        return bert_loss(out, w_last, w_pooled)

    assert torch.autograd.gradcheck(fn, tensors, eps=1e-6, atol=1e-6, rtol=1e-4)
    print(f"OK gradcheck BERT loss ({act}, {sum(t.numel() for t in tensors)} params, float64)")


# ----------------------------------------------------------------------------------------------
# Loss fixtures
# ----------------------------------------------------------------------------------------------


def infonce(q, p, mask, tau, n):
    B = q.shape[0]
    logits = (q @ p.T) / tau
    logits = logits.masked_fill(mask == 0, float("-inf"))
    lsm = F.log_softmax(logits, dim=-1)
    tgt = torch.arange(B) * (n + 1)
    per = -lsm[torch.arange(B), tgt]
    return per.mean(), per


def infonce_np(q, p, mask, tau, n):
    B = q.shape[0]
    tot = 0.0
    for i in range(B):
        row = [float(q[i] @ p[j]) / tau for j in range(p.shape[0]) if mask[i, j] == 1]
        m = max(row)
        lse = m + math.log(sum(math.exp(x - m) for x in row))
        tot += lse - float(q[i] @ p[i * (n + 1)]) / tau
    return tot / B


def kl_sentence(s_c, s_r, t_c, t_r):
    log_pc = F.log_softmax(s_c / t_c, dim=-1)
    log_pr = F.log_softmax(s_r / t_r, dim=-1)
    per = (log_pc.exp() * (log_pc - log_pr)).sum(-1)
    return per.mean(), per


def kl_sentence_np(s_c, s_r, t_c, t_r):
    tot = 0.0
    for i in range(s_c.shape[0]):
        pc = np.exp(s_c[i] / t_c) / np.exp(s_c[i] / t_c).sum()
        pr = np.exp(s_r[i] / t_r) / np.exp(s_r[i] / t_r).sum()
        tot += float((pc * np.log(pc / pr)).sum())
    return tot / s_c.shape[0]


def attention_mse(hq, hd, q_mask, d_mask, a_c):
    H = hq.shape[-1]
    s = hq @ hd.transpose(1, 2) / math.sqrt(H)  # [B, Tq, Td]
    s = s.masked_fill(d_mask[:, None, :] == 0, float("-inf"))
    a_r = F.softmax(s, dim=-1)
    valid = q_mask[:, :, None] * d_mask[:, None, :]
    loss = (((a_r - a_c) ** 2) * valid).sum() / valid.sum()
    return loss, a_r


def attention_mse_np(hq, hd, q_mask, d_mask, a_c):
    H = hq.shape[-1]
    tot, cnt = 0.0, 0
    for b in range(hq.shape[0]):
        qi = np.nonzero(q_mask[b])[0]
        di = np.nonzero(d_mask[b])[0]
        for r in qi:
            s = np.array([hq[b, r] @ hd[b, c] / math.sqrt(H) for c in di])
            e = np.exp(s - s.max())
            a = e / e.sum()
            tot += float(((a - a_c[b, r, di]) ** 2).sum())
            cnt += len(di)
    return tot / cnt


def hidden_mse(h_r, h_c, w, mask):
    diff = h_r @ w - h_c
    D = h_c.shape[-1]
    return ((diff**2) * mask[:, :, None]).sum() / (mask.sum() * D)


def hidden_mse_np(h_r, h_c, w, mask):
    tot, cnt = 0.0, 0
    for b in range(h_r.shape[0]):
        for t in range(h_r.shape[1]):
            if mask[b, t] == 1:
                tot += float(((h_r[b, t] @ w - h_c[b, t]) ** 2).sum())
                cnt += h_c.shape[-1]
    return tot / cnt


def listwise_ce(scores):
    per = -F.log_softmax(scores, dim=-1)[:, 0]
    return per.mean(), per


def listwise_ce_np(scores):
    tot = 0.0
    for i in range(scores.shape[0]):
        s = scores[i]
        m = s.max()
        tot += m + math.log(np.exp(s - m).sum()) - s[0]
    return tot / scores.shape[0]


def save_loss_fixture(name, tensors, grads, sidecar, loss):
    out_dir = os.path.join(FIX, "losses")
    os.makedirs(out_dir, exist_ok=True)
    data = {k: f32(v) for k, v in tensors.items()}
    data["loss"] = f32(loss.reshape(1))
    for k, v in grads.items():
        data[f"grad.{k}"] = f32(v)
    save_file(data, os.path.join(out_dir, f"{name}.safetensors"), {"fixture": name})
    sidecar = dict(sidecar)
    sidecar["name"] = name
    sidecar["generator"] = "tools/make_fixtures.py"
    sidecar["compute_dtype"] = "float64 (inputs are float32-representable); stored as F32"
    sidecar["tensors"] = {k: list(v.shape) for k, v in sorted(data.items())}
    sidecar["grads"] = sorted(f"grad.{k}" for k in grads)
    write_json(os.path.join(out_dir, f"{name}.json"), sidecar)


def loss_fixtures(check):
    results = []

    # --- infonce
    g = torch.Generator().manual_seed(1001)
    B, n, H, tau = 4, 2, 8, 0.5
    q = randn(g, B, H)
    p = randn(g, B * (n + 1), H)
    mask = torch.ones(B, B * (n + 1), dtype=torch.float64)
    # some zeros on negatives (own hard negatives and in-batch ones), never on the own positive
    for i, j in [(0, 1), (0, 5), (1, 0), (1, 11), (2, 8), (3, 3), (3, 4), (3, 10)]:
        assert j != i * (n + 1)
        mask[i, j] = 0
    q.requires_grad_(True)
    p.requires_grad_(True)
    loss, per = infonce(q, p, mask, tau, n)
    gq, gp = torch.autograd.grad(loss, (q, p))
    save_loss_fixture(
        "infonce",
        {"q": q, "p": p, "mask": mask, "per_query_loss": per},
        {"q": gq, "p": gp},
        {
            "formula": "logits[i,j] = dot(q[i], p[j]) / tau; logits[i,j] = -inf where mask[i,j] == 0; "
            "loss_i = -log_softmax(logits[i])[i*(n+1)]; loss = mean_i loss_i",
            "options": {"tau": tau, "n_negatives": n, "batch_size": B, "hidden": H},
            "layout": "query i's own candidates are p rows i*(n+1) .. i*(n+1)+n, positive first; every p row is a "
            "candidate for every query (in-batch negatives) unless masked; mask is 0/1 float",
        },
        loss,
    )
    if check:
        ref = infonce_np(q.detach().numpy(), p.detach().numpy(), mask.numpy(), tau, n)
        assert abs(ref - loss.item()) < 1e-12, (ref, loss.item())
        assert float(gp[mask.sum(0) == 0].abs().max() if (mask.sum(0) == 0).any() else 0.0) == 0.0
        assert torch.autograd.gradcheck(lambda a, b: infonce(a, b, mask, tau, n)[0], (q, p))
        results.append("infonce")

    # --- kl_sentence
    g = torch.Generator().manual_seed(1002)
    s_c = randn(g, 4, 3, std=2.0).requires_grad_(True)
    s_r = randn(g, 4, 3, std=2.0).requires_grad_(True)
    t_c, t_r = 2.0, 0.5
    loss, per = kl_sentence(s_c, s_r, t_c, t_r)
    g_c, g_r = torch.autograd.grad(loss, (s_c, s_r))
    save_loss_fixture(
        "kl_sentence",
        {"s_C": s_c, "s_R": s_r, "per_query_loss": per},
        {"s_C": g_c, "s_R": g_r},
        {
            "formula": "log P_C = log_softmax(s_C / T_C, -1); log P_R = log_softmax(s_R / T_R, -1); "
            "loss = mean_i sum_d P_C[i,d] * (log P_C[i,d] - log P_R[i,d])",
            "options": {"T_C": t_c, "T_R": t_r, "batch_size": 4, "candidates": 3},
            "layout": "row i = query i, column 0 = positive, 1.. = negatives; s_C teacher (cross-encoder) scores, "
            "s_R student (retriever) scores; grad.s_C given although the teacher is frozen in training",
        },
        loss,
    )
    if check:
        ref = kl_sentence_np(s_c.detach().numpy(), s_r.detach().numpy(), t_c, t_r)
        assert abs(ref - loss.item()) < 1e-12, (ref, loss.item())
        assert torch.autograd.gradcheck(lambda a, b: kl_sentence(a, b, t_c, t_r)[0], (s_c, s_r))
        results.append("kl_sentence")

    # --- attention_mse
    g = torch.Generator().manual_seed(1003)
    B, Tq, Td, H = 2, 5, 6, 8
    hq = randn(g, B, Tq, H)
    hd = randn(g, B, Td, H)
    q_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.float64)
    d_mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.float64)
    raw = torch.rand(B, Tq, Td, generator=g, dtype=torch.float32).to(torch.float64) + 0.05
    valid = q_mask[:, :, None] * d_mask[:, None, :]
    a_c = raw * valid
    a_c = a_c / a_c.sum(-1, keepdim=True).clamp_min(1e-30)
    a_c = a_c.to(torch.float32).to(torch.float64)  # stored target is exactly what the loss used
    hq.requires_grad_(True)
    hd.requires_grad_(True)
    loss, a_r = attention_mse(hq, hd, q_mask, d_mask, a_c)
    g_q, g_d = torch.autograd.grad(loss, (hq, hd))
    save_loss_fixture(
        "attention_mse",
        {"Hq": hq, "Hd": hd, "q_mask": q_mask, "d_mask": d_mask, "A_C": a_c, "A_R": a_r * valid},
        {"Hq": g_q, "Hd": g_d},
        {
            "formula": "S[b,r,c] = dot(Hq[b,r], Hd[b,c]) / sqrt(H); S[b,r,c] = -inf where d_mask[b,c] == 0; "
            "A_R = softmax(S, over c); valid[b,r,c] = q_mask[b,r] * d_mask[b,c]; "
            "loss = sum(valid * (A_R - A_C)^2) / sum(valid)",
            "options": {"batch_size": B, "Tq": Tq, "Td": Td, "hidden": H, "scale": 1.0 / math.sqrt(H)},
            "layout": "A_C rows are renormalised over valid d columns (zeros on invalid rows/columns); "
            "stored A_R is the student attention multiplied by valid (zeros outside); sum(valid) is the global "
            "count of valid (row, col) pairs over the batch; grads are zero on padded rows/columns",
        },
        loss,
    )
    if check:
        ref = attention_mse_np(hq.detach().numpy(), hd.detach().numpy(), q_mask.numpy(), d_mask.numpy(), a_c.numpy())
        assert abs(ref - loss.item()) < 1e-12, (ref, loss.item())
        assert float(g_d[1 - d_mask == 1].abs().max()) == 0.0 and float(g_q[1 - q_mask == 1].abs().max()) == 0.0
        assert torch.autograd.gradcheck(lambda a, b: attention_mse(a, b, q_mask, d_mask, a_c)[0], (hq, hd))
        results.append("attention_mse")

    # --- hidden_mse
    g = torch.Generator().manual_seed(1004)
    B, T, HR, HC = 2, 5, 8, 12
    h_r = randn(g, B, T, HR).requires_grad_(True)
    h_c = randn(g, B, T, HC)
    w = randn(g, HR, HC, std=1.0 / math.sqrt(HR)).requires_grad_(True)
    tmask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], dtype=torch.float64)
    loss = hidden_mse(h_r, h_c, w, tmask)
    g_h, g_w = torch.autograd.grad(loss, (h_r, w))
    save_loss_fixture(
        "hidden_mse",
        {"H_R": h_r, "H_C": h_c, "W": w, "mask": tmask},
        {"H_R": g_h, "W": g_w},
        {
            "formula": "D = H_R @ W - H_C; loss = sum_{b,t,k} mask[b,t] * D[b,t,k]^2 / (sum(mask) * 12)",
            "options": {"batch_size": B, "T": T, "hidden_R": HR, "hidden_C": HC},
            "layout": "W [hidden_R, hidden_C] is the learned projection applied as H_R @ W (no bias); "
            "mask is the 0/1 token validity mask",
        },
        loss,
    )
    if check:
        ref = hidden_mse_np(h_r.detach().numpy(), h_c.numpy(), w.detach().numpy(), tmask.numpy())
        assert abs(ref - loss.item()) < 1e-12, (ref, loss.item())
        assert torch.autograd.gradcheck(lambda a, b: hidden_mse(a, h_c, b, tmask), (h_r, w))
        results.append("hidden_mse")

    # --- listwise_ce
    g = torch.Generator().manual_seed(1005)
    scores = randn(g, 4, 3, std=2.0).requires_grad_(True)
    loss, per = listwise_ce(scores)
    (g_s,) = torch.autograd.grad(loss, (scores,))
    save_loss_fixture(
        "listwise_ce",
        {"scores": scores, "per_query_loss": per},
        {"scores": g_s},
        {
            "formula": "loss = mean_i -log_softmax(scores[i])[0]",
            "options": {"batch_size": 4, "candidates": 3},
            "layout": "row i = query i, column 0 = positive, 1.. = negatives (ranker / cross-encoder loss)",
        },
        loss,
    )
    if check:
        ref = listwise_ce_np(scores.detach().numpy())
        assert abs(ref - loss.item()) < 1e-12, (ref, loss.item())
        assert torch.autograd.gradcheck(lambda a: listwise_ce(a)[0], (scores,))
        results.append("listwise_ce")

    if check:
        print("OK losses: numpy reference values match and gradcheck (float64) passes for " + ", ".join(results))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-check", action="store_true", help="skip verification (numpy forward, gradcheck)")
    args = ap.parse_args()
    check = not args.no_check
    bert_fixture("bert-tiny", BERT_TINY_CONFIG, seed=0, lengths=[12, 7, 4], T=12, pair_row=0, check=check)
    bert_fixture("bert-tiny-gelu-new", BERT_TINY_GELU_NEW_CONFIG, seed=1, lengths=[8, 5], T=8, pair_row=1, check=check)
    if check:
        gradcheck_bert("gelu")
        gradcheck_bert("gelu_new")
    loss_fixtures(check)
    print("OK all fixtures written to", os.path.relpath(FIX, ROOT))


if __name__ == "__main__":
    main()
