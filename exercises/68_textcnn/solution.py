"""Your solution for 68_textcnn: a TextCNN sentence classifier.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/68_textcnn
"""
import torch
from torch import nn


class TextCNN(nn.Module):
    """Embed tokens, convolve over time with one bank of filters per kernel width, ReLU, max over
    time, concatenate, dropout, classify.

    Dimensions: B batch, L sequence length, E = embed_dim, F = num_filters, n = len(kernel_sizes).

    Args:
        vocab_size: number of token ids.
        embed_dim: E, the width of each token's embedding.
        num_filters: F, filters per kernel width.
        kernel_sizes: the widths of the convolutions, in the order their features are concatenated.
        num_classes: the number of logits.
        dropout: the drop probability applied to the pooled features (training mode only).
        padding_idx: the padding token: its embedding row is zero and gets no gradient, and short
            inputs are padded with it.

    Submodules (names are graded: the tests load a state_dict into them):
        embedding: nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        convs: nn.ModuleList of nn.Conv1d(embed_dim, num_filters, k), one per k in kernel_sizes, in order
        fc: nn.Linear(num_filters * len(kernel_sizes), num_classes)
    """

    def __init__(self, vocab_size: int, embed_dim: int, num_filters: int, kernel_sizes,
                 num_classes: int, dropout: float = 0.5, padding_idx: int = 0):
        super().__init__()
        raise NotImplementedError("create embedding, convs, dropout and fc")

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Classify each sequence.

        Args:
            tokens: (B, L) int64 token ids. When L < max(kernel_sizes), the sequence is first padded
                at the END with padding_idx up to length max(kernel_sizes).

        Returns:
            (B, num_classes) logits, in the dtype of the parameters.
        """
        raise NotImplementedError("pad short inputs, embed, transpose to (B, E, L), conv + ReLU, max over time, "
                                  "concatenate, dropout, fc")
