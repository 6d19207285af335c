"""Reference: loading variable-length sequences with torch.utils.data: a map-style Dataset, a
padding collate function, a seeded DataLoader factory and a length-bucketing batch sampler.

Bucketing (as in torchtext's BucketIterator / fairseq's length-sorted batches): put sequences of
similar length in the same batch so little of each batch is padding, while the batch order and
the grouping of equal lengths stay random from epoch to epoch.
"""
import math
from typing import Iterator, Sequence

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, Sampler


class SequenceDataset(Dataset):
    """Item i is (sequences[i], labels[i]); sequences[i] is (L_i, *F) with L_i >= 1."""

    def __init__(self, sequences: Sequence[torch.Tensor], labels: Sequence[int]):
        assert len(sequences) == len(labels), f"{len(sequences)} sequences but {len(labels)} labels"
        assert all(len(s) >= 1 for s in sequences), "every sequence needs at least one step"
        self.sequences = list(sequences)
        self.labels = [int(y) for y in labels]
        self.lengths = [len(s) for s in self.sequences]  # for length-aware samplers

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.sequences[i], self.labels[i]


def collate(batch: list[tuple[torch.Tensor, int]], padding_value: float = 0.0):
    """[(seq (L_i, *F), label)] * B -> padded (B, L_max, *F), lengths (B,) int64, labels (B,) int64.

    Keeps the batch's order (row b is batch[b]); pads at the end of each sequence.
    """
    sequences = [seq for seq, _ in batch]
    lengths = torch.tensor([len(seq) for seq in sequences], dtype=torch.long)  # (B,)
    padded = pad_sequence(sequences, batch_first=True, padding_value=padding_value)  # (B, L_max, *F)
    labels = torch.tensor([int(label) for _, label in batch], dtype=torch.long)  # (B,)
    return padded, lengths, labels


class BucketBatchSampler(Sampler[list[int]]):
    """Yields lists of dataset indices whose sequences have similar lengths.

    shuffle=True: each epoch draws a random permutation, sorts it by length (stable, so equal
    lengths stay in random order), cuts it into batches and shuffles the batch order. With
    drop_last the dropped remainder is drawn at random too, so no sample is always left out.
    shuffle=False: indices stably sorted by length, cut into consecutive batches, in that order.
    The generator is seeded once: the k-th epoch is the same for samplers built alike, and
    successive epochs differ. The global RNG is never used.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, drop_last: bool = False,
                 seed: int = 0):
        super().__init__()
        assert batch_size >= 1, f"batch_size must be positive, got {batch_size}"
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)  # (N,)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        n, B = len(self.lengths), self.batch_size
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator)  # (N,) random tie-breaking
            if self.drop_last:
                order = order[: n - n % B]  # drop a random remainder, not always the longest
        else:
            order = torch.arange(n)
        order = order[torch.sort(self.lengths[order], stable=True).indices]  # by length
        batches = list(order.split(B))
        if self.drop_last and batches and len(batches[-1]) < B:
            batches.pop()
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=self.generator).tolist()]
        for batch in batches:
            yield batch.tolist()


def make_loader(dataset: SequenceDataset, batch_size: int, shuffle: bool = True, seed: int = 0,
                drop_last: bool = False, bucket: bool = False) -> DataLoader:
    """A DataLoader of (padded, lengths, labels) batches whose order depends only on `seed`."""
    # Our own generator: the order is reproducible and independent of the global RNG (which
    # DataLoader would otherwise draw from every epoch).
    generator = torch.Generator().manual_seed(seed)
    if bucket:
        sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, generator=generator)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, collate_fn=collate,
                      generator=generator)
