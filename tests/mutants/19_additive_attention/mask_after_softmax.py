"""Masks the weights after the softmax without renormalizing: valid weights no longer sum to 1.

A realistic wrong solution; the suite must fail it.
"""
import torch
from torch import nn


class AdditiveAttention(nn.Module):
    """One query per batch element attends over S key/value positions with an MLP score."""

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int):
        super().__init__()
        self.W_q = nn.Linear(query_dim, hidden_dim, bias=False)
        # One bias inside the tanh is enough: a second one on W_q would only add to it.
        self.W_k = nn.Linear(key_dim, hidden_dim, bias=True)
        # No bias on v: softmax is shift invariant, so it could never change the weights.
        self.v = nn.Linear(hidden_dim, 1, bias=False)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        B, S, _ = keys.shape
        assert query.dim() == 2 and query.shape[0] == B, f"query must be (B={B}, Dq), got {tuple(query.shape)}"
        assert values.shape[:2] == (B, S), f"values must be (B={B}, S={S}, Dv), got {tuple(values.shape)}"
        # W_q q is the same for every position: compute it once and broadcast over S.
        hidden = torch.tanh(self.W_q(query)[:, None, :] + self.W_k(keys))  # (B, S, hidden)
        scores = self.v(hidden).squeeze(-1)  # (B, S)
        if mask is not None:
            assert mask.shape == (B, S), f"mask must be (B={B}, S={S}), got {tuple(mask.shape)}"
        weights = torch.softmax(scores, dim=-1)  # (B, S)
        if mask is not None:
            weights = weights * mask  # zero the padded positions
        context = (weights[:, :, None] * values).sum(dim=1)  # (B, Dv)
        return context, weights
