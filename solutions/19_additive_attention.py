"""Reference: additive (Bahdanau) attention with a source mask (Bahdanau et al., 2015, section 3.1).

score(q, k_j) = v^T tanh(W_q q + W_k k_j); weights = softmax over the valid positions j;
context = sum_j weights_j * values_j. Checked by the exercise's suite against a plain-loop
float64 spec of the same formula (`grade validate`).
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
            # True = valid. -inf (not 0) so that padded positions get exactly zero weight.
            scores = scores.masked_fill(~mask.bool(), float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, S): over positions, max-subtracted inside
        context = (weights[:, :, None] * values).sum(dim=1)  # (B, Dv)
        return context, weights
