"""Windows built by a Python loop and torch.stack; the tanh RNN written out step by step, its parameters
registered under nn.RNN's names so that the state_dict matches."""
import math

import torch
from torch import nn


def make_windows(series, window, horizon):
    n = len(series) - window - horizon + 1
    if window <= 0 or horizon <= 0 or n <= 0:
        raise ValueError(f"cannot cut windows of {window} + {horizon} from {len(series)} steps")
    xs = [series[i:i + window] for i in range(n)]
    ys = [series[i + window:i + window + horizon] for i in range(n)]
    return torch.stack(xs), torch.stack(ys)


class TanhRNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers):
        super().__init__()
        self.num_layers = num_layers
        bound = 1 / math.sqrt(hidden_size)
        for l in range(num_layers):
            fan_in = input_size if l == 0 else hidden_size
            for name, shape in [("weight_ih", (hidden_size, fan_in)), ("weight_hh", (hidden_size, hidden_size)),
                                ("bias_ih", (hidden_size,)), ("bias_hh", (hidden_size,))]:
                setattr(self, f"{name}_l{l}", nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))

    def forward(self, x):
        seq = x.unbind(1)
        for l in range(self.num_layers):
            w_ih, w_hh = getattr(self, f"weight_ih_l{l}"), getattr(self, f"weight_hh_l{l}")
            b = getattr(self, f"bias_ih_l{l}") + getattr(self, f"bias_hh_l{l}")
            h = x.new_zeros(x.shape[0], w_hh.shape[0])
            outs = []
            for x_t in seq:
                h = torch.tanh(x_t @ w_ih.T + h @ w_hh.T + b)
                outs.append(h)
            seq = outs
        return seq[-1]


class RNNForecaster(nn.Module):
    def __init__(self, input_size, hidden_size, horizon, num_layers=1):
        super().__init__()
        self.rnn = TanhRNN(input_size, hidden_size, num_layers)
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, x):
        return self.head(self.rnn(x))
