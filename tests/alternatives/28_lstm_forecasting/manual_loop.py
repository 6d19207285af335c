"""Statistics written out (sum / n, sqrt of the mean squared deviation), the LSTM cell written out with one
matmul per step over the four gates, parameters registered under nn.LSTM's names."""
import math

import torch
from torch import nn


def split_and_standardize(series, n_val):
    n = series.shape[0] - n_val
    train = series[:n]
    val = series[n:]
    mean = train.sum(dim=0) / n
    std = ((train - mean).pow(2).sum(dim=0) / n).sqrt()
    return (train - mean) / std, (val - mean) / std, mean, std


class StackedLSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        k = 1 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            n_in = input_size if layer == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{layer}", nn.Parameter(torch.empty(4 * hidden_size, n_in).uniform_(-k, k)))
            self.register_parameter(f"weight_hh_l{layer}", nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-k, k)))
            self.register_parameter(f"bias_ih_l{layer}", nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k)))
            self.register_parameter(f"bias_hh_l{layer}", nn.Parameter(torch.empty(4 * hidden_size).uniform_(-k, k)))

    def forward(self, x):
        B, W, _ = x.shape
        inputs = x
        for layer in range(self.num_layers):
            W_ih = getattr(self, f"weight_ih_l{layer}")
            W_hh = getattr(self, f"weight_hh_l{layer}")
            b = getattr(self, f"bias_ih_l{layer}") + getattr(self, f"bias_hh_l{layer}")
            h = inputs.new_zeros(B, self.hidden_size)
            c = inputs.new_zeros(B, self.hidden_size)
            pre = inputs @ W_ih.T + b  # all steps' input contributions at once
            hs = inputs.new_empty(B, W, self.hidden_size)
            for t in range(W):
                gates = pre[:, t] + h @ W_hh.T
                i, f, g, o = gates.split(self.hidden_size, dim=1)
                c = f.sigmoid() * c + i.sigmoid() * g.tanh()
                h = o.sigmoid() * c.tanh()
                hs[:, t] = h
            inputs = hs
        return h


class LSTMForecaster(nn.Module):
    def __init__(self, input_size, hidden_size, horizon, num_layers=1):
        super().__init__()
        self.lstm = StackedLSTM(input_size, hidden_size, num_layers)
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, x):
        return self.head(self.lstm(x))


def forecast(model, history, mean, std):
    out = model(((history - mean) / std).unsqueeze(2))
    return out * std + mean
