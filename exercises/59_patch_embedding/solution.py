"""Your solution for 59_patch_embedding: patches, patch embedding and a tiny Vision Transformer.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/59_patch_embedding
"""
import torch
from torch import nn


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping p x p patches, one flattened patch per token.

    Dimensions: B batch, C channels, H x W pixels, p = patch_size, h = H // p, w = W // p,
    N = h * w patches.

    Args:
        images: (B, C, H, W); H and W must be multiples of p, else raise ValueError.

    Returns:
        (B, N, C*p*p): token n is the patch in patch-row n // w, patch-column n % w (row-major),
        its pixels flattened in (C, p, p) order (channel slowest, then row, then column).
    """
    raise NotImplementedError("reshape to (B, C, h, p, w, p), permute the patch indices forward, flatten")


def unpatchify(patches: torch.Tensor, patch_size: int, image_size: tuple[int, int]) -> torch.Tensor:
    """The inverse of patchify.

    Args:
        patches: (B, N, C*p*p) as patchify returns them.
        patch_size: p.
        image_size: (H, W) of the images; ValueError unless they tile into exactly N patches
            and the last dim is a multiple of p*p.

    Returns:
        (B, C, H, W) with unpatchify(patchify(x, p), p, x.shape[-2:]) == x exactly.
    """
    raise NotImplementedError("reshape to (B, h, w, C, p, p), undo patchify's permutation, reshape to (B, C, H, W)")


class PatchEmbedding(nn.Module):
    """A linear projection of flattened patches: (B, C, H, W) -> (B, N, E).

    Submodules (names are graded: the tests load a state_dict into them):
        proj: nn.Linear(in_channels * patch_size * patch_size, embed_dim)
    """

    def __init__(self, in_channels: int, patch_size: int, embed_dim: int):
        super().__init__()
        raise NotImplementedError("create proj")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> (B, N, E); ValueError when H or W is not a multiple of patch_size."""
        raise NotImplementedError("proj(patchify(images))")


class TinyViT(nn.Module):
    """A Vision Transformer classifier: [CLS] + patch tokens + learned positions -> encoder -> head.

    Args:
        image_size: H (square) or (H, W); multiples of patch_size, else ValueError.
        patch_size: p.  in_channels: C.  num_classes: K.
        embed_dim: E.  depth: encoder layers.  num_heads: attention heads (E divisible by it).

    Submodules and parameters (names and shapes are graded: the tests load a state_dict):
        patch_embed: PatchEmbedding(C, p, E)
        cls_token:   nn.Parameter (1, 1, E)
        pos_embed:   nn.Parameter (1, N + 1, E); row 0 belongs to [CLS]
        encoder:     nn.TransformerEncoder(layer, depth) with
                     layer = nn.TransformerEncoderLayer(E, num_heads, dim_feedforward=4 * E,
                             dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        norm:        nn.LayerNorm(E)
        head:        nn.Linear(E, K)
    """

    def __init__(self, image_size: int | tuple[int, int], patch_size: int, in_channels: int, num_classes: int,
                 embed_dim: int = 32, depth: int = 2, num_heads: int = 2):
        super().__init__()
        raise NotImplementedError("create patch_embed, cls_token, pos_embed, encoder, norm and head")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> logits (B, K), read from the [CLS] token after the final norm."""
        raise NotImplementedError("embed patches, prepend [CLS], add pos_embed, encode, norm, head on token 0")
