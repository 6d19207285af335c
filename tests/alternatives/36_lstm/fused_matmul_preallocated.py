"""Alternative: one matmul per step on [x_t, h] against [W_ih | W_hh], gates sliced by index, a reversed
range for the reverse direction (no flip), outputs written into a preallocated tensor, batch-first kept inside."""
import math

import torch
from torch import nn


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, bidirectional=False):
        super().__init__()
        self.H, self.L, self.D = hidden_size, num_layers, 2 if bidirectional else 1
        self.has_bias, self.batch_first = bias, batch_first
        k = 1.0 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            n_in = input_size if layer == 0 else self.D * hidden_size
            for sfx in ("", "_reverse")[: self.D]:
                setattr(self, f"weight_ih_l{layer}{sfx}", nn.Parameter(torch.rand(4 * hidden_size, n_in) * 2 * k - k))
                setattr(self, f"weight_hh_l{layer}{sfx}", nn.Parameter(torch.rand(4 * hidden_size, hidden_size) * 2 * k - k))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{sfx}", nn.Parameter(torch.rand(4 * hidden_size) * 2 * k - k))
                    setattr(self, f"bias_hh_l{layer}{sfx}", nn.Parameter(torch.rand(4 * hidden_size) * 2 * k - k))

    def forward(self, x, hx=None):
        seq = x if self.batch_first else x.transpose(0, 1)  # (B, T, I): batch first inside
        B, T, _ = seq.shape
        H = self.H
        if hx is None:
            h0 = torch.zeros(self.L * self.D, B, H, dtype=x.dtype, device=x.device)
            c0 = torch.zeros_like(h0)
        else:
            h0, c0 = hx
        finals_h, finals_c = [], []
        for layer in range(self.L):
            out = seq.new_empty(B, T, self.D * H)
            for d in range(self.D):
                sfx = "_reverse" if d else ""
                W = torch.cat([getattr(self, f"weight_ih_l{layer}{sfx}"), getattr(self, f"weight_hh_l{layer}{sfx}")], 1)
                b = (getattr(self, f"bias_ih_l{layer}{sfx}") + getattr(self, f"bias_hh_l{layer}{sfx}")
                     if self.has_bias else 0.0)
                h, c = h0[layer * self.D + d], c0[layer * self.D + d]
                for t in (reversed(range(T)) if d else range(T)):
                    z = torch.cat([seq[:, t], h], 1) @ W.t() + b
                    i, f = torch.sigmoid(z[:, :H]), torch.sigmoid(z[:, H:2 * H])
                    g, o = torch.tanh(z[:, 2 * H:3 * H]), torch.sigmoid(z[:, 3 * H:])
                    c = f * c + i * g
                    h = o * torch.tanh(c)
                    out[:, t, d * H:(d + 1) * H] = h
                finals_h.append(h)
                finals_c.append(c)
            seq = out
        return (seq if self.batch_first else seq.transpose(0, 1)), (torch.stack(finals_h), torch.stack(finals_c))
