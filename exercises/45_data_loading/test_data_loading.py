"""Suite for 45_data_loading: SequenceDataset, collate, BucketBatchSampler and make_loader vs the reference and
pad_sequence, plus what a loader owes a training loop: every sample once per epoch, the same order for the same seed
whatever the global RNG does, a new order every epoch, batches of similar lengths, the last partial batch as asked.
support.py iterates samplers and loaders in the worker; labels are distinct, so a label identifies its sample."""
import math

import pytest
import torch
from hypothesis import strategies as st
from torch.nn.utils.rnn import pad_sequence

from grader import kit
from grader.kit import Mismatch, assert_equal, assert_same, assert_shape, given_cases

S = kit.exercise_support(__file__)
FEATURES = st.sampled_from([(), (1,), (3,), (2, 2)])
DTYPES = st.sampled_from([torch.long, torch.float32])
PARTS = ("padded", "lengths", "labels")


class Batching(kit.Case):
    """n sequences of lengths 1..max_len, in batches of batch_size; `seed` seeds the sampler or loader."""

    n: int
    max_len: int
    batch_size: int
    shuffle: bool
    drop_last: bool
    seed: int
    data_seed: int
    bucket: bool = True

    def lengths(self) -> list[int]:
        return torch.randint(1, self.max_len + 1, (self.n,), generator=self.generator()).tolist()

    def data(self, feature: tuple = (), dtype=torch.long):
        return make_data(self.lengths(), feature, dtype, self.generator(1))

    def sampler(self, lib):
        return lib.BucketBatchSampler(self.lengths(), self.batch_size, shuffle=self.shuffle, drop_last=self.drop_last,
                                      seed=self.seed)

    def sampler_epochs(self, candidate, epochs: int, global_seeds=None) -> dict:
        return candidate.lib.support("sampler_epochs", self.sampler(candidate), epochs, global_seeds)

    def loader(self, lib, seqs, labels):
        return lib.make_loader(lib.SequenceDataset(seqs, labels), batch_size=self.batch_size, shuffle=self.shuffle,
                               seed=self.seed, drop_last=self.drop_last, bucket=self.bucket)

    def loader_epochs(self, candidate, seqs, labels, epochs: int = 1, global_seeds=None) -> list:
        return candidate.lib.support("loader_epochs", self.loader(candidate, seqs, labels), epochs, global_seeds)

    def expected_rows(self) -> int:
        return self.n - self.n % self.batch_size if self.drop_last else self.n

    def batch_count(self) -> int:
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)


def batchings(n=st.integers(1, 40), max_len=st.just(12), batch_size=st.integers(1, 8), shuffle=st.booleans(),
              bucket=st.just(True)):
    return st.builds(Batching, n=n, max_len=max_len, batch_size=batch_size, shuffle=shuffle, drop_last=st.booleans(),
                     seed=st.integers(0, 1000), data_seed=kit.data_seeds, bucket=bucket)


def make_data(lengths: list[int], feature: tuple, dtype: torch.dtype, g: torch.Generator):
    """Sequences (L_i, *feature) (integer ones >= 1: 0 is the default padding) and distinct labels."""
    seqs = [torch.randn(L, *feature, generator=g, dtype=dtype) if dtype.is_floating_point
            else torch.randint(1, 50, (L, *feature), generator=g, dtype=dtype) for L in lengths]
    return seqs, torch.randperm(10 * len(lengths), generator=g)[:len(lengths)].tolist()


def padding(batches: list[list[int]], lengths: list[int]) -> int:
    """Pad positions in these batches: sum over batches of |b| * max length - real lengths."""
    return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batches if b)


def random_batching_padding(lengths: list[int], batch_size: int, g: torch.Generator, trials: int = 20) -> float:
    """The average padding of an epoch of plain shuffled batches (no bucketing)."""
    orders = [torch.randperm(len(lengths), generator=g).tolist() for _ in range(trials)]
    return sum(padding([o[i:i + batch_size] for i in range(0, len(o), batch_size)], lengths) for o in orders) / trials


def unpack_batch(batch, where: str):
    """A loader batch must be (padded, lengths, labels)."""
    if not isinstance(batch, (list, tuple)) or len(batch) != 3:
        raise Mismatch(f"{where}: a batch must be (padded, lengths, labels); got {type(batch).__name__} "
                       f"of length {len(batch) if isinstance(batch, (list, tuple)) else '-'}")
    return batch


def check_batch(batch, seqs, index_of_label: dict, where: str) -> list[int]:
    """Every row of a (padded, lengths, labels) batch is a real sample, padded with 0; returns their indices."""
    padded, lengths, labels = unpack_batch(batch, where)
    labels = assert_shape(labels, (len(labels),), f"{where}: labels", dtype=torch.long).tolist()
    if any(label not in index_of_label for label in labels):
        raise Mismatch(f"{where}: labels {labels} include one that no sample has")
    indices = [index_of_label[label] for label in labels]
    expected = pad_sequence([seqs[i] for i in indices], batch_first=True)  # (B, L_max, *F)
    assert_equal(lengths, torch.tensor([len(seqs[i]) for i in indices]), f"{where}: lengths of samples {indices}")
    assert_equal(padded, expected, f"{where}: padded rows of samples {indices} (each sequence, then 0 up to the "
                 "batch's longest)")
    return indices


def assert_each_once(seen: list[int], case: Batching, where: str) -> None:
    """The sample indices of an epoch: each in range(n) at most once, case.expected_rows() of them."""
    repeated = sorted({i for i in seen if seen.count(i) > 1})
    outside = sorted({i for i in seen if not 0 <= i < case.n})
    if repeated or outside:
        raise Mismatch(f"{where}: indices {repeated} appear more than once, {outside} are not in range({case.n})")
    assert_same(len(seen), case.expected_rows(), f"the number of distinct samples in {where}",
                f"missing: {sorted(set(range(case.n)) - set(seen))[:10]}")


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(batchings(n=st.integers(1, 8), max_len=st.integers(1, 6)), feature=FEATURES, dtype=DTYPES)
def test_dataset_returns_its_items(candidate, case, feature, dtype):
    seqs, labels = case.data(feature, dtype)
    got = candidate.lib.support("dataset_items", candidate.SequenceDataset(seqs, labels))
    assert_same(got["len"], case.n, "len(dataset)")
    for i, (seq, label) in enumerate(got["items"]):
        assert_equal(seq, seqs[i], f"dataset[{i}][0] (the sequence, unchanged)")
        assert_same(label, labels[i], f"dataset[{i}][1] (the label)")
    assert_same(got["lengths"], case.lengths(), "dataset.lengths")


@pytest.mark.category("shape")
@given_cases(st.lists(st.integers(1, 7), min_size=1, max_size=5), feature=FEATURES, dtype=DTYPES,
             data_seed=kit.data_seeds)
def test_collate_shapes_and_dtypes(candidate, case, feature, dtype, data_seed):
    seqs, labels = make_data(case, feature, dtype, kit.generator(data_seed))
    out = unpack_batch(candidate.collate(list(zip(seqs, labels))), "collate(batch)")
    assert_shape(out[0], (len(case), max(case), *feature), f"padded for lengths {case} and feature shape {feature}",
                 dtype=dtype)
    assert_shape(out[1], (len(case),), "lengths", dtype=torch.long)
    assert_shape(out[2], (len(case),), "labels", dtype=torch.long)


@pytest.mark.category("shape")
@given_cases(batchings())
def test_sampler_batch_sizes_and_len(candidate, case):
    """Full batches, plus one of the n % batch_size left over unless drop_last; len(sampler) counts them."""
    got, rest = case.sampler_epochs(candidate, 2), case.n % case.batch_size
    expected = sorted([case.batch_size] * (case.n // case.batch_size) + ([rest] if rest and not case.drop_last else []))
    for e, epoch in enumerate(got["epochs"]):
        assert_same(sorted(map(len, epoch)), expected, f"the batch sizes of epoch {e + 1}")
    assert_same(got["len"], case.batch_count(), "len(sampler)", "the number of batches an epoch yields")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(st.lists(st.integers(1, 7), min_size=1, max_size=6), feature=FEATURES, dtype=DTYPES,
             padding_value=st.sampled_from([None, 0, -1, 7]), data_seed=kit.data_seeds)
def test_collate_matches_reference_and_pad_sequence(candidate, reference, case, feature, dtype, padding_value,
                                                    data_seed):
    seqs, labels = make_data(case, feature, dtype, kit.generator(data_seed))
    batch, kwargs = list(zip(seqs, labels)), {} if padding_value is None else {"padding_value": padding_value}
    padded, got_lengths, got_labels = got = unpack_batch(candidate.collate(batch, **kwargs), "collate(batch)")
    assert_equal(got_labels, torch.tensor(labels), "labels (rows must keep the batch's order: do not sort by length)")
    assert_equal(got_lengths, torch.tensor(case), "lengths (rows must keep the batch's order)")
    value = padding_value or 0
    assert_equal(padded, pad_sequence(seqs, batch_first=True, padding_value=value),
                 f"padded vs pad_sequence(batch_first=True, padding_value={value})")
    for part, expected, name in zip(got, reference.collate(batch, **kwargs), PARTS):
        assert_equal(part, expected, f"{name} vs reference")


@pytest.mark.category("equivalence")
@given_cases(batchings(max_len=st.integers(1, 15), shuffle=st.just(False)))
def test_unshuffled_sampler_matches_reference(candidate, reference, case):
    """shuffle=False: indices stably sorted by length (ties by index), cut into consecutive batches in order."""
    assert_same(case.sampler_epochs(candidate, 1)["epochs"][0], list(case.sampler(reference)),
                f"the unshuffled batches for lengths {case.lengths()}")


@pytest.mark.category("equivalence")
@given_cases(batchings(n=st.integers(1, 30), max_len=st.just(9), batch_size=st.integers(1, 6), shuffle=st.just(False),
                       bucket=st.booleans()))
def test_unshuffled_loader_matches_reference(candidate, reference, case):
    seqs, labels = case.data()
    got, expected = case.loader_epochs(candidate, seqs, labels)[0], list(case.loader(reference, seqs, labels))
    assert_same(len(got), len(expected), f"the number of batches make_loader yields over {case.n} samples")
    for b, (got_batch, expected_batch) in enumerate(zip(got, expected)):
        for x, y, name in zip(unpack_batch(got_batch, f"batch {b}"), expected_batch, PARTS):
            assert_equal(x, y, f"{name} of batch {b} of make_loader vs reference")


# -- convergence -----------------------------------------------------------------------------
VOCAB, TRAIN = 6, dict(epochs=2, lr=5e-2)


def majority_task(n: int, g: torch.Generator):
    """Token sequences of length 1..24 over 1..5; label 1 when token 1 occurs more often than
    token 2, else 0 (ties redrawn). A mean over the real positions decides it; padding must not count."""
    seqs, labels = [], []
    while len(seqs) < n:
        seq = torch.randint(1, VOCAB, (int(torch.randint(1, 25, (), generator=g)),), generator=g)
        ones, twos = int((seq == 1).sum()), int((seq == 2).sum())
        if ones != twos:
            seqs.append(seq)
            labels.append(int(ones > twos))
    return seqs, labels


def accuracy(state: dict, seqs, labels) -> float:
    """Held-out accuracy of the classifier with these weights, on batches padded here."""
    model = S.MaskedMeanClassifier(VOCAB, 8, 2)
    model.load_state_dict(state)
    with torch.no_grad():
        return kit.accuracy(model(pad_sequence(seqs, batch_first=True), torch.tensor([len(s) for s in seqs])),
                            torch.tensor(labels))


@pytest.mark.category("convergence")
def test_training_through_your_loader_learns(candidate, reference, seed, artifacts):
    """Adam trains a masked-mean classifier through make_loader(bucket=True) for 2 epochs: >= 90% held out."""
    for run in range(3):
        case = Batching(512, 24, 16, True, False, seed * 1000 + run, seed * 1000 + run)
        g = case.generator()
        (seqs, labels), held_out = majority_task(512, g), majority_task(256, g)
        with kit.seeded(case.seed):
            init = {k: v.clone() for k, v in S.MaskedMeanClassifier(VOCAB, 8, 2).state_dict().items()}
        got = candidate.lib.support("train_through_loader", case.loader(candidate, seqs, labels), VOCAB, init=init,
                                    _timeout_factor=kit.TRAIN_TIMEOUT_FACTOR, **TRAIN)
        if run > 0 and (acc := accuracy(got["state"], *held_out)) >= 0.9:
            continue
        ref = S.train_through_loader(case.loader(reference, seqs, labels), VOCAB, init=init, **TRAIN)
        if run == 0:
            artifacts["loss_curve"] = {"candidate": got["losses"], "reference": ref["losses"]}
        if (acc := accuracy(got["state"], *held_out)) < 0.9:
            raise Mismatch(f"after {TRAIN['epochs']} epochs through your make_loader(bucket=True) the classifier "
                           f"reaches {acc:.1%} held-out accuracy; through the reference loader, from the same initial "
                           f"weights, {accuracy(ref['state'], *held_out):.1%}; at least 90% is required")


# -- properties: the sampler -------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(batchings())
def test_sampler_yields_each_index_once_per_epoch(candidate, case):
    for e, epoch in enumerate(case.sampler_epochs(candidate, 2)["epochs"]):
        assert_each_once([i for batch in epoch for i in batch], case, f"epoch {e + 1}")


@pytest.mark.category("property")
def test_sampler_reshuffles_every_epoch(candidate, seed):
    """Successive epochs differ in the order of the batches and (lengths tie) in which samples share a batch."""
    epochs = Batching(60, 3, 6, True, False, seed, seed).sampler_epochs(candidate, 3)["epochs"]  # lengths 1..3: ties
    for e in range(2):
        if epochs[e] == epochs[e + 1]:
            raise Mismatch(f"epochs {e + 1} and {e + 2} are identical: reseeding a generator inside __iter__ "
                           f"repeats the same epoch forever; seed it once in __init__")
        if {frozenset(b) for b in epochs[e]} == {frozenset(b) for b in epochs[e + 1]}:
            raise Mismatch(f"epochs {e + 1} and {e + 2} group exactly the same samples together (only the batch "
                           f"order changed), although 60 samples share only 3 lengths: break ties between equal "
                           f"lengths at random (shuffle, then sort stably)")


@pytest.mark.category("property")
def test_sampler_batches_have_similar_lengths(candidate, seed):
    """An epoch of bucketed batches needs at most 25% of the padding of plain shuffled batches (reference: 4-9%)."""
    g = kit.generator(seed)
    cases = {"uniform 1..64, n=200, batch 8": (torch.randint(1, 65, (200,), generator=g).tolist(), 8),
             "lengths 1..6, n=150, batch 10": (torch.randint(1, 7, (150,), generator=g).tolist(), 10),
             "long-tailed 1..120, n=257, batch 16": ([min(120, 1 + int(v)) for v in
                                                      torch.empty(257).exponential_(0.05, generator=g).tolist()], 16)}
    for name, (lengths, batch_size) in cases.items():
        sampler = candidate.BucketBatchSampler(lengths, batch_size, shuffle=True, drop_last=False, seed=seed)
        baseline = random_batching_padding(lengths, batch_size, g)
        for e, epoch in enumerate(candidate.lib.support("sampler_epochs", sampler, 2)["epochs"]):
            if (got := padding(epoch, lengths)) > 0.25 * baseline:
                raise Mismatch(f"{name}, epoch {e + 1}: your batches need {got} pad positions, {got / baseline:.0%} "
                               f"of the {baseline:.0f} that random batches need; at most 25% is allowed "
                               f"(sort by length over the whole epoch, or within random pools of 50 batches or more)")


@pytest.mark.category("property")
def test_sampler_drop_last_drops_different_samples(candidate, seed):
    """With shuffle and drop_last, the samples left out change from epoch to epoch: over 30 epochs every sample
    is seen (sorting, then dropping the incomplete last batch, would always leave out the longest)."""
    lengths = (torch.randperm(20, generator=kit.generator(seed)) + 1).tolist()  # all different
    sampler = candidate.BucketBatchSampler(lengths, 6, shuffle=True, drop_last=True, seed=seed)
    seen = {i for epoch in candidate.lib.support("sampler_epochs", sampler, 30)["epochs"] for b in epoch for i in b}
    if never := sorted(set(range(20)) - seen):
        raise Mismatch(f"with shuffle=True, drop_last=True (n=20, batch_size=6) samples {never} (lengths "
                       f"{[lengths[i] for i in never]}) were never yielded in 30 epochs: drop a random remainder "
                       "each epoch")


# -- properties: the loader --------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(batchings(n=st.integers(1, 30), max_len=st.just(9), batch_size=st.integers(1, 6), bucket=st.booleans()),
             feature=st.sampled_from([(), (2,)]))
def test_loader_yields_every_sample_once_per_epoch(candidate, case, feature):
    seqs, labels = case.data(feature, torch.float32)
    index_of_label = {y: i for i, y in enumerate(labels)}
    for e, epoch in enumerate(case.loader_epochs(candidate, seqs, labels, 2)):
        seen = [i for b, batch in enumerate(epoch) for i in check_batch(batch, seqs, index_of_label,
                                                                           f"make_loader epoch {e + 1}, batch {b}")]
        assert_each_once(seen, case, f"make_loader, epoch {e + 1}")
        assert_same(len(epoch), case.batch_count(), f"the number of batches in epoch {e + 1} of make_loader")


@pytest.mark.category("property")
@pytest.mark.parametrize("source", ["sampler", "loader", "bucketed loader"])
def test_is_reproducible_and_reshuffles(candidate, seed, source):
    """Same seed: the same sequence of epochs, whatever the global RNG does in between (two samplers or loaders
    built alike, the global RNG reseeded differently before each epoch). Successive epochs of one differ, and
    another seed gives another first epoch."""
    what = {"sampler": "BucketBatchSampler", "loader": "make_loader", "bucketed loader": "make_loader(bucket=True)"}
    seqs, labels = Batching(60, 10, 4, True, False, seed, seed).data()

    def epochs(s, global_seeds):
        case = Batching(60, 10, 4, True, False, s, seed, source == "bucketed loader")
        if source == "sampler":
            return case.sampler_epochs(candidate, 3, global_seeds)["epochs"]
        got = case.loader_epochs(candidate, seqs, labels, 3, global_seeds)
        return [[unpack_batch(b, "batch")[2].tolist() for b in epoch] for epoch in got]  # the labels of each batch

    first, again = epochs(seed + 11, [1, 2, 3]), epochs(seed + 11, [97, 98, 99])
    for e, (one, other) in enumerate(zip(first, again), start=1):
        if one != other:
            raise Mismatch(f"{what[source]}: epoch {e} of two built with seed={seed + 11} differs (after reseeding the "
                           "global RNG differently): draw from a torch.Generator of your own (the DataLoader's or your "
                           f"sampler's) seeded with `seed`\n  first  {one[:6]}...\n  second {other[:6]}...")
    if epochs(seed + 12, [1, 2, 3])[0] == first[0]:
        raise Mismatch(f"{what[source]}: seeds {seed + 11} and {seed + 12} give the same first epoch: the seed is "
                       "ignored")
    if first[0] == first[1]:
        raise Mismatch(f"{what[source]}: epochs 1 and 2 are identical; shuffle=True must reshuffle every epoch")


@pytest.mark.category("property")
def test_bucketed_loader_pads_little(candidate, seed):
    """make_loader(bucket=True) batches through BucketBatchSampler: far less padding than bucket=False."""
    seqs, labels = Batching(120, 40, 8, True, False, seed, seed).data()
    pads = {}
    for bucket in (False, True):
        epoch = Batching(120, 40, 8, True, False, seed, seed, bucket).loader_epochs(candidate, seqs, labels)[0]
        pads[bucket] = sum(int((unpack_batch(b, "batch")[0] == 0).sum()) for b in epoch)
    if pads[True] > 0.25 * pads[False]:
        raise Mismatch(f"make_loader(bucket=True) batches hold {pads[True]} pad positions, bucket=False {pads[False]}: "
                       f"bucketing must cut padding to at most 25% (does bucket=True use BucketBatchSampler?)")
