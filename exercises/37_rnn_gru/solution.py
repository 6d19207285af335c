"""Your solution for 37_rnn_gru: a multi-layer, optionally bidirectional RNN (tanh or relu) and GRU from scratch.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/37_rnn_gru
"""
import torch
from torch import nn

# Dimensions: T steps, B batch, I = input_size, H = hidden_size, L = num_layers, D = 2 if bidirectional else 1.
# Parameters of both classes (names and shapes are graded: torch must load your state_dict, and you must load
# its), for each layer k in 0..L-1 and, when bidirectional, again with the suffix "_reverse":
#     weight_ih_l{k}: (G*H, I) for k = 0, (G*H, D*H) above;  weight_hh_l{k}: (G*H, H)
#     bias_ih_l{k}: (G*H,);  bias_hh_l{k}: (G*H,)   (only when bias=True)
# with G = 1 for RNN and G = 3 for GRU (its gates stacked in the order r, z, n).
# forward(x, hx=None) -> (output, h_n):
#     x: (T, B, I), or (B, T, I) when batch_first;  hx: optional h0 (L*D, B, H) (never batch-first), None = zeros
#     output: (T, B, D*H), or (B, T, D*H) when batch_first: the last layer's h at every step, directions concatenated
#     h_n: (L*D, B, H), the final state of layer k, direction d at index k*D + d


class RNN(nn.Module):
    """Elman RNN, h' = act(W_ih x + b_ih + W_hh h + b_hh), with nn.RNN's constructor (no dropout) and call convention."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, bidirectional: bool = False):
        super().__init__()
        raise NotImplementedError("register weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} (+ _reverse)")

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run over every step of x; returns (output, h_n) as described above."""
        raise NotImplementedError("the recurrence, layers, directions")


class GRU(nn.Module):
    """GRU (gates r, z, n) with nn.GRU's constructor (no dropout), parameter names and call convention."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, bidirectional: bool = False):
        super().__init__()
        raise NotImplementedError("register weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} (+ _reverse)")

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run over every step of x; returns (output, h_n) as described above."""
        raise NotImplementedError("gates r, z, n, layers, directions")
