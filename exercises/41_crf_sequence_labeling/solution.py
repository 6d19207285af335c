"""Your solution for 41_crf_sequence_labeling: a linear-chain CRF.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/41_crf_sequence_labeling
"""
import torch
from torch import nn


class CRF(nn.Module):
    """A linear-chain conditional random field over K tags.

    Dimensions: B batch, T padded sequence length, K = num_tags, L_b = mask[b].sum() the length of sequence b.

    Parameters (names and shapes are graded: the tests load a state_dict into them):
        start_transitions: (K,)   score of starting a sequence with tag k
        end_transitions:   (K,)   score of ending a sequence (at its last real token) with tag k
        transitions:       (K, K) transitions[i, j] = score of tag i followed by tag j (from i, to j)

    The score of tags y of one sequence of length L:
        start[y_0] + sum_{t<L} emissions[t, y_t] + sum_{0<t<L} transitions[y_{t-1}, y_t] + end[y_{L-1}]
    and p(y | emissions) = exp(score(y)) / Z, Z summing exp(score) over all K^L tag sequences.

    mask: (B, T) bool, True at real tokens, left-aligned (each row is True then False) with mask[:, 0]
    always True; None means every token is real. Padded positions (emissions, tags) must not matter.
    """

    def __init__(self, num_tags: int):
        super().__init__()
        raise NotImplementedError("create start_transitions (K,), end_transitions (K,), transitions (K, K)")

    def score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """emissions (B, T, K) float, tags (B, T) int64 in [0, K), mask (B, T) bool or None
        -> (B,) the score of each sequence's tags (real tokens only), dtype of emissions."""
        raise NotImplementedError("start + emissions + transitions + end, over the real tokens")

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """emissions (B, T, K), mask (B, T) bool or None -> (B,) log Z of each sequence (the forward algorithm)."""
        raise NotImplementedError("the forward algorithm in log space, O(T K^2)")

    def forward(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The negative log-likelihood -log p(tags | emissions), averaged over the B sequences: a 0-dim tensor."""
        raise NotImplementedError("log Z - score, mean over the batch")

    def viterbi_decode(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> list[list[int]]:
        """emissions (B, T, K), mask (B, T) bool or None -> B lists of Python ints, the b-th of length L_b:
        the tag sequence of highest score."""
        raise NotImplementedError("max instead of logsumexp, keep backpointers, backtrack from the best last tag")
