"""Helpers the suite runs on both sides (the worker reaches them through `candidate.lib.support`).

Only torch is used. `keyword_task` makes the convergence data set: padded token sequences whose
class says which keyword (if any) they contain.
"""
import torch

KEYWORDS = (1, 2)  # class 1: keyword 1 present, class 2: keyword 2 present, class 0: neither


def keyword_task(n: int, width: int, min_len: int, max_len: int, vocab: int, pad_idx: int,
                 generator: torch.Generator):
    """tokens (n, width) int64 and labels (n,) int64.

    Each row has a random length L in [min_len, max_len] (<= width); positions >= L hold pad_idx.
    Real tokens are fillers (ids outside KEYWORDS and pad_idx); with probability 2/3 one of them is
    replaced by keyword 1 or 2 at a random position, and the label names it (0 = no keyword)."""
    g = generator
    fillers = torch.tensor([t for t in range(vocab) if t not in KEYWORDS and t != pad_idx])
    tokens = fillers[torch.randint(len(fillers), (n, width), generator=g)]  # (n, width)
    lengths = torch.randint(min_len, max_len + 1, (n, 1), generator=g)  # (n, 1)
    labels = torch.randint(3, (n,), generator=g)  # (n,)
    where = (torch.rand(n, 1, generator=g) * lengths).long()  # (n, 1) a position < L
    keyword = torch.tensor((0,) + KEYWORDS)[labels][:, None]  # (n, 1)
    tokens = torch.where((torch.arange(width) == where) & (labels[:, None] > 0), keyword, tokens)
    tokens = tokens.masked_fill(torch.arange(width) >= lengths, pad_idx)
    return tokens, labels
