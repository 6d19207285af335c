"""Alternative: every step computed for the whole batch (padding included) and the state at each sequence's last
real token gathered by length; log Z by a rescaled matrix product in probability space; one-hot einsum scores;
Viterbi backtracking vectorized over the batch with gather."""
import torch
import torch.nn.functional as F
from torch import nn


class CRF(nn.Module):
    def __init__(self, num_tags):
        super().__init__()
        self.num_tags = num_tags
        self.start_transitions = nn.Parameter(torch.zeros(num_tags))
        self.end_transitions = nn.Parameter(torch.zeros(num_tags))
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))
        nn.init.normal_(self.transitions, std=0.1)

    def _last(self, emissions, mask):
        B, T, _ = emissions.shape
        if mask is None:
            return torch.full((B,), T - 1, dtype=torch.long, device=emissions.device)
        return mask.long().sum(1) - 1

    def score(self, emissions, tags, mask=None):
        B, T, K = emissions.shape
        m = torch.ones(B, T, dtype=emissions.dtype) if mask is None else mask.to(emissions.dtype)
        onehot = F.one_hot(tags, K).to(emissions.dtype) * m[..., None]  # zero rows at padding
        s = torch.einsum("btk,btk->b", onehot, emissions)
        s = s + torch.einsum("bti,ij,btj->b", onehot[:, :-1], self.transitions, onehot[:, 1:])
        last_tag = tags.gather(1, self._last(emissions, mask)[:, None])[:, 0]
        return s + self.start_transitions[tags[:, 0]] + self.end_transitions[last_tag]

    def log_partition(self, emissions, mask=None):
        # log alpha_t = c + log(exp(log alpha_{t-1} - c) @ exp(transitions - tmax)) + tmax + emissions_t
        tmax = self.transitions.max()
        P = (self.transitions - tmax).exp()
        a = self.start_transitions + emissions[:, 0]
        alphas = [a]
        for t in range(1, emissions.shape[1]):
            c = a.max(dim=1, keepdim=True).values.detach()
            a = ((a - c).exp() @ P).log() + c + tmax + emissions[:, t]
            alphas.append(a)
        alphas = torch.stack(alphas, 1)  # B, T, K
        idx = self._last(emissions, mask)[:, None, None].expand(-1, 1, self.num_tags)
        final = alphas.gather(1, idx)[:, 0] + self.end_transitions
        c = final.max(dim=1, keepdim=True).values.detach()
        return ((final - c).exp().sum(1, keepdim=True).log() + c)[:, 0]

    def forward(self, emissions, tags, mask=None):
        return torch.mean(self.log_partition(emissions, mask) - self.score(emissions, tags, mask))

    def viterbi_decode(self, emissions, mask=None):
        with torch.no_grad():
            B, T, K = emissions.shape
            v = self.start_transitions + emissions[:, 0]
            vs, ptrs = [v], [torch.zeros(B, K, dtype=torch.long)]
            for t in range(1, T):
                v, arg = (v[:, :, None] + self.transitions).max(1)
                v = v + emissions[:, t]
                vs.append(v)
                ptrs.append(arg)
            vs, ptrs = torch.stack(vs, 1), torch.stack(ptrs, 1)  # B, T, K
            last = self._last(emissions, mask)
            final = vs[torch.arange(B), last] + self.end_transitions
            out = torch.zeros(B, T, dtype=torch.long)
            cur = final.argmax(1)
            for t in range(T - 1, -1, -1):
                here = t <= last  # sequences that have reached their real part
                cur = torch.where(t == last, final.argmax(1), cur)
                out[:, t] = torch.where(here, cur, out[:, t])
                cur = torch.where(here & (t > 0), ptrs[:, t].gather(1, cur[:, None])[:, 0], cur)
            return [row[: n + 1] for row, n in zip(out.tolist(), last.tolist())]
