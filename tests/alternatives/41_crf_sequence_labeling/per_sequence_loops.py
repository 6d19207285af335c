"""Alternative: one sequence at a time (cut to its length), a hand-written stable log-sum-exp, plain-list Viterbi."""
import torch
from torch import nn


def log_sum_exp(x, dim):
    m = x.max(dim=dim, keepdim=True).values
    return (m + (x - m).exp().sum(dim=dim, keepdim=True).log()).squeeze(dim)


class CRF(nn.Module):
    def __init__(self, num_tags):
        super().__init__()
        self.start_transitions = nn.Parameter(0.01 * torch.randn(num_tags))
        self.end_transitions = nn.Parameter(0.01 * torch.randn(num_tags))
        self.transitions = nn.Parameter(0.01 * torch.randn(num_tags, num_tags))

    def _lengths(self, emissions, mask):
        if mask is None:
            return [emissions.shape[1]] * emissions.shape[0]
        return [int(n) for n in mask.long().sum(dim=1)]

    def score(self, emissions, tags, mask=None):
        out = []
        for e, y, n in zip(emissions, tags, self._lengths(emissions, mask)):
            s = self.start_transitions[y[0]] + self.end_transitions[y[n - 1]]
            for t in range(n):
                s = s + e[t, y[t]]
                if t > 0:
                    s = s + self.transitions[y[t - 1], y[t]]
            out.append(s)
        return torch.stack(out)

    def log_partition(self, emissions, mask=None):
        out = []
        for e, n in zip(emissions, self._lengths(emissions, mask)):
            alpha = self.start_transitions + e[0]
            for t in range(1, n):
                alpha = log_sum_exp(alpha[:, None] + self.transitions, dim=0) + e[t]
            out.append(log_sum_exp(alpha + self.end_transitions, dim=0))
        return torch.stack(out)

    def forward(self, emissions, tags, mask=None):
        return (self.log_partition(emissions, mask) - self.score(emissions, tags, mask)).mean()

    def viterbi_decode(self, emissions, mask=None):
        paths = []
        with torch.no_grad():
            for e, n in zip(emissions, self._lengths(emissions, mask)):
                v = self.start_transitions + e[0]
                pointers = []
                for t in range(1, n):
                    cand = v[:, None] + self.transitions
                    v, arg = cand.max(dim=0)
                    v = v + e[t]
                    pointers.append(arg.tolist())
                last = int((v + self.end_transitions).argmax())
                path = [last]
                for arg in reversed(pointers):
                    path.insert(0, arg[path[0]])
                paths.append(path)
        return paths
