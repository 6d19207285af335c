"""Token embeddings are not multiplied by sqrt(d_model) before the positions are added."""
import math

import torch
from torch import nn


def make_masks(src: torch.Tensor, tgt_in: torch.Tensor, pad_idx: int):
    """The three masks nn.Transformer needs, in its convention (bool, True = may NOT attend).

    Returns (src_padding_mask (B, S), tgt_padding_mask (B, T), tgt_mask (T, T))."""
    T = tgt_in.shape[1]
    src_padding_mask = src == pad_idx  # (B, S)
    tgt_padding_mask = tgt_in == pad_idx  # (B, T)
    # query i may see keys j <= i: block the strict upper triangle (the future)
    tgt_mask = torch.ones(T, T, dtype=torch.bool, device=tgt_in.device).triu(diagonal=1)  # (T, T)
    return src_padding_mask, tgt_padding_mask, tgt_mask


def sinusoidal_table(max_len: int, d_model: int) -> torch.Tensor:
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d))."""
    assert d_model % 2 == 0, f"d_model={d_model} must be even for the sin/cos pairs"
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]  # (L, 1)
    inv_freq = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (d/2,)
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * inv_freq)  # (L, d/2)
    pe[:, 1::2] = torch.cos(pos * inv_freq)  # (L, d/2)
    return pe  # (L, d)


class PositionalEncoding(nn.Module):
    """x + PE[:T], then dropout. The table is a persistent buffer `pe` (max_len, d_model): it
    follows .to(device/dtype) and travels with the state_dict, so a loaded model uses exactly
    the table it was saved with."""

    def __init__(self, d_model: int, max_len: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal_table(max_len, d_model).float())  # (L, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        assert T <= self.pe.shape[0], f"sequence length {T} exceeds max_len={self.pe.shape[0]}"
        return self.dropout(x + self.pe[:T].to(x.dtype))  # (B, T, d)


class Seq2SeqTransformer(nn.Module):
    """src (B, S) token ids, tgt_in (B, T) token ids (BOS first) -> logits (B, T, tgt_vocab)."""

    def __init__(self, src_vocab: int, tgt_vocab: int, d_model: int = 32, nhead: int = 4,
                 num_encoder_layers: int = 2, num_decoder_layers: int = 2, dim_feedforward: int = 64,
                 dropout: float = 0.1, max_len: int = 128, pad_idx: int = 0):
        super().__init__()
        self.d_model, self.pad_idx = d_model, pad_idx
        self.src_tok_emb = nn.Embedding(src_vocab, d_model)
        self.tgt_tok_emb = nn.Embedding(tgt_vocab, d_model)
        self.positional_encoding = PositionalEncoding(d_model, max_len, dropout)
        self.transformer = nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers,
                                          dim_feedforward, dropout, batch_first=True)
        self.generator = nn.Linear(d_model, tgt_vocab)

    def embed(self, emb: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        return self.positional_encoding(emb(tokens))  # (B, L, d)

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        """memory (B, S, d); padded source positions hold values nobody may attend to."""
        src_padding_mask = src == self.pad_idx  # (B, S)
        return self.transformer.encoder(self.embed(self.src_tok_emb, src), src_key_padding_mask=src_padding_mask)

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        """logits (B, T, tgt_vocab) for every target position, given the encoded source."""
        src_padding_mask, tgt_padding_mask, tgt_mask = make_masks(src, tgt_in, self.pad_idx)
        y = self.transformer.decoder(self.embed(self.tgt_tok_emb, tgt_in), memory, tgt_mask=tgt_mask,
                                     tgt_key_padding_mask=tgt_padding_mask,
                                     memory_key_padding_mask=src_padding_mask)  # (B, T, d)
        return self.generator(y)  # (B, T, V_tgt)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.decode(tgt_in, self.encode(src), src)  # (B, T, V_tgt)


@torch.no_grad()
def greedy_decode(model: Seq2SeqTransformer, src: torch.Tensor, bos_idx: int, eos_idx: int,
                  max_len: int) -> torch.Tensor:
    """(B, max_len) token ids: BOS, then the argmax token at each step; after a row's EOS, pad_idx."""
    B = src.shape[0]
    memory = model.encode(src)  # (B, S, d): the source is encoded once
    ys = torch.full((B, 1), bos_idx, dtype=torch.long, device=src.device)  # (B, 1)
    done = torch.zeros(B, dtype=torch.bool, device=src.device)  # (B,)
    for _ in range(max_len - 1):
        logits = model.decode(ys, memory, src)[:, -1]  # (B, V): the prediction for the next position
        next_tok = logits.argmax(-1)  # (B,)
        next_tok = torch.where(done, torch.full_like(next_tok, model.pad_idx), next_tok)
        ys = torch.cat([ys, next_tok[:, None]], dim=1)  # (B, t + 1)
        done = done | (next_tok == eos_idx)
    return ys  # (B, max_len)
