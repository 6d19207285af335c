"""Alternative: patches cut by Python loops over the patch grid (slice, flatten, stack) and put back with torch.cat of rows; the [CLS] token repeated rather than expanded."""
import torch
from torch import nn


def _grid(height, width, p):
    if p < 1 or height % p != 0 or width % p != 0:
        raise ValueError(f"a {height}x{width} image cannot be cut into {p}x{p} patches")
    return height // p, width // p


def patchify(images, patch_size):
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}")
    p = patch_size
    rows, cols = _grid(images.shape[2], images.shape[3], p)
    tokens = []
    for r in range(rows):
        for c in range(cols):
            square = images[:, :, r * p:(r + 1) * p, c * p:(c + 1) * p]  # (B, C, p, p)
            tokens.append(square.flatten(1))  # (B, C*p*p) in (C, p, p) order
    return torch.stack(tokens, dim=1)  # (B, N, C*p*p), row-major over the grid


def unpatchify(patches, patch_size, image_size):
    if patches.ndim != 3:
        raise ValueError(f"patches must be (B, N, C*p*p), got shape {tuple(patches.shape)}")
    p = patch_size
    height, width = image_size
    rows, cols = _grid(height, width, p)
    batch, count, length = patches.shape
    if count != rows * cols or length % (p * p) != 0:
        raise ValueError(f"{tuple(patches.shape)} patches do not tile a {height}x{width} image with p={p}")
    channels = length // (p * p)
    squares = patches.unflatten(2, (channels, p, p))  # (B, N, C, p, p)
    image_rows = [torch.cat([squares[:, r * cols + c] for c in range(cols)], dim=3) for r in range(rows)]
    return torch.cat(image_rows, dim=2)  # (B, C, H, W)


class PatchEmbedding(nn.Module):
    def __init__(self, in_channels, patch_size, embed_dim):
        super().__init__()
        self.in_channels = in_channels
        self.patch_size = patch_size
        self.proj = nn.Linear(in_channels * patch_size ** 2, embed_dim)

    def forward(self, images):
        if images.ndim != 4 or images.size(1) != self.in_channels:
            raise ValueError(f"expected (B, {self.in_channels}, H, W) images, got {tuple(images.shape)}")
        return self.proj(patchify(images, self.patch_size))


class TinyViT(nn.Module):
    def __init__(self, image_size, patch_size, in_channels, num_classes, embed_dim=32, depth=2, num_heads=2):
        super().__init__()
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        self.image_size = tuple(image_size)
        rows, cols = _grid(self.image_size[0], self.image_size[1], patch_size)
        self.patch_embed = PatchEmbedding(in_channels, patch_size, embed_dim)
        self.cls_token = nn.Parameter(0.02 * torch.randn(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, rows * cols + 1, embed_dim))
        layer = nn.TransformerEncoderLayer(embed_dim, num_heads, dim_feedforward=4 * embed_dim, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, images):
        if tuple(images.shape[-2:]) != self.image_size:
            raise ValueError(f"built for {self.image_size} images, got {tuple(images.shape[-2:])}")
        patches = self.patch_embed(images)  # (B, N, E)
        cls = self.cls_token.repeat(patches.size(0), 1, 1)  # (B, 1, E)
        tokens = torch.cat((cls, patches), dim=1) + self.pos_embed  # (B, N+1, E)
        encoded = self.norm(self.encoder(tokens))  # (B, N+1, E)
        return self.head(encoded[:, 0])  # (B, K)
