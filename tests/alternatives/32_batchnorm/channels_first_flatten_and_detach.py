"""Alternative: channels moved first and flattened to (C, n), statistics from sums, running stats reassigned from detached tensors, plain None attributes."""
import torch
from torch import nn


class BatchNorm(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def _channel(self, t, ndim):
        return t.reshape([1, self.num_features] + [1] * (ndim - 2))

    def forward(self, x):
        C = self.num_features
        cols = x.transpose(0, 1).reshape(C, -1)  # (C, n)
        n = cols.shape[1]
        if self.training or self.running_mean is None:
            if n <= 1:
                raise ValueError(f"Expected more than 1 value per channel when training, got {tuple(x.shape)}")
            mean = cols.sum(dim=1) / n
            var = ((cols - mean[:, None]) ** 2).sum(dim=1) / n
            if self.training and self.running_mean is not None:
                self.num_batches_tracked.add_(1)
                if self.momentum is None:
                    f = 1.0 / self.num_batches_tracked.item()
                else:
                    f = self.momentum
                self.running_mean = (1 - f) * self.running_mean + f * mean.detach()
                self.running_var = (1 - f) * self.running_var + f * var.detach() * n / (n - 1)
        else:
            mean, var = self.running_mean, self.running_var
        out = (x - self._channel(mean, x.dim())) * self._channel(torch.rsqrt(var + self.eps), x.dim())
        if self.weight is not None:
            out = out * self._channel(self.weight, x.dim()) + self._channel(self.bias, x.dim())
        return out
