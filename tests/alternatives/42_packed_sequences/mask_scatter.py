"""Alternative: pad_batch writes every sequence at once through a boolean mask; the encoder unpacks
to the longest length and pads the rest with F.pad, and splits h_n by (layer, direction)."""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def pad_batch(sequences: list, padding_value: float = 0):
    lengths = torch.tensor([s.size(0) for s in sequences])
    mask = torch.arange(int(lengths.max())) < lengths[:, None]  # (B, L_max) True on real positions
    trailing = sequences[0].shape[1:]
    out = torch.full((len(sequences), mask.shape[1], *trailing), padding_value, dtype=sequences[0].dtype,
                     device=sequences[0].device)
    out[mask.to(out.device)] = torch.cat(sequences)
    return out, lengths


class LSTMEncoder(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_size, num_layers=1, bidirectional=False):
        super().__init__()
        self.num_layers, self.num_directions = num_layers, 2 if bidirectional else 1
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                            batch_first=True)

    def forward(self, tokens, lengths):
        B, L = tokens.shape
        packed = pack_padded_sequence(self.embedding(tokens), lengths.to("cpu", torch.int64), batch_first=True,
                                      enforce_sorted=False)
        out, (h, c) = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True)
        out = F.pad(out, (0, 0, 0, L - out.shape[1]))
        h = h.view(self.num_layers, self.num_directions, B, -1)[-1]  # (D, B, H) for the last layer
        final = h.permute(1, 0, 2).reshape(B, -1)
        return out, final
