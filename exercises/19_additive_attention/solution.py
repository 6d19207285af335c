"""Your solution for 19_additive_attention: additive (Bahdanau) attention with a source mask.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/19_additive_attention
"""
import torch
from torch import nn


class AdditiveAttention(nn.Module):
    """Additive attention: score(q, k_j) = v^T tanh(W_q q + W_k k_j), softmax over positions j.

    Dimensions: B batch, S source positions, Dq = query_dim, Dk = key_dim, Dv value width,
    hidden = hidden_dim.

    Args:
        query_dim: Dq, the width of the query (e.g. the decoder state).
        key_dim: Dk, the width of each key (e.g. an encoder output).
        hidden_dim: the width of the tanh layer.

    Submodules (names are graded: the tests load a state_dict into them):
        W_q: nn.Linear(query_dim, hidden_dim, bias=False)
        W_k: nn.Linear(key_dim, hidden_dim, bias=True)
        v:   nn.Linear(hidden_dim, 1, bias=False)
    """

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int):
        super().__init__()
        raise NotImplementedError("create W_q, W_k and v")

    def forward(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from one query per batch element over the S positions of keys/values.

        Args:
            query: (B, Dq) float tensor.
            keys: (B, S, Dk), same dtype.
            values: (B, S, Dv), same dtype.
            mask: optional (B, S) bool; True marks a VALID position (False = padding, never
                attended to). Every row has at least one True. None: every position is valid.

        Returns:
            context: (B, Dv), the weighted sum of the values.
            weights: (B, S), the attention weights: >= 0, exactly 0 where mask is False,
                each row sums to 1.
        """
        raise NotImplementedError("scores = v(tanh(W_q q + W_k k)), mask with -inf, softmax over S, weighted sum")
