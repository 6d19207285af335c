"""Reference: sliding windows over a time series, and an RNN that forecasts the next `horizon` values.

Checked by the exercise's suite against a plain-loop definition of the windows and a plain-loop
tanh RNN (weights transplanted), and trained on a sine wave (`grade validate`).
"""
import torch
from torch import nn


def make_windows(series: torch.Tensor, window: int, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """X[i] = series[i : i + window], Y[i] = series[i + window : i + window + horizon], i in time order."""
    if window < 1 or horizon < 1:
        raise ValueError(f"window ({window}) and horizon ({horizon}) must be at least 1")
    T = series.shape[0]
    n = T - window - horizon + 1  # number of (window, target) pairs that fit entirely inside the series
    if n < 1:
        raise ValueError(f"a series of length {T} is too short for window {window} + horizon {horizon}")
    start = torch.arange(n, device=series.device)  # (N,) first time step of each window
    X = series[start[:, None] + torch.arange(window, device=series.device)]  # (N, window, *F)
    Y = series[start[:, None] + window + torch.arange(horizon, device=series.device)]  # (N, horizon, *F)
    return X, Y


class RNNForecaster(nn.Module):
    """A tanh RNN reads the window; a linear head maps its last hidden state to `horizon` forecasts."""

    def __init__(self, input_size: int, hidden_size: int, horizon: int, num_layers: int = 1):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, h_n = self.rnn(x)  # out (B, W, hidden): the last layer at every step; h_n (layers, B, hidden)
        last = out[:, -1]  # (B, hidden): the last layer after the whole window (equals h_n[-1])
        return self.head(last)  # (B, horizon): every step ahead at once, from the final state
