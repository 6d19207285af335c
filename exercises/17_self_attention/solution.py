"""Your solution for 17_self_attention: multi-head self-attention from scratch.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/17_self_attention
"""
import torch
from torch import nn


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention.

    Dimensions: B batch, T sequence length, C = d_model, H = num_heads, hd = C // H.

    Args:
        d_model: C, the width of each token vector; divisible by num_heads.
        num_heads: H, the number of attention heads.
        bias: whether the four projections have a bias.

    Submodules (names are graded: the tests load a state_dict into them):
        q_proj, k_proj, v_proj, out_proj: nn.Linear(d_model, d_model, bias=bias)
    """

    def __init__(self, d_model: int, num_heads: int, bias: bool = True):
        super().__init__()
        raise NotImplementedError("create q_proj, k_proj, v_proj and out_proj")

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None,
                causal: bool = False) -> torch.Tensor:
        """Attend every position of x to every allowed position of x.

        Args:
            x: (B, T, C) float tensor.
            key_padding_mask: optional (B, T) bool; True marks a padding key that no query may attend to.
            causal: if True, query i may only attend to keys j <= i.

        Returns:
            (B, T, C) tensor, same dtype as x. Queries with no allowed key must still give finite values.
        """
        raise NotImplementedError("project, split heads, scaled scores, mask, softmax, weighted sum, merge, project")
