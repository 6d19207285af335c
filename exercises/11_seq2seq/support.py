"""Helpers the suite runs on both sides: in the worker around the candidate's Seq2Seq (through
`candidate.lib.support`), here around the reference's.

The toy task: reverse a short sentence. One input row packs a batch element for the harness's
training loop, which calls model(inputs) and takes the cross-entropy against targets (positions
holding -100, cross_entropy's default ignore_index, are padding and count for nothing):
    inputs[:, 0]               the source length L (1..S)
    inputs[:, 1:1 + S]         the source, right-padded with PAD
    inputs[:, 1 + S:]          the target fed for teacher forcing: reversed source, EOS, PAD...
"""
import torch
from torch import nn

PAD, BOS, EOS = 0, 1, 2


class Reverser(nn.Module):
    def __init__(self, model: nn.Module, max_src: int):
        super().__init__()
        self.model, self.S = model, max_src

    def split(self, inputs: torch.Tensor):
        return inputs[:, 1:1 + self.S], inputs[:, 0], inputs[:, 1 + self.S:]  # src (N, S), lengths (N,), tgt (N, T)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(*self.split(inputs))  # (N, T, V) teacher-forced logits

    def decode(self, inputs: torch.Tensor) -> torch.Tensor:
        src, lengths, tgt = self.split(inputs)
        return self.model.greedy_decode(src, lengths, tgt.shape[1])  # (N, T)


def build_reverser(model, max_src: int) -> Reverser:
    return Reverser(model, max_src)


def reverse_task(n: int, max_src: int, vocab: int, generator: torch.Generator):
    """inputs (n, 1 + 2 * S + 1) as above and targets (n, S + 1): the reversed source, EOS, then -100."""
    S = max_src
    lengths = torch.randint(1, S + 1, (n,), generator=generator)  # (n,)
    src = torch.randint(3, vocab, (n, S), generator=generator)  # tokens 3..vocab-1
    pos = torch.arange(S + 1)  # (S + 1,)
    src = torch.where(pos[:S] < lengths[:, None], src, PAD)  # (n, S) right-padded
    rev_idx = (lengths[:, None] - 1 - pos[:S]).clamp(min=0)  # (n, S): position L-1-t of the source
    tgt = torch.where(pos[:S] < lengths[:, None], src.gather(1, rev_idx), PAD)  # (n, S)
    tgt = torch.cat([tgt, torch.full((n, 1), PAD)], dim=1)  # (n, S + 1)
    tgt[torch.arange(n), lengths] = EOS  # EOS right after the last real token
    targets = torch.where(pos <= lengths[:, None], tgt, -100)  # (n, S + 1): padding ignored by the loss
    return torch.cat([lengths[:, None], src, tgt], dim=1), targets
