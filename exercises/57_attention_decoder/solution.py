"""Your solution for 57_attention_decoder: a Luong attention decoder step over encoder outputs.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/57_attention_decoder
"""
import torch
from torch import nn


class LuongAttention(nn.Module):
    """Luong ("global") attention of one decoder state over the encoder outputs.

    Dimensions: B batch, S source length, H hidden.

    Args:
        hidden: H, the width of the decoder state and of each encoder output.
        score: "dot" (score = h_tᵀ h̄_s, no parameters) or
               "general" (score = h_tᵀ W_a h̄_s, with W_a = nn.Linear(hidden, hidden, bias=False)).

    Submodules (names are graded): W_a, only when score == "general".
    """

    def __init__(self, hidden: int, score: str = "dot"):
        super().__init__()
        raise NotImplementedError("store the score kind; create W_a for 'general'")

    def forward(self, query: torch.Tensor, encoder_outputs: torch.Tensor,
                src_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Args:
            query: (B, H) the decoder's current hidden state h_t.
            encoder_outputs: (B, S, H).
            src_mask: optional (B, S) bool, True = a VALID source position (False = padding, never attended).

        Returns:
            context (B, H) and attention weights (B, S): exactly 0 where src_mask is False, rows sum to 1.
        """
        raise NotImplementedError("scores, mask, softmax over S, weighted sum of the encoder outputs")


class AttentionDecoder(nn.Module):
    """A GRU decoder with Luong attention (no input feeding). The state is h: (B, H).

    Dimensions: B batch, S source length, T target length, V vocab_size, E embed_dim, H hidden.

    Submodules (names are graded: the tests load a state_dict into them):
        embedding: nn.Embedding(vocab_size, embed_dim)
        cell:      nn.GRUCell(embed_dim, hidden)
        attention: LuongAttention(hidden, score)
        W_c:       nn.Linear(2 * hidden, hidden, bias=False), applied to the concatenation [context; h]
        out:       nn.Linear(hidden, vocab_size)
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int, score: str = "general", bos_id: int = 0):
        super().__init__()
        raise NotImplementedError("create embedding, cell, attention, W_c and out; keep bos_id")

    def step(self, prev_token: torch.Tensor, state: torch.Tensor, encoder_outputs: torch.Tensor,
             src_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One decoding step.

        Args:
            prev_token: (B,) int64, the previous output token y_{t-1}.
            state: (B, H), the previous hidden state h_{t-1}.
            encoder_outputs: (B, S, H).
            src_mask: optional (B, S) bool, True = valid source position.

        Returns:
            logits (B, V), the new state h_t (B, H), attention weights (B, S).
        """
        raise NotImplementedError("h_t = cell(embed(y_{t-1}), h_{t-1}); attend with h_t; tanh(W_c [c; h_t]); out")

    def forward(self, targets: torch.Tensor, state: torch.Tensor, encoder_outputs: torch.Tensor,
                src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher forcing: step t is fed bos_id at t = 0 and targets[:, t - 1] afterwards.

        Args:
            targets: (B, T) int64; state: (B, H) initial state; encoder_outputs (B, S, H); src_mask (B, S).

        Returns:
            logits (B, T, V), equal to running `step` T times.
        """
        raise NotImplementedError("run step over [BOS, targets[:, :-1]] and stack the logits")
