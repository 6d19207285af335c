"""Trusted helpers for 50_positional_encoding's suite, run in the worker through
`candidate.lib.support(name, ...)` and imported on the trusted side with `exercise_support`.

They return plain data or modules (handles), never verdicts.
"""
import torch
from torch import nn


def buffer_names(module: nn.Module) -> list[str]:
    """Names of every buffer (persistent or not) of `module`, in registration order."""
    return [name for name, _ in module.named_buffers()]


def parameter_names(module: nn.Module) -> list[str]:
    """Names of every parameter of `module` (trainable or not)."""
    return [name for name, _ in module.named_parameters()]


def persistent_state_names(module: nn.Module) -> list[str]:
    """The keys `module.state_dict()` would save."""
    return list(module.state_dict().keys())


class PositionTagger(nn.Module):
    """tokens (B, T) -> embedding -> positions (the module under test) -> one attention layer
    with a residual -> per-position logits (B, T, C).

    Attention and the per-token layers treat the sequence as a set: only `positions` can tell
    the model where a token is."""

    def __init__(self, positions: nn.Module, vocab_size: int, d_model: int, num_classes: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.positions = positions
        self.attn = nn.MultiheadAttention(d_model, 1, batch_first=True)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.positions(self.embed(tokens))  # (B, T, D)
        a, _ = self.attn(h, h, h, need_weights=False)  # (B, T, D)
        return self.head(h + a)  # (B, T, C)


def position_tagger(positions: nn.Module, vocab_size: int, d_model: int, num_classes: int, seed: int) -> nn.Module:
    """A PositionTagger around `positions`, its own layers initialized from `seed`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PositionTagger(positions, vocab_size, d_model, num_classes)


def previous_token_task(n: int, length: int, vocab_size: int, generator: torch.Generator):
    """Position t must output the token at t - 1 (position 0 outputs its own token): the
    model must know which token is one step back. Returns tokens and targets, both (n, length)."""
    tokens = torch.randint(vocab_size, (n, length), generator=generator)
    return tokens, torch.cat([tokens[:, :1], tokens[:, :-1]], dim=1)
