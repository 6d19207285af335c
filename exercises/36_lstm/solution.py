"""Your solution for 36_lstm: a multi-layer, optionally bidirectional LSTM from scratch.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/36_lstm
"""
import torch
from torch import nn


class LSTM(nn.Module):
    """An LSTM with nn.LSTM's constructor, parameter names and call convention (no dropout, no proj_size).

    Dimensions: T steps, B batch, I = input_size, H = hidden_size, L = num_layers,
    D = 2 if bidirectional else 1.

    Parameters (names and shapes are graded: nn.LSTM must load your state_dict, and you must load its),
    for each layer k in 0..L-1 and, when bidirectional, again with the suffix "_reverse":
        weight_ih_l{k}: (4H, I) for k = 0, (4H, D*H) above;  weight_hh_l{k}: (4H, H)
        bias_ih_l{k}: (4H,);  bias_hh_l{k}: (4H,)   (only when bias=True)
    The 4H rows are the gates stacked in the order i, f, g, o.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, bidirectional: bool = False):
        super().__init__()
        raise NotImplementedError("register weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} (+ _reverse)")

    def forward(self, x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Run the LSTM over every step of x.

        Args:
            x: (T, B, I), or (B, T, I) when batch_first.
            hx: optional (h0, c0), each (L*D, B, H) (never batch-first); None means zeros.

        Returns:
            output: (T, B, D*H), or (B, T, D*H) when batch_first: the last layer's h at every step,
                forward and reverse directions concatenated on the last dim.
            (h_n, c_n): each (L*D, B, H), the final state of every layer and direction
                (entry k*D + d for layer k, direction d).
        """
        raise NotImplementedError("gates, cell update, layers, directions")
