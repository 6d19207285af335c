"""Allocates 8 GiB, far above the memory cap."""
import torch


def scale(x):
    hog = torch.ones(8 << 30, dtype=torch.uint8)
    return 2 * x + hog[0] - 1
