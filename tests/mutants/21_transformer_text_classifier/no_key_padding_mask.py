"""Never passes the padding mask to the encoder, so real tokens attend to padding."""
import torch
from torch import nn


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x over the positions where mask is True (real tokens); a row with no real token
    gives zeros (finite, never nan)."""
    B, T, D = x.shape
    assert mask.shape == (B, T), f"mask must be (B={B}, T={T}), got {tuple(mask.shape)}"
    keep = mask.to(torch.bool)[:, :, None]  # (B, T, 1)
    # where (not x * mask): padded values never enter the sum, even if they are inf or nan.
    total = torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device)).sum(dim=1)  # (B, D)
    # count >= 1 keeps all-padding rows at 0 / 1 = 0 instead of 0 / 0 = nan.
    count = keep.sum(dim=1).clamp(min=1).to(x.dtype)  # (B, 1)
    return total / count  # (B, D)


class TransformerClassifier(nn.Module):
    """Embeds tokens, encodes them with self-attention that never looks at padding, mean-pools
    the real tokens and classifies the sentence."""

    def __init__(self, vocab_size: int, d_model: int, nhead: int, num_layers: int, dim_ff: int,
                 num_classes: int, max_len: int, pad_idx: int = 0, dropout: float = 0.1):
        super().__init__()
        self.pad_idx, self.max_len = pad_idx, max_len
        # padding_idx: the pad row starts at zero and never receives a gradient.
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=pad_idx)
        # Self-attention is permutation equivariant: without positions "not good" == "good not".
        self.pos_embedding = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=dim_ff, dropout=dropout,
                                           batch_first=True)
        # No nested tensors: padded outputs stay ordinary numbers (they are ignored by the pooling).
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.classifier = nn.Linear(d_model, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        B, T = tokens.shape
        assert T <= self.max_len, f"sequence length {T} exceeds max_len={self.max_len}"
        mask = tokens != self.pad_idx  # (B, T) True = real token
        positions = torch.arange(T, device=tokens.device)  # (T,)
        x = self.embedding(tokens) + self.pos_embedding(positions)  # (B, T, D)
        # torch's convention is the opposite: src_key_padding_mask True = padding (not attended).
        h = self.encoder(x)  # (B, T, D)
        pooled = masked_mean(h, mask)  # (B, D)
        return self.classifier(pooled)  # (B, C)
