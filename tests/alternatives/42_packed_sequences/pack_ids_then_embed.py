"""Alternative: pad_batch fills a preallocated tensor with index_put over (row, position) pairs; the
encoder packs the token ids, embeds only the packed (real) tokens, and rebuilds the PackedSequence."""
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence


def pad_batch(sequences, padding_value=0):
    lengths = torch.tensor([int(s.shape[0]) for s in sequences], dtype=torch.int64)
    rows = torch.repeat_interleave(torch.arange(len(sequences)), lengths)  # (sum L_i,)
    cols = torch.cat([torch.arange(int(n)) for n in lengths])  # (sum L_i,)
    padded = torch.empty((len(sequences), int(lengths.max())) + tuple(sequences[0].shape[1:]),
                         dtype=sequences[0].dtype, device=sequences[0].device)
    padded.fill_(padding_value)
    device = padded.device
    padded.index_put_((rows.to(device), cols.to(device)), torch.cat(list(sequences)))
    return padded, lengths


class LSTMEncoder(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_size, num_layers=1, bidirectional=False):
        super().__init__()
        self.bidirectional = bidirectional
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                            bidirectional=bidirectional)

    def forward(self, tokens, lengths):
        packed_ids = pack_padded_sequence(tokens, lengths.tolist(), batch_first=True, enforce_sorted=False)
        packed = PackedSequence(self.embedding(packed_ids.data), packed_ids.batch_sizes,
                                packed_ids.sorted_indices, packed_ids.unsorted_indices)
        out, (h, c) = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.size(1))
        if self.bidirectional:
            final = torch.cat((h[-2], h[-1]), dim=1)
        else:
            final = h[-1]
        return out, final
