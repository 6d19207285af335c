"""Suite for 31_parameters_buffers: a RunningNormalizer with parameters, persistent buffers and a
non-persistent buffer (checked against the reference and nn.BatchNorm1d, whose state_dict it
shares), and the helpers count_parameters / parameter_table (checked against torch's own
bookkeeping on models with tied, shared, aliased, nested and frozen parameters and buffers).

`candidate` is the submission in a sandboxed worker; `reference` runs here. Test models are built
by support.py, in the worker (`candidate.lib.support`) and here (`exercise_support`) alike.
"""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from grader import training
from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.gradcheck import check_directional_derivatives
from grader.testing import assert_gradients_match, exercise_support, generator, seeded, fit_and_check

support = exercise_support(__file__)
f64 = torch.float64

PARAMETERS = ("weight", "bias")
PERSISTENT = ("running_mean", "running_var", "num_batches_tracked")
NON_PERSISTENT = ("batch_mean",)
BUFFERS = PERSISTENT + NON_PERSISTENT

sizes = dict(
    F=st.integers(1, 6), N=st.integers(2, 6), momentum=st.sampled_from([0.1, 0.25, 1.0]),
    data_seed=st.integers(0, 2**32 - 1),
)
leading_dims = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)


# -- helpers ---------------------------------------------------------------------------------
def expected_state(F: int) -> dict:
    """name: (shape, dtype, initial value) of every state_dict entry."""
    return {
        "weight": ((F,), torch.float32, 1.0), "bias": ((F,), torch.float32, 0.0),
        "running_mean": ((F,), torch.float32, 0.0), "running_var": ((F,), torch.float32, 1.0),
        "num_batches_tracked": ((), torch.int64, 0),
    }


def random_state(F: int, g: torch.Generator, dtype=f64) -> dict:
    """A state_dict (also nn.BatchNorm1d's) with a random affine and random running statistics."""
    return {
        "weight": 1.0 + 0.5 * torch.randn(F, generator=g, dtype=dtype),
        "bias": 0.5 * torch.randn(F, generator=g, dtype=dtype),
        "running_mean": torch.randn(F, generator=g, dtype=dtype),
        "running_var": 0.5 + torch.rand(F, generator=g, dtype=dtype),
        "num_batches_tracked": torch.randint(0, 5, (), generator=g),
    }


def random_batch(lead: tuple, F: int, g: torch.Generator, dtype=f64) -> torch.Tensor:
    """Features with their own offset and scale, so that the statistics matter."""
    shift = 3.0 * torch.randn(F, generator=g, dtype=dtype)
    scale = torch.exp(torch.randn(F, generator=g, dtype=dtype))
    return torch.randn(*lead, F, generator=g, dtype=dtype) * scale + shift


def build(candidate, reference, F: int, momentum: float, g: torch.Generator, dtype=f64):
    """Candidate and reference normalizers in float64 with the same random state."""
    sd = random_state(F, g, dtype)
    ref = reference.RunningNormalizer(F, momentum=momentum).to(dtype)
    ref.load_state_dict(sd)
    cand = candidate.RunningNormalizer(F, momentum=momentum).to(dtype)
    cand.load_state_dict(sd)
    return cand, ref, sd


def assert_state_close(got: dict, expected: dict, when: str) -> None:
    missing = sorted(set(expected) - set(got))
    if missing:
        raise Mismatch(f"state_dict {when}: missing {missing}; it has {sorted(got)}")
    for name, value in expected.items():
        assert_close(got[name], value, f"{name} {when}")


def oracle_table(model: nn.Module) -> list[dict]:
    """What torch's named_parameters() says, as parameter_table's rows."""
    return [{"name": n, "shape": tuple(p.shape), "numel": p.numel(), "requires_grad": p.requires_grad}
            for n, p in model.named_parameters()]


def table_rows(got, what: str) -> list[dict]:
    """parameter_table's result as rows with the four keys (shape as a tuple), or a Mismatch."""
    keys = {"name", "shape", "numel", "requires_grad"}
    if type(got) is not list or not all(type(row) is dict and set(row) == keys for row in got):
        raise Mismatch(f"parameter_table({what}) should return a list of dicts with exactly the keys {sorted(keys)}; "
                       f"got {got!r}"[:800])
    for row in got:
        if not isinstance(row["shape"], (list, tuple)):
            raise Mismatch(f"parameter_table({what}): shape should be a tuple of ints, got {row!r}")
    return [{**row, "shape": tuple(row["shape"])} for row in got]


def oracle_count(model: nn.Module, trainable_only: bool) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@st.composite
def counting_models(draw):
    """(kind, a, b, frozen prefixes) for support.counting_model; frozen drawn from its parameter names."""
    kind = draw(st.sampled_from(support.COUNTING_KINDS))
    a, b = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    names = [n for n, _ in support.counting_model(kind, a, b).named_parameters(remove_duplicate=False)]
    frozen = draw(st.lists(st.sampled_from(names), unique=True, max_size=3))
    return kind, a, b, frozen


def describe(kind, a, b, frozen) -> str:
    return f"support.counting_model({kind!r}, {a}, {b}, frozen={frozen})"


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**sizes, lead=leading_dims, training=st.booleans())
def test_output_shape_and_dtype(candidate, F, N, momentum, data_seed, lead, training):
    g = generator(data_seed)
    m = candidate.RunningNormalizer(F, momentum=momentum)
    if not training:
        m.eval()
    x = random_batch((N, *lead), F, g, dtype=torch.float32)
    y = assert_shape(m(x), x.shape, f"output for x of shape {tuple(x.shape)} in {'training' if training else 'eval'} "
                     "mode (every leading dim is a batch dim)", dtype=torch.float32)
    assert_finite(y, "output")


@pytest.mark.category("shape")
@given(F=st.integers(1, 9))
def test_state_dict_entries(candidate, F):
    """Exactly the parameters and the persistent buffers, with BatchNorm's names, shapes, dtypes
    and initial values (weight 1, bias 0, running_mean 0, running_var 1, num_batches_tracked 0)."""
    sd = candidate.RunningNormalizer(F).state_dict()
    expected = expected_state(F)
    got = {k: (tuple(v.shape), v.dtype) for k, v in sd.items()}
    want = {k: (shape, dtype) for k, (shape, dtype, _) in expected.items()}
    assert got == want, (f"state_dict (name: (shape, dtype)) of RunningNormalizer({F}) should be exactly {want}; "
                         f"got {got} (batch_mean is a non-persistent buffer: it stays out of the state_dict)")
    for name, (shape, dtype, value) in expected.items():
        assert_equal(sd[name], torch.full(shape, value, dtype=dtype), f"initial {name}")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(**sizes, lead=leading_dims, steps=st.integers(1, 3))
def test_training_steps_match_reference(candidate, reference, F, N, momentum, data_seed, lead, steps):
    """Outputs and every buffer after each training step, then an eval step."""
    g = generator(data_seed)
    cand, ref, _ = build(candidate, reference, F, momentum, g)
    for step in range(1, steps + 1):
        x = random_batch((N, *lead), F, g)
        with torch.no_grad():
            expected = ref(x)
        assert_close(cand(x), expected, f"output of training step {step}")
        assert_state_close(cand.state_dict(), ref.state_dict(), f"after training step {step}")
        assert_close(cand.batch_mean, ref.batch_mean, f"batch_mean after training step {step}")
    cand.eval()
    ref.eval()
    x = random_batch((N, *lead), F, g)
    with torch.no_grad():
        expected = ref(x)
    assert_close(cand(x), expected, f"output in eval mode after {steps} training steps")


@pytest.mark.category("equivalence")
@given(**sizes, steps=st.integers(1, 4))
def test_matches_batchnorm_statistics_and_eval_output(candidate, F, N, momentum, data_seed, steps):
    """The same state_dict loads into nn.BatchNorm1d; after the same training batches the running
    statistics and num_batches_tracked agree, and in eval mode both compute the same output."""
    g = generator(data_seed)
    sd = random_state(F, g)
    bn = nn.BatchNorm1d(F, momentum=momentum, eps=1e-5, dtype=f64)
    bn.load_state_dict(sd)
    cand = candidate.RunningNormalizer(F, momentum=momentum, eps=1e-5).to(f64)
    cand.load_state_dict(sd)
    for step in range(1, steps + 1):
        x = random_batch((N,), F, g)
        cand(x)
        with torch.no_grad():
            bn(x)
        assert_state_close(cand.state_dict(), bn.state_dict(), f"vs nn.BatchNorm1d after training step {step}")
    cand.eval()
    bn.eval()
    x = random_batch((N,), F, g)
    with torch.no_grad():
        expected = bn(x)
    assert_close(cand(x), expected, f"eval-mode output vs nn.BatchNorm1d.eval() after {steps} training steps")


@pytest.mark.category("equivalence")
@given(model=counting_models(), trainable_only=st.booleans())
def test_count_parameters_matches_torch(candidate, reference, model, trainable_only):
    """count_parameters equals sum(p.numel() for p in model.parameters()) (each tensor once;
    buffers excluded), restricted to requires_grad with trainable_only=True."""
    kind, a, b, frozen = model
    here = support.counting_model(kind, a, b, frozen)
    expected = oracle_count(here, trainable_only)
    assert reference.count_parameters(here, trainable_only=trainable_only) == expected
    remote = candidate.lib.support("counting_model", kind, a, b, frozen)
    got = candidate.count_parameters(remote, trainable_only=trainable_only)
    naive = sum(p.numel() for _, p in here.named_parameters(remove_duplicate=False)
                if p.requires_grad or not trainable_only)
    with_buffers = expected + sum(t.numel() for t in here.buffers())
    assert type(got) is int and got == expected, (
        f"count_parameters(model, trainable_only={trainable_only}) for {describe(kind, a, b, frozen)} returned "
        f"{got!r}, expected {expected} (torch's parameters() yields a shared tensor once; counting every name "
        f"would give {naive}, counting the state_dict would give about {with_buffers})")


@pytest.mark.category("equivalence")
@given(model=counting_models())
def test_parameter_table_matches_named_parameters(candidate, reference, model):
    kind, a, b, frozen = model
    here = support.counting_model(kind, a, b, frozen)
    expected = oracle_table(here)
    assert reference.parameter_table(here) == expected
    what = describe(kind, a, b, frozen)
    got = table_rows(candidate.parameter_table(candidate.lib.support("counting_model", kind, a, b, frozen)), what)
    for i, (row, want) in enumerate(zip(got, expected)):
        if row != want or any(type(row[k]) is not type(want[k]) for k in want):
            raise Mismatch(f"parameter_table row {i} for {what}: got {row!r}, expected {want!r} (rows follow "
                           "named_parameters(): each tensor once, under its first name; plain Python values)")
    if len(got) != len(expected):
        raise Mismatch(f"parameter_table for {what} has {len(got)} rows, expected "
                       f"{len(expected)}: {[r['name'] for r in expected]} (one per distinct parameter; buffers "
                       f"are not parameters); got names {[r.get('name') for r in got]}")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(**sizes, lead=leading_dims, training=st.booleans())
def test_gradients_match_reference(candidate, reference, F, N, momentum, data_seed, lead, training):
    """Gradients w.r.t. x, weight and bias; in training mode the statistics are constants
    (buffers updated under no_grad), so no gradient flows through the batch mean or variance."""
    g = generator(data_seed)
    cand, ref, _ = build(candidate, reference, F, momentum, g)
    if not training:
        cand.eval()
        ref.eval()
    x = random_batch((N, *lead), F, g)
    grad_out = torch.randn(x.shape, generator=g, dtype=f64)
    assert_gradients_match(candidate.lib.grads(cand, [x], {}, grad_out), ref, x, {}, grad_out)


@pytest.mark.category("gradient")
@pytest.mark.parametrize("N, F", [(4, 3), (2, 1)])
def test_gradients_match_finite_differences(candidate, seed, N, F):
    """In eval mode (so that evaluating the function does not change its state), float64."""
    g = generator(seed * 100 + F)
    sd = random_state(F, g)
    m = candidate.RunningNormalizer(F).to(f64)
    m.eval()
    m.load_state_dict(sd)
    x = random_batch((N,), F, g)
    grad_out = torch.randn(N, F, generator=g, dtype=f64)
    got = candidate.lib.grads(m, [x], {}, grad_out)
    analytic = {"x": got["input_grads"][0], **{k: got["param_grads"].get(k) for k in PARAMETERS}}
    missing = [k for k, v in analytic.items() if v is None]
    if missing:
        raise Mismatch(f"no gradient reached {missing} (detached, computed under no_grad, or not a Parameter?)")

    def forward(point):
        m.load_state_dict({**sd, "weight": point["weight"], "bias": point["bias"]})
        return m(point["x"])

    point = {"x": x, "weight": sd["weight"], "bias": sd["bias"]}
    check_directional_derivatives(forward, point, analytic, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
FEATURES, CALIBRATION_BATCHES = 6, 150
TRAIN = dict(steps=100, lr=5e-2, batch_size=64)


def badly_scaled_task(n: int, u: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, g: torch.Generator):
    """Two classes split by the hyperplane z . u = 0 with a margin of 1, seen through features
    x = z * scale + offset whose scales span 10^-2..10^2 and offsets up to 10 scales."""
    z = torch.randn(n, len(u), generator=g)
    label = (z @ u > 0).long()
    z = z + (2 * label - 1)[:, None].float() * 0.5 * u
    return z * scale + offset, label  # (n, F), (n,)


@pytest.mark.category("convergence")
def test_normalizer_makes_badly_scaled_features_learnable(candidate, reference, seed, artifacts):
    """A RunningNormalizer then a linear classifier: a calibration pass (forward only, training
    mode) brings the running statistics to the data's; then 100 Adam steps on cross-entropy reach
    at least 95% held-out accuracy (without the normalizer, four data sets in five stay below 95%)."""
    for run in range(3):
        s = seed * 1000 + run
        g = generator(s)
        u = torch.randn(FEATURES, generator=g)
        u = u / u.norm()
        scale = 10 ** (2 * (2 * torch.rand(FEATURES, generator=g) - 1))  # (F,)
        offset = scale * 10 * (2 * torch.rand(FEATURES, generator=g) - 1)  # (F,)
        x_train, y_train = badly_scaled_task(1024, u, scale, offset, g)
        x_test, y_test = badly_scaled_task(512, u, scale, offset, g)
        batches = [x_train[torch.randint(len(x_train), (64,), generator=g)] for _ in range(CALIBRATION_BATCHES)]
        with seeded(s):
            ref_model = nn.Sequential(reference.RunningNormalizer(FEATURES), nn.Linear(FEATURES, 2))
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}

        norm = candidate.RunningNormalizer(FEATURES)
        model = candidate.lib.make("torch.nn.Sequential", norm, candidate.lib.make("torch.nn.Linear", FEATURES, 2))
        model.load_state_dict(init)
        candidate.lib.support("train_on", norm, batches)
        mean, std = x_train.mean(0), x_train.std(0)
        got_mean = assert_shape(norm.running_mean, (FEATURES,), "running_mean", dtype=torch.float32)
        got_var = assert_shape(norm.running_var, (FEATURES,), "running_var", dtype=torch.float32)
        mean_error = ((got_mean - mean) / std).abs()
        var_ratio = got_var / std**2
        if mean_error.max() > 0.3 or (var_ratio - 1).abs().max() > 0.3:
            raise Mismatch(
                f"after a calibration pass of {CALIBRATION_BATCHES} training batches (data seed {s}), the running "
                f"statistics should be near the data's: |running_mean - mean| / std = "
                f"{[round(v, 3) for v in mean_error.tolist()]} (at most 0.3 expected), running_var / var = "
                f"{[round(v, 3) for v in var_ratio.tolist()]} (within 1 ± 0.3 expected)")

        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        logits = assert_shape(model(x_test), (512, 2), "logits on the held-out set", dtype=torch.float32)
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        if run == 0 or accuracy < 0.95:  # the reference is trained only for the report and the message
            with torch.no_grad():
                support.train_on(ref_model[0], batches)
            ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]
            with torch.no_grad():
                ref_accuracy = float((ref_model(x_test).argmax(-1) == y_test).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.95, (
            f"after calibration and {TRAIN['steps']} Adam steps (data seed {s}), RunningNormalizer -> Linear reaches "
            f"{accuracy:.1%} held-out accuracy on features scaled from 1e-2 to 1e2; the reference, from the same "
            f"initial weights, reaches {ref_accuracy:.1%}; at least 95% is required")
        tracked = int(norm.num_batches_tracked)
        assert tracked == CALIBRATION_BATCHES + TRAIN["steps"], (
            f"num_batches_tracked after {CALIBRATION_BATCHES} calibration batches and {TRAIN['steps']} training "
            f"steps is {tracked}, expected {CALIBRATION_BATCHES + TRAIN['steps']}")


# -- properties: parameters vs buffers -------------------------------------------------------
@pytest.mark.category("property")
@given(F=st.integers(1, 9))
def test_buffers_are_not_parameters(candidate, F):
    """parameters() holds weight and bias only; buffers() holds the statistics (no requires_grad);
    the state_dict holds both but not the non-persistent batch_mean."""
    m = candidate.RunningNormalizer(F)
    inv = candidate.lib.support("inventory", m)
    checks = [
        ("named_parameters()", sorted(inv["parameters"]), sorted(PARAMETERS)),
        ("named_buffers()", sorted(inv["buffers"]), sorted(BUFFERS)),
        ("state_dict()", sorted(inv["state_dict"]), sorted(PARAMETERS + PERSISTENT)),
    ]
    for what, got, want in checks:
        assert got == want, (f"{what} of RunningNormalizer({F}) should name exactly {want}, got {got} (learnable "
                             "weights are nn.Parameters; statistics are buffers (register_buffer); batch_mean is "
                             "registered with persistent=False)")
    grad_buffers = [k for k, v in inv["buffer_requires_grad"].items() if v]
    assert not grad_buffers, f"buffers {grad_buffers} have requires_grad=True; state must not be differentiated"
    frozen = [k for k, v in inv["parameter_requires_grad"].items() if not v]
    assert not frozen, f"parameters {frozen} have requires_grad=False; weight and bias are learnable"
    count = candidate.count_parameters(m)
    assert count == 2 * F, (f"count_parameters(RunningNormalizer({F})) returned {count!r}, expected 2 * {F} = {2 * F} "
                            "(weight and bias; buffers are not parameters)")


@pytest.mark.category("property")
@given(F=sizes["F"], N=sizes["N"], data_seed=sizes["data_seed"])
def test_non_persistent_buffer_is_state_but_not_saved(candidate, reference, F, N, data_seed):
    """batch_mean holds the last training batch's mean; a state_dict round trip neither saves
    nor needs it (strict loading works), and everything persistent survives the trip."""
    g = generator(data_seed)
    cand, _, _ = build(candidate, reference, F, 0.1, g)
    x = random_batch((N,), F, g)
    cand(x)
    assert_close(cand.batch_mean, x.mean(0), "batch_mean after a training step vs the batch's mean")
    sd = cand.state_dict()
    if "batch_mean" in sd:
        raise Mismatch("batch_mean is in the state_dict: register it with persistent=False")
    fresh = candidate.RunningNormalizer(F).to(f64)
    fresh.load_state_dict(sd)  # strict: every persistent entry, nothing else
    assert_state_close(fresh.state_dict(), sd, "of a fresh module loaded with a trained module's state_dict")
    assert_equal(fresh.batch_mean, torch.zeros(F, dtype=f64), "batch_mean of a fresh module after load_state_dict "
                 "(not part of the state_dict, so loading leaves it untouched)")
    cand.eval()
    fresh.eval()
    x = random_batch((N,), F, g)
    assert_close(fresh(x), cand(x), "eval output of the reloaded module vs the original")


@pytest.mark.category("property")
def test_buffers_follow_to_dtype(candidate, seed):
    """.to(torch.float64) converts parameters and floating buffers (persistent or not);
    num_batches_tracked stays int64; the module then works in float64."""
    g = generator(seed)
    m = candidate.RunningNormalizer(4)
    got = candidate.lib.support("placement", m, f64, list(PARAMETERS + BUFFERS))
    for name in PARAMETERS + BUFFERS:
        want = torch.int64 if name == "num_batches_tracked" else f64
        if got[name] is None:
            raise Mismatch(f"{name}: the module has no tensor attribute {name!r}")
        if got[name][1] != want:
            raise Mismatch(f"{name} after .to(torch.float64): dtype {got[name][1]}, expected {want} (a tensor kept as a "
                           "plain attribute is not converted: register it as a buffer)")
    x = random_batch((5,), 4, g)
    assert_shape(m(x), (5, 4), "output in float64 after .to(torch.float64)", dtype=f64)
    assert_shape(m.running_var, (4,), "running_var after a float64 training step", dtype=f64)


@pytest.mark.category("property")
def test_buffers_follow_to_device(candidate):
    """.to(device) moves parameters and every buffer, non-persistent too (shown with the `meta`
    device, which needs no GPU)."""
    m = candidate.RunningNormalizer(3)
    got = candidate.lib.support("placement", m, "meta", list(PARAMETERS + BUFFERS))
    stayed = {name: value[0] if value else None for name, value in got.items() if not value or value[0] != "meta"}
    assert not stayed, (f"after .to('meta') these tensors are not on the meta device: {stayed} (device per name; "
                        "None: no such tensor attribute); register state with register_buffer so that it moves "
                        "with the module")


@pytest.mark.category("property")
@given(F=sizes["F"], N=sizes["N"], data_seed=sizes["data_seed"])
def test_eval_mode_freezes_the_statistics(candidate, reference, F, N, data_seed):
    g = generator(data_seed)
    cand, _, sd = build(candidate, reference, F, 0.1, g)
    cand.eval()
    cand(random_batch((N,), F, g))
    assert_state_close(cand.state_dict(), sd, "after a forward pass in eval mode (eval must not update buffers)")
    assert_equal(cand.batch_mean, torch.zeros(F, dtype=f64), "batch_mean after a forward pass in eval mode")


@pytest.mark.category("property")
def test_repeated_training_steps_backpropagate(candidate, seed):
    """Three training steps, each with its own backward: the running statistics must not carry
    the previous step's graph (update them under torch.no_grad() or from detached values)."""
    g = generator(seed)
    m = candidate.RunningNormalizer(5)
    for step in range(3):
        x = random_batch((8,), 5, g, dtype=torch.float32)
        got = candidate.lib.grads(m, [x], {}, torch.randn(8, 5, generator=g))
        assert_finite(got["input_grads"][0], f"gradient w.r.t. x at training step {step + 1}")


@pytest.mark.category("property")
@given(model=counting_models())
def test_parameter_table_agrees_with_count_parameters(candidate, model):
    """Your two helpers agree: the table's numel sum is count_parameters(model), and its rows
    with requires_grad sum to count_parameters(model, trainable_only=True)."""
    kind, a, b, frozen = model
    remote = candidate.lib.support("counting_model", kind, a, b, frozen)
    table = table_rows(candidate.parameter_table(remote), describe(kind, a, b, frozen))
    total, trainable = candidate.count_parameters(remote), candidate.count_parameters(remote, trainable_only=True)
    table_total = sum(row["numel"] for row in table)
    table_trainable = sum(row["numel"] for row in table if row["requires_grad"])
    assert (table_total, table_trainable) == (total, trainable), (
        f"for {describe(kind, a, b, frozen)}: parameter_table sums to {table_total} ({table_trainable} trainable) but "
        f"count_parameters says {total} ({trainable} trainable)")
    for row in table:
        shape = tuple(row["shape"])
        assert all(type(d) is int for d in shape) and math.prod(shape) == row["numel"], (
            f"parameter_table row {row!r}: shape must be a tuple of ints whose product is numel")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_input(candidate, seed):
    g = generator(seed)
    m = candidate.RunningNormalizer(4)
    x = random_batch((6,), 4, g, dtype=torch.float32)
    _, args_after, _ = m.call_checked(x)
    assert_unchanged(args_after[0], x, "x after forward (modified in place)")
