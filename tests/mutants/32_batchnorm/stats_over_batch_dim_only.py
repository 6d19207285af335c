"""Takes the statistics over the batch dim only (x.mean(0)), so (N, C, L) and (N, C, H, W) inputs are normalized per position."""
import torch
from torch import nn


class BatchNorm(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        if self.training or not self.track_running_stats:
            if x.numel() // x.shape[1] == 1:
                raise ValueError("need more than one value per channel in training")
            n = x.shape[0]
            mean = x.mean(0)  # (C, *positions)
            var = x.var(0, unbiased=False)
            if self.training and self.track_running_stats:
                with torch.no_grad():
                    self.num_batches_tracked += 1
                    m = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
                    # the buffers are (C,): average the per-position statistics
                    batch_mean = mean.reshape(len(mean), -1).mean(1)
                    batch_var = (var * n / max(n - 1, 1)).reshape(len(var), -1).mean(1)
                    self.running_mean.copy_((1 - m) * self.running_mean + m * batch_mean)
                    self.running_var.copy_((1 - m) * self.running_var + m * batch_var)
        else:
            shape = [-1] + [1] * (x.dim() - 2)
            mean, var = self.running_mean.view(shape), self.running_var.view(shape)
        y = (x - mean) / torch.sqrt(var + self.eps)
        if self.affine:
            shape = [-1] + [1] * (x.dim() - 2)
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y
