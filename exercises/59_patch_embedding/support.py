"""Trusted helpers for 59_patch_embedding's suite: the synthetic image task of the convergence
test (generated on the trusted side and handed to the worker as tensors)."""
import torch


def spot_row_task(n: int, grid: int, patch_size: int, channels: int, generator: torch.Generator):
    """Images (n, channels, grid*p, grid*p): faint noise plus one bright 2x2 spot in channel 0,
    lying inside one patch at a random offset. The label is the row of that patch (0 .. grid-1;
    with grid=2: top half or bottom half). What a patch looks like does not say where it is:
    the model must use its position embeddings (without them it is at chance).

    Returns images (n, C, H, W) float32 and labels (n,) int64."""
    p, size = patch_size, grid * patch_size
    assert p >= 2, "the spot is 2x2: patches must be at least 2x2"
    images = 0.1 * torch.randn(n, channels, size, size, generator=generator)
    patch = torch.randint(grid * grid, (n,), generator=generator)  # (n,) which patch holds the spot
    top = (patch // grid) * p + torch.randint(p - 1, (n,), generator=generator)  # (n,) spot's first row
    left = (patch % grid) * p + torch.randint(p - 1, (n,), generator=generator)  # (n,) spot's first column
    rows = torch.arange(size)[None, :, None]  # (1, H, 1)
    cols = torch.arange(size)[None, None, :]  # (1, 1, W)
    spot = ((rows >= top[:, None, None]) & (rows < top[:, None, None] + 2)
            & (cols >= left[:, None, None]) & (cols < left[:, None, None] + 2))  # (n, H, W)
    images[:, 0] += 3.0 * spot
    return images, patch // grid
