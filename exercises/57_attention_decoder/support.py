"""Helpers the suite runs on both sides: in the worker around the candidate's decoder (through
`candidate.lib.support`), here around the reference's.

The alignment toy: copy a source sequence. Step t of the decoder must output source token t, so it
has to find position t among the encoder outputs: only attention can do that (the decoder's
input, the previous target token, says nothing about the next one).
"""
import torch
from torch import nn


class Copier(nn.Module):
    """A fixed-size toy encoder (token + position embeddings, no recurrence) and a decoder.

    inputs (N, S + P) int64: S source tokens, then P padding positions holding junk tokens (masked
    out with src_mask). Returns teacher-forced logits (N, S, vocab); the targets are the S tokens.
    """

    def __init__(self, decoder: nn.Module, vocab: int, hidden: int, num_real: int, num_padding: int):
        super().__init__()
        self.decoder, self.hidden, self.S, self.P = decoder, hidden, num_real, num_padding
        self.token_embed = nn.Embedding(vocab, hidden)
        self.position_embed = nn.Embedding(num_real + num_padding, hidden)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        N, L = inputs.shape
        positions = torch.arange(L, device=inputs.device)
        encoder_outputs = torch.tanh(self.token_embed(inputs) + self.position_embed(positions))  # (N, L, H)
        src_mask = (positions < self.S).expand(N, L)  # (N, L), True = valid
        h0 = encoder_outputs.new_zeros(N, self.hidden)
        return self.decoder(inputs[:, :self.S], h0, encoder_outputs, src_mask)  # (N, S, vocab)


def build_copier(decoder, vocab: int, hidden: int, num_real: int, num_padding: int) -> Copier:
    return Copier(decoder, vocab, hidden, num_real, num_padding)


def copy_task(n: int, num_real: int, num_padding: int, vocab: int, generator: torch.Generator):
    """Inputs (n, S + P) and targets (n, S): source tokens in 1..vocab-1 (0 is BOS)."""
    inputs = torch.randint(1, vocab, (n, num_real + num_padding), generator=generator)
    return inputs, inputs[:, :num_real].clone()
