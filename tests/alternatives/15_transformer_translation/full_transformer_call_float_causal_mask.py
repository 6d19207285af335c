"""One nn.Transformer call with a float causal mask, a stacked sin/cos table, greedy decoding re-running the whole model."""
import math

import torch
from torch import nn


def make_masks(src, tgt_in, pad_idx):
    steps = tgt_in.size(1)
    idx = torch.arange(steps, device=tgt_in.device)
    future = idx.unsqueeze(0) > idx.unsqueeze(1)  # (T, T): key j after query i
    return src.eq(pad_idx), tgt_in.eq(pad_idx), future


def additive(blocked, dtype):
    return torch.zeros(blocked.shape, dtype=dtype, device=blocked.device).masked_fill(blocked, -math.inf)


class SinusoidalPositions(nn.Module):
    def __init__(self, d_model, max_len, dropout):
        super().__init__()
        half = torch.arange(d_model // 2, dtype=torch.float64)
        rates = torch.pow(torch.tensor(10000.0, dtype=torch.float64), -2.0 * half / d_model)  # (d/2,)
        angles = torch.arange(max_len, dtype=torch.float64).unsqueeze(1) * rates  # (L, d/2)
        table = torch.stack((angles.sin(), angles.cos()), dim=-1).reshape(max_len, d_model)  # sin, cos interleaved
        self.register_buffer("pe", table.to(torch.float32))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(x + self.pe[: x.size(1)].unsqueeze(0).to(x.dtype))


class Seq2SeqTransformer(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, d_model=32, nhead=4, num_encoder_layers=2,
                 num_decoder_layers=2, dim_feedforward=64, dropout=0.1, max_len=128, pad_idx=0):
        super().__init__()
        self.d_model = d_model
        self.pad_idx = pad_idx
        self.src_tok_emb = nn.Embedding(src_vocab, d_model)
        self.tgt_tok_emb = nn.Embedding(tgt_vocab, d_model)
        self.positional_encoding = SinusoidalPositions(d_model, max_len, dropout)
        self.transformer = nn.Transformer(d_model=d_model, nhead=nhead, num_encoder_layers=num_encoder_layers,
                                          num_decoder_layers=num_decoder_layers,
                                          dim_feedforward=dim_feedforward, dropout=dropout, batch_first=True)
        self.generator = nn.Linear(d_model, tgt_vocab)

    def forward(self, src, tgt_in):
        src_pad, tgt_pad, future = make_masks(src, tgt_in, self.pad_idx)
        scale = math.sqrt(self.d_model)
        s = self.positional_encoding(self.src_tok_emb(src) * scale)
        t = self.positional_encoding(self.tgt_tok_emb(tgt_in) * scale)
        # every mask handed to nn.Transformer in the additive float form (0 / -inf)
        src_pad, tgt_pad, causal = (additive(m, t.dtype) for m in (src_pad, tgt_pad, future))
        out = self.transformer(s, t, tgt_mask=causal, src_key_padding_mask=src_pad,
                               tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
        return self.generator(out)


def greedy_decode(model, src, bos_idx, eos_idx, max_len):
    batch = src.size(0)
    out = torch.full((batch, max_len), model.pad_idx, dtype=torch.long, device=src.device)
    out[:, 0] = bos_idx
    finished = [False] * batch
    with torch.no_grad():
        for step in range(1, max_len):
            if all(finished):
                break
            scores = model(src, out[:, :step])[:, step - 1, :]  # (B, V) at the last fed position
            choice = scores.argmax(dim=-1)
            for row in range(batch):
                if not finished[row]:
                    out[row, step] = choice[row]
                    finished[row] = int(choice[row]) == eos_idx
    return out
