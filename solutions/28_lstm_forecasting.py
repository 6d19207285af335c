"""Reference: a chronological split standardised with the training part's statistics only, an LSTM
that forecasts `horizon` steps at once, and forecasts mapped back to the series' units.

Checked by the exercise's suite against plain definitions (the split, the statistics, a step-by-step
LSTM with weights transplanted), for leakage of validation data, and trained on a noisy sine (`grade validate`).
"""
import torch
from torch import nn


def split_and_standardize(series: torch.Tensor, n_val: int):
    """The last n_val steps are validation; both parts are standardised with the training part's mean and std."""
    n_train = series.shape[0] - n_val
    train, val = series[:n_train], series[n_train:]  # (n_train, *F), (n_val, *F): time order kept, no shuffling
    mean = train.mean(dim=0)  # (*F,) per feature, from the training part only
    std = train.std(dim=0, correction=0)  # (*F,) population std (divide by n_train), training part only
    return (train - mean) / std, (val - mean) / std, mean, std


class LSTMForecaster(nn.Module):
    """An LSTM reads the (standardised) window; a linear head maps its top layer's last hidden state to `horizon` values."""

    def __init__(self, input_size: int, hidden_size: int, horizon: int, num_layers: int = 1):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, (h_n, c_n) = self.lstm(x)  # out (B, W, hidden): top layer at every step; h_n, c_n (layers, B, hidden)
        last = h_n[-1]  # (B, hidden): the top layer's hidden state after the last step (not the cell state c_n)
        return self.head(last)  # (B, horizon), in standardised units


def forecast(model: nn.Module, history: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Forecasts in the series' own units from raw history: standardise, predict, undo the standardisation."""
    z = (history - mean) / std  # (B, W) with the training statistics, as the model was trained
    pred = model(z.unsqueeze(-1))  # (B, W, 1) -> (B, horizon), standardised units
    return pred * std + mean  # (B, horizon) back in the series' units
