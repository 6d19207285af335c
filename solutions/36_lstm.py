"""Reference: a multi-layer, optionally bidirectional LSTM from scratch (Hochreiter & Schmidhuber, 1997,
with the forget gate of Gers et al., 2000), in the exact layout of torch.nn.LSTM.

For every step, with W = [W_i; W_f; W_g; W_o] stacked in that order (PyTorch's gate order):
    i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)     input gate
    f = sigmoid(W_if x + b_if + W_hf h + b_hf)     forget gate
    g = tanh   (W_ig x + b_ig + W_hg h + b_hg)     candidate cell
    o = sigmoid(W_io x + b_io + W_ho h + b_ho)     output gate
    c' = f * c + i * g
    h' = o * tanh(c')
Checked against torch.nn.LSTM loaded with the same state_dict by the exercise's suite (`grade validate`).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


class LSTM(nn.Module):
    """Same constructor, parameter names and call convention as nn.LSTM (without dropout and proj_size)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, bidirectional: bool = False):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.num_directions = 2 if bidirectional else 1
        bound = 1 / math.sqrt(hidden_size)  # nn.LSTM's init: U(-1/sqrt(H), 1/sqrt(H)) everywhere
        for layer in range(num_layers):
            # layers above the first read the concatenated outputs of both directions
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self.suffixes():
                shapes = {"weight_ih": (4 * hidden_size, layer_in), "weight_hh": (4 * hidden_size, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(4 * hidden_size,), bias_hh=(4 * hidden_size,))
                for kind, shape in shapes.items():
                    self.register_parameter(f"{kind}_l{layer}{suffix}",
                                            nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))

    def suffixes(self) -> list[str]:
        return ["", "_reverse"][: self.num_directions]

    def weights(self, layer: int, suffix: str):
        """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction; biases None without bias."""
        get = lambda kind: getattr(self, f"{kind}_l{layer}{suffix}", None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def forward(self, x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None):
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I): time first inside
        T, B, _ = x.shape
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        if hx is None:
            zeros = x.new_zeros(L * D, B, H)
            hx = (zeros, zeros)
        h0, c0 = hx  # (L*D, B, H) each; entry layer*D + direction

        h_n, c_n = [], []
        layer_input = x  # (T, B, I) for the first layer, then (T, B, D*H)
        for layer in range(L):
            outs = []
            for d, suffix in enumerate(self.suffixes()):
                w_ih, w_hh, b_ih, b_hh = self.weights(layer, suffix)
                seq = layer_input.flip(0) if d == 1 else layer_input  # the reverse direction reads time backwards
                gates_x = F.linear(seq, w_ih, b_ih)  # (T, B, 4H): the input's share of every step at once
                h, c = h0[layer * D + d], c0[layer * D + d]  # (B, H) each
                hs = []
                for t in range(T):
                    gates = gates_x[t] + F.linear(h, w_hh, b_hh)  # (B, 4H)
                    i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each, in PyTorch's order
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # (B, H)
                    h = torch.sigmoid(o) * torch.tanh(c)  # (B, H)
                    hs.append(h)
                out = torch.stack(hs)  # (T, B, H), in the order this direction read the steps
                outs.append(out.flip(0) if d == 1 else out)  # the reverse outputs back in time order
                h_n.append(h)  # the state after this direction's last step (t = 0 for the reverse one)
                c_n.append(c)
            layer_input = torch.cat(outs, dim=-1)  # (T, B, D*H): the next layer reads both directions

        output = layer_input.transpose(0, 1) if self.batch_first else layer_input  # (B, T, D*H) or (T, B, D*H)
        return output, (torch.stack(h_n), torch.stack(c_n))  # (L*D, B, H) each
