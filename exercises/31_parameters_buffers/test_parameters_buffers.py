"""Suite for 31_parameters_buffers: RunningNormalizer vs the reference and nn.BatchNorm1d (same state_dict);
count_parameters and parameter_table vs torch's bookkeeping on the traps of support.counting_model."""
import dataclasses

import pytest
import torch
from hypothesis import given, strategies as st
from torch import nn

from grader import kit
from grader.kit import assert_close, assert_equal, assert_finite, assert_shape, assert_state_close, f64, given_cases

support = kit.exercise_support(__file__)
PARAMETERS, PERSISTENT = ("weight", "bias"), ("running_mean", "running_var", "num_batches_tracked")
BUFFERS, KEYS = PERSISTENT + ("batch_mean",), ("name", "shape", "numel", "requires_grad")


class Norm(kit.Case):
    """RunningNormalizer(F, momentum), batches (N, *lead, F)."""

    F: int
    N: int
    momentum: float
    lead: tuple
    data_seed: int = dataclasses.field(default=0, kw_only=True)  # seeds case.generator()

    def batch(self, g, dtype=f64) -> torch.Tensor:
        return support.random_batch((self.N, *self.lead, self.F), g, dtype)

    def twins(self, candidate, reference, g) -> list:
        sd = support.random_state(self.F, g)
        return [kit.load(lib.RunningNormalizer(self.F, momentum=self.momentum), sd, f64)
                for lib in (candidate, reference)] + [sd]


def norms(lead=st.lists(st.integers(1, 3), max_size=2).map(tuple), momentum=st.sampled_from([0.1, 0.25, 1.0])):
    return st.builds(Norm, F=st.integers(1, 6), N=st.integers(2, 6), momentum=momentum, lead=lead,
                     data_seed=kit.data_seeds)


class Model(kit.Case):  # support.counting_model(kind, a, b, frozen)
    kind: str
    a: int
    b: int
    frozen: list

    @property
    def args(self) -> tuple:
        return self.kind, self.a, self.b, self.frozen


@st.composite
def models(draw):
    kind, a, b = draw(st.sampled_from(support.COUNTING_KINDS)), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    names = [n for n, _ in support.counting_model(kind, a, b).named_parameters(remove_duplicate=False)]
    return Model(kind, a, b, draw(st.lists(st.sampled_from(names), unique=True, max_size=3)))


def table(got) -> list[tuple]:
    """parameter_table's rows as (name, shape, numel, requires_grad, their types); each a dict of exactly these."""
    assert type(got) is list and all(type(r) is dict and sorted(r) == sorted(KEYS) for r in got), \
        f"parameter_table should return a list of dicts with the keys {KEYS}; got {got!r}"[:800]
    return [(r["name"], tuple(r["shape"]), r["numel"], r["requires_grad"], *(type(r[k]) for k in KEYS)) for r in got]


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(norms(), training=st.booleans())
def test_output_shape_and_dtype(candidate, case, training):
    m = candidate.RunningNormalizer(case.F, momentum=case.momentum).train(training)
    x = case.batch(case.generator(), torch.float32)
    assert_finite(assert_shape(m(x), x.shape, f"output (training={training})", dtype=torch.float32), "output")


@pytest.mark.category("shape")
@given(F=st.integers(1, 9))
def test_state_dict_entries(candidate, F):
    assert_state_close(candidate.RunningNormalizer(F).state_dict(), nn.BatchNorm1d(F).state_dict(),
                       f"of RunningNormalizer({F}) vs nn.BatchNorm1d's (names, shapes, dtypes, initial values)")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(norms(), steps=st.integers(1, 3))
def test_training_steps_match_reference(candidate, reference, case, steps):
    g = case.generator()
    cand, ref, _ = case.twins(candidate, reference, g)
    for step in range(1, steps + 2):
        when = f"training step {step}" if step <= steps else f"an eval step after {steps} training steps"
        x = case.batch(g)
        assert_close(cand.train(step <= steps)(x), ref.train(step <= steps)(x).detach(), f"output of {when}")
        assert_state_close(cand.state_dict(), ref.state_dict(), f"after {when}")
        assert_close(cand.batch_mean, ref.batch_mean, f"batch_mean after {when}")


@pytest.mark.category("equivalence")
@given_cases(norms(lead=st.just(())), steps=st.integers(1, 4))
def test_matches_batchnorm_statistics_and_eval_output(candidate, reference, case, steps):
    g = case.generator()
    cand, _, sd = case.twins(candidate, reference, g)
    bn = kit.load(nn.BatchNorm1d(case.F, momentum=case.momentum), sd, f64)
    for step in range(1, steps + 1):
        x = case.batch(g)
        cand(x), bn(x)
        assert_state_close(cand.state_dict(), bn.state_dict(), f"after training step {step} vs nn.BatchNorm1d")
    x = case.batch(g)
    assert_close(cand.eval()(x), bn.eval()(x).detach(), f"eval output after {steps} steps vs nn.BatchNorm1d.eval()")


@pytest.mark.category("equivalence")
@given_cases(models(), trainable_only=st.booleans())
def test_count_parameters_matches_torch(candidate, case, trainable_only):
    here = support.counting_model(*case.args)
    expected = sum(p.numel() for p in here.parameters() if p.requires_grad or not trainable_only)
    got = candidate.count_parameters(candidate.lib.support("counting_model", *case.args),
                                     trainable_only=trainable_only)
    assert type(got) is int and got == expected, (f"count_parameters(model, trainable_only={trainable_only}) returned "
                                                  f"{got!r}, expected {expected} (each tensor once; buffers excluded)")


@pytest.mark.category("equivalence")
@given_cases(models())
def test_parameter_table_matches_named_parameters(candidate, case):
    expected = table(support.parameter_rows(support.counting_model(*case.args)))
    got = table(candidate.parameter_table(candidate.lib.support("counting_model", *case.args)))
    for i in range(max(len(got), len(expected))):
        assert got[i:i + 1] == expected[i:i + 1], (f"parameter_table row {i}: {got[i:i + 1]}, expected "
                                                   f"{expected[i:i + 1]} (named_parameters(): each tensor once)")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(norms(), training=st.booleans())
def test_gradients_match_reference(candidate, reference, case, training):
    g = case.generator()
    cand, ref, _ = case.twins(candidate, reference, g)
    kit.check_gradients(candidate, cand.train(training), ref.train(training), {"x": case.batch(g)}, g=g)


@pytest.mark.category("gradient")
@pytest.mark.parametrize("N, F", [(4, 3), (2, 1)])
def test_gradients_match_finite_differences(candidate, reference, seed, N, F):
    g, case = kit.generator(seed * 100 + F), Norm(F, N, 0.1, ())
    m, _, sd = case.twins(candidate, reference, g)
    kit.check_finite_differences(candidate, m.eval(), {"x": case.batch(g)}, g=g,  # eval: the state stays
                                 state_dict={k: sd[k] for k in PARAMETERS})


# -- convergence -----------------------------------------------------------------------------
FEATURES, CALIBRATION, TRAIN = 6, 150, dict(steps=100, lr=5e-2, batch_size=64)


@pytest.mark.category("convergence")
def test_normalizer_makes_badly_scaled_features_learnable(candidate, reference, seed, artifacts):
    """A calibration pass (150 training batches) brings the running statistics near the data's (features scaled
    1e-2..1e2); then RunningNormalizer -> Linear reaches 95% held-out accuracy after 100 Adam steps."""
    norms = []

    def models(s, run):
        x, lib = support.badly_scaled_task(kit.generator(s))[0], candidate.lib
        norms.append(candidate.RunningNormalizer(FEATURES))
        model, ref = kit.same_init(lib.make("torch.nn.Sequential", norms[-1], lib.make("torch.nn.Linear", FEATURES, 2)),
                                   lambda: nn.Sequential(reference.RunningNormalizer(FEATURES), nn.Linear(FEATURES, 2)),
                                   s)
        mean, var = (assert_shape(t, (FEATURES,), "running statistic")
                     for t in lib.support("calibrate", norms[-1], x, s, CALIBRATION))
        support.calibrate(ref[0], x, s, CALIBRATION)
        mean_error, var_ratio = ((mean - x.mean(0)) / x.std(0)).abs(), var / x.var(0)
        assert mean_error.max() <= 0.3 and (var_ratio - 1).abs().max() <= 0.3, (
            f"after a calibration pass of {CALIBRATION} training batches (data seed {s}): |running_mean - mean| / std ="
            f" {mean_error.tolist()} (at most 0.3 expected), running_var / var = {var_ratio.tolist()} (1 ± 0.3)")
        return model, ref

    kit.check_convergence(candidate, artifacts, seed, models=models, task=support.badly_scaled_task, train=TRAIN,
                          threshold=0.95, runs=3, subject="RunningNormalizer -> Linear", goal="on badly scaled data")
    tracked = [int(norm.num_batches_tracked) for norm in norms]
    assert set(tracked) == {CALIBRATION + TRAIN["steps"]}, (f"num_batches_tracked after {CALIBRATION} calibration "
                                                           f"batches and {TRAIN['steps']} training steps: {tracked}")


# -- property --------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(F=st.integers(1, 9))
def test_buffers_are_not_parameters(candidate, F):
    m = candidate.RunningNormalizer(F)
    inv = candidate.lib.support("inventory", m)
    got = {k: sorted(inv[k]) for k in ("parameters", "buffers", "state_dict")} | {"requires_grad": sorted(
        k for k, v in {**inv["buffer_requires_grad"], **inv["parameter_requires_grad"]}.items() if v)}
    want = {"parameters": sorted(PARAMETERS), "buffers": sorted(BUFFERS), "state_dict": sorted(PARAMETERS + PERSISTENT),
            "requires_grad": sorted(PARAMETERS)}
    assert got == want, f"names in RunningNormalizer({F}): {got}, expected {want}"
    assert candidate.count_parameters(m) == 2 * F, f"count_parameters(RunningNormalizer({F})) should be 2 * {F}"


@pytest.mark.category("property")
@given_cases(norms(lead=st.just(()), momentum=st.just(0.1)))
def test_non_persistent_buffer_is_state_but_not_saved(candidate, reference, case):
    g = case.generator()
    cand, x = case.twins(candidate, reference, g)[0], case.batch(g)
    cand(x)
    assert_close(cand.batch_mean, x.mean(0), "batch_mean after a training step vs the batch's mean")
    sd = cand.state_dict()
    fresh = kit.load(candidate.RunningNormalizer(case.F), sd, f64)  # strict: every persistent entry, nothing else
    assert_state_close(fresh.state_dict(), sd, "of a fresh module loaded with a trained module's state_dict")
    assert_equal(fresh.batch_mean, torch.zeros(case.F, dtype=f64), "batch_mean of a fresh module after loading")
    x = case.batch(g)
    assert_close(fresh.eval()(x), cand.eval()(x), "eval output of the reloaded module vs the original")


def placement(candidate, target) -> dict:
    """{name: device (target "meta") or dtype after .to(target)}; None: no such tensor attribute."""
    got = candidate.lib.support("placement", candidate.RunningNormalizer(4), target, list(PARAMETERS + BUFFERS))
    return {name: value and (value[0] if target == "meta" else value[1]) for name, value in got.items()}


@pytest.mark.category("property")
def test_buffers_follow_to_dtype(candidate, seed):
    want = {k: torch.int64 if k == "num_batches_tracked" else f64 for k in PARAMETERS + BUFFERS}
    assert placement(candidate, f64) == want, f"dtypes after .to(float64): {placement(candidate, f64)}, expected {want}"
    m = candidate.RunningNormalizer(4).to(f64)
    assert_shape(m(support.random_batch((5, 4), kit.generator(seed))), (5, 4), "output after .to(float64)", dtype=f64)
    assert_shape(m.running_var, (4,), "running_var after a float64 training step", dtype=f64)


@pytest.mark.category("property")
def test_buffers_follow_to_device(candidate):
    got = placement(candidate, "meta")
    assert set(got.values()) == {"meta"}, f"devices after .to('meta'): {got} (register state as buffers to move it)"


@pytest.mark.category("property")
@given_cases(norms(lead=st.just(()), momentum=st.just(0.1)))
def test_eval_mode_freezes_the_statistics(candidate, reference, case):
    g = case.generator()
    cand, _, sd = case.twins(candidate, reference, g)
    cand.eval()(case.batch(g))
    assert_state_close(cand.state_dict(), sd, "after a forward pass in eval mode (eval must not update buffers)")
    assert_equal(cand.batch_mean, torch.zeros(case.F, dtype=f64), "batch_mean after a forward pass in eval mode")


@pytest.mark.category("property")
def test_repeated_training_steps_backpropagate(candidate, seed):
    g, m = kit.generator(seed), candidate.RunningNormalizer(5)
    for step in range(1, 4):  # each with a backward: the statistics must not keep the previous step's graph
        got = candidate.lib.grads(m, [support.random_batch((8, 5), g, torch.float32)], {},
                                  torch.randn(8, 5, generator=g))
        assert_finite(got["input_grads"][0], f"gradient w.r.t. x at training step {step} (update under no_grad)")


@pytest.mark.category("property")
@given_cases(models())
def test_parameter_table_agrees_with_count_parameters(candidate, case):
    model = candidate.lib.support("counting_model", *case.args)
    rows = table(candidate.parameter_table(model))
    counts = [candidate.count_parameters(model, trainable_only=t) for t in (False, True)]
    sums = [sum(r[2] for r in rows if r[3] or not t) for t in (False, True)]
    assert sums == counts, f"parameter_table sums to {sums} (all, trainable) but count_parameters says {counts}"
    for name, shape, numel, *_ in rows:
        assert all(type(d) is int for d in shape) and torch.Size(shape).numel() == numel, f"row {name}: shape {shape}"


@pytest.mark.category("property")
def test_forward_does_not_modify_its_input(candidate, seed):
    x = support.random_batch((6, 4), kit.generator(seed), torch.float32)
    kit.assert_inputs_unchanged(candidate.RunningNormalizer(4), {"x": x}, what="forward")
