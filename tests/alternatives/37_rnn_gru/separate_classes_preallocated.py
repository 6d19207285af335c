"""Alternative: two independent classes, batch-first inside, a reversed range for the reverse direction,
gates sliced by index, outputs written into a preallocated tensor; relu as clamp(min=0)."""
import math

import torch
from torch import nn


def _params(module, input_size, hidden_size, num_layers, bias, dirs, gates):
    k = 1.0 / math.sqrt(hidden_size)
    for layer in range(num_layers):
        n_in = input_size if layer == 0 else dirs * hidden_size
        for sfx in ("", "_reverse")[:dirs]:
            setattr(module, f"weight_ih_l{layer}{sfx}", nn.Parameter(torch.rand(gates * hidden_size, n_in) * 2 * k - k))
            setattr(module, f"weight_hh_l{layer}{sfx}", nn.Parameter(torch.rand(gates * hidden_size, hidden_size) * 2 * k - k))
            if bias:
                setattr(module, f"bias_ih_l{layer}{sfx}", nn.Parameter(torch.rand(gates * hidden_size) * 2 * k - k))
                setattr(module, f"bias_hh_l{layer}{sfx}", nn.Parameter(torch.rand(gates * hidden_size) * 2 * k - k))


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 bidirectional=False):
        super().__init__()
        self.H, self.L, self.D = hidden_size, num_layers, 2 if bidirectional else 1
        self.act, self.has_bias, self.batch_first = nonlinearity, bias, batch_first
        _params(self, input_size, hidden_size, num_layers, bias, self.D, 1)

    def forward(self, x, hx=None):
        seq = x if self.batch_first else x.transpose(0, 1)  # (B, T, I)
        B, T, _ = seq.shape
        h0 = torch.zeros(self.L * self.D, B, self.H, dtype=x.dtype, device=x.device) if hx is None else hx
        finals = []
        for layer in range(self.L):
            out = seq.new_empty(B, T, self.D * self.H)
            for d in range(self.D):
                sfx = "_reverse" if d else ""
                W = torch.cat([getattr(self, f"weight_ih_l{layer}{sfx}"), getattr(self, f"weight_hh_l{layer}{sfx}")], 1)
                b = (getattr(self, f"bias_ih_l{layer}{sfx}") + getattr(self, f"bias_hh_l{layer}{sfx}")
                     if self.has_bias else 0.0)
                h = h0[layer * self.D + d]
                for t in (range(T - 1, -1, -1) if d else range(T)):
                    pre = torch.cat([seq[:, t], h], 1) @ W.t() + b
                    h = torch.tanh(pre) if self.act == "tanh" else pre.clamp(min=0)
                    out[:, t, d * self.H:(d + 1) * self.H] = h
                finals.append(h)
            seq = out
        return (seq if self.batch_first else seq.transpose(0, 1)), torch.stack(finals)


class GRU(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, bidirectional=False):
        super().__init__()
        self.H, self.L, self.D = hidden_size, num_layers, 2 if bidirectional else 1
        self.has_bias, self.batch_first = bias, batch_first
        _params(self, input_size, hidden_size, num_layers, bias, self.D, 3)

    def forward(self, x, hx=None):
        seq = x if self.batch_first else x.transpose(0, 1)  # (B, T, I)
        B, T, _ = seq.shape
        H = self.H
        h0 = torch.zeros(self.L * self.D, B, H, dtype=x.dtype, device=x.device) if hx is None else hx
        finals = []
        for layer in range(self.L):
            out = seq.new_empty(B, T, self.D * H)
            for d in range(self.D):
                sfx = "_reverse" if d else ""
                w_ih, w_hh = getattr(self, f"weight_ih_l{layer}{sfx}"), getattr(self, f"weight_hh_l{layer}{sfx}")
                b_ih = getattr(self, f"bias_ih_l{layer}{sfx}") if self.has_bias else torch.zeros(3 * H, dtype=x.dtype, device=x.device)
                b_hh = getattr(self, f"bias_hh_l{layer}{sfx}") if self.has_bias else torch.zeros(3 * H, dtype=x.dtype, device=x.device)
                h = h0[layer * self.D + d]
                for t in (range(T - 1, -1, -1) if d else range(T)):
                    a = seq[:, t] @ w_ih.t() + b_ih
                    c = h @ w_hh.t() + b_hh
                    r = torch.sigmoid(a[:, :H] + c[:, :H])
                    z = torch.sigmoid(a[:, H:2 * H] + c[:, H:2 * H])
                    n = torch.tanh(a[:, 2 * H:] + r * c[:, 2 * H:])
                    h = n + z * (h - n)
                    out[:, t, d * H:(d + 1) * H] = h
                finals.append(h)
            seq = out
        return (seq if self.batch_first else seq.transpose(0, 1)), torch.stack(finals)
