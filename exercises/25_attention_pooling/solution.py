"""Your solution for 25_attention_pooling: learned-query attention pooling with a padding mask,
and a BiLSTM + attention text classifier.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/25_attention_pooling
"""
import torch
from torch import nn


class AttentionPooling(nn.Module):
    """Attention pooling with a learned query (Yang et al., 2016):

        u_t = tanh(W h_t + b);  score_t = u_t . query;  weights = softmax over the REAL tokens t;
        pooled = sum_t weights_t h_t

    Dimensions: B batch, T tokens, D = dim (width of h), A = hidden (width of u).

    Args:
        dim: D.
        hidden: A; None means A = D.

    Parameters (names are graded: the tests load a state_dict into them):
        proj:  nn.Linear(dim, hidden)            -> proj.weight (A, D), proj.bias (A,)
        query: nn.Parameter of shape (hidden,)   -> query (A,)
    """

    def __init__(self, dim: int, hidden: int | None = None):
        super().__init__()
        raise NotImplementedError("create proj and query")

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Pool the T hidden states of each row into one vector.

        Args:
            h: (B, T, D) float tensor.
            mask: optional (B, T) bool; True marks a REAL token (False = padding, never attended to).
                None: every token is real.

        Returns:
            pooled: (B, D), same dtype as h.
            weights: (B, T): >= 0, exactly 0 where mask is False, each row sums to 1.
                A row with no real token at all gives weights all 0 and pooled all 0 (no NaN).
        """
        raise NotImplementedError("scores = tanh(proj(h)) @ query, mask with -inf, softmax over T, weighted sum")


class BiLSTMAttentionClassifier(nn.Module):
    """Embedding -> bidirectional LSTM over the real tokens -> AttentionPooling -> Linear head.

    Dimensions: B batch, T padded length, V = vocab_size, E = embed_dim, H = hidden_size,
    C = num_classes.

    Submodules (names are graded):
        embedding: nn.Embedding(vocab_size, embed_dim, padding_idx=pad_idx)
        lstm:      nn.LSTM(embed_dim, hidden_size, batch_first=True, bidirectional=True)
        pooling:   AttentionPooling(2 * hidden_size)          (hidden defaults to 2H)
        head:      nn.Linear(2 * hidden_size, num_classes)
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, num_classes: int, pad_idx: int = 0):
        super().__init__()
        raise NotImplementedError("create embedding, lstm, pooling and head")

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Classify a right-padded batch of token sequences.

        Args:
            tokens: (B, T) int64; row b has lengths[b] real tokens, then pad_idx up to T.
            lengths: (B,) int64, each in 1..T, in any order (NOT sorted).

        Returns:
            logits: (B, C).
            weights: (B, T), the attention weights: exactly 0 at t >= lengths[b], rows sum to 1.

        The output of a row must not depend on the padding: run the LSTM with
        pack_padded_sequence / pad_packed_sequence so its backward direction never sees pad tokens.
        """
        raise NotImplementedError("embed, pack, BiLSTM, unpack (total_length=T), pool with the mask, head")
