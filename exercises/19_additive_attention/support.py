"""Helpers the suite runs on both sides: in the worker around the candidate's module (through
`candidate.lib.support`), here around the reference's.

Only torch is used; `attention` is always an `AdditiveAttention` module passed in.
"""
import torch
from torch import nn


class Joined(nn.Module):
    """`attention` with its two results side by side, (B, Dv + S), so `candidate.lib.grads` can
    backpropagate from the context and the weights at once. A module, so that grads also returns
    the parameter gradients (named "attention.W_q.weight", ...)."""

    def __init__(self, attention: nn.Module):
        super().__init__()
        self.attention = attention

    def forward(self, *args, **kwargs) -> torch.Tensor:
        result = self.attention(*args, **kwargs)
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError(f"AdditiveAttention must return a pair (context, weights), got {type(result).__name__}")
        context, weights = result
        return torch.cat([context, weights], dim=-1)


class Pointer(nn.Module):
    """Reads the token at the position carrying the marker the query asks for.

    inputs (N, 2S + 2) int64 pack, per row: S tokens, S marks (0 none, 1 or 2), the wanted mark
    (1 or 2) and the length L; positions >= L are padding (junk tokens and junk marks, masked).
    Returns logits (N, vocab).
    """

    def __init__(self, attention: nn.Module, vocab: int, d_model: int, num_positions: int):
        super().__init__()
        self.attention, self.S = attention, num_positions
        self.token_embed = nn.Embedding(vocab, d_model)
        self.mark_embed = nn.Embedding(3, d_model)
        self.value_embed = nn.Embedding(vocab, d_model)
        self.query_embed = nn.Embedding(3, d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        S = self.S
        tokens, marks, wanted, lengths = inputs[:, :S], inputs[:, S:2 * S], inputs[:, 2 * S], inputs[:, 2 * S + 1:]
        mask = torch.arange(S, device=inputs.device) < lengths  # (N, S), True = valid
        keys = self.token_embed(tokens) + self.mark_embed(marks)  # (N, S, d)
        context, _ = self.attention(self.query_embed(wanted), keys, self.value_embed(tokens), mask)  # (N, d)
        return self.head(context)  # (N, vocab)


def pointer_task(n: int, num_positions: int, vocab: int, generator: torch.Generator):
    """Pointer inputs (n, 2S + 2) and targets (n,): the token under the wanted mark.

    Every row has marks 1 and 2 at two distinct valid positions; padding positions carry random
    tokens and random marks (often 1 or 2 again), so attending to padding confuses the answer."""
    S, g = num_positions, generator
    lengths = torch.randint(2, S + 1, (n, 1), generator=g)
    tokens = torch.randint(vocab, (n, S), generator=g)
    order = torch.argsort(torch.rand(n, S, generator=g) * (torch.arange(S) < lengths), dim=1, descending=True)
    first, second = order[:, :1], order[:, 1:2]  # two distinct valid positions
    marks = torch.zeros(n, S, dtype=torch.long)
    marks.scatter_(1, first, 1)
    marks.scatter_(1, second, 2)
    padding = torch.arange(S) >= lengths
    marks = torch.where(padding, torch.randint(3, (n, S), generator=g), marks)
    wanted = torch.randint(1, 3, (n, 1), generator=g)
    targets = tokens.gather(1, torch.where(wanted == 1, first, second)).squeeze(1)
    return torch.cat([tokens, marks, wanted, lengths], dim=1), targets
