"""Helpers the suite runs on both sides: in the worker around the candidate's model (through
`candidate.lib.support`), here around the reference's.

`config` and `right_padded` build the test models' arguments and right-padded token batches.

The copy task: translate a source sentence into itself. Sources are right-padded sentences of
3..MAX tokens; the teacher-forced decoder input is BOS + source, the target is source + EOS. A
decoder step can only know the next token by attending to the right source position (cross
attention), and can only know where it is by the positional encoding.
"""
import torch
from torch import nn

PAD, BOS, EOS = 0, 1, 2  # the special tokens; real tokens are 3..vocab-1
MAX_LEN = 16  # the positional table's length in every test model


def config(src_vocab, tgt_vocab, nhead, head_dim, layers, pad_idx, d_ff=None):
    """Seq2SeqTransformer's keyword arguments for a test model: d_model = nhead * head_dim, no dropout."""
    d = nhead * head_dim
    return dict(src_vocab=src_vocab, tgt_vocab=tgt_vocab, d_model=d, nhead=nhead, num_encoder_layers=layers,
                num_decoder_layers=layers, dim_feedforward=d_ff or 2 * d + 1, dropout=0.0, max_len=MAX_LEN,
                pad_idx=pad_idx)


def right_padded(B, L, vocab, pad_idx, g, first=None):
    """(B, L) ids that are never pad_idx, then right padding (every row keeps a real token); `first`: column 0."""
    real = torch.randint(vocab - 1, (B, L), generator=g)
    real = real + (real >= pad_idx).long()  # values in [0, vocab) without pad_idx
    real[:, 0] = real[:, 0] if first is None else first
    lengths = torch.randint(1, L + 1, (B, 1), generator=g)  # (B, 1)
    return torch.where(torch.arange(L) < lengths, real, pad_idx)  # (B, L)


class TeacherForcedCopier(nn.Module):
    """src (N, S) -> teacher-forced logits (N, S + 1, vocab) of the wrapped Seq2SeqTransformer.

    The shift lives here (trusted): tgt_in = [BOS, src...] (the source's padding stays at the end)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, src: torch.Tensor) -> torch.Tensor:
        bos = torch.full((src.shape[0], 1), BOS, dtype=src.dtype, device=src.device)
        tgt_in = torch.cat([bos, src], dim=1)  # (N, S + 1)
        return self.model(src, tgt_in)  # (N, S + 1, V)


def build_copier(model: nn.Module) -> TeacherForcedCopier:
    return TeacherForcedCopier(model)


def copy_task(n: int, max_len: int, vocab: int, generator: torch.Generator):
    """src (n, max_len): 3..max_len real tokens in 3..vocab-1, then PAD; targets (n, max_len + 1):
    the source's tokens, EOS, then PAD."""
    lengths = torch.randint(3, max_len + 1, (n,), generator=generator)  # (n,)
    tokens = torch.randint(3, vocab, (n, max_len), generator=generator)
    positions = torch.arange(max_len)
    src = torch.where(positions < lengths[:, None], tokens, PAD)  # (n, max_len)
    targets = torch.cat([src, torch.full((n, 1), PAD)], dim=1)  # (n, max_len + 1)
    targets[torch.arange(n), lengths] = EOS
    return src, targets
