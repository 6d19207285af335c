"""Alternative: einsum attention on (B, T, H, hd) heads with the causal mask built in forward (no buffer), positions as wpe.weight[:T], and top-k thresholds from torch.sort inside a `with torch.no_grad()` block."""
import math

import torch
import torch.nn.functional as F
from torch import nn


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout=0.0):
        super().__init__()
        if n_embd % n_head:
            raise ValueError("n_embd must be a multiple of n_head")
        self.n_head, self.block_size = n_head, block_size
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).chunk(3, dim=-1)  # 3 x (B, T, C)
        q, k, v = (t.reshape(B, T, self.n_head, C // self.n_head) for t in (q, k, v))  # (B, T, H, hd)
        scores = torch.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(C // self.n_head)  # (B, H, T, T)
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(diagonal=1)  # True: key j > query i
        scores = scores.masked_fill(future, -math.inf)
        weights = self.attn_dropout(scores.softmax(dim=-1))  # (B, H, T, T)
        y = torch.einsum("bhij,bjhd->bihd", weights, v).reshape(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, n_embd, dropout=0.0):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        hidden = self.gelu(self.c_fc(x))  # (B, T, 4C)
        return self.dropout(self.c_proj(hidden))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size, dropout=0.0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size, dropout)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = MLP(n_embd, dropout)

    def forward(self, x):
        h = x + self.attn(self.ln_1(x))
        return h + self.mlp(self.ln_2(h))


class GPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, dropout=0.0):
        super().__init__()
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList(Block(n_embd, n_head, block_size, dropout) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)

    def forward(self, idx):
        T = idx.size(1)
        if T > self.block_size:
            raise ValueError(f"sequence of length {T} is longer than block_size={self.block_size}")
        x = self.drop(self.wte(idx) + self.wpe.weight[:T])  # (B, T, C): (T, C) broadcast over the batch
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))  # (B, T, V)


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    with torch.no_grad():
        for _ in range(max_new_tokens):
            window = idx if idx.size(1) <= model.block_size else idx[:, idx.size(1) - model.block_size:]
            logits = model(window)[:, -1, :] / temperature  # (B, V)
            if top_k is not None:
                ranked = torch.sort(logits, dim=-1, descending=True).values  # (B, V)
                kth = ranked[:, min(top_k, logits.size(-1)) - 1].unsqueeze(-1)  # (B, 1)
                logits = torch.where(logits < kth, torch.full_like(logits, -math.inf), logits)
            probs = F.softmax(logits, dim=-1)
            nxt = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
            idx = torch.cat([idx, nxt], dim=1)
    return idx
