"""Your solution for 50_positional_encoding: sinusoidal and learned positional encodings.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/50_positional_encoding
"""
import torch
from torch import nn


def sinusoidal_table(max_len: int, d_model: int, base: float = 10000.0,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The fixed encodings of "Attention Is All You Need" (section 3.5).

    Dimensions: L = max_len positions t = 0 .. L-1, D = d_model columns (any D >= 1, odd too).

        PE[t, 2i]   = sin(t * w_i)
        PE[t, 2i+1] = cos(t * w_i)        with w_i = base ** (-2i / D)

    (an odd D ends with a sin column that has no cos partner).

    Returns:
        (L, D) tensor of `dtype`. With dtype=torch.float64 it must be float64-accurate.
    """
    raise NotImplementedError("positions (L, 1) times frequencies (ceil(D/2),): sin into even columns, cos into odd")


class PositionalEncoding(nn.Module):
    """Adds sinusoidal_table(max_len, d_model)[:T] to x, then applies dropout.

    Dimensions: B batch, T sequence length (T <= max_len), D = d_model.

    Args:
        d_model: D.
        max_len: the longest sequence the module accepts.
        dropout: probability of nn.Dropout applied after the addition (train mode only).
        batch_first: x is (B, T, D) if True, (T, B, D) if False.

    State (graded): the table is a buffer named `pe` of shape (max_len, d_model), float32,
    registered with persistent=False: not a Parameter, not in the state_dict.
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0, batch_first: bool = True):
        super().__init__()
        raise NotImplementedError("build the table and register it as a non-persistent buffer `pe`")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, D) or (T, B, D) -> same shape and dtype as x.

        Raises ValueError (saying T and max_len) when T > max_len. Never modifies x in place."""
        raise NotImplementedError("x + pe[:T] (in x's dtype, broadcast over the batch dim), then dropout")


class LearnedPositionalEmbedding(nn.Module):
    """Adds a trained vector per position (BERT / GPT-2 style), then applies dropout.

    Same arguments, layouts, dtype rule and max_len error as PositionalEncoding.

    Submodules (names are graded: the tests load a state_dict into them):
        embedding: nn.Embedding(max_len, d_model); row t is the vector of position t.
    """

    def __init__(self, d_model: int, max_len: int, dropout: float = 0.0, batch_first: bool = True):
        super().__init__()
        raise NotImplementedError("create `embedding` (max_len rows) and the dropout")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, D) or (T, B, D) -> same shape and dtype as x."""
        raise NotImplementedError("x + embedding rows 0..T-1, broadcast over the batch dim, then dropout")
