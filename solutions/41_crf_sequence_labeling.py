"""Reference: a linear-chain CRF (Lafferty et al., 2001) over per-token emission scores.

score(y) = start[y_0] + sum_t emissions[t, y_t] + sum_{t>0} transitions[y_{t-1}, y_t] + end[y_{L-1}],
p(y | x) = exp(score(y)) / Z. The forward algorithm gives log Z, Viterbi the best y, both in O(T K^2).
Checked against brute-force enumeration of all K^L tag sequences by the exercise's suite.
"""
import torch
from torch import nn


class CRF(nn.Module):
    """transitions[i, j] scores tag i followed by tag j; start/end score the first and last real tag."""

    def __init__(self, num_tags: int):
        super().__init__()
        self.num_tags = num_tags
        self.start_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))  # (K,)
        self.end_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))  # (K,)
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))  # (K, K): from, to

    @staticmethod
    def full_mask(emissions: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B, T, _ = emissions.shape
        if mask is None:
            return torch.ones(B, T, dtype=torch.bool, device=emissions.device)  # (B, T)
        return mask.bool()

    def score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = self.full_mask(emissions, mask)  # (B, T)
        real = mask.to(emissions.dtype)  # (B, T): 1 for real tokens, 0 for padding
        emit = emissions.gather(2, tags.unsqueeze(-1)).squeeze(-1)  # (B, T): emissions[b, t, tags[b, t]]
        trans = self.transitions[tags[:, :-1], tags[:, 1:]]  # (B, T-1): tags[t-1] -> tags[t]
        lengths = mask.sum(dim=1)  # (B,)
        last = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)  # (B,): the last real tag, not tags[:, -1]
        # padding positions are multiplied by 0, so whatever tag they hold adds nothing
        return (self.start_transitions[tags[:, 0]] + (emit * real).sum(dim=1)
                + (trans * real[:, 1:]).sum(dim=1) + self.end_transitions[last])  # (B,)

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = self.full_mask(emissions, mask)  # (B, T)
        # alpha[b, j]: log of the summed exp-scores of all prefixes ending in tag j
        alpha = self.start_transitions + emissions[:, 0]  # (B, K)
        for t in range(1, emissions.shape[1]):
            # (B, K_from, 1) + (K_from, K_to) + (B, 1, K_to), summed over the previous tag in log space
            step = alpha.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1)  # (B, K, K)
            nxt = torch.logsumexp(step, dim=1)  # (B, K)
            alpha = torch.where(mask[:, t].unsqueeze(1), nxt, alpha)  # padding carries alpha over unchanged
        return torch.logsumexp(alpha + self.end_transitions, dim=1)  # (B,)

    def forward(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Negative log-likelihood -log p(tags | emissions), averaged over the batch (0-dim)."""
        return (self.log_partition(emissions, mask) - self.score(emissions, tags, mask)).mean()

    @torch.no_grad()
    def viterbi_decode(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> list[list[int]]:
        mask = self.full_mask(emissions, mask)  # (B, T)
        best = self.start_transitions + emissions[:, 0]  # (B, K): best score of a prefix ending in each tag
        backpointers = []  # backpointers[t - 1][b, j]: the best previous tag of tag j at step t
        for t in range(1, emissions.shape[1]):
            step = best.unsqueeze(2) + self.transitions  # (B, K_from, K_to)
            top, prev = step.max(dim=1)  # (B, K), (B, K)
            best = torch.where(mask[:, t].unsqueeze(1), top + emissions[:, t], best)  # padding keeps best
            backpointers.append(prev)
        best = best + self.end_transitions  # (B, K)
        lengths = mask.sum(dim=1).tolist()
        paths = []
        for b, length in enumerate(lengths):
            tag = int(best[b].argmax())
            path = [tag]
            for t in range(length - 1, 0, -1):  # from the last real step back to step 1
                tag = int(backpointers[t - 1][b, tag])
                path.append(tag)
            paths.append(path[::-1])  # built backwards
        return paths
