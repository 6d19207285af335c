"""Reference: multi-layer, optionally bidirectional Elman RNN (tanh or relu) and GRU (Cho et al., 2014)
from scratch, in the exact layout of torch.nn.RNN and torch.nn.GRU.

RNN, per step:  h' = act(W_ih x + b_ih + W_hh h + b_hh),  act = tanh or relu
GRU, per step, with W = [W_r; W_z; W_n] stacked in that order (PyTorch's gate order):
    r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)          reset gate
    z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)          update gate
    n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))       candidate: r multiplies the whole hidden term
    h' = (1 - z) * n + z * h
Checked against torch.nn.RNN and torch.nn.GRU loaded with the same state_dict by the exercise's suite.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class Recurrent(nn.Module):
    """What RNN and GRU share: nn.RNN's parameter layout for `gates` stacked blocks, and the loop over
    layers, directions and steps. A subclass defines `cell`, one step of one layer and direction."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, bias: bool, batch_first: bool,
                 bidirectional: bool):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.num_directions = 2 if bidirectional else 1
        G, bound = self.gates * hidden_size, 1 / math.sqrt(hidden_size)  # torch's init: U(-1/sqrt(H), 1/sqrt(H))
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions  # both directions below
            for suffix in self.suffixes():
                shapes = {"weight_ih": (G, layer_in), "weight_hh": (G, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(G,), bias_hh=(G,))
                for kind, shape in shapes.items():
                    self.register_parameter(f"{kind}_l{layer}{suffix}",
                                            nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))

    def suffixes(self) -> list[str]:
        return ["", "_reverse"][: self.num_directions]

    def weights(self, layer: int, suffix: str):
        """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction; biases None without bias."""
        get = lambda kind: getattr(self, f"{kind}_l{layer}{suffix}", None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def cell(self, gi: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor | None) -> torch.Tensor:
        """The next h (B, H) from the input's share gi = W_ih x_t + b_ih (B, gates*H) and the state h (B, H)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None):
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I): time first inside
        T, B, _ = x.shape
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        h0 = x.new_zeros(L * D, B, H) if hx is None else hx  # (L*D, B, H); entry layer*D + direction

        h_n = []
        layer_input = x  # (T, B, I) for the first layer, then (T, B, D*H)
        for layer in range(L):
            outs = []
            for d, suffix in enumerate(self.suffixes()):
                w_ih, w_hh, b_ih, b_hh = self.weights(layer, suffix)
                seq = layer_input.flip(0) if d == 1 else layer_input  # the reverse direction reads time backwards
                gi = F.linear(seq, w_ih, b_ih)  # (T, B, gates*H): the input's share of every step at once
                h = h0[layer * D + d]  # (B, H)
                hs = []
                for t in range(T):
                    h = self.cell(gi[t], h, w_hh, b_hh)  # (B, H)
                    hs.append(h)
                out = torch.stack(hs)  # (T, B, H), in the order this direction read the steps
                outs.append(out.flip(0) if d == 1 else out)  # the reverse outputs back in time order
                h_n.append(h)  # the state after this direction's last step (t = 0 for the reverse one)
            layer_input = torch.cat(outs, dim=-1)  # (T, B, D*H): the next layer reads both directions

        output = layer_input.transpose(0, 1) if self.batch_first else layer_input  # (B, T, D*H) or (T, B, D*H)
        return output, torch.stack(h_n)  # (L*D, B, H)


class RNN(Recurrent):
    """Elman RNN with nn.RNN's constructor (no dropout), parameter names and call convention."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, bidirectional: bool = False):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, bidirectional)
        self.nonlinearity = nonlinearity

    def cell(self, gi, h, w_hh, b_hh):
        pre = gi + F.linear(h, w_hh, b_hh)  # (B, H)
        return torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)


class GRU(Recurrent):
    """GRU with nn.GRU's constructor (no dropout), parameter names (gates r, z, n) and call convention."""

    gates = 3

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, bidirectional: bool = False):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, bidirectional)

    def cell(self, gi, h, w_hh, b_hh):
        gh = F.linear(h, w_hh, b_hh)  # (B, 3H): the state's share, bias b_hh included
        i_r, i_z, i_n = gi.chunk(3, dim=-1)  # (B, H) each
        h_r, h_z, h_n = gh.chunk(3, dim=-1)  # (B, H) each
        r = torch.sigmoid(i_r + h_r)  # (B, H)
        z = torch.sigmoid(i_z + h_z)  # (B, H)
        n = torch.tanh(i_n + r * h_n)  # (B, H): r gates W_hn h + b_hn, after the matmul
        return (1 - z) * n + z * h  # z = 1 keeps the old state
