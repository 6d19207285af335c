"""Your solution for 14_rnn_forecasting: sliding windows over a time series and an RNN forecaster.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/14_rnn_forecasting
"""
import torch
from torch import nn


def make_windows(series: torch.Tensor, window: int, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut a series into (input window, target) pairs, in time order.

    Dimensions: T time steps, F features per step (optional), N = T - window - horizon + 1 pairs.

    Args:
        series: (T,) or (T, F) float tensor, oldest step first. Not modified.
        window: number of past steps in each input window (>= 1).
        horizon: number of future steps in each target (>= 1).

    Returns:
        X: (N, window) or (N, window, F), X[i] = series[i : i + window].
        Y: (N, horizon) or (N, horizon, F), Y[i] = series[i + window : i + window + horizon].
        Same dtype as series.

    Raises:
        ValueError: if window < 1, horizon < 1, or T < window + horizon (no pair fits).
    """
    raise NotImplementedError("one window starting at every step i = 0 .. N - 1, its targets right after it")


class RNNForecaster(nn.Module):
    """Reads a window with a tanh RNN and forecasts the next `horizon` values from its last hidden state.

    Dimensions: B batch, W window length, I = input_size, Hd = hidden_size, L = num_layers.

    Submodules (names are graded: the tests load a state_dict into them):
        rnn: nn.RNN(input_size, hidden_size, num_layers=num_layers) (tanh, with biases; time on dim 1 of x)
        head: nn.Linear(hidden_size, horizon)
    """

    def __init__(self, input_size: int, hidden_size: int, horizon: int, num_layers: int = 1):
        super().__init__()
        raise NotImplementedError("create rnn and head")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, W, I) float windows. Returns (B, horizon): head(top layer's hidden state after step W), h_0 = 0."""
        raise NotImplementedError("run the RNN over the window, take the top layer's last hidden state, apply head")
