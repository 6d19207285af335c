"""Seq2Seq that sorts the batch by length for packing (enforce_sorted=True) and unsorts the final states with the
inverse permutation; the loss selects the real positions with a boolean index; greedy decoding re-runs the
teacher-forced forward on the prefix decoded so far and reads the last position (quadratic, like a Transformer)."""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class Seq2Seq(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, embed_dim, hidden, num_layers=1, pad_id=0, bos_id=1, eos_id=2):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.src_embedding = nn.Embedding(src_vocab, embed_dim)
        self.encoder = nn.GRU(embed_dim, hidden, num_layers, batch_first=True)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embed_dim)
        self.decoder = nn.GRU(embed_dim, hidden, num_layers, batch_first=True)
        self.out = nn.Linear(hidden, tgt_vocab)

    def encode(self, src, src_lengths):
        lengths = src_lengths.cpu()
        order = torch.argsort(lengths, descending=True)
        packed = pack_padded_sequence(self.src_embedding(src[order.to(src.device)]), lengths[order], batch_first=True)
        _, h_sorted = self.encoder(packed)
        inverse = torch.argsort(order).to(src.device)
        return h_sorted[:, inverse]

    def forward(self, src, src_lengths, tgt):
        bos = torch.full((tgt.shape[0], 1), self.bos_id, dtype=tgt.dtype, device=tgt.device)
        y_prev = torch.cat([bos, tgt], dim=1)[:, :-1]
        out, _ = self.decoder(self.tgt_embedding(y_prev), self.encode(src, src_lengths))
        return self.out(out)

    def loss(self, src, src_lengths, tgt):
        logits = self(src, src_lengths, tgt)
        keep = tgt != self.pad_id
        return F.cross_entropy(logits[keep], tgt[keep])

    def greedy_decode(self, src, src_lengths, max_len):
        B = src.shape[0]
        ys = torch.empty(B, 0, dtype=torch.long, device=src.device)
        ended = torch.zeros(B, dtype=torch.bool, device=src.device)
        with torch.no_grad():
            for t in range(max_len):
                prefix = torch.cat([ys, torch.full((B, 1), self.pad_id, dtype=torch.long, device=src.device)], 1)
                best = self(src, src_lengths, prefix)[:, t].topk(1, dim=-1).indices.squeeze(-1)
                best = torch.where(ended, torch.full_like(best, self.pad_id), best)
                ended |= best == self.eos_id
                ys = torch.cat([ys, best.unsqueeze(1)], dim=1)
        return ys
