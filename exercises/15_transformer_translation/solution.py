"""Your solution for 15_transformer_translation: a Transformer for translation on nn.Transformer.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/15_transformer_translation
"""
import math

import torch
from torch import nn


def make_masks(src: torch.Tensor, tgt_in: torch.Tensor, pad_idx: int):
    """The three masks nn.Transformer needs, all bool with True = may NOT attend.

    Dimensions: B batch, S source length, T target length.

    Args:
        src: (B, S) int64 source token ids, right-padded with pad_idx.
        tgt_in: (B, T) int64 decoder input ids (BOS first), right-padded with pad_idx.
        pad_idx: the padding token id.

    Returns:
        (src_padding_mask, tgt_padding_mask, tgt_mask):
        src_padding_mask (B, S) bool, True where src == pad_idx;
        tgt_padding_mask (B, T) bool, True where tgt_in == pad_idx;
        tgt_mask (T, T) bool causal mask, True at [i, j] where j > i (the future).
    """
    raise NotImplementedError("compare with pad_idx; the causal mask is the strict upper triangle")


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder Transformer for translation, built on nn.Transformer (batch_first=True).

    Dimensions: B batch, S source length, T target length, d = d_model, V_src / V_tgt vocabularies.

    Submodules and buffers (names are graded: the tests load a state_dict into them):
        src_tok_emb: nn.Embedding(src_vocab, d_model)
        tgt_tok_emb: nn.Embedding(tgt_vocab, d_model)
        positional_encoding: a module with a persistent buffer `pe` (max_len, d_model), the sinusoidal
            table, and an nn.Dropout(dropout) applied after adding it
        transformer: nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers,
            dim_feedforward, dropout, batch_first=True)  (other arguments at their defaults)
        generator: nn.Linear(d_model, tgt_vocab)
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, d_model: int = 32, nhead: int = 4,
                 num_encoder_layers: int = 2, num_decoder_layers: int = 2, dim_feedforward: int = 64,
                 dropout: float = 0.1, max_len: int = 128, pad_idx: int = 0):
        super().__init__()
        raise NotImplementedError("create src_tok_emb, tgt_tok_emb, positional_encoding, transformer, generator")

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits.

        Args:
            src: (B, S) int64 source ids, right-padded with pad_idx.
            tgt_in: (B, T) int64 decoder input ids: BOS, then the target shifted right, right-padded.

        Returns:
            (B, T, V_tgt) logits; position t predicts the token that follows tgt_in[:, :t + 1].
        """
        raise NotImplementedError("embed * sqrt(d_model) + positions, masks from pad_idx, transformer, generator")


@torch.no_grad()
def greedy_decode(model: Seq2SeqTransformer, src: torch.Tensor, bos_idx: int, eos_idx: int,
                  max_len: int) -> torch.Tensor:
    """Greedy translation of a batch.

    Args:
        model: a Seq2SeqTransformer (the tests put it in eval mode first).
        src: (B, S) int64 source ids, right-padded with model.pad_idx.
        bos_idx, eos_idx: the begin / end of sentence ids.
        max_len: L, the number of columns returned (BOS included); at most model's max_len.

    Returns:
        (B, L) int64: column 0 is bos_idx; column t is the argmax of the logits at the LAST position
        of model(src, ys[:, :t]); once a row has emitted eos_idx, its later columns are model.pad_idx.
    """
    raise NotImplementedError("start from BOS, append the argmax of the last position, pad after EOS")
