"""Suite for 32_batchnorm: BatchNorm on (N, C), (N, C, L), (N, C, H, W) vs nn.BatchNorm1d / 2d and the reference (one
random state_dict in both, float64) in training then eval mode; gradients, a task needing the running statistics."""
import dataclasses
import itertools

import pytest
import torch
from hypothesis import given, strategies as st
from torch import nn

from grader import kit, training
from grader.kit import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_state_close, f64
from grader.kit import given_cases

support = kit.exercise_support(__file__)
RANKS = (2, 3, 4)  # (N, C), (N, C, L), (N, C, H, W)


class BN(kit.Case):
    """BatchNorm(C, ...) on inputs of `rank`: N per step from `batches` (2 if one value per channel)."""

    rank: int
    C: int
    spatial: tuple
    batches: list
    momentum: object
    eps: float
    affine: bool
    track: bool
    data_seed: int = dataclasses.field(default=0, kw_only=True)  # seeds case.generator()

    @property
    def kwargs(self) -> dict:
        return dict(eps=self.eps, momentum=self.momentum, affine=self.affine, track_running_stats=self.track)

    def oracle(self, **kwargs) -> nn.Module:
        return (nn.BatchNorm2d if self.rank == 4 else nn.BatchNorm1d)(self.C, dtype=f64, **(kwargs or self.kwargs))

    def inputs(self, g, dtype=f64) -> list:
        positions, stats = self.spatial[:self.rank - 2], support.channel_stats(self.C, g)
        return [support.random_batch((max(n, 2) if torch.Size(positions).numel() == 1 else n, *positions), stats, g,
                                     dtype) for n in self.batches]

    def pair(self, candidate, want: nn.Module, g, kwargs=None) -> tuple:
        """A new candidate BatchNorm (float64; kwargs default: the case's) and `want`, loaded with one random state."""
        state = support.random_state(want.state_dict(), g)
        return kit.load(candidate.BatchNorm(self.C, **(self.kwargs if kwargs is None else kwargs)), state, f64), \
            kit.load(want, state)


def bns(rank=st.sampled_from(RANKS), momentum=st.one_of(st.none(), st.just(0.1), st.floats(0.0, 1.0)),
        affine=st.booleans(), track=st.just(True), n=st.integers(1, 5)):
    return st.builds(BN, rank=rank, C=st.integers(1, 5), spatial=st.tuples(st.integers(1, 4), st.integers(1, 4)),
                     batches=st.lists(n, min_size=1, max_size=4), momentum=momentum,
                     eps=st.sampled_from([1e-5, 1e-3, 0.1]), affine=affine, track=track, data_seed=kit.data_seeds)


def train_then_eval(cand, want: nn.Module, case: BN, g, against: str) -> None:
    """Training steps, then an eval step, through both: outputs and state_dicts compared after each."""
    inputs = case.inputs(g)
    for step, x in enumerate(inputs + case.inputs(g)[-1:], 1):
        when = f"training step {step}" if step <= len(inputs) else f"an eval step after {len(inputs)} training steps"
        y = cand.train(step <= len(inputs))(x)
        assert_close(y, want.train(step <= len(inputs))(x).detach(), f"output of {when} (x {tuple(x.shape)}), {against}")
        assert_state_close(cand.state_dict(), want.state_dict(), f"after {when} vs {against}")


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(bns(track=st.booleans()), training=st.booleans())
def test_output_shape_and_dtype(candidate, case, training):
    m = candidate.BatchNorm(case.C, affine=case.affine, track_running_stats=case.track).train(training)
    x = case.inputs(case.generator(), torch.float32)[0]
    assert_finite(assert_shape(m(x), x.shape, f"output (training={training})", dtype=torch.float32), "output")


@pytest.mark.category("shape")
def test_state_dict_matches_nn_batchnorm(candidate):
    for affine, track in itertools.product((True, False), (True, False)):
        kwargs, what = dict(affine=affine, track_running_stats=track), f"BatchNorm(3, affine={affine}, track={track})"
        m, want = candidate.BatchNorm(3, **kwargs), nn.BatchNorm1d(3, **kwargs)
        assert_state_close(m.state_dict(), want.state_dict(), f"of a new {what} vs nn.BatchNorm1d's")
        assert_state_close(m.to(f64).state_dict(), want.to(f64).state_dict(), f"of {what} after .to(torch.float64)")
        kit.assert_trainable(candidate, m, [torch.randn(4, 3, generator=kit.generator(0), dtype=f64)], want, what)


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@pytest.mark.parametrize("rank", RANKS)
@given_cases(bns(), replace=("rank",))
def test_training_steps_then_eval_match_torch(candidate, rank, case):
    g = case.generator()
    train_then_eval(*case.pair(candidate, case.oracle(), g), case, g, type(case.oracle()).__name__)


@pytest.mark.category("equivalence")
@given_cases(bns())
def test_training_steps_then_eval_match_reference(candidate, reference, case):
    g = case.generator()
    train_then_eval(*case.pair(candidate, reference.BatchNorm(case.C, **case.kwargs).to(f64), g), case, g, "reference")


@pytest.mark.category("equivalence")
def test_default_arguments_match_torch(candidate, seed):
    for rank in RANKS:
        case = BN(rank, 4, (3, 2), [5, 3, 6, 4], 0.1, 1e-5, True, True, data_seed=seed * 10 + rank)
        train_then_eval(candidate.BatchNorm(4).to(f64), case.oracle(), case, case.generator(), "torch (defaults)")


@pytest.mark.category("equivalence")
@given_cases(bns(momentum=st.just(0.1), track=st.just(False)))
def test_without_running_stats_match_torch(candidate, case):
    g = case.generator()
    train_then_eval(*case.pair(candidate, case.oracle(), g), case, g, type(case.oracle()).__name__)


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@pytest.mark.parametrize("mode", ["train", "eval"])
@given_cases(bns(track=st.booleans()))
def test_gradients_match_torch(candidate, mode, case):
    g = case.generator()
    cand, want = case.pair(candidate, case.oracle(), g)
    training = mode == "train"
    kit.check_gradients(candidate, cand.train(training), want.train(training), {"x": case.inputs(g)[0]}, g=g)


@pytest.mark.category("gradient")
@given_cases(bns(momentum=st.just(0.1), affine=st.just(True)), training=st.booleans())
def test_gradients_match_reference(candidate, reference, case, training):
    g = case.generator()
    cand, ref = case.pair(candidate, reference.BatchNorm(case.C).to(f64), g, kwargs={})
    kit.check_gradients(candidate, cand.train(training), ref.train(training), {"x": case.inputs(g)[0]}, g=g)


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, seed):
    for rank in RANKS:
        case = BN(rank, 3, (3, 2), [3], 0.1, 1e-5, True, False, data_seed=seed * 10 + rank)
        g = case.generator()
        cand, want = case.pair(candidate, case.oracle(), g)
        kit.check_finite_differences(candidate, cand, {"x": case.inputs(g)[0]}, g=g, state_dict=want.state_dict())


# -- convergence -----------------------------------------------------------------------------
HIDDEN, TRAIN = 16, dict(steps=100, lr=3e-2, batch_size=64)


def per_class_accuracy(model, x, y) -> float:
    """In eval mode, each class as its own batch: predictions rest on the running statistics alone."""
    with torch.no_grad():
        return sum(kit.accuracy(model(x[y == c]), y[y == c]) * int(sum(y == c)) for c in (0, 1)) / len(y)


@pytest.mark.category("convergence")
def test_learns_badly_scaled_rings(candidate, reference, seed, artifacts):
    for run in range(3):
        s = seed * 1000 + run
        x_train, y_train, x_test, y_test = support.rings_task(kit.generator(s))
        model, ref_model = kit.same_init(
            candidate.lib.support("classifier", candidate.BatchNorm(2), candidate.BatchNorm(HIDDEN), HIDDEN),
            lambda: support.classifier(reference.BatchNorm(2), reference.BatchNorm(HIDDEN), HIDDEN), s)
        losses = kit.fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        got = per_class_accuracy(model, x_test, y_test)
        if run > 0 and got >= 0.95:
            continue  # the reference is trained only for the report and the message
        ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]
        ref = per_class_accuracy(ref_model, x_test, y_test)
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert got >= 0.95, (
            f"after {TRAIN['steps']} Adam steps (data seed {s}), Linear/ReLU layers with your BatchNorm reach {got:.1%} "
            f"held-out accuracy in eval mode (each class as its own batch) on rings scaled by 300 and 0.02; the "
            f"reference, from the same initial weights, reaches {ref:.1%}; at least 95% is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(bns(affine=st.just(False), track=st.booleans()))
def test_training_output_is_standardized_per_channel(candidate, case):
    """Per channel: mean 0, biased variance v / (v + eps) (v: x's biased variance over N and positions)."""
    x, dims = case.inputs(case.generator())[0], [0, *range(2, case.rank)]
    y = assert_shape(candidate.BatchNorm(case.C, **case.kwargs).to(f64)(x), x.shape, "output", dtype=f64)
    v = x.var(dim=dims, unbiased=False)
    assert_close(y.mean(dim=dims), torch.zeros(case.C, dtype=f64), "per-channel mean of the output", atol=1e-12)
    assert_close(y.var(dim=dims, unbiased=False), v / (v + case.eps), "per-channel biased variance of the output "
                 "(normalize by the biased variance, eps inside the square root)")


@pytest.mark.category("property")
@given_cases(bns(momentum=st.just(0.5), n=st.integers(2, 5)), data=st.data())
def test_eval_output_ignores_the_rest_of_the_batch(candidate, case, data):
    g, cand = case.generator(), candidate.BatchNorm(case.C, momentum=0.5).to(f64)
    for x in case.inputs(g):
        cand(x)
    x, other = case.inputs(g)[0], case.inputs(g)[0]
    i = data.draw(st.integers(0, len(x) - 1), label="sample i")
    y, other[i] = assert_shape(cand.eval()(x), x.shape, "eval output", dtype=f64), x[i]
    assert_close(assert_shape(cand(x[i:i + 1]), (1, *x.shape[1:]), "eval output of one sample")[0], y[i],
                 f"eval output of sample {i} alone vs in a batch of {len(x)}")
    assert_close(assert_shape(cand(other), x.shape, "eval output")[i], y[i], f"eval output of sample {i} after "
                 "changing every other sample")


@pytest.mark.category("property")
@given_cases(bns(momentum=st.none()))
def test_momentum_none_is_a_cumulative_average(candidate, case):
    cand, dims, stats = candidate.BatchNorm(case.C, momentum=None).to(f64), [0, *range(2, case.rank)], []
    for step, x in enumerate(case.inputs(case.generator()), 1):
        cand(x)
        stats.append(torch.stack([x.mean(dim=dims), x.var(dim=dims, unbiased=True)]))
        state, want = cand.state_dict(), torch.stack(stats).mean(0)
        assert_close(state["running_mean"], want[0], f"running_mean after step {step} (average of the batch means)")
        assert_close(state["running_var"], want[1], f"running_var after step {step} (average of the unbiased variances)")
        assert_equal(state["num_batches_tracked"], torch.tensor(step), f"num_batches_tracked after step {step}")


@pytest.mark.category("property")
def test_running_stats_carry_no_autograd_history(candidate, seed):
    case = BN(3, 3, (2, 1), [4, 3, 5], 0.1, 1e-5, True, True, data_seed=seed)
    g = case.generator()
    cand, want = case.pair(candidate, case.oracle(), g)
    for step, x in enumerate(case.inputs(g), 1):
        kit.check_gradients(candidate, cand, want, {"x": x}, g=g)
        history = {k: v for k, v in candidate.lib.support("autograd_history", cand).items() if v is not None}
        assert not history, f"after training step {step} (with backward) buffers carry autograd history: {history}"
    kit.check_gradients(candidate, cand.eval(), want.eval(), {"x": case.inputs(g)[0]}, g=g)


@pytest.mark.category("property")
def test_one_value_per_channel_raises_in_training(candidate, seed):
    for track, rank in itertools.product((True, False), RANKS):
        g = kit.generator(seed)
        x = support.random_batch((1,) + (1,) * (rank - 2), support.channel_stats(3, g), g)
        kit.expect_raises(lambda: candidate.BatchNorm(3, track_running_stats=track).to(f64)(x), "ValueError",
                          f"training forward of x {tuple(x.shape)} (one value per channel, track={track})")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_input(candidate, seed):
    x = support.random_batch((4, 5), support.channel_stats(3, kit.generator(seed)), kit.generator(seed), torch.float32)
    for training in (True, False):
        kit.assert_inputs_unchanged(candidate.BatchNorm(3).train(training), {"x": x}, what=f"forward ({training=})")
