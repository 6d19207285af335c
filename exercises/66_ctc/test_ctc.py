"""Suite for 66_ctc: ctc_loss vs F.ctc_loss in float64 (padded targets, any blank, every reduction, zero_infinity),
gradients through a log-softmax, the sum over all alignments, stability for long inputs, greedy_decode vs a plain
loop, and a per-frame classifier trained with the loss."""
import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from grader import kit
from grader.kit import assert_close, assert_same, assert_shape, f64, given_cases

support = kit.exercise_support(__file__)
REDUCTIONS = ["none", "mean", "sum"]


def needed_frames(targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """(N,) the fewest frames that can emit each target: one per label, plus a blank between equal neighbours."""
    same = (targets[:, 1:] == targets[:, :-1]) & (torch.arange(1, targets.shape[1]) < target_lengths[:, None])
    return target_lengths + same.sum(1)


class Ctc(kit.Case):
    """Log-probabilities (T, N, C) of random logits; targets (N, S) of S_max labels or fewer, drawn from few symbols
    (so that labels repeat), padded with junk; lengths: 'random' (some slack), 'tight' (each input exactly as long as
    its target needs), 'long' (twice that and more: paths go through every state and on) or 'infeasible' (sample 0:
    2+ labels, one frame too short: an infinite loss)."""
    T_slack: int
    N: int
    C: int
    S_max: int
    blank_zero: bool
    lengths: str

    def call(self, dtype=f64, scale: float = 2.0):  # log_probs, targets, input_lengths, target_lengths, blank
        g = self.generator()
        blank = 0 if self.blank_zero else int(torch.randint(self.C, (), generator=g))
        labels = torch.randint(self.C - 1, (self.N, max(self.S_max, 2)), generator=g)
        targets = labels + (labels >= blank).long()  # every symbol but the blank
        target_lengths = torch.randint(self.S_max + 1, (self.N,), generator=g)
        if self.lengths == "infeasible":  # sample 0 gets 2 labels or more, and one frame fewer than it needs
            target_lengths[0] = max(int(target_lengths[0]), 2)
        pad = torch.arange(targets.shape[1]) >= target_lengths[:, None]
        targets = torch.where(pad, torch.randint(self.C, targets.shape, generator=g), targets)  # junk padding
        need = needed_frames(targets, target_lengths).clamp(min=1)
        slack = torch.randint(self.T_slack + 1, (self.N,), generator=g) if self.lengths in ("random", "long") else 0
        if self.lengths == "long":  # time to pass every state of the padded extended target, and again
            slack = slack + need + 2 * targets.shape[1] + 2
        input_lengths = need + slack
        if self.lengths == "infeasible":
            input_lengths[0] = need[0] - 1
        T = int(input_lengths.max()) + int(torch.randint(2, (), generator=g))  # sometimes padding frames at the end
        log_probs = torch.log_softmax(scale * torch.randn(T, self.N, self.C, generator=g, dtype=dtype), dim=-1)
        return log_probs, targets, input_lengths, target_lengths, blank


def ctcs(lengths=st.sampled_from(["random", "tight", "long", "infeasible"]), C=st.integers(2, 5), S_max=st.integers(0, 4)):
    return kit.builds(Ctc, T_slack=st.integers(0, 3), N=st.integers(1, 3), C=C, S_max=S_max,
                      blank_zero=st.booleans(), lengths=lengths)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(ctcs(), dtype=st.sampled_from([torch.float32, f64]), reduction=st.sampled_from(REDUCTIONS), max_examples=10)
def test_output_shapes(candidate, case, dtype, reduction):
    lp, targets, il, tl, blank = case.call(dtype)
    assert_shape(candidate.ctc_loss(lp, targets, il, tl, blank=blank, reduction=reduction),
                 (case.N,) if reduction == "none" else (), f"loss (reduction={reduction!r})", dtype=dtype)
    decoded = candidate.greedy_decode(lp, il, blank=blank)
    assert_same([type(d).__name__ for d in decoded], ["list"] * case.N, "greedy_decode: the type of each of N entries")
    assert_same({type(s).__name__ for d in decoded for s in d} - {"int"}, set(), "greedy_decode: label types")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(ctcs(), max_examples=15)  # each example: 6 calls
def test_matches_torch(candidate, case):
    lp, targets, il, tl, blank = case.call()
    for reduction, zero_infinity in itertools.product(REDUCTIONS, (False, True)):
        kw = dict(blank=blank, reduction=reduction, zero_infinity=zero_infinity)
        assert_close(candidate.ctc_loss(lp, targets, il, tl, **kw), F.ctc_loss(lp, targets, il, tl, **kw),
                     f"loss vs F.ctc_loss ({kw}, input_lengths={il.tolist()}, target_lengths={tl.tolist()}, "
                     f"targets={targets.tolist()})", nonfinite_ok=True)


def collapse(path, blank):
    """The plain-loop definition: merge runs of the same symbol, then drop the blanks."""
    return [symbol for symbol, _ in itertools.groupby(path) if symbol != blank]


@pytest.mark.category("equivalence")
@given_cases(ctcs(lengths=st.sampled_from(["random", "tight"]), C=st.integers(2, 3), S_max=st.integers(0, 2)))
def test_sums_over_every_alignment(candidate, case):
    """-log of the sum, over every path of T_n symbols that collapses to the target, of the product of its
    probabilities: the definition, enumerated (T_n <= 6)."""
    lp, targets, il, tl, blank = case.call()
    expected = []
    for n in range(case.N):
        target, T_n = targets[n, : tl[n]].tolist(), int(il[n])
        paths = torch.tensor([p for p in itertools.product(range(case.C), repeat=T_n) if collapse(p, blank) == target])
        scores = lp[:T_n, n].gather(1, paths.T).sum(0) if len(paths) else torch.full((1,), -torch.inf, dtype=f64)
        expected.append(-torch.logsumexp(scores, 0))  # inf when no path collapses to the target
    assert_close(candidate.ctc_loss(lp, targets, il, tl, blank=blank, reduction="none"), torch.stack(expected),
                 "per-sample loss vs -log(sum over every alignment that collapses to the target)")


@pytest.mark.category("equivalence")
@given_cases(ctcs(C=st.integers(2, 4)), frames=st.integers(1, 12), repeat=st.floats(0, 0.9))
def test_greedy_decode_matches_a_plain_loop(candidate, case, frames, repeat):
    """Best path per frame (argmax), runs merged, then blanks dropped; frames past input_lengths ignored."""
    _, _, _, _, blank = case.call()
    g = case.generator(1)
    path = torch.randint(case.C, (frames, case.N), generator=g)
    for t in range(1, frames):  # long runs, so that merging matters
        path[t] = torch.where(torch.rand(case.N, generator=g) < repeat, path[t - 1], path[t])
    lp = torch.log_softmax(torch.randn(frames, case.N, case.C, generator=g, dtype=f64) + 4 * F.one_hot(path, case.C), -1)
    il = torch.randint(1, frames + 1, (case.N,), generator=g)
    best = lp.argmax(-1)  # (frames, N): the path as drawn, unless the noise won somewhere
    expected = [collapse(best[: il[n], n].tolist(), blank) for n in range(case.N)]
    assert_same(candidate.greedy_decode(lp, il, blank=blank), expected,
                f"greedy_decode (best paths {best.T.tolist()}, input_lengths={il.tolist()}, blank={blank})")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(ctcs(), reduction=st.sampled_from(REDUCTIONS))
def test_gradients_match_torch(candidate, case, reduction):
    """Through a log-softmax of logits, as in training (and zero for infinite losses under zero_infinity)."""
    lp, targets, il, tl, blank = case.call()
    kw = dict(blank=blank, reduction=reduction, zero_infinity=case.lengths == "infeasible")
    kit.check_gradients(candidate, candidate.lib.support("on_logits", candidate.ctc_loss), support.on_logits(F.ctc_loss),
                        {"logits": 3 * lp, "targets": targets, "input_lengths": il, "target_lengths": tl}, kw,
                        g=case.generator(1), against="F.ctc_loss after log_softmax")


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, seed):
    lp, targets, il, tl, blank = Ctc(2, 3, 4, 3, False, "random", data_seed=seed).call()
    kit.check_finite_differences(candidate, candidate.lib.support("on_logits", candidate.ctc_loss),
                                 {"logits": lp, "targets": targets, "input_lengths": il, "target_lengths": tl},
                                 dict(blank=blank, reduction="mean"), g=kit.generator(seed + 1))


# -- convergence -----------------------------------------------------------------------------
@pytest.mark.category("convergence")
def test_trains_a_frame_classifier(candidate, seed, artifacts):
    """Gradient descent on a per-frame linear classifier with your loss follows F.ctc_loss's path and learns to
    emit the label sequences: greedy decoding (yours) gets >= 85% of held-out utterances exactly right."""
    for s in (seed * 1000 + run for run in range(2)):
        x, il, targets, tl = support.spoken(32, s)
        want = support.fit_ctc(F.ctc_loss, x, il, targets, tl, steps=30, lr=4.0)
        got = candidate.lib.support("fit_ctc", candidate.ctc_loss, x, il, targets, tl, steps=30, lr=4.0,
                                    _timeout_factor=kit.TRAIN_TIMEOUT_FACTOR)
        artifacts.setdefault("loss_curve", {"candidate": got["losses"], "reference": want["losses"]})
        for name in ("W", "b"):  # float64 through 30 steps: only the order of the sums may differ
            assert_close(got[name], want[name], f"{name} after 30 steps vs with F.ctc_loss (data seed {s})",
                         rtol=1e-6, atol=1e-8)
        x_test, il_test, y_test, tl_test = support.spoken(100, s + 1)
        decoded = candidate.greedy_decode(support.frame_log_probs(x_test, got["W"], got["b"]), il_test)
        right = sum(d == y[:n] for d, y, n in zip(decoded, y_test.tolist(), tl_test.tolist())) / len(y_test)
        assert right >= 0.85, (f"after 30 steps (data seed {s}) greedy_decode gets {right:.0%} of held-out label "
                               f"sequences exactly right (85% needed)")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
def test_stable_for_long_inputs(candidate, seed):
    """float32, 100+ frames: a path's probability is about 5^-100, far below float32's smallest number."""
    lp, targets, il, tl, blank = Ctc(20, 2, 5, 12, True, "random", data_seed=seed).call(torch.float32, scale=1.0)
    lp = torch.cat([lp, torch.log_softmax(torch.randn(100, 2, 5, generator=kit.generator(seed)), -1)])
    il = il + 100
    got = candidate.lib.grads(candidate.ctc_loss, [lp, targets, il, tl], dict(reduction="none"))
    kit.assert_finite(got["input_grads"][0], "float32 gradient w.r.t. log_probs, 100+ frames")
    # float32 sums of ~100 terms of order 1: a relative 1e-4 is float32 accuracy
    assert_close(got["output"], F.ctc_loss(lp.double(), targets, il, tl, reduction="none").float(),
                 "float32 loss over 100+ frames vs F.ctc_loss in float64", rtol=1e-4, atol=1e-3)


@pytest.mark.category("property")
@given_cases(ctcs(lengths=st.sampled_from(["random", "tight"])), max_examples=12)
def test_padding_changes_nothing(candidate, case):
    """Frames past input_lengths and targets past target_lengths are padding: redrawing them changes no loss."""
    lp, targets, il, tl, blank = case.call()
    loss = lambda lp, targets: candidate.ctc_loss(lp, targets, il, tl, blank=blank, reduction="none")
    kit.assert_ignores(lambda lp: loss(lp, targets), lp, torch.arange(lp.shape[0])[:, None, None] >= il[:, None],
                       case.generator(1), what="the frames past input_lengths")
    junk = torch.randint(case.C, targets.shape, generator=case.generator(2))
    assert_close(loss(lp, torch.where(torch.arange(targets.shape[1]) >= tl[:, None], junk, targets)), loss(lp, targets),
                 "loss after redrawing the targets past target_lengths")


@pytest.mark.category("property")
def test_does_not_modify_its_inputs(candidate, seed):
    lp, targets, il, tl, blank = Ctc(2, 3, 4, 3, False, "random", data_seed=seed).call(torch.float32)
    kit.assert_inputs_unchanged(candidate.ctc_loss, {"log_probs": lp, "targets": targets, "input_lengths": il,
                                                     "target_lengths": tl}, dict(blank=blank), "ctc_loss")
