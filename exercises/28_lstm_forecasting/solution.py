"""Your solution for 28_lstm_forecasting: a leak-free split and standardisation, an LSTM forecaster, forecasts in
the series' units.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/28_lstm_forecasting
"""
import torch
from torch import nn


def split_and_standardize(series: torch.Tensor, n_val: int):
    """Split a series by time and standardise both parts with the training part's statistics.

    Dimensions: T time steps, F features per step (optional), n_train = T - n_val.

    Args:
        series: (T,) or (T, F) float tensor, oldest step first. Not modified.
        n_val: number of final steps held out for validation, 1 <= n_val <= T - 2.

    Returns:
        train_z: (n_train,) or (n_train, F), (series[:n_train] - mean) / std.
        val_z: (n_val,) or (n_val, F), (series[n_train:] - mean) / std.
        mean: () or (F,), mean over time of series[:n_train] only.
        std: () or (F,), population std (divide by n_train) over time of series[:n_train] only.
        All the dtype of series.
    """
    raise NotImplementedError("split by time, then statistics of the training part only")


class LSTMForecaster(nn.Module):
    """Reads a standardised window with an LSTM; forecasts the next `horizon` values from its last hidden state.

    Dimensions: B batch, W window length, I = input_size, Hd = hidden_size, L = num_layers.

    Submodules (names are graded: the tests load a state_dict into them):
        lstm: nn.LSTM(input_size, hidden_size, num_layers=num_layers) (with biases; time on dim 1 of x)
        head: nn.Linear(hidden_size, horizon)
    """

    def __init__(self, input_size: int, hidden_size: int, horizon: int, num_layers: int = 1):
        super().__init__()
        raise NotImplementedError("create lstm and head")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, W, I). Returns (B, horizon): head(top layer's hidden state h after step W), h_0 = c_0 = 0."""
        raise NotImplementedError("run the LSTM, take the top layer's last hidden state, apply head")


def forecast(model: nn.Module, history: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Forecast a univariate series in its own units.

    Args:
        model: maps standardised windows (B, W, 1) to standardised forecasts (B, horizon).
        history: (B, W) raw values, the last W steps of B series. Not modified.
        mean, std: () training statistics, as returned by split_and_standardize for a (T,) series.

    Returns:
        (B, horizon) forecasts in the series' units (not standardised).
    """
    raise NotImplementedError("standardise the history, run the model, undo the standardisation")
