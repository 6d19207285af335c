"""Your solution for 45_data_loading: Dataset, padding collate, seeded loader, bucketing sampler.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/45_data_loading
"""
from typing import Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class SequenceDataset(Dataset):
    """A map-style dataset of variable-length sequences with one integer label each.

    Args:
        sequences: N tensors; sequences[i] has shape (L_i, *F) with L_i >= 1 (F: feature dims,
            possibly none, the same for all).
        labels: N integer labels.

    Attributes:
        lengths: list of the N lengths L_i (for length-aware samplers).
    """

    def __init__(self, sequences: Sequence[torch.Tensor], labels: Sequence[int]):
        raise NotImplementedError("store the sequences, the labels and their lengths")

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        """(sequences[i], labels[i]), the sequence unchanged."""
        raise NotImplementedError


def collate(batch: list[tuple[torch.Tensor, int]], padding_value: float = 0.0):
    """Turn B items of the dataset into one batch, in the batch's order.

    Returns:
        padded: (B, L_max, *F), the sequences' dtype; row b is batch[b]'s sequence followed by
            padding_value up to L_max = the longest length in THIS batch.
        lengths: (B,) int64, the real lengths.
        labels: (B,) int64.
    """
    raise NotImplementedError("pad the sequences, and collect lengths and labels")


class BucketBatchSampler(Sampler[list[int]]):
    """Yields batches (lists of dataset indices) of sequences with similar lengths.

    Args:
        lengths: the N sequence lengths.
        batch_size: B; every batch has B indices, except one batch of the N % B left over
            (not yielded when drop_last=True).
        shuffle: True: a new random order every epoch (which samples share a batch when lengths
            tie, and the order of the batches). False: indices stably sorted by length, cut into
            consecutive batches, in that order.
        drop_last: drop the incomplete batch.
        seed: seeds this sampler's own torch.Generator once; never use the global RNG.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, drop_last: bool = False,
                 seed: int = 0):
        super().__init__()
        raise NotImplementedError("keep the lengths and the settings; create a seeded torch.Generator")

    def __len__(self) -> int:
        """The number of batches one epoch yields."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[int]]:
        raise NotImplementedError("shuffle, sort by length, cut into batches, shuffle the batches")


def make_loader(dataset: SequenceDataset, batch_size: int, shuffle: bool = True, seed: int = 0,
                drop_last: bool = False, bucket: bool = False) -> DataLoader:
    """A DataLoader yielding (padded, lengths, labels) batches made by `collate`.

    bucket=False: plain batches of batch_size (shuffled when shuffle=True).
    bucket=True: batches from BucketBatchSampler(dataset.lengths, batch_size, shuffle, drop_last, seed).
    The order depends only on `seed`: the same seed gives the same sequence of epochs whatever
    the global RNG does; with shuffle=True every epoch has a new order. num_workers = 0.
    """
    raise NotImplementedError("a DataLoader with collate_fn=collate and its own seeded generator")
