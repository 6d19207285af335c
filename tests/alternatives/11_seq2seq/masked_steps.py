"""Seq2Seq without packing: the encoder GRU is stepped one position at a time and a row's state is frozen once its
sentence has ended (torch.where on the lengths); the decoder is stepped too; the loss is a masked log-softmax; greedy
decoding writes into a preallocated tensor and stops once every row is done."""
import torch
import torch.nn as nn


class Seq2Seq(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, embed_dim, hidden, num_layers=1, pad_id=0, bos_id=1, eos_id=2):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.num_layers, self.hidden = num_layers, hidden
        self.src_embedding = nn.Embedding(src_vocab, embed_dim)
        self.encoder = nn.GRU(embed_dim, hidden, num_layers, batch_first=True)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embed_dim)
        self.decoder = nn.GRU(embed_dim, hidden, num_layers, batch_first=True)
        self.out = nn.Linear(hidden, tgt_vocab)

    def encode(self, src, src_lengths):
        B, S = src.shape
        emb = self.src_embedding(src)
        h = emb.new_zeros(self.num_layers, B, self.hidden)
        lengths = src_lengths.to(src.device)
        for t in range(S):
            _, h_next = self.encoder(emb[:, t:t + 1], h)
            alive = (t < lengths).view(1, B, 1)
            h = torch.where(alive, h_next, h)
        return h

    def forward(self, src, src_lengths, tgt):
        B, T = tgt.shape
        h = self.encode(src, src_lengths)
        logits = []
        prev = torch.full((B,), self.bos_id, dtype=torch.long, device=tgt.device)
        for t in range(T):
            o, h = self.decoder(self.tgt_embedding(prev).unsqueeze(1), h)
            logits.append(self.out(o.squeeze(1)))
            prev = tgt[:, t]
        return torch.stack(logits, 1)

    def loss(self, src, src_lengths, tgt):
        logp = torch.log_softmax(self(src, src_lengths, tgt), dim=-1)
        keep = (tgt != self.pad_id)
        nll = -logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
        return (nll * keep).sum() / keep.sum()

    def greedy_decode(self, src, src_lengths, max_len):
        B = src.shape[0]
        out = torch.full((B, max_len), self.pad_id, dtype=torch.long, device=src.device)
        with torch.no_grad():
            h = self.encode(src, src_lengths)
            prev = torch.full((B,), self.bos_id, dtype=torch.long, device=src.device)
            finished = torch.zeros(B, dtype=torch.bool, device=src.device)
            for t in range(max_len):
                o, h = self.decoder(self.tgt_embedding(prev).unsqueeze(1), h)
                nxt = self.out(o[:, 0]).max(dim=1).indices
                out[:, t] = torch.where(finished, torch.full_like(nxt, self.pad_id), nxt)
                finished = finished | (nxt == self.eos_id)
                if bool(finished.all()):
                    break
                prev = nxt
        return out
