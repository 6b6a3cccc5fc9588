"""Pure-PyTorch BERT encoder, numerically equivalent to Hugging Face `BertModel`.

Written against `transformers/models/bert/modeling_bert.py` (absolute position
embeddings, encoder-only, no head pruning, no cross-attention, no cache):

  embeddings = Dropout(LayerNorm(word[ids] + token_type[tt] + position[0..T-1]))
  layer:
    q, k, v = Linear(h) split into heads [B, nh, T, dh]
    scores  = q k^T / sqrt(dh) + (1 - mask[:, None, None, :]) * finfo(dtype).min
    probs   = Dropout(softmax(scores, -1))
    ctx     = merge_heads(probs v)
    a       = LayerNorm(Dropout(Linear(ctx)) + h)          # attention.output
    i       = act(Linear(a))                                # intermediate (gelu=erf, gelu_new=tanh)
    h'      = LayerNorm(Dropout(Linear(i)) + a)             # output
  pooler = tanh(Linear(h_last[:, 0]))

Module attribute names reproduce HF state_dict keys exactly (no "bert." prefix,
no `embeddings.position_ids` buffer). Config is a plain dict with HF config.json
field names. Init follows HF `_init_weights`: Linear/Embedding ~ N(0, initializer_range),
biases 0, LayerNorm weight 1 / bias 0, and the word-embedding row `pad_token_id`
zeroed (`nn.Embedding(padding_idx=pad_token_id)`, which also blocks its gradient,
as in HF).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_CONFIG = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
}


class BertConfig:
    def __init__(self, d=None, **kw):
        cfg = dict(DEFAULT_CONFIG)
        if d:
            cfg.update(d)
        cfg.update(kw)
        self.raw = cfg
        for k, v in cfg.items():
            setattr(self, k, v)
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported")

    def to_dict(self):
        return dict(self.raw)


def gelu_erf(x):
    # HF "gelu" (GELUActivation) == torch.nn.functional.gelu (exact, erf based)
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    # HF "gelu_new" (NewGELUActivation)
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACT2FN = {
    "gelu": gelu_erf,
    "gelu_new": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "relu": F.relu,
}


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids):
        T = input_ids.shape[1]
        pos = torch.arange(T, dtype=torch.long, device=input_ids.device).unsqueeze(0)
        e = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        e = e + self.position_embeddings(pos)
        return self.dropout(self.LayerNorm(e))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.num_attention_heads = c.num_attention_heads
        self.attention_head_size = c.hidden_size // c.num_attention_heads
        self.all_head_size = c.hidden_size
        self.query = nn.Linear(c.hidden_size, self.all_head_size)
        self.key = nn.Linear(c.hidden_size, self.all_head_size)
        self.value = nn.Linear(c.hidden_size, self.all_head_size)
        self.dropout = nn.Dropout(c.attention_probs_dropout_prob)

    def _split(self, x):
        B, T, _ = x.shape
        return x.view(B, T, self.num_attention_heads, self.attention_head_size).permute(0, 2, 1, 3)

    def forward(self, h, ext_mask):
        q = self._split(self.query(h))
        k = self._split(self.key(h))
        v = self._split(self.value(h))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        scores = scores + ext_mask
        probs = F.softmax(scores, dim=-1)
        ctx = torch.matmul(self.dropout(probs), v)
        B, _, T, _ = ctx.shape
        ctx = ctx.permute(0, 2, 1, 3).contiguous().view(B, T, self.all_head_size)
        # probs are returned before dropout; HF returns them after dropout, identical in eval mode
        return ctx, probs


class BertSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(self, h, ext_mask):
        ctx, probs = self.self(h, ext_mask)
        return self.output(ctx, h), probs


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        if c.hidden_act not in ACT2FN:
            raise ValueError(f"unsupported hidden_act {c.hidden_act}")
        self.act = ACT2FN[c.hidden_act]

    def forward(self, x):
        return self.act(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.intermediate_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(self, h, ext_mask):
        a, probs = self.attention(h, ext_mask)
        return self.output(self.intermediate(a), a), probs


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c.num_hidden_layers)])


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class BertOutputs(dict):
    """dict with attribute access: last_hidden_state, hidden_states, attentions, pooler_output."""

    __getattr__ = dict.__getitem__


def extended_attention_mask(attention_mask, dtype):
    # HF get_extended_attention_mask for an encoder: [B, T] -> [B, 1, 1, T]
    m = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - m) * torch.finfo(dtype).min


class BertModel(nn.Module):
    def __init__(self, config, add_pooling_layer=True):
        super().__init__()
        self.config = config if isinstance(config, BertConfig) else BertConfig(config)
        c = self.config
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c) if add_pooling_layer else None
        self.init_weights()

    @torch.no_grad()
    def init_weights(self):
        std = self.config.initializer_range
        for m in self.modules():
            if isinstance(m, nn.Linear):
                m.weight.normal_(mean=0.0, std=std)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.Embedding):
                m.weight.normal_(mean=0.0, std=std)
                if m.padding_idx is not None:
                    m.weight[m.padding_idx].zero_()
            elif isinstance(m, nn.LayerNorm):
                m.weight.fill_(1.0)
                m.bias.zero_()

    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        output_hidden_states=False,
        output_attentions=False,
        compute_pooler=True,
    ):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        h = self.embeddings(input_ids, token_type_ids)
        ext = extended_attention_mask(attention_mask, h.dtype)
        hidden_states = [h] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for layer in self.encoder.layer:
            h, probs = layer(h, ext)
            if output_hidden_states:
                hidden_states.append(h)
            if output_attentions:
                attentions.append(probs)
        pooled = self.pooler(h) if (self.pooler is not None and compute_pooler) else None
        return BertOutputs(
            last_hidden_state=h,
            hidden_states=hidden_states,
            attentions=attentions,
            pooler_output=pooled,
        )


def hf_state_dict(model):
    """state_dict with HF key names (this module has no buffers, so identical to model.state_dict())."""
    return {k: v for k, v in model.state_dict().items() if not k.endswith("position_ids")}
