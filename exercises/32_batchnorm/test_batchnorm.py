"""Suite for 32_batchnorm: BatchNorm for (N, C), (N, C, L) and (N, C, H, W) inputs against
nn.BatchNorm1d / nn.BatchNorm2d (the same state_dict loaded into both) over several training
steps and then in eval mode, plus gradients, a training run that needs the running statistics,
and the properties of batch normalization.

`candidate` is the submission in a sandboxed worker; `reference` runs here. Every comparison
of values is in float64 with the oracle's state transplanted into the candidate.
"""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from grader import training
from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.proxy import CandidateError
from grader.testing import (assert_gradients_match, check_finite_differences, exercise_support, generator,
                            seeded, fit_and_check)

support = exercise_support(__file__)
f64 = torch.float64
RANKS = (2, 3, 4)  # (N, C), (N, C, L), (N, C, H, W)
STATE_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

sizes = dict(
    C=st.integers(1, 5),
    spatial=st.lists(st.integers(1, 4), min_size=2, max_size=2).map(tuple),  # L, or H and W
    batches=st.lists(st.integers(1, 5), min_size=1, max_size=4),  # N of each training step
    data_seed=st.integers(0, 2**32 - 1),
)
momenta = st.one_of(st.none(), st.just(0.1), st.floats(0.0, 1.0))
epsilons = st.sampled_from([1e-5, 1e-3, 0.1])


# -- helpers ---------------------------------------------------------------------------------
def oracle_name(rank: int) -> str:
    return "nn.BatchNorm2d" if rank == 4 else "nn.BatchNorm1d"


def oracle(rank: int, C: int, **kwargs) -> nn.Module:
    """torch's own batch norm for inputs of this rank, in float64."""
    return (nn.BatchNorm2d if rank == 4 else nn.BatchNorm1d)(C, dtype=f64, **kwargs)


def input_shapes(rank: int, batches: list, spatial: tuple) -> list:
    """One input shape (N, C-less) per step: N from `batches`, raised to 2 where a single sample
    would leave one value per channel (training needs at least two)."""
    positions = spatial[:rank - 2]
    return [(max(n, 2) if math.prod(positions) == 1 else n, *positions) for n in batches]


def channel_stats(C: int, g: torch.Generator) -> tuple:
    """Per-channel scale in [0.5, 3] and shift in [-2, 2] (the statistics of the data set)."""
    return 0.5 + 2.5 * torch.rand(C, generator=g, dtype=f64), 4 * torch.rand(C, generator=g, dtype=f64) - 2


def random_batch(shape: tuple, stats: tuple, g: torch.Generator, dtype=f64) -> torch.Tensor:
    """x of shape (N, C, *positions) for shape (N, *positions): channel c ~ N(shift_c, scale_c^2)."""
    scale, shift = stats
    C = len(scale)
    per_channel = (1, C) + (1,) * (len(shape) - 1)
    x = torch.randn(shape[0], C, *shape[1:], generator=g, dtype=f64)
    return (x * scale.view(per_channel) + shift.view(per_channel)).to(dtype)


def random_state(module: nn.Module, g: torch.Generator) -> dict:
    """A random state for every entry of module's state_dict: weights around 1, biases and
    running means around 0, running variances in [0.5, 2], num_batches_tracked in 0..5."""
    state = {}
    for name, value in module.state_dict().items():
        if name == "weight":
            state[name] = 1 + 0.5 * torch.randn(value.shape, generator=g, dtype=f64)
        elif name in ("bias", "running_mean"):
            state[name] = 0.5 * torch.randn(value.shape, generator=g, dtype=f64)
        elif name == "running_var":
            state[name] = 0.5 + 1.5 * torch.rand(value.shape, generator=g, dtype=f64)
        else:
            state[name] = torch.randint(6, (), generator=g, dtype=torch.long)
    return state


def assert_state_matches(got, expected: dict, when: str, against: str) -> None:
    """The candidate's state_dict must hold exactly the expected keys, each value close."""
    if type(got) is not dict or set(got) != set(expected):
        found = sorted(got) if type(got) is dict else type(got).__name__
        raise Mismatch(f"state_dict keys {when}: expected {sorted(expected)} (as {against}), got {found}")
    for name in expected:
        assert_close(got[name], expected[name], f"{name} {when} vs {against}")


def train_then_eval(cand, want: nn.Module, rank: int, batches: list, spatial: tuple, stats: tuple,
                    g: torch.Generator, against: str) -> None:
    """Same batches through both in training mode (outputs and state compared after every step),
    then one batch in eval mode (output and unchanged state compared)."""
    cand.train()
    want.train()
    shapes = input_shapes(rank, batches, spatial)
    for step, shape in enumerate(shapes, 1):
        x = random_batch(shape, stats, g)
        with torch.no_grad():
            expected = want(x)
        assert_close(cand(x), expected, f"output of training step {step} (x of shape {tuple(x.shape)}) vs {against}")
        assert_state_matches(cand.state_dict(), want.state_dict(), f"after training step {step}", against)
    cand.eval()
    want.eval()
    x = random_batch(shapes[-1], stats, g)
    with torch.no_grad():
        expected = want(x)
    steps = f"{len(shapes)} training step" + ("s" if len(shapes) > 1 else "")
    assert_close(cand(x), expected, f"eval-mode output after {steps} (x of shape "
                 f"{tuple(x.shape)}) vs {against}")
    assert_state_matches(cand.state_dict(), want.state_dict(), "after an eval-mode forward", against)


def build_pair(candidate, want: nn.Module, C: int, kwargs: dict, g: torch.Generator):
    """Load a random state into `want` and the same state into a new candidate module (float64)."""
    state = random_state(want, g)
    want.load_state_dict(state)
    cand = candidate.BatchNorm(C, **kwargs).to(f64)
    cand.load_state_dict(state)
    return cand, state


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**sizes, rank=st.sampled_from(RANKS), affine=st.booleans(), track=st.booleans(), training=st.booleans())
def test_output_shape_and_dtype(candidate, C, spatial, batches, data_seed, rank, affine, track, training):
    g = generator(data_seed)
    m = candidate.BatchNorm(C, affine=affine, track_running_stats=track)
    m.train(training)
    shape = input_shapes(rank, batches, spatial)[0]
    x = random_batch(shape, channel_stats(C, g), g, dtype=torch.float32)
    y = assert_shape(m(x), x.shape, f"output for x of shape {tuple(x.shape)} (training={training})",
                     dtype=torch.float32)
    assert_finite(y, "output")


@pytest.mark.category("shape")
def test_state_dict_matches_nn_batchnorm(candidate):
    """Names, shapes, dtypes and initial values of nn.BatchNorm1d's state_dict, for every affine /
    track_running_stats combination; only weight and bias are trainable parameters; .to(float64)
    converts the float entries only."""
    C = 3
    for affine in (True, False):
        for track in (True, False):
            kwargs = dict(affine=affine, track_running_stats=track)
            what = f"BatchNorm({C}, affine={affine}, track_running_stats={track})"
            want = nn.BatchNorm1d(C, **kwargs)
            m = candidate.BatchNorm(C, **kwargs)
            got = m.state_dict()
            described = {k: (tuple(v.shape), v.dtype) for k, v in want.state_dict().items()}
            if type(got) is not dict or {k: (tuple(v.shape), v.dtype) for k, v in got.items()
                                         if isinstance(v, torch.Tensor)} != described:
                found = ({k: (tuple(v.shape), v.dtype) if isinstance(v, torch.Tensor) else type(v).__name__
                          for k, v in got.items()} if type(got) is dict else type(got).__name__)
                raise Mismatch(f"state_dict (name: (shape, dtype)) of {what} should be {described}, like "
                               f"nn.BatchNorm1d; got {found}")
            for name, value in want.state_dict().items():
                assert_equal(got[name], value, f"initial {name} of {what}")
            grads = candidate.lib.grads(m, [torch.randn(4, C, generator=generator(0))])["param_grads"]
            trainable = sorted(k for k in want.state_dict() if k in ("weight", "bias"))
            assert sorted(grads) == trainable, (
                f"trainable parameters of {what} should be exactly {trainable} (running statistics are "
                f"buffers: register_buffer, not nn.Parameter); got {sorted(grads)}")
            got64, want64 = m.to(f64).state_dict(), want.to(f64).state_dict()
            wrong = {k: got64[k].dtype for k in want64 if got64[k].dtype != want64[k].dtype}
            assert not wrong, (f"after .to(torch.float64) these entries of {what} have the wrong dtype: {wrong} "
                               f"(expected { {k: want64[k].dtype for k in wrong} }; num_batches_tracked is an "
                               "integer count)")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@pytest.mark.parametrize("rank", RANKS)
@given(**sizes, momentum=momenta, eps=epsilons, affine=st.booleans())
def test_training_steps_then_eval_match_torch(candidate, rank, C, spatial, batches, data_seed, momentum, eps, affine):
    g = generator(data_seed)
    kwargs = dict(eps=eps, momentum=momentum, affine=affine)
    want = oracle(rank, C, **kwargs)
    cand, _ = build_pair(candidate, want, C, kwargs, g)
    train_then_eval(cand, want, rank, batches, spatial, channel_stats(C, g), g,
                    f"{oracle_name(rank)}({C}, eps={eps}, momentum={momentum}, affine={affine})")


@pytest.mark.category("equivalence")
@given(**sizes, rank=st.sampled_from(RANKS), momentum=momenta, eps=epsilons, affine=st.booleans())
def test_training_steps_then_eval_match_reference(candidate, reference, C, spatial, batches, data_seed, rank,
                                                  momentum, eps, affine):
    g = generator(data_seed)
    kwargs = dict(eps=eps, momentum=momentum, affine=affine)
    want = reference.BatchNorm(C, **kwargs).to(f64)
    cand, _ = build_pair(candidate, want, C, kwargs, g)
    train_then_eval(cand, want, rank, batches, spatial, channel_stats(C, g), g, "the reference")


@pytest.mark.category("equivalence")
def test_default_arguments_match_torch(candidate, seed):
    """BatchNorm(C) with no other argument: eps=1e-5, momentum=0.1, affine, tracking, fresh state."""
    C = 4
    for rank in RANKS:
        g = generator(seed * 10 + rank)
        want = oracle(rank, C)
        cand = candidate.BatchNorm(C).to(f64)
        train_then_eval(cand, want, rank, [5, 3, 6, 4], (3, 2), channel_stats(C, g), g,
                        f"{oracle_name(rank)}({C}) (default arguments)")


@pytest.mark.category("equivalence")
@given(**sizes, rank=st.sampled_from(RANKS), eps=epsilons, affine=st.booleans())
def test_without_running_stats_match_torch(candidate, C, spatial, batches, data_seed, rank, eps, affine):
    """track_running_stats=False: batch statistics in training AND in eval mode, no buffers."""
    g = generator(data_seed)
    kwargs = dict(eps=eps, affine=affine, track_running_stats=False)
    want = oracle(rank, C, **kwargs)
    cand, _ = build_pair(candidate, want, C, kwargs, g)
    train_then_eval(cand, want, rank, batches, spatial, channel_stats(C, g), g,
                    f"{oracle_name(rank)}({C}, eps={eps}, affine={affine}, track_running_stats=False)")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@pytest.mark.parametrize("mode", ["train", "eval"])
@given(**sizes, rank=st.sampled_from(RANKS), affine=st.booleans(), track=st.booleans())
def test_gradients_match_torch(candidate, mode, C, spatial, batches, data_seed, rank, affine, track):
    """Gradients w.r.t. x, weight and bias: through the batch statistics in training mode,
    through fixed running statistics in eval mode."""
    g = generator(data_seed)
    kwargs = dict(affine=affine, track_running_stats=track)
    want = oracle(rank, C, **kwargs).train(mode == "train")
    cand, _ = build_pair(candidate, want, C, kwargs, g)
    cand.train(mode == "train")
    x = random_batch(input_shapes(rank, batches, spatial)[0], channel_stats(C, g), g)
    grad_out = torch.randn(x.shape, generator=g, dtype=f64)
    assert_gradients_match(candidate.lib.grads(cand, [x], {}, grad_out), want, x, {}, grad_out)


@pytest.mark.category("gradient")
@given(**sizes, rank=st.sampled_from(RANKS), training=st.booleans())
def test_gradients_match_reference(candidate, reference, C, spatial, batches, data_seed, rank, training):
    g = generator(data_seed)
    want = reference.BatchNorm(C).to(f64).train(training)
    cand, _ = build_pair(candidate, want, C, {}, g)
    cand.train(training)
    x = random_batch(input_shapes(rank, batches, spatial)[0], channel_stats(C, g), g)
    grad_out = torch.randn(x.shape, generator=g, dtype=f64)
    assert_gradients_match(candidate.lib.grads(cand, [x], {}, grad_out), want, x, {}, grad_out)


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, seed):
    """Training mode (batch statistics), without running statistics so the state is weight and
    bias; for (N, C), (N, C, L) and (N, C, H, W) inputs."""
    C = 3
    for rank in RANKS:
        g = generator(seed * 10 + rank)
        kwargs = dict(track_running_stats=False)
        cand = candidate.BatchNorm(C, **kwargs).to(f64)
        state = random_state(oracle(rank, C, **kwargs), g)
        x = random_batch(input_shapes(rank, [3], (3, 2))[0], channel_stats(C, g), g)
        grad_out = torch.randn(x.shape, generator=g, dtype=f64)
        check_finite_differences(candidate, cand, state, x, {}, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
HIDDEN = 16
TRAIN = dict(steps=100, lr=3e-2, batch_size=64)
SCALE, OFFSET = [300.0, 0.02], [1000.0, -5.0]  # badly scaled features


def scaled_rings(n: int, center: torch.Tensor, g: torch.Generator):
    """Class 0 on a disk of radius 0.5, class 1 on the annulus 1 < r < 1.5 around `center`, then
    feature 0 scaled by 300 and shifted by 1000, feature 1 scaled by 0.02: (n, 2) and (n,)."""
    label = torch.randint(2, (n,), generator=g)
    radius = torch.where(label == 1, 1.0 + 0.5 * torch.rand(n, generator=g), 0.5 * torch.rand(n, generator=g).sqrt())
    angle = 2 * math.pi * torch.rand(n, generator=g)
    x = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1) + center  # (n, 2)
    return x * torch.tensor(SCALE) + torch.tensor(OFFSET), label


@pytest.mark.category("convergence")
def test_learns_badly_scaled_rings(candidate, reference, seed, artifacts):
    """BatchNorm on the inputs and on the hidden layer lets a tiny MLP learn features whose scales
    differ by 1e4 (the same MLP without it stays near 50%). It is evaluated in eval mode, one
    batch per class: predictions then rest on the running statistics alone."""
    for run in range(3):
        s = seed * 1000 + run
        g = generator(s)
        center = 2 * torch.rand(2, generator=g) - 1
        x_train, y_train = scaled_rings(512, center, g)
        x_test, y_test = scaled_rings(512, center, g)
        with seeded(s):
            ref_model = support.classifier(reference.BatchNorm(2), reference.BatchNorm(HIDDEN), HIDDEN)
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}

        model = candidate.lib.support("classifier", candidate.BatchNorm(2), candidate.BatchNorm(HIDDEN), HIDDEN)
        model.load_state_dict(init)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        correct = 0
        for c in (0, 1):
            rows = y_test == c
            logits = assert_shape(model(x_test[rows]), (int(rows.sum()), 2), f"eval-mode logits for the class-{c} "
                                  "test rows", dtype=torch.float32)
            correct += int((logits.argmax(-1) == c).sum())
        accuracy = correct / len(y_test)
        if run == 0 or accuracy < 0.95:  # the reference is trained only for the report and the message
            ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]
            with torch.no_grad():
                ref_accuracy = float(sum((ref_model(x_test[y_test == c]).argmax(-1) == c).sum() for c in (0, 1))) / 512
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.95, (
            f"after {TRAIN['steps']} Adam steps (data seed {s}), Linear/ReLU layers with your BatchNorm reach "
            f"{accuracy:.1%} held-out accuracy in eval mode (each class as its own batch) on two rings with "
            f"features scaled by {SCALE} and shifted by {OFFSET}; the reference, from the same "
            f"initial weights, reaches {ref_accuracy:.1%}; at least 95% is required (training loss: first "
            f"{losses[0]:.3f}, last {losses[-1]:.3f})")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(**sizes, rank=st.sampled_from(RANKS), eps=epsilons, track=st.booleans())
def test_training_output_is_standardized_per_channel(candidate, C, spatial, batches, data_seed, rank, eps, track):
    """affine=False, training mode: every channel of the output has mean 0 and (biased) variance
    v / (v + eps), v the channel's biased variance over N and every position."""
    g = generator(data_seed)
    cand = candidate.BatchNorm(C, eps=eps, affine=False, track_running_stats=track).to(f64)
    x = random_batch(input_shapes(rank, batches, spatial)[0], channel_stats(C, g), g)
    dims = [0, *range(2, rank)]
    y = assert_shape(cand(x), x.shape, "output", dtype=f64)
    v = x.var(dim=dims, unbiased=False)
    assert_close(y.mean(dim=dims), torch.zeros(C, dtype=f64), f"per-channel mean of the training output for x "
                 f"of shape {tuple(x.shape)} (statistics over N and every position, per channel)", atol=1e-12)
    assert_close(y.var(dim=dims, unbiased=False), v / (v + eps), f"per-channel biased variance of the training "
                 f"output for x of shape {tuple(x.shape)}, eps={eps} (normalize by the biased variance, eps inside "
                 "the square root)")


@pytest.mark.category("property")
@given(**sizes, rank=st.sampled_from(RANKS), data=st.data())
def test_eval_output_ignores_the_rest_of_the_batch(candidate, C, spatial, batches, data_seed, rank, data):
    """After a few training steps, in eval mode a sample's output depends on that sample alone:
    the same alone (N=1), in the batch, and after every other sample changed."""
    g = generator(data_seed)
    cand = candidate.BatchNorm(C, momentum=0.5).to(f64)
    stats = channel_stats(C, g)
    for shape in input_shapes(rank, batches, spatial):
        cand(random_batch(shape, stats, g))
    cand.eval()
    shape = (max(2, batches[0]), *spatial[:rank - 2])
    x = random_batch(shape, stats, g)
    i = data.draw(st.integers(0, shape[0] - 1), label="sample i")
    y = assert_shape(cand(x), x.shape, "eval output", dtype=f64)
    alone = assert_shape(cand(x[i:i + 1]), (1, *x.shape[1:]), "eval output of one sample", dtype=f64)
    assert_close(alone[0], y[i], f"eval output of sample {i} alone vs in a batch of {shape[0]} (eval mode must "
                 "normalize with the running statistics, not the batch's)")
    x_changed = random_batch(shape, stats, g)
    x_changed[i] = x[i]
    after = assert_shape(cand(x_changed), x.shape, "eval output", dtype=f64)
    assert_close(after[i], y[i], f"eval output of sample {i} after changing every other sample")


@pytest.mark.category("property")
@given(**sizes, rank=st.sampled_from(RANKS))
def test_momentum_none_is_a_cumulative_average(candidate, C, spatial, batches, data_seed, rank):
    """momentum=None from a fresh module: after k steps running_mean is the plain average of the
    k batch means, running_var the average of the k unbiased batch variances."""
    g = generator(data_seed)
    cand = candidate.BatchNorm(C, momentum=None).to(f64)
    stats = channel_stats(C, g)
    dims = [0, *range(2, rank)]
    means, variances = [], []
    for step, shape in enumerate(input_shapes(rank, batches, spatial), 1):
        x = random_batch(shape, stats, g)
        cand(x)
        means.append(x.mean(dim=dims))
        variances.append(x.var(dim=dims, unbiased=True))
        state = cand.state_dict()
        assert_close(state["running_mean"], torch.stack(means).mean(0), f"running_mean after step {step} with "
                     f"momentum=None (should be the plain average of the {step} batch means)")
        assert_close(state["running_var"], torch.stack(variances).mean(0), f"running_var after step {step} with "
                     f"momentum=None (should be the plain average of the {step} unbiased batch variances)")
        assert_equal(state["num_batches_tracked"], torch.tensor(step), f"num_batches_tracked after step {step}")


@pytest.mark.category("property")
def test_running_stats_carry_no_autograd_history(candidate, seed):
    """Training steps on inputs that require grad (then backward), then backward in eval mode:
    the running statistics are updated outside autograd, so they never require grad nor hold
    a graph (which would keep every past batch alive and break backward in eval mode)."""
    g = generator(seed)
    C, rank = 3, 3
    want = oracle(rank, C)
    cand, _ = build_pair(candidate, want, C, {}, g)
    stats = channel_stats(C, g)
    for step, N in enumerate([4, 3, 5], 1):
        x = random_batch((N, 2), stats, g)
        candidate.lib.grads(cand, [x], {}, torch.randn(x.shape, generator=g, dtype=f64))
        want(x)
        history = {k: v for k, v in candidate.lib.support("autograd_history", cand).items() if v is not None}
        if history:
            raise Mismatch(f"after training step {step} (with backward), these buffers carry autograd history: "
                           f"{history}; update the running statistics under torch.no_grad() or from detached "
                           "statistics")
    cand.eval()
    want.eval()
    x = random_batch((3, 2), stats, g)
    grad_out = torch.randn(x.shape, generator=g, dtype=f64)
    assert_gradients_match(candidate.lib.grads(cand, [x], {}, grad_out), want, x, {}, grad_out)


@pytest.mark.category("property")
def test_one_value_per_channel_raises_in_training(candidate, seed):
    """A training batch with one value per channel has no variance to speak of (the unbiased one
    divides by 0): like nn.BatchNorm, raise ValueError instead of filling running_var with NaN."""
    g = generator(seed)
    C = 3
    for track in (True, False):
        for rank in RANKS:
            cand = candidate.BatchNorm(C, track_running_stats=track).to(f64)
            x = random_batch((1,) + (1,) * (rank - 2), channel_stats(C, g), g)
            what = f"training-mode forward of x of shape {tuple(x.shape)} (one value per channel, " \
                   f"track_running_stats={track})"
            try:
                y = cand(x)
            except CandidateError as e:
                if e.remote_type != "ValueError":
                    raise Mismatch(f"{what} raised {e.remote_type}: {e.remote_message}; expected ValueError, "
                                   "as nn.BatchNorm") from None
                continue
            shown = y.flatten()[:C].tolist() if isinstance(y, torch.Tensor) else type(y).__name__
            raise Mismatch(f"{what} returned {shown} and the state {cand.state_dict()}; expected a ValueError, "
                           "as nn.BatchNorm raises")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_input(candidate, seed):
    g = generator(seed)
    m = candidate.BatchNorm(3)
    x = random_batch((4, 5), channel_stats(3, g), g, dtype=torch.float32)
    for training in (True, False):
        m.train(training)
        _, args_after, _ = m.call_checked(x)
        assert_unchanged(args_after[0], x, f"x after forward with training={training} (modified in place)")
