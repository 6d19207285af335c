"""Takes the log-probabilities from torch.distributions.Categorical(logits=...).logits (a log-softmax under another name)."""
import torch


def log_probabilities(logits, dim):
    return torch.distributions.Categorical(logits=logits.movedim(dim, -1)).logits.movedim(-1, dim)
