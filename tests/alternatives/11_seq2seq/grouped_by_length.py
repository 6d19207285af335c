"""Seq2Seq without packing or masks: the encoder runs once per distinct source length on the rows of that length,
cut to it (no padding at all); greedy decoding is a plain Python loop per sentence that breaks at EOS; embeddings with
padding_idx; loss with reduction='none' and a mask."""
import torch
import torch.nn.functional as F
from torch import nn


class Seq2Seq(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, embed_dim, hidden, num_layers=1, pad_id=0, bos_id=1, eos_id=2):
        super().__init__()
        self.pad_id = pad_id
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.src_embedding = nn.Embedding(src_vocab, embed_dim, padding_idx=pad_id)
        self.encoder = nn.GRU(embed_dim, hidden, num_layers, batch_first=True)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embed_dim, padding_idx=pad_id)
        self.decoder = nn.GRU(embed_dim, hidden, num_layers, batch_first=True)
        self.out = nn.Linear(hidden, tgt_vocab)

    def encode(self, src, src_lengths):
        lengths = src_lengths.to(src.device)
        h = None
        for n in torch.unique(lengths).tolist():
            rows = (lengths == n).nonzero().squeeze(1)
            _, h_rows = self.encoder(self.src_embedding(src[rows, :n]))  # (N, rows, H)
            if h is None:
                h = h_rows.new_zeros(h_rows.shape[0], src.shape[0], h_rows.shape[2])
            h = h.index_copy(1, rows, h_rows)
        return h

    def forward(self, src, src_lengths, tgt):
        start = torch.full_like(tgt[:, :1], self.bos_id)
        decoder_input = torch.cat((start, tgt[:, :-1]), dim=1)
        outputs, _ = self.decoder(self.tgt_embedding(decoder_input), self.encode(src, src_lengths))
        return self.out(outputs)

    def loss(self, src, src_lengths, tgt):
        logits = self.forward(src, src_lengths, tgt)
        per_token = F.cross_entropy(logits.transpose(1, 2), tgt, reduction="none")  # (B, T)
        mask = (tgt != self.pad_id).to(per_token.dtype)
        return (per_token * mask).sum() / mask.sum()

    @torch.no_grad()
    def greedy_decode(self, src, src_lengths, max_len):
        rows = []
        for b in range(src.shape[0]):
            h = self.encode(src[b:b + 1], src_lengths[b:b + 1])
            token, row = self.bos_id, []
            while len(row) < max_len:
                x = self.tgt_embedding(torch.tensor([[token]], device=src.device))
                o, h = self.decoder(x, h)
                token = int(self.out(o[0, -1]).argmax())
                row.append(token)
                if token == self.eos_id:
                    break
            rows.append(row + [self.pad_id] * (max_len - len(row)))
        return torch.tensor(rows, dtype=torch.long, device=src.device).view(len(rows), max_len)
