"""Trusted helpers for 23_causal_lm_generation's suite, run in the worker through
`candidate.lib.support(name, ...)` and imported on the trusted side with `exercise_support`.

They return plain data or modules (handles), never verdicts.
"""
import torch
from torch import nn


class ScriptedLM(nn.Module):
    """A fixed, parameter-free "language model" to test `generate` on its own.

    Logits at position t depend on every token of the context it is given (tokens further back
    weigh less), so a context cropped wrongly gives other logits. It refuses contexts longer
    than `block_size` (like a GPT, which has no position embedding beyond it) and records every
    context it is called with and whether autograd was on.

    quantum: if > 0, logits are rounded to multiples of it (many exact ties, for top-k).
    """

    def __init__(self, vocab_size: int, block_size: int, seed: int, dtype: torch.dtype = torch.float64,
                 quantum: float = 0.0, scale: float = 1.5):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.vocab_size, self.block_size, self.quantum = vocab_size, block_size, quantum
        self.register_buffer("emb", torch.randn(vocab_size, vocab_size, generator=g, dtype=dtype) * scale)
        self.register_buffer("decay", 0.7 ** torch.arange(block_size, dtype=dtype))  # weight of distance d
        self.calls: list[dict] = []

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        self.calls.append({"context": idx.detach().clone(), "grad_enabled": torch.is_grad_enabled()})
        if T > self.block_size:
            raise ValueError(f"ScriptedLM got a context of length {T} > block_size {self.block_size}: "
                             "generate must crop the context to the last block_size tokens")
        if T == 0:
            raise ValueError("ScriptedLM got an empty context")
        e = self.emb[idx]  # (B, T, V)
        dist = torch.arange(T)[:, None] - torch.arange(T)[None, :]  # (T, T): t - s
        w = torch.where(dist >= 0, self.decay[dist.clamp(min=0)], torch.zeros((), dtype=e.dtype))  # (T, T), causal
        logits = torch.einsum("ts,bsv->btv", w, e)  # (B, T, V)
        if self.quantum > 0:
            logits = torch.round(logits / self.quantum) * self.quantum
        return logits


def scripted_lm(vocab_size: int, block_size: int, seed: int, dtype: torch.dtype = torch.float64,
                quantum: float = 0.0, scale: float = 1.5) -> nn.Module:
    return ScriptedLM(vocab_size, block_size, seed, dtype, quantum, scale)


class FixedLogitsLM(nn.Module):
    """A language model whose next-token logits are the same `logits` (V,) whatever the context:
    lets a test pin down ties at the k-th largest logit."""

    def __init__(self, logits: list[float], block_size: int):
        super().__init__()
        self.block_size = block_size
        self.register_buffer("logits", torch.tensor(logits, dtype=torch.float64))  # (V,)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        return self.logits.expand(B, T, -1).clone()  # (B, T, V)


def fixed_logits_lm(logits: list[float], block_size: int) -> nn.Module:
    return FixedLogitsLM(logits, block_size)


def recorded_calls(lm: ScriptedLM) -> list[dict]:
    """Every call made to `lm`: {"context": (B, T) tokens, "grad_enabled": bool}."""
    return list(lm.calls)


def memorization_data(text: str, block_size: int):
    """Every window of block_size + 1 characters of `text`: inputs (N, L) and next-character
    targets (N, L), with the vocabulary the sorted set of characters."""
    vocab = sorted(set(text))
    ids = torch.tensor([vocab.index(c) for c in text])
    windows = ids.unfold(0, block_size + 1, 1)  # (N, L + 1)
    return windows[:, :-1].clone(), windows[:, 1:].clone(), vocab
