"""Alternative: collate pads into a new_full buffer by hand; the sampler sorts by length inside
random pools of 50 batches (plain Python lists); make_loader wires RandomSampler + BatchSampler."""
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler

POOL_BATCHES = 50


class SequenceDataset(Dataset):
    def __init__(self, sequences, labels):
        self.items = [(seq, int(label)) for seq, label in zip(sequences, labels)]
        self.lengths = [seq.shape[0] for seq, _ in self.items]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def collate(batch, padding_value=0.0):
    seqs = [seq for seq, _ in batch]
    longest = max(seq.shape[0] for seq in seqs)
    padded = seqs[0].new_full((len(seqs), longest, *seqs[0].shape[1:]), padding_value)  # (B, L_max, *F)
    for row, seq in enumerate(seqs):
        padded[row, : seq.shape[0]] = seq
    lengths = torch.tensor([seq.shape[0] for seq in seqs], dtype=torch.int64)
    labels = torch.tensor([label for _, label in batch], dtype=torch.int64)
    return padded, lengths, labels


class BucketBatchSampler(Sampler):
    def __init__(self, lengths, batch_size, shuffle=True, drop_last=False, seed=0):
        self.lengths = [int(v) for v in lengths]
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.rng = torch.Generator()
        self.rng.manual_seed(seed)

    def __len__(self):
        full, rest = divmod(len(self.lengths), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def _chunks(self, indices):
        return [indices[k:k + self.batch_size] for k in range(0, len(indices), self.batch_size)]

    def __iter__(self):
        n, size = len(self.lengths), self.batch_size
        if not self.shuffle:
            batches = self._chunks(sorted(range(n), key=lambda i: self.lengths[i]))
        else:
            perm = torch.randperm(n, generator=self.rng).tolist()
            if self.drop_last:
                perm = perm[: n - n % size]
            pool = POOL_BATCHES * size
            batches = []
            for start in range(0, len(perm), pool):
                batches += self._chunks(sorted(perm[start:start + pool], key=lambda i: self.lengths[i]))
            batches = [batches[j] for j in torch.randperm(len(batches), generator=self.rng).tolist()]
        if self.drop_last:
            batches = [b for b in batches if len(b) == size]
        return iter(batches)


def make_loader(dataset, batch_size, shuffle=True, seed=0, drop_last=False, bucket=False):
    if bucket:
        batches = BucketBatchSampler(dataset.lengths, batch_size, shuffle, drop_last, seed)
    else:
        rng = torch.Generator()
        rng.manual_seed(seed)
        order = RandomSampler(dataset, generator=rng) if shuffle else SequentialSampler(dataset)
        batches = BatchSampler(order, batch_size, drop_last)
    return DataLoader(dataset, batch_sampler=batches, collate_fn=collate)
