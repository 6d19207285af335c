"""Orders the patches column by column (n = j*h + i) instead of row by row."""
import torch
import torch.nn.functional as F
from torch import nn


def patchify(images, patch_size):
    B, C, H, W = images.shape
    p = patch_size
    if H % p != 0 or W % p != 0:
        raise ValueError(f"image {H}x{W} not divisible by patch size {p}")
    h, w = H // p, W // p
    x = images.reshape(B, C, h, p, w, p)
    x = x.permute(0, 4, 2, 1, 3, 5)
    return x.reshape(B, h * w, C * p * p)


def unpatchify(patches, patch_size, image_size):
    B, N, K = patches.shape
    p = patch_size
    H, W = image_size
    if H % p != 0 or W % p != 0 or K % (p * p) != 0 or N != (H // p) * (W // p):
        raise ValueError(f"patches {tuple(patches.shape)} do not make a {H}x{W} image with patch size {p}")
    h, w, C = H // p, W // p, K // (p * p)
    x = patches.reshape(B, w, h, C, p, p)
    x = x.permute(0, 3, 2, 4, 1, 5)
    return x.reshape(B, C, H, W)


class PatchEmbedding(nn.Module):
    def __init__(self, in_channels, patch_size, embed_dim):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Linear(in_channels * patch_size * patch_size, embed_dim)

    def forward(self, images):
        return self.proj(patchify(images, self.patch_size))


class TinyViT(nn.Module):
    def __init__(self, image_size, patch_size, in_channels, num_classes, embed_dim=32, depth=2, num_heads=2):
        super().__init__()
        H, W = (image_size, image_size) if isinstance(image_size, int) else image_size
        if H % patch_size != 0 or W % patch_size != 0:
            raise ValueError(f"image {H}x{W} not divisible by patch size {patch_size}")
        num_patches = (H // patch_size) * (W // patch_size)
        self.patch_embed = PatchEmbedding(in_channels, patch_size, embed_dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, embed_dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, num_patches + 1, embed_dim) * 0.02)
        layer = nn.TransformerEncoderLayer(embed_dim, num_heads, dim_feedforward=4 * embed_dim, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, images):
        x = self.patch_embed(images)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        x = x + self.pos_embed
        x = self.encoder(x)
        x = self.norm(x)
        return self.head(x[:, 0])
