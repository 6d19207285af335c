"""Suite for 46_cross_entropy: cross_entropy(input, target, weight, ignore_index, reduction,
label_smoothing) against F.cross_entropy and the reference in float64, for class-index and
class-probability targets and logits (N, C) or (N, C, d1, ...), plus gradients, a small training
run, numerical stability at logits of 1e4 and the properties of the loss.

`candidate` is the submission in a sandboxed worker; `reference` and F.cross_entropy run here.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.gradcheck import check_directional_derivatives
from grader.testing import exercise_support, generator

support = exercise_support(__file__)
f64 = torch.float64
REDUCTIONS = ["none", "mean", "sum"]
IGNORE = ["none", "-100", "a class"]
LABELS = {"class indices": "class-index", "probabilities": "probability"}  # for messages

sizes = dict(
    N=st.integers(1, 4), C=st.integers(1, 5), extra=st.lists(st.integers(1, 3), max_size=2).map(tuple),
    data_seed=st.integers(0, 2**32 - 1),
)
options = dict(
    weighted=st.booleans(), smoothing=st.one_of(st.just(0.0), st.floats(0.0, 1.0)),
    reduction=st.sampled_from(REDUCTIONS),
)


# -- helpers ---------------------------------------------------------------------------------
def random_logits(N, C, extra, g, dtype=f64, scale=3.0):
    """(N, C, *extra) logits of a few units: softmax far from uniform, far from saturated."""
    return scale * torch.randn(N, C, *extra, generator=g, dtype=dtype)


def class_targets(N, C, extra, ignore, g):
    """(N, *extra) int64 class indices and the ignore_index to pass.

    ignore: "none" (nothing ignored), "-100" (about 30% of targets are -100), "a class"
    (ignore_index is a real class, and about 30% of targets are set to it). The first
    target is never ignored, so 'mean' always has something to average."""
    target = torch.randint(C, (N, *extra), generator=g)
    if ignore == "none":
        return target, -100
    ignore_index = int(torch.randint(C, (), generator=g)) if ignore == "a class" and C > 1 else -100
    target = target.masked_fill(torch.rand(target.shape, generator=g) < 0.3, ignore_index)
    target.view(-1)[0] = (ignore_index + 1) % C if ignore_index >= 0 else 0
    return target, ignore_index


def probability_targets(N, C, extra, g, dtype=f64):
    """(N, C, *extra) class probabilities (each position sums to 1 over dim 1)."""
    return torch.softmax(2 * torch.randn(N, C, *extra, generator=g, dtype=dtype), dim=1)


def class_weights(C, g, dtype=f64):
    return 0.2 + 1.8 * torch.rand(C, generator=g, dtype=dtype)


def random_case(kind, N, C, extra, g, weighted, smoothing, reduction, ignore="-100", dtype=f64):
    """Logits, target and the keyword arguments of one call (ignore_index only for indices)."""
    x = random_logits(N, C, extra, g, dtype)
    kwargs = {"weight": class_weights(C, g, dtype) if weighted else None, "reduction": reduction,
              "label_smoothing": smoothing}
    if kind == "probabilities":
        return x, probability_targets(N, C, extra, g, dtype), kwargs
    target, ignore_index = class_targets(N, C, extra, ignore, g)
    return x, target, {**kwargs, "ignore_index": ignore_index}


def output_shape(x, reduction):
    return (x.shape[0], *x.shape[2:]) if reduction == "none" else ()


def describe(kind, kwargs) -> str:
    """The call's settings for a message, e.g. "class-index targets, weight=(C,) tensor, ..."."""
    shown = {k: (None if v is None else "(C,) tensor") if k == "weight" else v for k, v in kwargs.items()}
    settings = ", ".join(f"{k}={v!r}" for k, v in shown.items())
    return settings if kind is None else f"{LABELS[kind]} targets, {settings}"


def torch_grads(x, target, kwargs, grad_out):
    """Gradients of F.cross_entropy w.r.t. the logits (and probability targets)."""
    x = x.clone().requires_grad_()
    t = target.clone().requires_grad_() if target.is_floating_point() else target
    F.cross_entropy(x, t, **kwargs).backward(grad_out)
    return x.grad, (t.grad if target.is_floating_point() else None)


def assert_loss(got, x, reduction, name) -> torch.Tensor:
    return assert_shape(got, output_shape(x, reduction), name, dtype=x.dtype)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**sizes, kind=st.sampled_from(["class indices", "probabilities"]), reduction=st.sampled_from(REDUCTIONS),
       dtype=st.sampled_from([torch.float32, f64]))
def test_output_shape_and_dtype(candidate, N, C, extra, data_seed, kind, reduction, dtype):
    """'none' keeps one loss per position, (N, d1, ...); 'mean' and 'sum' give a 0-dim tensor."""
    g = generator(data_seed)
    x, target, kwargs = random_case(kind, N, C, extra, g, False, 0.0, reduction, dtype=dtype)
    got = candidate.cross_entropy(x, target, **kwargs)
    loss = assert_loss(got, x, reduction,
                       f"loss for input {tuple(x.shape)} ({LABELS[kind]} targets, reduction={reduction!r})")
    assert_finite(loss, "loss")


# -- equivalence -----------------------------------------------------------------------------
def assert_matches_torch_everywhere(candidate, kind, x, target, kwargs, weight):
    """Every reduction, without and with class weights, for one logits/target pair."""
    for w in (None, weight):
        for reduction in REDUCTIONS:
            kw = {**kwargs, "weight": w, "reduction": reduction}
            assert_close(candidate.cross_entropy(x, target, **kw), F.cross_entropy(x, target, **kw),
                         f"loss vs F.cross_entropy ({describe(kind, kw)})")


@pytest.mark.category("equivalence")
@given(**sizes, smoothing=options["smoothing"], ignore=st.sampled_from(IGNORE))
def test_class_index_targets_match_torch(candidate, N, C, extra, data_seed, smoothing, ignore):
    g = generator(data_seed)
    x, target, kwargs = random_case("class indices", N, C, extra, g, True, smoothing, "mean", ignore)
    assert_matches_torch_everywhere(candidate, "class indices", x, target, kwargs, kwargs["weight"])


@pytest.mark.category("equivalence")
@given(**sizes, smoothing=options["smoothing"])
def test_probability_targets_match_torch(candidate, N, C, extra, data_seed, smoothing):
    g = generator(data_seed)
    x, target, kwargs = random_case("probabilities", N, C, extra, g, True, smoothing, "mean")
    assert_matches_torch_everywhere(candidate, "probabilities", x, target, kwargs, kwargs["weight"])


@pytest.mark.category("equivalence")
@given(**sizes, **options, kind=st.sampled_from(["class indices", "probabilities"]))
def test_matches_reference(candidate, reference, N, C, extra, data_seed, weighted, smoothing, reduction, kind):
    g = generator(data_seed)
    x, target, kwargs = random_case(kind, N, C, extra, g, weighted, smoothing, reduction)
    expected = reference.cross_entropy(x, target, **kwargs)
    assert_close(candidate.cross_entropy(x, target, **kwargs), expected,
                 f"loss vs reference ({describe(kind, kwargs)})")


FORMULAS = ["weighted mean", "mean skips ignored targets", "smoothing with weights", "probability targets mean"]


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("case", FORMULAS)
def test_the_documented_formulas(candidate, seed, case):
    """The README's formulas, written out here with log_softmax on the trusted side: each one is a
    place where a plausible definition differs from PyTorch's."""
    g = generator(seed * 10 + FORMULAS.index(case))
    N, C, L = 6, 4, 3
    x = random_logits(N, C, (L,), g)
    logp = torch.log_softmax(x, dim=1)  # (N, C, L)
    w = class_weights(C, g)
    if case == "probability targets mean":
        q = probability_targets(N, C, (L,), g)
        eps = 0.2
        per_position = -(w[:, None] * ((1 - eps) * q + eps / C) * logp).sum(1)  # (N, L)
        expected, kwargs, target = per_position.mean(), {"weight": w, "label_smoothing": eps}, q
        why = "with probability targets, 'mean' divides by the number of positions N*L, not by any weights"
    else:
        target, ignore_index = class_targets(N, C, (L,), "-100", g)
        counted = target != ignore_index
        y = target.clamp(min=0)
        nll = -logp.gather(1, y[:, None]).squeeze(1)  # (N, L)
        if case == "weighted mean":
            w_y = w[y] * counted
            expected, kwargs = (w_y * nll).sum() / w_y.sum(), {"weight": w}
            why = "with class weights, 'mean' is sum(w[y] * loss) / sum(w[y]) over the counted targets"
        elif case == "mean skips ignored targets":
            expected, kwargs = (nll * counted).sum() / counted.sum(), {}
            why = "'mean' averages over the targets that are not ignore_index only"
        else:
            eps, w_y = 0.3, w[y] * counted
            smooth = -(w[:, None] * logp).sum(1)  # (N, L): sum_c w[c] * -log p[c]
            per_position = ((1 - eps) * w_y * nll + eps / C * smooth * counted)
            expected, kwargs = per_position.sum() / w_y.sum(), {"weight": w, "label_smoothing": eps}
            why = ("label smoothing with weights: (1-eps) * w[y] * -log p[y] + eps/C * sum_c w[c] * -log p[c], "
                   "and 'mean' divides by sum(w[y]) over the counted targets")
        kwargs["ignore_index"] = ignore_index
    assert_close(expected, F.cross_entropy(x, target, **kwargs), "the test's own formula vs F.cross_entropy")
    assert_close(candidate.cross_entropy(x, target, **kwargs), expected, f"loss ({case}: {why})")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(**sizes, weighted=options["weighted"], smoothing=options["smoothing"],
       kind=st.sampled_from(["class indices", "probabilities"]), ignore=st.sampled_from(IGNORE))
def test_gradients_match_torch(candidate, N, C, extra, data_seed, weighted, smoothing, kind, ignore):
    """Gradient w.r.t. the logits (and w.r.t. probability targets) equal F.cross_entropy's."""
    g = generator(data_seed)
    x, target, kwargs = random_case(kind, N, C, extra, g, weighted, smoothing, "mean", ignore)
    for reduction in REDUCTIONS:
        kwargs["reduction"] = reduction
        grad_out = torch.randn(output_shape(x, reduction), generator=g, dtype=f64)
        got = candidate.lib.grads(candidate.cross_entropy, [x, target], kwargs, grad_out)
        want_x, want_t = torch_grads(x, target, kwargs, grad_out)
        assert_close(got["input_grads"][0], want_x, f"gradient w.r.t. input ({describe(kind, kwargs)})")
        if want_t is not None:
            if got["input_grads"][1] is None:
                raise Mismatch("gradient w.r.t. the probability target: none reached it (detached?)")
            assert_close(got["input_grads"][1], want_t,
                         f"gradient w.r.t. the probability target ({describe(kind, kwargs)})")


@pytest.mark.category("gradient")
@pytest.mark.parametrize("kind", ["class indices", "probabilities"])
def test_gradients_match_finite_differences(candidate, seed, kind):
    g = generator(seed)
    x, target, kwargs = random_case(kind, 3, 4, (2,), g, True, 0.25, "mean")
    point = {"input": x, **({"target": target} if kind == "probabilities" else {})}

    def forward(p):
        return candidate.cross_entropy(p["input"], p.get("target", target), **kwargs)

    grad_out = torch.randn((), generator=g, dtype=f64)
    got = candidate.lib.grads(candidate.cross_entropy, [x, target], kwargs, grad_out)
    analytic = {"input": got["input_grads"][0], "target": got["input_grads"][1]}
    missing = [k for k in point if analytic[k] is None]
    if missing:
        raise Mismatch(f"no gradient reached {missing} (detached, or computed under no_grad?)")
    check_directional_derivatives(forward, point, analytic, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
C_TRAIN, STEPS, LR = 3, 60, 1.0


@pytest.mark.category("convergence")
def test_trains_a_per_position_classifier(candidate, seed, artifacts):
    """Gradient descent on a per-position linear classifier, with logits laid out (N, C, L), class
    weights against an imbalance, label smoothing and unlabeled positions (ignore_index): with
    your loss it must follow the same path as with F.cross_entropy and classify held-out points."""
    for run in range(3):
        s = seed * 1000 + run
        g = generator(s)
        angle = 2 * math.pi * (torch.arange(C_TRAIN, dtype=f64) / C_TRAIN + torch.rand((), generator=g, dtype=f64))
        centers = 2.5 * torch.stack([angle.cos(), angle.sin()], dim=1)  # (C, 2): evenly spread, randomly turned
        probs = torch.tensor([0.6, 0.3, 0.1], dtype=f64)
        x, labels = support.per_position_data(96, 5, centers, probs, 0.6, s)
        x_test, y_test = support.per_position_data(256, 5, centers, probs, 0.6, s + 1)
        targets = labels.masked_fill(torch.rand(labels.shape, generator=g) < 0.2, -100)  # unlabeled
        config = dict(steps=STEPS, lr=LR, weight=1.0 / probs, label_smoothing=0.1)
        want = support.fit_tagger(F.cross_entropy, x, targets, C_TRAIN, **config)
        got = candidate.lib.support("fit_tagger", candidate.cross_entropy, x, targets, C_TRAIN,
                                    _timeout_factor=6, **config)
        if run == 0:
            artifacts["loss_curve"] = {"candidate": got["losses"], "reference": want["losses"]}
        W = assert_shape(got["W"], (2, C_TRAIN), "trained W", dtype=f64)
        b = assert_shape(got["b"], (C_TRAIN,), "trained b", dtype=f64)
        accuracy = float(((x_test @ W + b).argmax(-1) == y_test).double().mean())
        want_accuracy = float(((x_test @ want["W"] + want["b"]).argmax(-1) == y_test).double().mean())
        assert accuracy >= 0.85, (
            f"after {STEPS} gradient-descent steps with your loss (data seed {s}) the classifier gets {accuracy:.1%} "
            f"of held-out points right; trained with F.cross_entropy it gets {want_accuracy:.1%}; at least 85% is "
            "required")
        # float64 through 60 steps: only the summation order of a correct loss can differ
        assert_close(W, want["W"], f"W after {STEPS} steps with your loss vs with F.cross_entropy (data seed {s})",
                     rtol=1e-6, atol=1e-8)
        assert_close(b, want["b"], f"b after {STEPS} steps with your loss vs with F.cross_entropy (data seed {s})",
                     rtol=1e-6, atol=1e-8)


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@pytest.mark.parametrize("kind", ["class indices", "probabilities"])
def test_stable_at_logits_of_1e4(candidate, seed, kind):
    """float32 logits spread over [-1e4, 1e4]: exp() overflows unless the maximum is subtracted
    first, and log(softmax) is -inf for every class but the largest. The loss (in the thousands)
    and its gradient must be finite and accurate, for every reduction."""
    g = generator(seed)
    N, C, L = 5, 6, 2
    x = ((2 * torch.rand(N, C, L, generator=g) - 1) * 1e4).float()
    weight = class_weights(C, g, torch.float32)
    if kind == "probabilities":
        target = probability_targets(N, C, (L,), g, torch.float32)
    else:
        target = torch.randint(C, (N, L), generator=g)
        target[0, 0] = int(x[0, :, 0].argmin())  # the least likely class: log p of about -2e4
    for reduction in REDUCTIONS:
        kwargs = {"weight": weight, "reduction": reduction, "label_smoothing": 0.1}
        got = candidate.lib.grads(candidate.cross_entropy, [x, target], kwargs)
        where = f"({LABELS[kind]} targets, reduction={reduction!r})"
        loss = assert_loss(got["output"], x, reduction, f"loss at logits of 1e4 {where}")
        assert_finite(loss, f"float32 loss at logits of 1e4 {where}")
        assert_finite(got["input_grads"][0], f"float32 gradient w.r.t. input at logits of 1e4 {where}")
        expected = F.cross_entropy(x.double(), target.double() if kind == "probabilities" else target,
                                   **{**kwargs, "weight": weight.double()}).float()
        # float32 holds 1e4 to about 1e-3: a relative 1e-4 is float32 accuracy for losses this size
        assert_close(loss, expected, f"float32 loss at logits of 1e4 vs F.cross_entropy in float64 {where}",
                     rtol=1e-4, atol=1e-3)


@pytest.mark.category("property")
@given(**sizes, kind=st.sampled_from(["class indices", "probabilities"]))
def test_shifting_the_logits_changes_nothing(candidate, N, C, extra, data_seed, kind):
    """softmax(z + c) = softmax(z): adding any constant to all the logits of one position
    leaves its loss unchanged."""
    g = generator(data_seed)
    x, target, kwargs = random_case(kind, N, C, extra, g, True, 0.2, "none")
    shift = 50 * torch.randn(N, 1, *extra, generator=g, dtype=f64)
    before = assert_loss(candidate.cross_entropy(x, target, **kwargs), x, "none", "per-position loss")
    after = candidate.cross_entropy(x + shift, target, **kwargs)
    assert_close(after, before, "per-position loss after adding a constant to each position's logits",
                 rtol=1e-7, atol=1e-7)  # shifts of ~50 cost a few ulps of 50


@pytest.mark.category("property")
@given(**sizes, weighted=st.booleans(), smoothing=options["smoothing"], reduction=st.sampled_from(["none", "sum"]))
def test_one_hot_probabilities_equal_class_indices(candidate, N, C, extra, data_seed, weighted, smoothing, reduction):
    """A one-hot probability target is the same target as its class index, label smoothing and
    weights included ('mean' differs: it divides by the weights for indices only)."""
    g = generator(data_seed)
    x, target, kwargs = random_case("class indices", N, C, extra, g, weighted, smoothing, reduction, "none")
    one_hot = F.one_hot(target, C).movedim(-1, 1).to(f64)  # (N, C, *extra)
    kwargs.pop("ignore_index")
    by_index = candidate.cross_entropy(x, target, **kwargs)
    by_probability = candidate.cross_entropy(x, one_hot, **kwargs)
    assert_close(by_probability, assert_loss(by_index, x, reduction, "loss for class-index targets"),
                 f"loss for one-hot probability targets vs the same targets as class indices "
                 f"({describe(None, kwargs)})")


@pytest.mark.category("property")
@given(**sizes, smoothing=options["smoothing"], reduction=st.sampled_from(REDUCTIONS),
       ignore=st.sampled_from(IGNORE[1:]))
def test_ignored_targets_contribute_nothing(candidate, N, C, extra, data_seed, smoothing, reduction, ignore):
    """Changing the logits at ignored positions changes no loss, and their gradient is exactly 0."""
    g = generator(data_seed)
    x, target, kwargs = random_case("class indices", N, C, extra, g, True, smoothing, reduction, ignore)
    ignored = (target == kwargs["ignore_index"]).unsqueeze(1)  # (N, 1, *extra)
    x_changed = torch.where(ignored, random_logits(N, C, extra, g), x)
    got = candidate.lib.grads(candidate.cross_entropy, [x, target], kwargs)
    loss = assert_loss(got["output"], x, reduction, "loss")
    assert_close(candidate.cross_entropy(x_changed, target, **kwargs), loss,
                 f"loss after changing only the logits of ignored positions ({describe('class indices', kwargs)})")
    grad = assert_shape(got["input_grads"][0], x.shape, "gradient w.r.t. input")
    assert_equal(grad * ignored, torch.zeros_like(x), "gradient w.r.t. the logits of ignored positions "
                 "(must be exactly 0)")


@pytest.mark.category("property")
def test_does_not_modify_its_inputs(candidate, seed):
    g = generator(seed)
    for kind in ("class indices", "probabilities"):
        x, target, kwargs = random_case(kind, 4, 5, (3,), g, True, 0.1, "mean", dtype=torch.float32)
        _, args_after, kwargs_after = candidate.cross_entropy.call_checked(x, target, **kwargs)
        assert_unchanged(args_after[0], x, f"input after the call ({LABELS[kind]} targets; modified in place)")
        assert_unchanged(args_after[1], target, f"target after the call ({LABELS[kind]} targets; modified in place)")
        assert_unchanged(kwargs_after["weight"], kwargs["weight"], "weight after the call (modified in place)")
