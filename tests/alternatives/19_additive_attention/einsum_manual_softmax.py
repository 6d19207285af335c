"""Additive attention written with einsum on the Linear weights and a hand-written max-subtracted softmax."""
import torch
import torch.nn as nn


class AdditiveAttention(nn.Module):
    def __init__(self, query_dim, key_dim, hidden_dim):
        super().__init__()
        self.W_q = nn.Linear(query_dim, hidden_dim, bias=False)
        self.W_k = nn.Linear(key_dim, hidden_dim)
        self.v = nn.Linear(hidden_dim, 1, bias=False)

    def forward(self, query, keys, values, mask=None):
        q_part = torch.einsum("bq,hq->bh", query, self.W_q.weight)  # (B, hidden)
        k_part = torch.einsum("bsk,hk->bsh", keys, self.W_k.weight) + self.W_k.bias  # (B, S, hidden)
        energy = torch.tanh(k_part + q_part.unsqueeze(1))  # (B, S, hidden)
        scores = torch.einsum("bsh,h->bs", energy, self.v.weight[0])  # (B, S)
        if mask is None:
            mask = torch.ones_like(scores, dtype=torch.bool)
        neg_inf = torch.tensor(float("-inf"), dtype=scores.dtype, device=scores.device)
        scores = torch.where(mask, scores, neg_inf)
        top = scores.max(dim=1, keepdim=True).values  # (B, 1), finite: every row has a valid position
        e = torch.where(mask, torch.exp(scores - top), torch.zeros_like(scores))
        weights = e / e.sum(dim=1, keepdim=True)  # (B, S)
        context = torch.einsum("bs,bsd->bd", weights, values)  # (B, Dv)
        return context, weights
