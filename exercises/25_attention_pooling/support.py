"""Helpers the suite runs on both sides: in the worker around the candidate's modules (through
`candidate.lib.support`), here around the reference's.

Only torch is used; `pooling` is always an `AttentionPooling` and `model` a
`BiLSTMAttentionClassifier`, passed in.
"""
import torch
from torch import nn


def _pair(result, name: str):
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"{name} must return a pair (..., weights), got {type(result).__name__}")
    return result


class JoinedPooling(nn.Module):
    """`pooling` with its two results side by side, (B, D + T), so `candidate.lib.grads` can
    backpropagate from the pooled vector and the weights at once (parameter gradients are named
    "pooling.proj.weight", ...)."""

    def __init__(self, pooling: nn.Module):
        super().__init__()
        self.pooling = pooling

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        pooled, weights = _pair(self.pooling(h, mask), "AttentionPooling.forward")
        return torch.cat([pooled, weights], dim=-1)


class JoinedClassifier(nn.Module):
    """`model(tokens, lengths)` as one tensor (B, C + T): logits then weights; takes the float
    embeddings' parameters like any module (names "model.lstm.weight_ih_l0", ...)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        logits, weights = _pair(self.model(tokens, lengths), "BiLSTMAttentionClassifier.forward")
        return torch.cat([logits, weights], dim=-1)


class Packed(nn.Module):
    """For training: inputs (N, T + 1) int64, T tokens then the length; returns the logits (N, C)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        logits, _ = _pair(self.model(inputs[:, :-1], inputs[:, -1]), "BiLSTMAttentionClassifier.forward")
        return logits


def packed_classifier(model: nn.Module) -> Packed:
    return Packed(model)


def keyword_task(n: int, max_len: int, vocab: int, generator: torch.Generator):
    """Inputs (n, max_len + 1) for `Packed` and targets (n,).

    Token 0 is padding, 1 and 2 are the keywords, 3..vocab-1 filler. A sequence of length
    2..max_len holds keyword 1 (class 1), keyword 2 (class 2) or neither (class 0) at one random
    real position. The label depends on one token anywhere in the sentence, so the model has to
    find it wherever it is; padding is always token 0 (the tests build the model with pad_idx=0)."""
    g = generator
    lengths = torch.randint(2, max_len + 1, (n,), generator=g)
    tokens = torch.randint(3, vocab, (n, max_len), generator=g)
    labels = torch.randint(3, (n,), generator=g)
    where = (torch.rand(n, generator=g) * lengths).long()  # a real position of each row
    rows = torch.arange(n)
    tokens[rows, where] = torch.where(labels > 0, labels, tokens[rows, where])
    tokens = tokens.masked_fill(torch.arange(max_len)[None, :] >= lengths[:, None], 0)
    return torch.cat([tokens, lengths[:, None]], dim=1), labels
