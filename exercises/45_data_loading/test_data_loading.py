"""Suite for 45_data_loading: SequenceDataset, collate, BucketBatchSampler and make_loader against
the reference and pad_sequence, plus what a loader owes a training loop: every sample once per
epoch, the same order for the same seed whatever the global RNG does, a new order every epoch,
batches of similar lengths, and a last partial batch handled as asked.

`candidate` is the submission in a sandboxed worker; `reference` runs here. Your samplers and
loaders are iterated in the worker by support.py, which returns plain lists and tensors; every
check is made here. Labels in these tests are distinct, so a label identifies its sample.
"""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.nn.utils.rnn import pad_sequence

from grader.compare import Mismatch, assert_close, assert_equal, assert_shape
from grader.testing import exercise_support, generator, seeded

S = exercise_support(__file__)

data_seeds = st.integers(0, 2**32 - 1)
features = st.sampled_from([(), (1,), (3,), (2, 2)])
seq_dtypes = st.sampled_from([torch.long, torch.float32])


# -- helpers ---------------------------------------------------------------------------------
def make_data(lengths: list[int], feature: tuple, dtype: torch.dtype, g: torch.Generator):
    """Sequences (L_i, *feature) (token ids >= 1 for integer dtypes: 0 is the default padding)
    and distinct labels."""
    if dtype.is_floating_point:
        seqs = [torch.randn(L, *feature, generator=g, dtype=dtype) for L in lengths]
    else:
        seqs = [torch.randint(1, 50, (L, *feature), generator=g, dtype=dtype) for L in lengths]
    labels = torch.randperm(10 * len(lengths), generator=g)[:len(lengths)].tolist()
    return seqs, labels


def random_lengths(n: int, max_len: int, g: torch.Generator) -> list[int]:
    return torch.randint(1, max_len + 1, (n,), generator=g).tolist()


def expected_batch_count(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def padding(batches: list[list[int]], lengths: list[int]) -> int:
    """Pad positions in these batches: sum over batches of |b| * max length - real lengths."""
    return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batches if b)


def random_batching_padding(lengths: list[int], batch_size: int, g: torch.Generator, trials: int = 20) -> float:
    """The average padding of an epoch of plain shuffled batches (no bucketing)."""
    total = 0
    for _ in range(trials):
        order = torch.randperm(len(lengths), generator=g).tolist()
        total += padding([order[i:i + batch_size] for i in range(0, len(order), batch_size)], lengths)
    return total / trials


def unpack_batch(batch, where: str):
    """A loader batch must be (padded, lengths, labels)."""
    if not isinstance(batch, (list, tuple)) or len(batch) != 3:
        raise Mismatch(f"{where}: a batch must be (padded, lengths, labels); got {type(batch).__name__} "
                       f"of length {len(batch) if isinstance(batch, (list, tuple)) else '-'}")
    return batch


def check_batch(batch, seqs, index_of_label: dict, padding_value, where: str) -> list[int]:
    """Every row of a (padded, lengths, labels) batch is a real sample, correctly padded.
    Returns the dataset indices of its rows."""
    padded, lengths, labels = unpack_batch(batch, where)
    labels = assert_shape(labels, (len(labels),), f"{where}: labels", dtype=torch.long)
    B = len(labels)
    assert_shape(lengths, (B,), f"{where}: lengths", dtype=torch.long)
    indices = []
    for r, label in enumerate(labels.tolist()):
        if label not in index_of_label:
            raise Mismatch(f"{where}: row {r} has label {label}, which no sample has")
        i = index_of_label[label]
        L, seq = len(seqs[i]), seqs[i]
        if int(lengths[r]) != L:
            raise Mismatch(f"{where}: row {r} (sample {i}) has length {int(lengths[r])}, expected {L}")
        L_max = max(len(seqs[index_of_label[y]]) for y in labels.tolist())
        row = assert_shape(padded, (B, L_max, *seq.shape[1:]), f"{where}: padded", dtype=seq.dtype)[r]
        assert_equal(row[:L], seq, f"{where}: padded row {r} (sample {i}) over its {L} real steps")
        assert_equal(row[L:], torch.full_like(row[L:], padding_value), f"{where}: padded row {r} after its {L} real steps")
        indices.append(i)
    return indices


def build_dataset(candidate, n: int, max_len: int, g: torch.Generator, feature=(), dtype=torch.long):
    lengths = random_lengths(n, max_len, g)
    seqs, labels = make_data(lengths, feature, dtype, g)
    return candidate.SequenceDataset(seqs, labels), seqs, labels


def epoch_labels(epoch: list) -> list[list[int]]:
    return [unpack_batch(b, "batch")[2].tolist() for b in epoch]


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(n=st.integers(1, 8), max_len=st.integers(1, 6), feature=features, dtype=seq_dtypes, data_seed=data_seeds)
def test_dataset_returns_its_items(candidate, n, max_len, feature, dtype, data_seed):
    g = generator(data_seed)
    lengths = random_lengths(n, max_len, g)
    seqs, labels = make_data(lengths, feature, dtype, g)
    got = candidate.lib.support("dataset_items", candidate.SequenceDataset(seqs, labels))
    if got["len"] != n:
        raise Mismatch(f"len(dataset) is {got['len']}, expected {n}")
    for i, (seq, label) in enumerate(got["items"]):
        assert_equal(seq, seqs[i], f"dataset[{i}][0] (the sequence, unchanged)")
        if label != labels[i]:
            raise Mismatch(f"dataset[{i}][1] is {label}, expected label {labels[i]}")
    if got["lengths"] != lengths:
        raise Mismatch(f"dataset.lengths is {got['lengths']}, expected {lengths}")


@pytest.mark.category("shape")
@given(lengths=st.lists(st.integers(1, 7), min_size=1, max_size=5), feature=features, dtype=seq_dtypes,
       data_seed=data_seeds)
def test_collate_shapes_and_dtypes(candidate, lengths, feature, dtype, data_seed):
    seqs, labels = make_data(lengths, feature, dtype, generator(data_seed))
    out = unpack_batch(candidate.collate(list(zip(seqs, labels))), "collate(batch)")
    B, L_max = len(lengths), max(lengths)
    assert_shape(out[0], (B, L_max, *feature), f"padded for lengths {lengths} and feature shape {feature}", dtype=dtype)
    assert_shape(out[1], (B,), "lengths", dtype=torch.long)
    assert_shape(out[2], (B,), "labels", dtype=torch.long)


@pytest.mark.category("shape")
@given(n=st.integers(1, 40), batch_size=st.integers(1, 8), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 1000), data_seed=data_seeds)
def test_sampler_batch_sizes_and_len(candidate, n, batch_size, shuffle, drop_last, seed, data_seed):
    """Full batches of batch_size, plus one batch of the n % batch_size left over (none with
    drop_last); len(sampler) is the number of batches an epoch yields."""
    lengths = random_lengths(n, 12, generator(data_seed))
    sampler = candidate.BucketBatchSampler(lengths, batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    got = candidate.lib.support("sampler_epochs", sampler, 2)
    expected = sorted([batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size and not drop_last else []))
    about = f"(n={n}, batch_size={batch_size}, shuffle={shuffle}, drop_last={drop_last})"
    for e, epoch in enumerate(got["epochs"]):
        if sorted(map(len, epoch)) != expected:
            raise Mismatch(f"epoch {e + 1} batch sizes {sorted(map(len, epoch))}, expected {expected} {about}")
    if got["len"] != expected_batch_count(n, batch_size, drop_last):
        raise Mismatch(f"len(sampler) is {got['len']}, but an epoch yields {len(expected)} batches {about}")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(lengths=st.lists(st.integers(1, 7), min_size=1, max_size=6), feature=features, dtype=seq_dtypes,
       padding_value=st.sampled_from([None, 0, -1, 7]), data_seed=data_seeds)
def test_collate_matches_reference_and_pad_sequence(candidate, reference, lengths, feature, dtype, padding_value,
                                                    data_seed):
    seqs, labels = make_data(lengths, feature, dtype, generator(data_seed))
    batch = list(zip(seqs, labels))
    kwargs = {} if padding_value is None else {"padding_value": padding_value}
    padded, got_lengths, got_labels = unpack_batch(candidate.collate(batch, **kwargs), "collate(batch)")
    assert_equal(got_labels, torch.tensor(labels), "labels (rows must keep the batch's order: do not sort by length)")
    assert_equal(got_lengths, torch.tensor(lengths), "lengths (rows must keep the batch's order)")
    value = 0 if padding_value is None else padding_value
    assert_equal(padded, pad_sequence(seqs, batch_first=True, padding_value=value),
                 f"padded vs pad_sequence(batch_first=True, padding_value={value})")
    for got, expected, name in zip((padded, got_lengths, got_labels), reference.collate(batch, **kwargs),
                                   ("padded", "lengths", "labels")):
        assert_equal(got, expected, f"{name} vs reference")


@pytest.mark.category("equivalence")
@given(n=st.integers(1, 40), batch_size=st.integers(1, 8), drop_last=st.booleans(), max_len=st.integers(1, 15),
       data_seed=data_seeds)
def test_unshuffled_sampler_matches_reference(candidate, reference, n, batch_size, drop_last, max_len, data_seed):
    """shuffle=False: indices stably sorted by length (ties by index), cut into consecutive
    batches in that order; the partial batch (the longest sequences) comes last."""
    lengths = random_lengths(n, max_len, generator(data_seed))
    sampler = candidate.BucketBatchSampler(lengths, batch_size, shuffle=False, drop_last=drop_last, seed=1)
    got = candidate.lib.support("sampler_epochs", sampler, 1)["epochs"][0]
    expected = list(reference.BucketBatchSampler(lengths, batch_size, shuffle=False, drop_last=drop_last, seed=1))
    if got != expected:
        raise Mismatch(f"unshuffled batches for lengths {lengths} (batch_size={batch_size}, drop_last={drop_last}):\n"
                       f"  got      {got}\n  expected {expected}")


@pytest.mark.category("equivalence")
@given(n=st.integers(1, 30), batch_size=st.integers(1, 6), drop_last=st.booleans(), bucket=st.booleans(),
       data_seed=data_seeds)
def test_unshuffled_loader_matches_reference(candidate, reference, n, batch_size, drop_last, bucket, data_seed):
    g = generator(data_seed)
    lengths = random_lengths(n, 9, g)
    seqs, labels = make_data(lengths, (), torch.long, g)
    kwargs = dict(batch_size=batch_size, shuffle=False, seed=3, drop_last=drop_last, bucket=bucket)
    loader = candidate.make_loader(candidate.SequenceDataset(seqs, labels), **kwargs)
    got = candidate.lib.support("loader_epochs", loader, 1)[0]
    expected = list(reference.make_loader(reference.SequenceDataset(seqs, labels), **kwargs))
    if len(got) != len(expected):
        raise Mismatch(f"make_loader({kwargs}) over {n} samples yields {len(got)} batches, expected {len(expected)}")
    for b, (got_batch, expected_batch) in enumerate(zip(got, expected)):
        for x, y, name in zip(unpack_batch(got_batch, f"batch {b}"), expected_batch, ("padded", "lengths", "labels")):
            assert_equal(x, y, f"{name} of batch {b} of make_loader({kwargs}) vs reference")


# -- convergence -----------------------------------------------------------------------------
VOCAB = 6
TRAIN = dict(epochs=2, lr=5e-2)


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


@pytest.mark.category("convergence")
def test_training_through_your_loader_learns(candidate, reference, seed, artifacts):
    """Adam trains a masked-mean classifier on (padded, lengths, labels) batches from
    make_loader(bucket=True, shuffle=True) for 2 epochs; it must reach 90% held-out accuracy."""
    for run in range(3):
        s = seed * 1000 + run
        g = generator(s)
        seqs, labels = majority_task(512, g)
        test_seqs, test_labels = majority_task(256, g)
        with seeded(s):
            init = {k: v.clone() for k, v in S.MaskedMeanClassifier(VOCAB, 8, 2).state_dict().items()}
        loader = candidate.make_loader(candidate.SequenceDataset(seqs, labels), 16, shuffle=True, seed=s, bucket=True)
        got = candidate.lib.support("train_through_loader", loader, VOCAB, init=init, _timeout_factor=6, **TRAIN)
        model = S.MaskedMeanClassifier(VOCAB, 8, 2)
        model.load_state_dict(got["state"])
        padded, lengths, y = reference.collate(list(zip(test_seqs, test_labels)))
        with torch.no_grad():
            accuracy = float((model(padded, lengths).argmax(-1) == y).double().mean())
        if run == 0 or accuracy < 0.9:
            ref_loader = reference.make_loader(reference.SequenceDataset(seqs, labels), 16, shuffle=True, seed=s,
                                               bucket=True)
            ref = S.train_through_loader(ref_loader, VOCAB, init=init, **TRAIN)
            model.load_state_dict(ref["state"])
            with torch.no_grad():
                ref_accuracy = float((model(padded, lengths).argmax(-1) == y).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": got["losses"], "reference": ref["losses"]}
        assert accuracy >= 0.9, (
            f"after {TRAIN['epochs']} epochs through your make_loader(bucket=True) (data seed {s}) the classifier "
            f"reaches {accuracy:.1%} held-out accuracy; through the reference loader, from the same initial weights, "
            f"{ref_accuracy:.1%}; at least 90% is required")


# -- properties: the sampler -------------------------------------------------------------------
@pytest.mark.category("property")
@given(n=st.integers(1, 40), batch_size=st.integers(1, 8), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 1000), data_seed=data_seeds)
def test_sampler_yields_each_index_once_per_epoch(candidate, n, batch_size, shuffle, drop_last, seed, data_seed):
    lengths = random_lengths(n, 12, generator(data_seed))
    sampler = candidate.BucketBatchSampler(lengths, batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    about = f"(n={n}, batch_size={batch_size}, shuffle={shuffle}, drop_last={drop_last})"
    for e, epoch in enumerate(candidate.lib.support("sampler_epochs", sampler, 2)["epochs"]):
        seen = [i for batch in epoch for i in batch]
        repeated = sorted({i for i in seen if seen.count(i) > 1})
        outside = sorted({i for i in seen if not 0 <= i < n})
        if repeated or outside:
            raise Mismatch(f"epoch {e + 1}: indices {repeated} appear more than once, {outside} are not in "
                           f"range({n}) {about}")
        expected = n - n % batch_size if drop_last else n
        if len(seen) != expected:
            raise Mismatch(f"epoch {e + 1} yields {len(seen)} distinct indices, expected {expected} {about}; "
                           f"missing: {sorted(set(range(n)) - set(seen))[:10]}")


@pytest.mark.category("property")
def test_sampler_is_reproducible_and_ignores_the_global_rng(candidate, seed):
    """Two samplers built with the same arguments give the same epochs, even when the global RNG
    is reseeded differently before each; another seed gives another order."""
    lengths = random_lengths(60, 10, generator(seed))
    args = (lengths, 4)

    def epochs(s, global_seeds):
        sampler = candidate.BucketBatchSampler(*args, shuffle=True, drop_last=False, seed=s)
        return candidate.lib.support("sampler_epochs", sampler, 3, global_seeds)["epochs"]

    first, again = epochs(seed + 11, [1, 2, 3]), epochs(seed + 11, [97, 98, 99])
    for e in range(3):
        if first[e] != again[e]:
            raise Mismatch(f"epoch {e + 1} of two samplers built with seed={seed + 11} differs (after reseeding the "
                           f"global RNG differently): draw from a torch.Generator seeded with `seed`, not the global "
                           f"RNG\n  first  {first[e][:6]}...\n  second {again[e][:6]}...")
    if epochs(seed + 12, [1, 2, 3])[0] == first[0]:
        raise Mismatch(f"seed={seed + 12} and seed={seed + 11} give the same first epoch: the seed is ignored")


@pytest.mark.category("property")
def test_sampler_reshuffles_every_epoch(candidate, seed):
    """With shuffle=True, successive epochs of one sampler differ: in the order of the batches,
    and (when many sequences share a length) in which samples share a batch."""
    g = generator(seed)
    lengths = random_lengths(60, 3, g)  # lengths 1..3: many ties
    sampler = candidate.BucketBatchSampler(lengths, 6, shuffle=True, drop_last=False, seed=seed)
    epochs = candidate.lib.support("sampler_epochs", sampler, 3)["epochs"]
    for e in range(2):
        if epochs[e] == epochs[e + 1]:
            raise Mismatch(f"epochs {e + 1} and {e + 2} are identical: reseeding a generator inside __iter__ "
                           f"repeats the same epoch forever; seed it once in __init__")
        groups = [{frozenset(b) for b in epochs[k]} for k in (e, e + 1)]
        if groups[0] == groups[1]:
            raise Mismatch(f"epochs {e + 1} and {e + 2} group exactly the same samples together (only the batch "
                           f"order changed), although 60 samples share only 3 lengths: break ties between equal "
                           f"lengths at random (shuffle, then sort stably)")


@pytest.mark.category("property")
def test_sampler_batches_have_similar_lengths(candidate, seed):
    """Over an epoch, bucketed batches must need at most a quarter of the padding that plain
    shuffled batches of the same size need (the reference needs 4% to 9% of it)."""
    g = generator(seed)
    cases = {
        "uniform 1..64, n=200, batch 8": (random_lengths(200, 64, g), 8),
        "lengths 1..6, n=150, batch 10": (random_lengths(150, 6, g), 10),
        "long-tailed 1..120, n=257, batch 16": ([min(120, 1 + int(v)) for v in
                                                 torch.empty(257).exponential_(0.05, generator=g).tolist()], 16),
    }
    for name, (lengths, batch_size) in cases.items():
        sampler = candidate.BucketBatchSampler(lengths, batch_size, shuffle=True, drop_last=False, seed=seed)
        baseline = random_batching_padding(lengths, batch_size, g)
        for e, epoch in enumerate(candidate.lib.support("sampler_epochs", sampler, 2)["epochs"]):
            got = padding(epoch, lengths)
            if got > 0.25 * baseline:
                raise Mismatch(f"{name}, epoch {e + 1}: your batches need {got} pad positions, {got / baseline:.0%} "
                               f"of the {baseline:.0f} that random batches need; at most 25% is allowed "
                               f"(sort by length over the whole epoch, or within random pools of 50 batches or more)")


@pytest.mark.category("property")
def test_sampler_drop_last_drops_different_samples(candidate, seed):
    """With shuffle and drop_last, which samples are left out changes from epoch to epoch: over 30
    epochs every sample is seen (sorting first and then dropping the incomplete last batch
    would leave out the longest sequences every time)."""
    n, batch_size = 20, 6
    lengths = (torch.randperm(n, generator=generator(seed)) + 1).tolist()  # all different
    sampler = candidate.BucketBatchSampler(lengths, batch_size, shuffle=True, drop_last=True, seed=seed)
    seen = {i for epoch in candidate.lib.support("sampler_epochs", sampler, 30)["epochs"] for b in epoch for i in b}
    never = sorted(set(range(n)) - seen)
    if never:
        raise Mismatch(f"with shuffle=True, drop_last=True (n={n}, batch_size={batch_size}) samples {never} "
                       f"(lengths {[lengths[i] for i in never]}) were never yielded in 30 epochs: drop a random "
                       f"remainder each epoch")


# -- properties: the loader --------------------------------------------------------------------
@pytest.mark.category("property")
@given(n=st.integers(1, 30), batch_size=st.integers(1, 6), shuffle=st.booleans(), drop_last=st.booleans(),
       bucket=st.booleans(), feature=st.sampled_from([(), (2,)]), data_seed=data_seeds)
def test_loader_yields_every_sample_once_per_epoch(candidate, n, batch_size, shuffle, drop_last, bucket, feature,
                                                   data_seed):
    g = generator(data_seed)
    lengths = random_lengths(n, 9, g)
    seqs, labels = make_data(lengths, feature, torch.float32, g)
    kwargs = dict(batch_size=batch_size, shuffle=shuffle, seed=5, drop_last=drop_last, bucket=bucket)
    loader = candidate.make_loader(candidate.SequenceDataset(seqs, labels), **kwargs)
    index_of_label = {y: i for i, y in enumerate(labels)}
    for e, epoch in enumerate(candidate.lib.support("loader_epochs", loader, 2)):
        seen = []
        for b, batch in enumerate(epoch):
            seen += check_batch(batch, seqs, index_of_label, 0, f"make_loader({kwargs}), epoch {e + 1}, batch {b}")
        expected = n - n % batch_size if drop_last else n
        if len(seen) != expected or len(set(seen)) != len(seen):
            raise Mismatch(f"make_loader({kwargs}) over {n} samples, epoch {e + 1}: {len(seen)} rows, "
                           f"{len(set(seen))} distinct samples; expected {expected} distinct samples, each once")
        if len(epoch) != expected_batch_count(n, batch_size, drop_last):
            raise Mismatch(f"make_loader({kwargs}) over {n} samples, epoch {e + 1}: {len(epoch)} batches, expected "
                           f"{expected_batch_count(n, batch_size, drop_last)}")


@pytest.mark.category("property")
@pytest.mark.parametrize("bucket", [False, True])
def test_loader_is_reproducible_and_reshuffles(candidate, seed, bucket):
    """Same seed: the same sequence of epochs, whatever the global RNG does in between (two loaders
    built alike, the global RNG reseeded differently before each epoch). Successive epochs of one
    loader differ, and another seed gives another first epoch."""
    g = generator(seed)
    lengths = random_lengths(48, 12, g)
    seqs, labels = make_data(lengths, (), torch.long, g)
    dataset = candidate.SequenceDataset(seqs, labels)

    def epochs(s, global_seeds):
        loader = candidate.make_loader(dataset, 4, shuffle=True, seed=s, bucket=bucket)
        return [epoch_labels(e) for e in candidate.lib.support("loader_epochs", loader, 2, global_seeds)]

    first, again = epochs(seed + 21, [5, 6]), epochs(seed + 21, [50, 60])
    for e in range(2):
        if first[e] != again[e]:
            raise Mismatch(f"make_loader(bucket={bucket}, seed={seed + 21}): epoch {e + 1} differs between two loaders "
                           f"built alike once the global RNG is reseeded: give the DataLoader (or your sampler) its "
                           f"own torch.Generator seeded with `seed`\n  first  {first[e][:3]}...\n  second {again[e][:3]}...")
    if first[0] == first[1]:
        raise Mismatch(f"make_loader(bucket={bucket}): epochs 1 and 2 are identical; shuffle=True must reshuffle "
                       f"every epoch")
    if epochs(seed + 22, [5, 6])[0] == first[0]:
        raise Mismatch(f"make_loader(bucket={bucket}): seeds {seed + 21} and {seed + 22} give the same first epoch")


@pytest.mark.category("property")
def test_bucketed_loader_pads_little(candidate, seed):
    """make_loader(bucket=True) batches through BucketBatchSampler: far less padding than
    make_loader(bucket=False) on the same data."""
    g = generator(seed)
    lengths = random_lengths(120, 40, g)
    seqs, labels = make_data(lengths, (), torch.long, g)
    dataset = candidate.SequenceDataset(seqs, labels)
    pads = {}
    for bucket in (False, True):
        loader = candidate.make_loader(dataset, 8, shuffle=True, seed=seed, bucket=bucket)
        epoch = candidate.lib.support("loader_epochs", loader, 1)[0]
        pads[bucket] = sum(int((unpack_batch(b, "batch")[0] == 0).sum()) for b in epoch)
    if pads[True] > 0.25 * pads[False]:
        raise Mismatch(f"make_loader(bucket=True) batches hold {pads[True]} pad positions, bucket=False {pads[False]}: "
                       f"bucketing must cut padding to at most 25% (does bucket=True use BucketBatchSampler?)")
