"""Small plain-torch language models for the ``torch_module`` adapter's tests and docs.

``tiny_transformer_lm`` returns bare logits, as most hand-written models do; the adapter
adds the loss. Its ``role_patterns`` attribute gives the roles of its parameters, so a
``TorchModuleConfig`` naming it needs no patterns of its own.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not a multiple of n_heads {n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyTransformerLM(nn.Module):
    """A pre-norm GPT in 40 lines: token and learned position embeddings, blocks, head."""

    def __init__(self, vocab_size: int, d_model: int, n_layers: int, n_heads: int, max_len: int, tie: bool):
        super().__init__()
        self.max_len = max_len
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        # GPT-2's scale: N(0, 1) embeddings (torch's default) behind a tied head give
        # logits with a standard deviation near sqrt(d_model) and a first loss far above ln V.
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        if tie:
            self.head.weight = self.tok.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1]
        if t > self.max_len:
            raise ValueError(f"sequence of {t} tokens is longer than max_len {self.max_len}")
        x = self.tok(input_ids) + self.pos(torch.arange(t, device=input_ids.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def tiny_transformer_lm(
    vocab_size: int, d_model: int = 32, n_layers: int = 2, n_heads: int = 2, max_len: int = 128, tie: bool = False
) -> TinyTransformerLM:
    """The factory a ``TorchModuleConfig`` names: ``pptrain_hf.examples:tiny_transformer_lm``."""
    return TinyTransformerLM(vocab_size, d_model, n_layers, n_heads, max_len, tie)


#: Roles for TinyTransformerLM's parameters (names inside the module; first match wins).
tiny_transformer_lm.role_patterns = {
    r"^tok\.": "token_embedding",
    r"^pos\.": "position_embedding",
    r"\.attn\.": "attention",
    r"\.mlp\.": "mlp",
    r"norm": "norm",
    r"^head\.": "head",
}


class TinyGRULM(nn.Module):
    """A recurrent LM: no attention at all, and its forward returns ``{"logits": ...}``."""

    def __init__(self, vocab_size: int, width: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, width)
        self.rnn = nn.GRU(width, width, batch_first=True)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size)

    def forward(self, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden, _ = self.rnn(self.embed(input_ids))
        return {"logits": self.head(self.norm(hidden))}


def tiny_gru_lm(vocab_size: int, width: int = 16) -> TinyGRULM:
    """``pptrain_hf.examples:tiny_gru_lm``: the GRU has no role among ROLES, so it is reported unknown."""
    return TinyGRULM(vocab_size, width)


tiny_gru_lm.role_patterns = {r"^embed\.": "token_embedding", r"^norm\.": "norm", r"^head\.": "head"}
