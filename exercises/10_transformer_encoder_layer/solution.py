"""Your solution for 10_transformer_encoder_layer: one Transformer encoder layer.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/10_transformer_encoder_layer
"""
import torch
from torch import nn


class EncoderLayer(nn.Module):
    """Self-attention + ReLU feed-forward network, each with dropout, a residual and a LayerNorm,
    like nn.TransformerEncoderLayer(d_model, nhead, dim_ff, dropout, activation="relu",
    batch_first=True, norm_first=norm_first).

    Dimensions: B batch, T sequence length, C = d_model, H = nhead (divides C), F = dim_ff.

    Args:
        d_model: C, the width of each token vector.
        nhead: H, the number of attention heads.
        dim_ff: F, the hidden width of the feed-forward network.
        dropout: the drop probability of every dropout in the layer (attention weights,
            FFN hidden units, and each branch's output).
        norm_first: False = post-norm  x = norm1(x + sa(x)); x = norm2(x + ff(x))
                    True  = pre-norm   x = x + sa(norm1(x)); x = x + ff(norm2(x))

    state_dict (names and shapes are graded: the tests load the library's state_dict):
        self_attn.in_proj_weight (3C, C)   self_attn.in_proj_bias (3C,)
        self_attn.out_proj.weight (C, C)   self_attn.out_proj.bias (C,)
        linear1.weight (F, C)  linear1.bias (F,)   linear2.weight (C, F)  linear2.bias (C,)
        norm1.weight, norm1.bias, norm2.weight, norm2.bias (C,)   (LayerNorm, eps=1e-5)
    """

    def __init__(self, d_model: int, nhead: int, dim_ff: int = 2048, dropout: float = 0.1,
                 norm_first: bool = False):
        super().__init__()
        raise NotImplementedError("create self_attn, linear1, linear2, norm1, norm2 and the dropouts")

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor | None = None,
                src_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encode src.

        Args:
            src: (B, T, C) float tensor.
            src_mask: optional (T, T), the same for every sequence. bool: True = query i may NOT
                attend to key j; float: added to the attention scores (-inf forbids).
            src_key_padding_mask: optional (B, T). bool: True = padding (no query attends to it);
                float: added to every query's scores for that key. Same kind as src_mask when
                both are given.

        Returns:
            (B, T, C), same dtype as src.
        """
        raise NotImplementedError("attention sublayer, then feed-forward sublayer, each with dropout, "
                                  "residual and LayerNorm in the place norm_first says")
