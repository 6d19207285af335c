"""Alternative: buffers reassigned under a no_grad block (torch.var_mean), helpers that walk the modules and dedupe by identity."""
import torch
from torch import nn


class RunningNormalizer(nn.Module):
    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.num_features = num_features
        self.momentum = momentum
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))
        self.register_buffer("batch_mean", torch.zeros(num_features), persistent=False)

    def forward(self, x):
        if self.training:
            with torch.no_grad():
                var, mean = torch.var_mean(x.reshape(-1, self.num_features), dim=0, correction=1)
                m = self.momentum
                # reassigning a registered buffer keeps it a buffer (and non-persistent stays so)
                self.running_mean = (1.0 - m) * self.running_mean + m * mean
                self.running_var = (1.0 - m) * self.running_var + m * var
                self.num_batches_tracked = self.num_batches_tracked + 1
                self.batch_mean = mean.clone()
        x_hat = (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)
        return self.weight * x_hat + self.bias


def count_parameters(model, trainable_only=False):
    seen, total = set(), 0
    for module in model.modules():
        for p in module.parameters(recurse=False):
            if id(p) in seen or (trainable_only and not p.requires_grad):
                continue
            seen.add(id(p))
            total += p.numel()
    return total


def parameter_table(model):
    rows, seen = [], set()
    for prefix, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            rows.append({"name": f"{prefix}.{name}" if prefix else name, "shape": tuple(int(s) for s in p.shape),
                         "numel": int(p.numel()), "requires_grad": bool(p.requires_grad)})
    return rows
