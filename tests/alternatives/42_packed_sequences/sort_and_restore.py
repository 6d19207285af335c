"""Alternative: pad_batch by stacking F.pad'ed rows; the encoder sorts the batch itself (enforce_sorted=True),
restores the order with the inverse permutation, and reads the final states out of the outputs."""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def pad_batch(sequences, padding_value=0):
    longest = max(s.shape[0] for s in sequences)
    rows = []
    for s in sequences:
        # F.pad pads the last dim first: (0, 0) for D if present, then (0, extra) for the length
        widths = (0, longest - s.shape[0]) if s.dim() == 1 else (0, 0, 0, longest - s.shape[0])
        rows.append(F.pad(s, widths, value=padding_value))
    return torch.stack(rows), torch.tensor([s.shape[0] for s in sequences], dtype=torch.long)


class LSTMEncoder(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_size, num_layers=1, bidirectional=False):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional)

    def forward(self, tokens, lengths):
        lengths = lengths.cpu()
        sorted_lengths, order = torch.sort(lengths, descending=True)
        restore = torch.argsort(order)
        x = self.embedding(tokens[order.to(tokens.device)])
        packed = pack_padded_sequence(x, sorted_lengths, batch_first=True)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        out = out[restore.to(out.device)]
        H = self.lstm.hidden_size
        rows = torch.arange(tokens.shape[0], device=out.device)
        last = (lengths - 1).to(out.device)
        final = out[rows, last, :H]  # forward direction: its output at the last real token
        if self.lstm.bidirectional:
            final = torch.cat([final, out[:, 0, H:]], dim=-1)  # backward direction ends at token 0
        return out, final
