"""Models and data for convergence tests: small synthetic tasks built around a module under test.

Shared by both sides (see grader/worker/__init__.py): the same classes wrap the candidate's module in
the worker (`candidate.lib.build`) and the reference in the grader.
"""
from __future__ import annotations

import torch
from torch import nn


class TokenTagger(nn.Module):
    """tokens (B, T) -> embeddings + learned positions -> core -> per-position logits (B, T, C).

    `core` maps (B, T, d_model) -> (B, T, d_model); keyword arguments of forward go to it.
    """

    def __init__(self, core: nn.Module, vocab_size: int, d_model: int, max_len: int, num_classes: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Parameter(0.1 * torch.randn(max_len, d_model))
        self.core = core
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens: torch.Tensor, **core_kwargs) -> torch.Tensor:
        T = tokens.shape[1]
        x = self.embed(tokens) + self.pos[:T]  # (B, T, d_model)
        return self.head(self.core(x, **core_kwargs))  # (B, T, C)


MODELS = {"TokenTagger": TokenTagger}


def first_token_task(n: int, length: int, vocab_size: int, generator: torch.Generator):
    """Every position must output the sequence's first token: impossible without mixing positions.

    Returns tokens (n, length) and targets (n, length)."""
    tokens = torch.randint(vocab_size, (n, length), generator=generator)
    return tokens, tokens[:, :1].expand(n, length).clone()
