"""Helpers the suite runs on both sides: in the worker around the candidate's EncoderLayer
(through `candidate.lib.support`), here around the reference's.

Only torch is used; the encoder layers are always passed in.
"""
import torch
from torch import nn


class PaddedTagger(nn.Module):
    """tokens -> embeddings + learned positions -> encoder layers -> per-position logits.

    inputs (N, T + 1) int64: T tokens, then the number of real tokens; tokens past it are
    padding (random junk, masked with a bool src_key_padding_mask, True = padding).
    Returns logits (N, T, vocab).
    """

    def __init__(self, layers: list, vocab: int, d_model: int, max_len: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(0.5 * torch.randn(max_len, d_model))
        self.layers = nn.ModuleList(layers)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        tokens, lengths = inputs[:, :-1], inputs[:, -1:]
        T = tokens.shape[1]
        padding = torch.arange(T, device=inputs.device) >= lengths  # (N, T), True = padding
        x = self.embed(tokens) + self.pos[:T]  # (N, T, d_model)
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=padding)  # (N, T, d_model)
        return self.head(x)  # (N, T, vocab)


def last_real_token_task(n: int, length: int, vocab: int, generator: torch.Generator):
    """Rows of PaddedTagger inputs (n, length + 1) and targets (n, length): every position must
    output the last real token of its sequence (real lengths 2..length; the padding after it
    holds random tokens). Without attention a position sees only itself; attending to padding
    picks junk."""
    tokens = torch.randint(vocab, (n, length), generator=generator)
    lengths = torch.randint(2, length + 1, (n, 1), generator=generator)
    last = tokens.gather(1, lengths - 1)  # (n, 1)
    return torch.cat([tokens, lengths], dim=1), last.expand(n, length).clone()
