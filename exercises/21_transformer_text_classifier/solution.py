"""Your solution for 21_transformer_text_classifier: a Transformer-encoder text classifier with a
padding mask and masked mean pooling.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/21_transformer_text_classifier
"""
import torch
from torch import nn


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x over the real (unpadded) positions of each row.

    Dimensions: B batch, T sequence length, D width.

    Args:
        x: (B, T, D) float tensor.
        mask: (B, T) bool; True marks a REAL token, False padding. (This is the opposite of
            nn.TransformerEncoder's src_key_padding_mask, where True = padding.)

    Returns:
        (B, D), dtype of x: out[b] = mean of x[b, t] over the t where mask[b, t] is True.
        A row with no real token gives zeros (finite, never nan). Padded values never matter.
    """
    raise NotImplementedError("sum x over the real positions, divide by how many there are (at least 1)")


class TransformerClassifier(nn.Module):
    """Token + learned position embeddings -> nn.TransformerEncoder that never attends to
    padding -> masked mean over the real tokens -> nn.Linear -> logits.

    Dimensions: B batch, T sequence length (<= max_len), D = d_model, C = num_classes.

    Args:
        vocab_size: number of token ids (pad_idx included).
        d_model: D, the width of every token vector; divisible by nhead.
        nhead: attention heads per layer.
        num_layers: encoder layers.
        dim_ff: width of each layer's feed-forward block.
        num_classes: C.
        max_len: the longest sequence (number of learned positions).
        pad_idx: the token id used for padding.
        dropout: dropout inside the encoder layers.

    Submodules (names are graded: the tests load a state_dict into them):
        embedding:     nn.Embedding(vocab_size, d_model, padding_idx=pad_idx)
        pos_embedding: nn.Embedding(max_len, d_model)            # learned positions 0..max_len-1
        encoder:       nn.TransformerEncoder(nn.TransformerEncoderLayer(d_model, nhead, dim_ff, dropout,
                                             batch_first=True), num_layers)
        classifier:    nn.Linear(d_model, num_classes)
    """

    def __init__(self, vocab_size: int, d_model: int, nhead: int, num_layers: int, dim_ff: int,
                 num_classes: int, max_len: int, pad_idx: int = 0, dropout: float = 0.1):
        super().__init__()
        raise NotImplementedError("create embedding, pos_embedding, encoder and classifier")

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Classify a batch of right-padded token sequences.

        Args:
            tokens: (B, T) int64, T <= max_len; positions holding pad_idx are padding. Every row
                has at least one real token.

        Returns:
            logits (B, C). Appending pad tokens to `tokens` never changes them.
        """
        raise NotImplementedError("mask = tokens != pad_idx; embed + positions; encode with "
                                  "src_key_padding_mask=~mask; masked_mean; classify")
