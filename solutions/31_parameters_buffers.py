"""Reference: parameters vs buffers. A running-statistics normalizer that keeps learnable
parameters, persistent buffers and a non-persistent buffer, plus two inspection helpers.

Checked by the exercise's suite (`grade validate`) against nn.BatchNorm1d (running statistics,
eval output) and against torch's own parameter bookkeeping (model.parameters(),
named_parameters(), state_dict()) on models with tied, shared and frozen parameters.
"""
import torch
from torch import nn


class RunningNormalizer(nn.Module):
    """y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, per feature (last dim).

    In training mode each call first folds the batch into the running statistics (an
    exponential moving average, as BatchNorm does), then normalizes with them; in eval mode
    the statistics are frozen. The statistics are state, not learnable: buffers.
    """

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        assert num_features >= 1, f"num_features must be positive, got {num_features}"
        assert 0.0 < momentum <= 1.0, f"momentum must be in (0, 1], got {momentum}"
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        # learnable: in parameters(), trained by the optimizer, saved in the state_dict
        self.weight = nn.Parameter(torch.ones(num_features))  # (F,)
        self.bias = nn.Parameter(torch.zeros(num_features))  # (F,)
        # persistent buffers: not trained, but part of the model's state, so saved and loaded
        self.register_buffer("running_mean", torch.zeros(num_features))  # (F,)
        self.register_buffer("running_var", torch.ones(num_features))  # (F,)
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))  # ()
        # non-persistent buffer: follows .to() like any buffer, but recomputed every step,
        # so it stays out of the state_dict (checkpoints do not need it)
        self.register_buffer("batch_mean", torch.zeros(num_features), persistent=False)  # (F,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == self.num_features, \
            f"expected last dim {self.num_features}, got input of shape {tuple(x.shape)}"
        if self.training:
            self.update_statistics(x)
        inv_std = torch.rsqrt(self.running_var + self.eps)  # (F,)
        return (x - self.running_mean) * inv_std * self.weight + self.bias  # (*, F)

    @torch.no_grad()  # statistics are state: no gradient flows into or through them
    def update_statistics(self, x: torch.Tensor) -> None:
        rows = x.reshape(-1, self.num_features)  # (M, F): every leading dim is a batch dim
        assert rows.shape[0] >= 2, "training mode needs at least 2 rows for an unbiased variance"
        mean = rows.mean(dim=0)  # (F,)
        var = rows.var(dim=0, unbiased=True)  # (F,), as BatchNorm's running_var
        # in place: the buffers stay the same tensors (and keep their dtype and device)
        self.running_mean.lerp_(mean, self.momentum)  # (1 - m) * running + m * batch
        self.running_var.lerp_(var, self.momentum)
        self.num_batches_tracked += 1
        self.batch_mean.copy_(mean)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters; a tensor shared by several modules or names counts once
    (model.parameters() yields each Parameter once); buffers are not parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def parameter_table(model: nn.Module) -> list[dict]:
    """One row per distinct parameter, in named_parameters() order (a shared one under its
    first name): {"name", "shape", "numel", "requires_grad"} as plain Python values."""
    return [{"name": name, "shape": tuple(p.shape), "numel": p.numel(), "requires_grad": p.requires_grad}
            for name, p in model.named_parameters()]
