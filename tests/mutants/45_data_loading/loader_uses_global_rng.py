"""make_loader seeds the global RNG once (torch.manual_seed(seed)) and shuffles with it instead of its own generator."""
import math

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset, Sampler


class SequenceDataset(Dataset):
    def __init__(self, sequences, labels):
        self.sequences = list(sequences)
        self.labels = [int(y) for y in labels]
        self.lengths = [len(s) for s in self.sequences]

    def __len__(self):
        return len(self.sequences)

    def __getitem__(self, i):
        return self.sequences[i], self.labels[i]


def collate(batch, padding_value=0.0):
    seqs = [s for s, _ in batch]
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    padded = pad_sequence(seqs, batch_first=True, padding_value=padding_value)
    labels = torch.tensor([int(y) for _, y in batch], dtype=torch.long)
    return padded, lengths, labels


class BucketBatchSampler(Sampler):
    def __init__(self, lengths, batch_size, shuffle=True, drop_last=False, seed=0):
        self.lengths = list(lengths)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.g = torch.Generator().manual_seed(seed)

    def __len__(self):
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n, B = len(self.lengths), self.batch_size
        if self.shuffle:
            idx = torch.randperm(n, generator=self.g).tolist()
            if self.drop_last:
                idx = idx[:n - n % B]
        else:
            idx = list(range(n))
        idx.sort(key=lambda i: self.lengths[i])
        batches = [idx[i:i + B] for i in range(0, len(idx), B)]
        if self.drop_last and batches and len(batches[-1]) < B:
            batches.pop()
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=self.g).tolist()]
        return iter(batches)


def make_loader(dataset, batch_size, shuffle=True, seed=0, drop_last=False, bucket=False):
    torch.manual_seed(seed)
    g = None
    if bucket:
        sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle, drop_last, seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, generator=g)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, collate_fn=collate, generator=g)
