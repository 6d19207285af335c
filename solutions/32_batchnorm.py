"""Reference: batch normalization from scratch (Ioffe & Szegedy, 2015, algorithm 1 and section 3.1).

One module for (N, C), (N, C, L) and (N, C, H, W) inputs, with the conventions and the
state_dict of nn.BatchNorm1d / nn.BatchNorm2d (checked against them by the exercise's suite).
"""
import torch
from torch import nn


class BatchNorm(nn.Module):
    """y = (x - E[x]) / sqrt(Var[x] + eps) * gamma + beta, per channel (dim 1).

    Training: E and Var are the batch's, over every dim but the channel dim (Var biased, 1/n);
    the running estimates move towards them (running_var towards the unbiased 1/(n-1) Var).
    Eval: the running estimates replace the batch's (unless track_running_stats=False).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))  # gamma (C,)
            self.bias = nn.Parameter(torch.zeros(num_features))  # beta (C,)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            # buffers: saved in the state_dict and moved by .to(), but not trained
            self.register_buffer("running_mean", torch.zeros(num_features))  # (C,)
            self.register_buffer("running_var", torch.ones(num_features))  # (C,)
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))  # ()
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() >= 2 and x.shape[1] == self.num_features, \
            f"expected (N, {self.num_features}, *), got {tuple(x.shape)}"
        dims = [0, *range(2, x.dim())]  # every dim but the channels: N and the positions
        shape = [1, self.num_features] + [1] * (x.dim() - 2)  # (1, C, 1, ...) broadcasts per channel
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats:
            n = x.numel() // self.num_features  # values per channel
            if n < 2:
                raise ValueError(f"Expected more than 1 value per channel when training, got input of "
                                 f"shape {tuple(x.shape)}")
            mean = x.mean(dim=dims)  # (C,)
            var = x.var(dim=dims, unbiased=False)  # (C,) biased: the variance of this very batch
            if self.training and self.track_running_stats:
                self.update_running_stats(mean, var, n)
        else:
            mean, var = self.running_mean, self.running_var  # (C,)
        x_hat = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)  # (N, C, *)
        if self.affine:
            x_hat = x_hat * self.weight.view(shape) + self.bias.view(shape)  # (N, C, *)
        return x_hat

    @torch.no_grad()  # the estimates are statistics, not part of the graph: no history kept
    def update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, n: int) -> None:
        self.num_batches_tracked += 1
        # momentum=None: cumulative moving average, every batch so far weighted equally
        f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        # running = (1 - f) * running + f * batch; the variance estimate is unbiased: n / (n - 1)
        self.running_mean.mul_(1 - f).add_(mean, alpha=f)
        self.running_var.mul_(1 - f).add_(var * (n / (n - 1)), alpha=f)
