"""Reference for 11_seq2seq: a GRU encoder-decoder (Sutskever et al. 2014, with GRUs as in Cho et al.
2014) trained with teacher forcing and decoded greedily.

    h_src = GRU_enc(embed_src(x_1 .. x_L))              the state after the LAST REAL source token
    s_0   = h_src                                      (num_layers, B, H): one state per layer
    s_t   = GRU_dec(embed_tgt(y_{t-1}), s_{t-1})       y_{-1} = BOS
    logits_t = W_out s_t + b_out                       (top layer's state)

The decoder sees the source only through h_src, so padding the source must not change h_src.
Dimensions: B batch, S source length (padded), T target length (padded), E embed_dim, H hidden,
V tgt_vocab, N num_layers.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class Seq2Seq(nn.Module):
    def __init__(self, src_vocab: int, tgt_vocab: int, embed_dim: int, hidden: int, num_layers: int = 1,
                 pad_id: int = 0, bos_id: int = 1, eos_id: int = 2):
        super().__init__()
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.src_embedding = nn.Embedding(src_vocab, embed_dim)
        self.encoder = nn.GRU(embed_dim, hidden, num_layers, batch_first=True)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embed_dim)
        self.decoder = nn.GRU(embed_dim, hidden, num_layers, batch_first=True)
        self.out = nn.Linear(hidden, tgt_vocab)

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> torch.Tensor:
        """src (B, S) int64 right-padded, src_lengths (B,) -> the final state (N, B, H) of each sentence."""
        x = self.src_embedding(src)  # (B, S, E)
        # packing runs each row for exactly src_lengths[b] steps: h_n is taken at the true last token,
        # whatever the padded positions hold (enforce_sorted=False: the batch need not be sorted by length)
        packed = pack_padded_sequence(x, src_lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.encoder(packed)  # (N, B, H), back in the original row order
        return h_n

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: tgt (B, T) (tokens, EOS, then pad_id) -> logits (B, T, V); step t is fed tgt[:, t-1]."""
        B, T = tgt.shape
        bos = tgt.new_full((B, 1), self.bos_id)  # (B, 1)
        dec_in = torch.cat([bos, tgt[:, :-1]], dim=1)  # (B, T): shifted right, so step t never sees tgt[:, t]
        states, _ = self.decoder(self.tgt_embedding(dec_in), self.encode(src, src_lengths))  # (B, T, H)
        return self.out(states)  # (B, T, V)

    def loss(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the real target positions (tgt != pad_id); padding counts for nothing."""
        logits = self(src, src_lengths, tgt)  # (B, T, V)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=self.pad_id)

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int) -> torch.Tensor:
        """-> (B, max_len) int64: the argmax token of each step fed back in; after a row's EOS, pad_id."""
        B = src.shape[0]
        h = self.encode(src, src_lengths)  # (N, B, H)
        prev = torch.full((B,), self.bos_id, dtype=torch.long, device=src.device)  # (B,)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)  # (B,): rows that have produced EOS
        tokens = []
        for _ in range(max_len):
            state, h = self.decoder(self.tgt_embedding(prev)[:, None], h)  # (B, 1, H), h carried to the next step
            step = self.out(state[:, 0]).argmax(dim=-1)  # (B,): over the vocabulary, not the batch
            step = step.masked_fill(done, self.pad_id)  # finished rows only emit padding
            tokens.append(step)
            done = done | (step == self.eos_id)
            prev = step
        return torch.stack(tokens, dim=1)  # (B, max_len)
