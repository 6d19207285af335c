"""Your solution for 23_causal_lm_generation: a tiny GPT and sampling from it.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/23_causal_lm_generation
"""
import torch
from torch import nn


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t attends only to positions <= t.

    Dimensions: B batch, T sequence length (T <= L), L = block_size, C = n_embd, H = n_head, hd = C // H.

    Submodules (names are graded: the tests load a state_dict into them):
        c_attn: nn.Linear(C, 3 * C), the fused projection; its output splits into q, k, v in that order
        c_proj: nn.Linear(C, C), the output projection
    Dropout (attention weights and output) with probability `dropout`, active in train mode only.
    A causal mask kept on the module must be a non-persistent buffer (not in the state_dict).
    """

    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float = 0.0):
        super().__init__()
        raise NotImplementedError("create c_attn, c_proj, the dropouts and the causal mask")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, C) with T <= block_size. Returns (B, T, C)."""
        raise NotImplementedError("q, k, v from c_attn, split heads, scaled scores, causal mask, softmax, "
                                  "weighted sum, merge heads, c_proj")


class MLP(nn.Module):
    """Position-wise feed-forward, given: Linear(C, 4C) -> GELU (exact) -> Linear(4C, C) -> dropout."""

    def __init__(self, n_embd: int, dropout: float = 0.0):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))  # (B, T, C)


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)).

    Submodules: ln_1, ln_2 (nn.LayerNorm(C)), attn (CausalSelfAttention), mlp (MLP).
    """

    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float = 0.0):
        super().__init__()
        raise NotImplementedError("create ln_1, attn, ln_2, mlp")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, C). Returns (B, T, C)."""
        raise NotImplementedError("two residual sub-layers, LayerNorm first")


class GPT(nn.Module):
    """Decoder-only language model: tokens (B, T) -> next-token logits (B, T, V).

    Dimensions: V = vocab_size, L = block_size (the longest context), C = n_embd.

    Submodules: wte nn.Embedding(V, C), wpe nn.Embedding(L, C), h nn.ModuleList of n_layer Blocks,
    ln_f nn.LayerNorm(C), lm_head nn.Linear(C, V, bias=False) (not tied to wte).
    Attribute: self.block_size = L (generate reads it).
    """

    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int,
                 dropout: float = 0.0):
        super().__init__()
        raise NotImplementedError("create wte, wpe, drop, h, ln_f, lm_head; store block_size")

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """idx: (B, T) int64 token ids, T <= block_size. Returns logits (B, T, V)."""
        raise NotImplementedError("token + position embeddings, the blocks, ln_f, lm_head")


def generate(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample max_new_tokens tokens one at a time and append them to idx.

    model: any module with a `block_size` attribute mapping (B, T) tokens, T <= block_size,
        to logits (B, T, V).
    idx: (B, T0) int64 prompt; T0 may exceed block_size. Not modified.
    temperature: > 0; top_k: None or >= 1; generator: passed to torch.multinomial.

    Returns (B, T0 + max_new_tokens) int64: idx followed by the new tokens. Each step follows the
    README exactly (crop, last position / temperature, top-k, softmax, multinomial), under no_grad.
    """
    raise NotImplementedError("crop, forward, scale, top-k, softmax, multinomial, append")
