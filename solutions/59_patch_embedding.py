"""Reference: patches, patch embedding and a tiny Vision Transformer
(Dosovitskiy et al., 2021, "An Image is Worth 16x16 Words").

An image (C, H, W) becomes N = (H/p)(W/p) tokens: the p x p patches in row-major order, each
flattened in (C, p, p) order, so that a Linear on them is exactly nn.Conv2d(kernel=stride=p)
with conv.weight.reshape(E, C*p*p) (checked by the exercise's suite, `grade validate`).
"""
import torch
from torch import nn


def patch_grid(H: int, W: int, patch_size: int) -> tuple[int, int]:
    """(h, w) patches per column and per row; the image must tile exactly."""
    if patch_size < 1:
        raise ValueError(f"patch_size must be >= 1, got {patch_size}")
    if H % patch_size or W % patch_size:
        raise ValueError(f"image size {H}x{W} is not divisible by patch_size={patch_size} "
                         f"(remainders {H % patch_size} and {W % patch_size}): crop or pad first")
    return H // patch_size, W // patch_size


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C*p*p); patch n = (row n // w, column n % w)."""
    if images.dim() != 4:
        raise ValueError(f"expected images of shape (B, C, H, W), got {tuple(images.shape)}")
    B, C, H, W = images.shape
    p = patch_size
    h, w = patch_grid(H, W, p)
    x = images.reshape(B, C, h, p, w, p)  # (B, C, h, p, w, p): split each axis into (patch, pixel)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, h, w, C, p, p): patch indices first, then the patch's content
    return x.reshape(B, h * w, C * p * p)  # (B, N, C*p*p)


def unpatchify(patches: torch.Tensor, patch_size: int, image_size: tuple[int, int]) -> torch.Tensor:
    """(B, N, C*p*p) -> (B, C, H, W), the inverse of patchify."""
    if patches.dim() != 3:
        raise ValueError(f"expected patches of shape (B, N, C*p*p), got {tuple(patches.shape)}")
    B, N, K = patches.shape
    p = patch_size
    H, W = image_size
    h, w = patch_grid(H, W, p)
    if K % (p * p) or N != h * w:
        raise ValueError(f"patches of shape {tuple(patches.shape)} do not tile a {H}x{W} image with "
                         f"patch_size={p}: need N={h * w} and a last dim divisible by {p * p}")
    C = K // (p * p)
    x = patches.reshape(B, h, w, C, p, p)  # (B, h, w, C, p, p)
    x = x.permute(0, 3, 1, 4, 2, 5)  # (B, C, h, p, w, p): the inverse of patchify's permutation
    return x.reshape(B, C, H, W)  # (B, C, H, W)


class PatchEmbedding(nn.Module):
    """Linear projection of flattened patches: (B, C, H, W) -> (B, N, E)."""

    def __init__(self, in_channels: int, patch_size: int, embed_dim: int):
        super().__init__()
        self.in_channels, self.patch_size = in_channels, patch_size
        self.proj = nn.Linear(in_channels * patch_size * patch_size, embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"expected images (B, {self.in_channels}, H, W), got {tuple(images.shape)}")
        return self.proj(patchify(images, self.patch_size))  # (B, N, E)


class TinyViT(nn.Module):
    """[CLS] + patch tokens, + learned positions, pre-norm encoder, final LayerNorm, head on [CLS]."""

    def __init__(self, image_size: int | tuple[int, int], patch_size: int, in_channels: int, num_classes: int,
                 embed_dim: int = 32, depth: int = 2, num_heads: int = 2):
        super().__init__()
        H, W = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        h, w = patch_grid(H, W, patch_size)
        self.image_size = (H, W)
        self.patch_embed = PatchEmbedding(in_channels, patch_size, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))  # one learned summary token
        self.pos_embed = nn.Parameter(torch.zeros(1, h * w + 1, embed_dim))  # slot 0 is [CLS]'s
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        layer = nn.TransformerEncoderLayer(embed_dim, num_heads, dim_feedforward=4 * embed_dim, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        # nested tensors only speed up padded batches, and are not supported with norm_first
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embed_dim)  # pre-norm blocks leave the residual stream unnormalized
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if tuple(images.shape[-2:]) != self.image_size:
            raise ValueError(f"this model was built for {self.image_size} images (its pos_embed has one row "
                             f"per patch), got {tuple(images.shape[-2:])}")
        x = self.patch_embed(images)  # (B, N, E)
        cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, E)
        x = torch.cat([cls, x], dim=1) + self.pos_embed  # (B, N+1, E): [CLS] first, then patches
        x = self.encoder(x)  # (B, N+1, E)
        return self.head(self.norm(x[:, 0]))  # (B, num_classes) from [CLS] only
