"""Your solution for 42_packed_sequences: pad a batch of variable-length sequences, and an LSTM
encoder that packs it so that padding is never read.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/42_packed_sequences
"""
import torch
from torch import nn


def pad_batch(sequences: list[torch.Tensor], padding_value: float = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack B sequences of different lengths into one tensor, padding the short ones at the end.

    Dimensions: B batch, L_i the length of sequence i (>= 1), L_max = max_i L_i, D a feature size.

    Args:
        sequences: B tensors, each (L_i,) (e.g. token ids) or each (L_i, D); one dtype for all.
        padding_value: the value of every position t >= L_i of row i (it may equal a real value:
            token 0 is a word like any other).

    Returns:
        padded: (B, L_max) or (B, L_max, D), the dtype (and device) of the sequences; row i holds
            sequence i, then padding_value.
        lengths: (B,) int64, lengths[i] = L_i.

    Not allowed: torch.nn.utils.rnn.pad_sequence (and pack_sequence, built on it).
    """
    raise NotImplementedError("allocate (B, L_max[, D]) filled with padding_value, copy each sequence in")


class LSTMEncoder(nn.Module):
    """Embedding, then nn.LSTM run on a PackedSequence of the batch (pack_padded_sequence).

    Dimensions: B batch, L padded width, V vocab, E embed_dim, H hidden_size, D = 2 if bidirectional else 1.

    Submodules (names are graded: the tests load a state_dict into them):
        embedding: nn.Embedding(vocab_size, embed_dim)
        lstm: nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional)
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False):
        super().__init__()
        raise NotImplementedError("create self.embedding and self.lstm")

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode each sequence as if it were alone: padding must change nothing.

        Args:
            tokens: (B, L) int64 ids; row b is real for t < lengths[b], padding (any ids) after.
            lengths: (B,) int64, each in 1..L, in any order (not sorted).

        Returns:
            outputs: (B, L, D * H), the last layer's output at every real position, exactly 0 at padding.
            final: (B, D * H), the last layer's final hidden state of each sequence, in the batch's own
                order: forward direction (after token lengths[b] - 1), then, if bidirectional, the
                backward direction (after token 0).
        """
        raise NotImplementedError("embed, pack (enforce_sorted=False), run self.lstm once, unpack to width L")
