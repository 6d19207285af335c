"""Statistics from torch.var_mean, the split by Tensor.split; nn.LSTM run time-major and read from its output
sequence; forecast() under no_grad, in eval mode."""
import torch
from torch import nn


def split_and_standardize(series, n_val):
    train, val = series.split([series.shape[0] - n_val, n_val])
    var, mean = torch.var_mean(train, dim=0, correction=0)
    std = var.sqrt()
    return (train - mean) / std, (val - mean) / std, mean, std


class LSTMForecaster(nn.Module):
    def __init__(self, input_size, hidden_size, horizon, num_layers=1):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers)
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, x):
        out, _ = self.lstm(x.permute(1, 0, 2))  # (W, B, Hd): the top layer at each step
        return self.head(out[-1])


@torch.no_grad()
def forecast(model, history, mean, std):
    model.eval()
    z = (history - mean) / std
    return torch.addcmul(mean, model(z[:, :, None]), std)
