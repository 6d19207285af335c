"""Keeps batch_mean as a plain tensor attribute: not a buffer, so it does not follow .to()."""
import torch
from torch import nn


class RunningNormalizer(nn.Module):
    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        self.batch_mean = torch.zeros(num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            rows = x.reshape(-1, self.num_features)
            with torch.no_grad():
                mean, var = rows.mean(0), rows.var(0)
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var)
                self.num_batches_tracked += 1
                self.batch_mean = mean.float()
        return (x - self.running_mean) / torch.sqrt(self.running_var + self.eps) * self.weight + self.bias


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def parameter_table(model: nn.Module) -> list[dict]:
    return [{"name": n, "shape": tuple(p.shape), "numel": p.numel(), "requires_grad": p.requires_grad}
            for n, p in model.named_parameters()]
