"""Reference: pad a batch of variable-length sequences, and an LSTM encoder that packs them.

Checked by the exercise's suite against torch.nn.LSTM run on each sequence alone (batch of one,
no padding, the same weights), in float64.
"""
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def pad_batch(sequences: list[torch.Tensor], padding_value: float = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """B sequences (L_i,) or (L_i, D) -> padded (B, L_max[, D]) and lengths (B,) int64."""
    # lengths come from the sequences themselves, never from the values: padding_value may be a real token
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)  # (B,)
    first = sequences[0]
    padded = first.new_full((len(sequences), int(lengths.max()), *first.shape[1:]), padding_value)  # (B, L_max[, D])
    for i, s in enumerate(sequences):
        padded[i, : len(s)] = s
    return padded, lengths


class LSTMEncoder(nn.Module):
    """Token ids -> embeddings -> nn.LSTM over a PackedSequence, so padding is never read."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, L = tokens.shape
        x = self.embedding(tokens)  # (B, L, E)
        # pack_padded_sequence wants the lengths on the CPU; unsorted packing sorts internally and
        # remembers the permutation, which nn.LSTM and pad_packed_sequence undo for us
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, (h_n, _) = self.lstm(packed)  # h_n (num_layers * D, B, H), already in the original order
        # total_length keeps the input's width L even when every sequence is shorter; padding holds 0
        outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=L)  # (B, L, D * H)
        # h_n is indexed layer * D + direction: the last layer's states are the last D rows
        D = 2 if self.lstm.bidirectional else 1
        final = torch.cat(list(h_n[-D:]), dim=-1)  # (B, D * H): [forward, backward]
        return outputs, final
