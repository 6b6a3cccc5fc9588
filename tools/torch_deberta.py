"""Pure-PyTorch DeBERTa-v2/v3 encoder and sequence classifier, after Hugging Face's published definition of
`DebertaV2Model` / `DebertaV2ForSequenceClassification` (transformers/models/deberta_v2/modeling_deberta_v2.py).
Written here from the model's facts, not copied:

  embeddings = LayerNorm(word[ids] (+ position[0..T-1] if position_biased_input) (+ token_type[tt] if
               type_vocab_size > 0), then embed_proj if embedding_size != hidden_size) * mask[:, :, None]
  relative positions: delta(i, j) = i - j, log-bucketed when position_buckets > 0:
      mid = buckets // 2; |delta| <= mid -> delta, else sign * (ceil(log(|delta| / mid) /
      log((max_relative_positions - 1) / mid) * (mid - 1)) + mid)  (computed in float32 as HF does)
  span S = position_buckets (or max_relative_positions); rel = encoder.rel_embeddings.weight [2S, H],
      LayerNorm'd by encoder.LayerNorm when norm_rel_ebd contains "layer_norm"
  layer attention, per head (d = head size, k = 1 + |pos_att_type|, scale = sqrt(d * k)):
      scores[i, j] = q_i . k_j / scale
                   + (c2p)  q_i . Kr[clamp(delta(i, j) + S, 0, 2S - 1)] / scale
                   + (p2c)  k_j . Qr[clamp(-delta(j, i) + S, 0, 2S - 1)] / scale
      Kr = key_proj(rel), Qr = query_proj(rel) when share_att_key, else pos_key_proj / pos_query_proj
      probs = softmax over keys with masked keys at finfo.min; the rest of the layer is BERT's
      (attention.output.dense + LayerNorm residual, intermediate, output).
  ContextPooler: pooler_hidden_act(pooler.dense(h_last[:, 0])); classifier: Linear(pooler_hidden_size, num_labels)

Padded query rows: HF masks with mask_q * mask_k (older versions zero those rows after the softmax, newer ones
give them a uniform row); neither touches real tokens. Here padded query rows see the real keys (BERT's
behaviour), and the fixtures compare real-token rows only.

Module attribute names reproduce HF state_dict keys exactly (`deberta.embeddings.word_embeddings.weight`,
`deberta.encoder.rel_embeddings.weight`, `deberta.encoder.LayerNorm.*`,
`deberta.encoder.layer.N.attention.self.query_proj.*`, `pooler.dense.*`, `classifier.*`).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_CONFIG = {
    "model_type": "deberta-v2",
    "vocab_size": 128100,
    "hidden_size": 1536,
    "num_hidden_layers": 24,
    "num_attention_heads": 24,
    "intermediate_size": 6144,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 0,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-7,
    "relative_attention": False,
    "max_relative_positions": -1,
    "pad_token_id": 0,
    "position_biased_input": True,
    "pos_att_type": None,
    "pooler_dropout": 0,
    "pooler_hidden_act": "gelu",
    "position_buckets": -1,
    "share_att_key": False,
    "norm_rel_ebd": "none",
}


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACT2FN = {"gelu": gelu_erf, "gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh, "tanh": torch.tanh}


class DebertaV2Config:
    def __init__(self, d=None, **kw):
        cfg = dict(DEFAULT_CONFIG)
        if d:
            cfg.update(d)
        cfg.update(kw)
        self.raw = cfg
        for k, v in cfg.items():
            setattr(self, k, v)
        pat = cfg.get("pos_att_type")
        if isinstance(pat, str):
            pat = [x.strip() for x in pat.lower().split("|")]
        self.pos_att_type = list(pat) if pat else []
        self.embedding_size = cfg.get("embedding_size", self.hidden_size)
        self.pooler_hidden_size = cfg.get("pooler_hidden_size", self.hidden_size)
        self.num_labels = cfg.get("num_labels", len(cfg.get("id2label", {0: 0, 1: 1})))
        self.norm_rel_ebd = [x.strip() for x in str(cfg.get("norm_rel_ebd", "none")).lower().split("|")]
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        if cfg.get("conv_kernel_size", 0) > 0:
            raise ValueError("conv_kernel_size (DeBERTa-v2 xlarge's ConvLayer) is not supported")

    def rel_span(self):
        """(S, max_relative_positions): the attention span and the bucketing range."""
        max_rel = self.max_relative_positions if self.max_relative_positions >= 1 else self.max_position_embeddings
        span = self.position_buckets if self.position_buckets > 0 else max_rel
        return span, max_rel


def log_bucket_position(rel, buckets, max_position):
    """HF's make_log_bucket_position, float32 arithmetic as there (int64 in, int64 out)."""
    sign = torch.sign(rel)
    mid = buckets // 2
    abs_pos = torch.where((rel < mid) & (rel > -mid), torch.full_like(rel, mid - 1), rel.abs())
    ratio = abs_pos.to(torch.float32) / mid
    denom = torch.log(torch.tensor((max_position - 1) / mid, dtype=torch.float32))
    log_pos = torch.ceil(torch.log(ratio) / denom * (mid - 1)) + mid
    return torch.where(abs_pos <= mid, rel.to(torch.float32), log_pos * sign.to(torch.float32)).to(torch.long)


def relative_positions(q_len, k_len, buckets, max_position):
    """delta[i, j] = i - j, bucketed when buckets > 0 and max_position > 0: [q_len, k_len] int64."""
    rel = torch.arange(q_len)[:, None] - torch.arange(k_len)[None, :]
    if buckets > 0 and max_position > 0:
        rel = log_bucket_position(rel, buckets, max_position)
    return rel


class DebertaV2Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.word_embeddings = nn.Embedding(c.vocab_size, c.embedding_size, padding_idx=c.pad_token_id)
        if c.position_biased_input:
            self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.embedding_size)
        if c.type_vocab_size > 0:
            self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.embedding_size)
        if c.embedding_size != c.hidden_size:
            self.embed_proj = nn.Linear(c.embedding_size, c.hidden_size, bias=False)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, ids, tt, mask):
        e = self.word_embeddings(ids)
        if self.c.position_biased_input:
            e = e + self.position_embeddings(torch.arange(ids.shape[1])[None, :])
        if self.c.type_vocab_size > 0:
            e = e + self.token_type_embeddings(tt)
        if self.c.embedding_size != self.c.hidden_size:
            e = self.embed_proj(e)
        return self.LayerNorm(e) * mask[:, :, None].to(e.dtype)


class DisentangledSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.nh = c.num_attention_heads
        self.d = c.hidden_size // c.num_attention_heads
        H = c.hidden_size
        self.query_proj = nn.Linear(H, H)
        self.key_proj = nn.Linear(H, H)
        self.value_proj = nn.Linear(H, H)
        if c.relative_attention and not c.share_att_key:
            if "c2p" in c.pos_att_type:
                self.pos_key_proj = nn.Linear(H, H)
            if "p2c" in c.pos_att_type:
                self.pos_query_proj = nn.Linear(H, H)

    def heads(self, x):
        # [N, T, H] -> [N, nh, T, d]
        N, T, _ = x.shape
        return x.view(N, T, self.nh, self.d).permute(0, 2, 1, 3)

    def forward(self, h, key_mask, rel_pos, rel):
        c = self.c
        q, k, v = self.heads(self.query_proj(h)), self.heads(self.key_proj(h)), self.heads(self.value_proj(h))
        factor = 1 + len(c.pos_att_type)
        scale = math.sqrt(self.d * factor)
        scores = torch.matmul(q, k.transpose(-1, -2)) / scale
        if c.relative_attention:
            span, _ = c.rel_span()
            rel = rel[: 2 * span][None]  # [1, 2S, H]
            T = h.shape[1]
            if "c2p" in c.pos_att_type:
                kr = self.heads(self.key_proj(rel) if c.share_att_key else self.pos_key_proj(rel))  # [1, nh, 2S, d]
                c2p_full = torch.matmul(q, kr.transpose(-1, -2))  # [B, nh, T, 2S]
                idx = torch.clamp(rel_pos + span, 0, 2 * span - 1)  # [T, T]
                scores = scores + torch.gather(c2p_full, -1, idx.expand(q.shape[0], self.nh, T, T)) / scale
            if "p2c" in c.pos_att_type:
                qr = self.heads(self.query_proj(rel) if c.share_att_key else self.pos_query_proj(rel))
                p2c_full = torch.matmul(k, qr.transpose(-1, -2))  # [B, nh, T(key), 2S]
                idx = torch.clamp(-rel_pos + span, 0, 2 * span - 1)  # indexed [key j, query i] with delta(j, i)
                p2c = torch.gather(p2c_full, -1, idx.expand(q.shape[0], self.nh, T, T)).transpose(-1, -2)
                scores = scores + p2c / scale
        scores = scores.masked_fill(key_mask[:, None, None, :] == 0, torch.finfo(scores.dtype).min)
        probs = F.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(h.shape)
        return ctx, probs


class SelfOutput(nn.Module):
    def __init__(self, c, n_in):
        super().__init__()
        self.dense = nn.Linear(n_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x, residual):
        return self.LayerNorm(self.dense(x) + residual)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = DisentangledSelfAttention(c)
        self.output = SelfOutput(c, c.hidden_size)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.act = ACT2FN[c.hidden_act]


class DebertaV2Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = SelfOutput(c, c.intermediate_size)

    def forward(self, h, key_mask, rel_pos, rel):
        ctx, probs = self.attention.self(h, key_mask, rel_pos, rel)
        a = self.attention.output(ctx, h)
        return self.output(self.intermediate.act(self.intermediate.dense(a)), a), probs


class DebertaV2Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.layer = nn.ModuleList([DebertaV2Layer(c) for _ in range(c.num_hidden_layers)])
        if c.relative_attention:
            span, _ = c.rel_span()
            self.rel_embeddings = nn.Embedding(2 * span, c.hidden_size)
            if "layer_norm" in c.norm_rel_ebd:
                self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps, elementwise_affine=True)

    def rel_embedding(self):
        if not self.c.relative_attention:
            return None
        rel = self.rel_embeddings.weight
        return self.LayerNorm(rel) if "layer_norm" in self.c.norm_rel_ebd else rel


class DebertaV2Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embeddings = DebertaV2Embeddings(c)
        self.encoder = DebertaV2Encoder(c)

    def forward(self, ids, mask, tt):
        c = self.c
        h = self.embeddings(ids, tt, mask)
        T = ids.shape[1]
        span, max_rel = c.rel_span()
        rel_pos = relative_positions(T, T, c.position_buckets, max_rel)
        rel = self.encoder.rel_embedding()
        hidden, atts = [h], []
        for layer in self.encoder.layer:
            h, probs = layer(h, mask, rel_pos, rel)
            hidden.append(h)
            atts.append(probs)
        return hidden, atts


class ContextPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.dense = nn.Linear(c.pooler_hidden_size, c.pooler_hidden_size)

    def forward(self, h):
        return ACT2FN[self.c.pooler_hidden_act](self.dense(h[:, 0]))


class DebertaV2ForSequenceClassification(nn.Module):
    def __init__(self, config):
        super().__init__()
        c = config if isinstance(config, DebertaV2Config) else DebertaV2Config(config)
        self.c = c
        self.deberta = DebertaV2Model(c)
        self.pooler = ContextPooler(c)
        self.classifier = nn.Linear(c.pooler_hidden_size, c.num_labels)

    def forward(self, ids, mask, tt):
        hidden, atts = self.deberta(ids, mask, tt)
        pooled = self.pooler(hidden[-1])
        return hidden, atts, pooled, self.classifier(pooled)
