"""Helpers the suite runs on both sides: in the worker around the candidate's function
(through `candidate.lib.support`), here around the reference's.

Only torch is used; `attend` is always a `multi_head_attention` function passed in.
"""
import math

import torch
from torch import nn


def output_only(attend):
    """`attend` with its first result only, so `candidate.lib.grads` can backpropagate from it."""
    def output(*args, **kwargs):
        result = attend(*args, **kwargs)
        if not isinstance(result, tuple) or len(result) != 2:
            raise TypeError(f"multi_head_attention must return a pair (output, weights), got {type(result).__name__}")
        return result[0]
    return output


class Retriever(nn.Module):
    """Cross-attention from query tokens to a padded memory of (key, value) slots.

    inputs (N, T + 2S + 1) int64 pack, per row: T query tokens, S slot keys, S slot values and
    the number of real slots; slots past it are padding (random junk, masked with a bool
    key_padding_mask). Returns logits (N, T, vocab): the value stored under each query's key.
    """

    def __init__(self, attend, vocab: int, d_model: int, num_heads: int, num_queries: int, num_slots: int):
        super().__init__()
        self.attend, self.num_heads, self.T, self.S = attend, num_heads, num_queries, num_slots
        self.query_embed = nn.Embedding(vocab, d_model)
        self.key_embed = nn.Embedding(vocab, d_model)
        self.value_embed = nn.Embedding(vocab, d_model)
        bound = 1 / math.sqrt(d_model)
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model).uniform_(-bound, bound))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj_weight = nn.Parameter(torch.empty(d_model, d_model).uniform_(-bound, bound))
        self.out_proj_bias = nn.Parameter(torch.zeros(d_model))
        self.head = nn.Linear(d_model, vocab)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        T, S = self.T, self.S
        queries, keys, values = inputs[:, :T], inputs[:, T:T + S], inputs[:, T + S:T + 2 * S]
        padding = torch.arange(S, device=inputs.device) >= inputs[:, -1:]  # (N, S), True = padding slot
        memory = self.key_embed(keys) + self.value_embed(values)  # (N, S, d_model)
        out, _ = self.attend(self.query_embed(queries), memory, memory, self.num_heads,
                             self.in_proj_weight, self.in_proj_bias, self.out_proj_weight, self.out_proj_bias,
                             key_padding_mask=padding, need_weights=False)  # (N, T, d_model)
        return self.head(out)  # (N, T, vocab)


def retrieval_task(n: int, num_queries: int, num_slots: int, vocab: int, generator: torch.Generator):
    """Rows of Retriever inputs and their targets (n, num_queries).

    Real slots have distinct keys; each query asks for one real slot's key. Padding slots hold
    random keys and values, often repeating a real key with another value: a model that
    attends to padding cannot tell which value is the right one."""
    T, S = num_queries, num_slots
    keys = torch.argsort(torch.rand(n, vocab, generator=generator), dim=1)[:, :S]  # distinct per row
    values = torch.randint(vocab, (n, S), generator=generator)
    lengths = torch.randint(2, S + 1, (n, 1), generator=generator)
    padding = torch.arange(S) >= lengths
    keys = torch.where(padding, torch.randint(vocab, (n, S), generator=generator), keys)
    values = torch.where(padding, torch.randint(vocab, (n, S), generator=generator), values)
    slot = (torch.rand(n, T, generator=generator) * lengths).long()  # a real slot per query
    queries = keys.gather(1, slot)
    targets = values.gather(1, slot)
    return torch.cat([queries, keys, values, lengths], dim=1), targets
