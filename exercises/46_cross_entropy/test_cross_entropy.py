"""Suite for 46_cross_entropy: cross_entropy vs F.cross_entropy and the reference (float64, class-index and probability
targets, logits (N, C, d1, ...)); gradients, a training run, stability at logits of 1e4, properties of the loss."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st

from grader import kit
from grader.kit import assert_close, assert_equal, assert_finite, assert_shape, f64, given_cases

support = kit.exercise_support(__file__)
REDUCTIONS, KINDS, IGNORE = ["none", "mean", "sum"], ["class indices", "probabilities"], ["none", "-100", "a class"]


class Loss(kit.Case):
    """One call: logits (N, C, *extra) of a few units, targets of `kind`, and the keyword arguments."""

    N: int
    C: int
    extra: tuple
    kind: str
    weighted: bool
    smoothing: float
    reduction: str
    ignore: str  # class indices: nothing ignored, about 30% of targets -100, or ignore_index a real class (30%)
    data_seed: int

    def call(self, dtype=f64, scale: float = 3.0) -> tuple:  # x, target, keyword arguments
        g = self.generator()
        x = scale * torch.randn(self.N, self.C, *self.extra, generator=g, dtype=dtype)
        kw = {"weight": 0.2 + 1.8 * torch.rand(self.C, generator=g, dtype=dtype) if self.weighted else None,
              "reduction": self.reduction, "label_smoothing": self.smoothing}
        if self.kind == "probabilities":  # class probabilities over dim 1, far from one-hot
            return x, torch.softmax(2 * torch.randn(x.shape, generator=g, dtype=dtype), dim=1), kw
        target = torch.randint(self.C, (self.N, *self.extra), generator=g)  # class indices
        ignore_index = int(torch.randint(self.C, (), generator=g)) if self.ignore == "a class" and self.C > 1 else -100
        if self.ignore != "none":  # about 30% ignored, never the first (so that 'mean' has something to average)
            target = target.masked_fill(torch.rand(target.shape, generator=g) < 0.3, ignore_index)
            target.view(-1)[0] = (ignore_index + 1) % self.C if ignore_index >= 0 else 0
        return x, target, {**kw, "ignore_index": ignore_index}

    def loss(self, got, name: str, dtype=f64) -> torch.Tensor:  # (N, *extra) for 'none', else 0-dim
        return assert_shape(got, (self.N, *self.extra) if self.reduction == "none" else (), name, dtype=dtype)


def losses(kind=st.sampled_from(KINDS), weighted=st.booleans(), smoothing=st.one_of(st.just(0.0), st.floats(0, 1)),
           reduction=st.sampled_from(REDUCTIONS), ignore=st.just("-100")):
    return st.builds(Loss, st.integers(1, 4), st.integers(1, 5), st.lists(st.integers(1, 3), max_size=2).map(tuple),
                     kind, weighted, smoothing, reduction, ignore, kit.data_seeds)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(losses(weighted=st.just(False), smoothing=st.just(0.0)), dtype=st.sampled_from([torch.float32, f64]))
def test_output_shape_and_dtype(candidate, case, dtype):
    """'none' keeps one loss per position, (N, d1, ...); 'mean' and 'sum' give a 0-dim tensor."""
    x, target, kw = case.call(dtype)
    assert_finite(case.loss(candidate.cross_entropy(x, target, **kw), "loss", dtype), "loss")


# -- equivalence -----------------------------------------------------------------------------
def assert_matches_torch_everywhere(candidate, case: Loss) -> None:
    x, target, kw = case.call()
    for weight, reduction in [(w, r) for w in (None, kw["weight"]) for r in REDUCTIONS]:  # without and with weights
        kw.update(weight=weight, reduction=reduction)
        with kit.about(case.replace(weighted=weight is not None, reduction=reduction)):
            assert_close(candidate.cross_entropy(x, target, **kw), F.cross_entropy(x, target, **kw),
                         f"loss vs F.cross_entropy (ignore_index={kw.get('ignore_index')})")


@pytest.mark.category("equivalence")
@given(case=losses(kind=st.just("class indices"), weighted=st.just(True), ignore=st.sampled_from(IGNORE)))
def test_class_index_targets_match_torch(candidate, case):
    assert_matches_torch_everywhere(candidate, case)


@pytest.mark.category("equivalence")
@given(case=losses(kind=st.just("probabilities"), weighted=st.just(True)))
def test_probability_targets_match_torch(candidate, case):
    assert_matches_torch_everywhere(candidate, case)


@pytest.mark.category("equivalence")
@given_cases(losses())
def test_matches_reference(candidate, reference, case):
    x, target, kw = case.call()
    assert_close(candidate.cross_entropy(x, target, **kw), reference.cross_entropy(x, target, **kw), "loss vs reference")


FORMULAS = {  # each a place where a plausible definition differs from PyTorch's: (label_smoothing, why)
    "weighted mean": (0.0, "with class weights, 'mean' is sum(w[y] * loss) / sum(w[y]) over the counted targets"),
    "mean skips ignored targets": (0.0, "'mean' averages over the targets that are not ignore_index only"),
    "smoothing with weights": (0.3, "(1-eps) w[y] (-log p[y]) + eps/C sum_c w[c] (-log p[c]), 'mean' / sum(w[y])"),
    "probability targets mean": (0.2, "with probability targets, 'mean' divides by the number of positions N*L")}


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("case", FORMULAS)
def test_the_documented_formulas(candidate, seed, case):
    (eps, why), kind = FORMULAS[case], "probabilities" if case == "probability targets mean" else "class indices"
    x, target, kw = (call := Loss(6, 4, (3,), kind, case != "mean skips ignored targets", eps, "mean", "-100", seed)).call()
    # the README's formulas written out here, with log_softmax on the trusted side
    logp, w = torch.log_softmax(x, dim=1), torch.ones(4, dtype=f64) if kw["weight"] is None else kw["weight"]
    if kind == "probabilities":
        expected = -(w[:, None] * ((1 - eps) * target + eps / 4) * logp).sum(1).mean()  # mean over (N, L)
    else:
        counted, y = target != kw["ignore_index"], target.clamp(min=0)  # (N, L)
        nll, w_y, smooth = -logp.gather(1, y[:, None]).squeeze(1), w[y] * counted, -(w[:, None] * logp).sum(1) * counted
        expected = ((1 - eps) * w_y * nll + eps / 4 * smooth).sum() / w_y.sum()  # smooth: sum_c w[c] * -log p[c]
    assert_close(expected, F.cross_entropy(x, target, **kw), "the test's own formula vs F.cross_entropy")
    assert_close(candidate.cross_entropy(x, target, **kw), expected, f"loss ({case}: {why})\n  case: {call}")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(case=losses(reduction=st.just("mean"), ignore=st.sampled_from(IGNORE)))
def test_gradients_match_torch(candidate, case):
    x, target, kw = case.call()
    for reduction in REDUCTIONS:  # gradients w.r.t. the logits (and probability targets) equal F.cross_entropy's
        with kit.about(case.replace(reduction=reduction)):
            kit.check_gradients(candidate, candidate.cross_entropy, F.cross_entropy, {"input": x, "target": target},
                                {**kw, "reduction": reduction}, g=case.generator(1))


@pytest.mark.category("gradient")
@pytest.mark.parametrize("kind", KINDS)
def test_gradients_match_finite_differences(candidate, seed, kind):
    x, target, kw = Loss(3, 4, (2,), kind, True, 0.25, "mean", "-100", seed).call()
    kit.check_finite_differences(candidate, candidate.cross_entropy, {"input": x, "target": target}, kw,
                                 g=kit.generator(seed + 1))


# -- convergence -----------------------------------------------------------------------------
@pytest.mark.category("convergence")
def test_trains_a_per_position_classifier(candidate, seed, artifacts):
    """Gradient descent on a per-position linear classifier with your loss must follow F.cross_entropy's path."""
    for s in (seed * 1000 + run for run in range(3)):
        x, targets, x_test, y_test, config = support.tagger_task(s)
        want = support.fit_tagger(F.cross_entropy, x, targets, 3, **config)
        got = candidate.lib.support("fit_tagger", candidate.cross_entropy, x, targets, 3,
                                    _timeout_factor=kit.TRAIN_TIMEOUT_FACTOR, **config)
        artifacts.setdefault("loss_curve", {"candidate": got["losses"], "reference": want["losses"]})  # the first run's
        W, b = assert_shape(got["W"], (2, 3), "trained W", dtype=f64), assert_shape(got["b"], (3,), "trained b", dtype=f64)
        score, want_score = kit.accuracy(x_test @ W + b, y_test), kit.accuracy(x_test @ want["W"] + want["b"], y_test)
        assert score >= 0.85, (f"after 60 gradient-descent steps with your loss (data seed {s}) the classifier gets "
                               f"{score:.1%} of held-out points right (with F.cross_entropy: {want_score:.1%}; 85% needed)")
        for name, value in (("W", W), ("b", b)):  # float64 through 60 steps: only the summation order may differ
            assert_close(value, want[name], f"{name} after 60 steps vs with F.cross_entropy (data seed {s})",
                         rtol=1e-6, atol=1e-8)


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@pytest.mark.parametrize("kind", KINDS)
def test_stable_at_logits_of_1e4(candidate, seed, kind):
    """float32 logits of order 1e4: exp() overflows unless the maximum is subtracted; log(softmax) is -inf there."""
    for case in (Loss(5, 6, (2,), kind, True, 0.1, reduction, "none", seed) for reduction in REDUCTIONS):
        x, target, kw = case.call(torch.float32, scale=5e3)
        with kit.about(case):
            got = candidate.lib.grads(candidate.cross_entropy, [x, target], kw)
            loss = assert_finite(case.loss(got["output"], "float32 loss", torch.float32), "float32 loss at logits of 1e4")
            assert_finite(got["input_grads"][0], "float32 gradient w.r.t. input at logits of 1e4")
            expected = F.cross_entropy(x.double(), target.double() if kind == "probabilities" else target,
                                       **{**kw, "weight": kw["weight"].double()}).float()
            # float32 holds 1e4 to about 1e-3: a relative 1e-4 is float32 accuracy for losses this size
            assert_close(loss, expected, "float32 loss vs F.cross_entropy in float64", rtol=1e-4, atol=1e-3)


@pytest.mark.category("property")
@given_cases(losses(weighted=st.just(True), smoothing=st.just(0.2), reduction=st.just("none")))
def test_shifting_the_logits_changes_nothing(candidate, case):
    """softmax(z + c) = softmax(z): adding any constant to all the logits of one position leaves its loss unchanged."""
    x, target, kw = case.call()
    shift = 50 * torch.randn(case.N, 1, *case.extra, generator=case.generator(1), dtype=f64)
    before = case.loss(candidate.cross_entropy(x, target, **kw), "per-position loss")
    assert_close(candidate.cross_entropy(x + shift, target, **kw), before, "per-position loss after adding a constant "
                 "to each position's logits", rtol=1e-7, atol=1e-7)  # shifts of ~50 cost a few ulps of 50


@pytest.mark.category("property")
@given_cases(losses(kind=st.just("class indices"), reduction=st.sampled_from(["none", "sum"]), ignore=st.just("none")))
def test_one_hot_probabilities_equal_class_indices(candidate, case):
    """A one-hot probability target is its class index, smoothing and weights included ('mean' divides differently)."""
    x, target, kw = case.call()  # ignore_index is the default, -100: nothing ignored
    by_index = case.loss(candidate.cross_entropy(x, target, **kw), "loss for class-index targets")
    assert_close(candidate.cross_entropy(x, F.one_hot(target, case.C).movedim(-1, 1).to(f64), **kw), by_index,
                 "loss for one-hot probability targets vs the same targets as class indices")


@pytest.mark.category("property")
@given_cases(losses(kind=st.just("class indices"), weighted=st.just(True), ignore=st.sampled_from(IGNORE[1:])))
def test_ignored_targets_contribute_nothing(candidate, case):
    """Changing the logits at ignored positions changes no loss, and their gradient is exactly 0."""
    x, target, kw = case.call()
    ignored = (target == kw["ignore_index"]).unsqueeze(1)  # (N, 1, *extra)
    kit.assert_ignores(lambda x: candidate.cross_entropy(x, target, **kw), x, ignored, case.generator(1),
                       what="the logits of ignored positions")
    grad = assert_shape(candidate.lib.grads(candidate.cross_entropy, [x, target], kw)["input_grads"][0], x.shape, "gradient")
    assert_equal(grad * ignored, torch.zeros_like(x), "gradient w.r.t. the logits of ignored positions (must be exactly 0)")


@pytest.mark.category("property")
def test_does_not_modify_its_inputs(candidate, seed):
    for kind in KINDS:
        x, target, kw = Loss(4, 5, (3,), kind, True, 0.1, "mean", "-100", seed).call(torch.float32)
        kit.assert_inputs_unchanged(candidate.cross_entropy, {"input": x, "target": target}, kw, f"cross_entropy ({kind})")
