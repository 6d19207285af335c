"""make_windows with Tensor.unfold; the RNN run time-major (no batch_first), its last layer's final state from h_n."""
import torch
from torch import nn


def make_windows(series: torch.Tensor, window: int, horizon: int):
    if window < 1 or horizon < 1 or series.shape[0] < window + horizon:
        raise ValueError("series too short for window + horizon (or a size below 1)")
    spans = series.unfold(0, window + horizon, 1)  # (N, *F, window + horizon)
    spans = spans.movedim(-1, 1)  # (N, window + horizon, *F)
    return spans[:, :window], spans[:, window:]


class RNNForecaster(nn.Module):
    def __init__(self, input_size, hidden_size, horizon, num_layers=1):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, num_layers)
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, x):
        _, h_n = self.rnn(x.transpose(0, 1))  # (W, B, I) in; h_n (L, B, Hd)
        return self.head(h_n[-1])
