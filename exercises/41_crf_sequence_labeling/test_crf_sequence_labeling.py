"""Suite for 41_crf_sequence_labeling: CRF score, log-partition, NLL and Viterbi vs brute-force enumeration of all
K^L tag sequences (float64, tiny T and K, left-aligned masks); gradients, a tagging task, the CRF's properties."""
import itertools

import pytest
import torch
from hypothesis import strategies as st
from torch import nn

from grader import kit
from grader.kit import assert_close, assert_equal, assert_finite, assert_shape, f64, given_cases

support = kit.exercise_support(__file__)


class Brute(nn.Module):
    """The oracle: scores every one of the K^L tag sequences of each sequence by the README's formula."""

    def __init__(self, sd: dict):
        super().__init__()
        for name, value in sd.items():
            self.register_parameter(name, nn.Parameter(value.clone()))

    def path_scores(self, em, y):  # em (L, K), y (N, L) -> (N,)
        return (self.start_transitions[y[:, 0]] + em[torch.arange(y.shape[1]), y].sum(1)
                + self.transitions[y[:, :-1], y[:, 1:]].sum(1) + self.end_transitions[y[:, -1]])

    def all_scores(self, em, length):  # (K^L,) scores of every tag sequence of the first `length` tokens
        y = torch.tensor(list(itertools.product(range(em.shape[-1]), repeat=length)))
        return self.path_scores(em[:length], y)

    def score(self, emissions, tags, mask):  # (B,)
        return torch.stack([self.path_scores(e[:L], y[None, :L])[0] for e, y, L in zip(emissions, tags, mask.sum(1).tolist())])

    def log_partition(self, emissions, mask):  # (B,): log Z by its definition
        return torch.stack([torch.logsumexp(self.all_scores(e, L), 0) for e, L in zip(emissions, mask.sum(1).tolist())])

    def best(self, emissions, mask):  # (B,): the largest score
        return torch.stack([self.all_scores(e, L).max() for e, L in zip(emissions, mask.sum(1).tolist())])

    def forward(self, emissions, tags, mask):
        return (self.log_partition(emissions, mask) - self.score(emissions, tags, mask)).mean()


class Chain(kit.Case):
    """B sequences of up to T tokens (the longest has T) and K tags; mask: "none" (mask=None), "full" or "padded"."""

    B: int
    T: int
    K: int
    mask: str

    def inputs(self, g, dtype=f64, scale=1.0):
        """emissions (B, T, K), tags (B, T) (any tag at padding), mask (B, T) bool or None, and the full mask."""
        em = scale * torch.randn(self.B, self.T, self.K, generator=g, dtype=dtype)
        lengths = torch.randint(1, self.T + 1, (self.B,), generator=g) if self.mask == "padded" else torch.full((self.B,), self.T)
        lengths[torch.randint(self.B, (), generator=g)] = self.T  # padded to the longest sequence
        full = torch.arange(self.T) < lengths[:, None]  # (B, T), left-aligned
        return em, torch.randint(self.K, (self.B, self.T), generator=g), None if self.mask == "none" else full, full

    def build(self, candidate, reference):
        g = self.generator()
        cand, ref, sd = kit.twins(lambda lib: lib.CRF(self.K), candidate, reference, g, bias_std=1.0)
        return cand, ref, Brute(sd), sd, *self.inputs(g), g


def chains(T=st.integers(1, 4), K=st.integers(1, 4), mask=st.sampled_from(["none", "full", "padded", "padded"])):
    return kit.builds(Chain, B=st.integers(1, 3), T=T, K=K, mask=mask)


def assert_paths(paths, full, K, what="viterbi_decode"):
    """A list of B lists of ints in [0, K), the b-th as long as sequence b; returned as (B, T) padded with 0."""
    assert isinstance(paths, list) and len(paths) == len(full), f"{what} must return a list of {len(full)} lists"
    out = torch.zeros(full.shape, dtype=torch.long)
    for b, (path, L) in enumerate(zip(paths, full.sum(1).tolist())):
        assert isinstance(path, list) and len(path) == L and all(type(t) is int and 0 <= t < K for t in path), (
            f"{what}[{b}] must be a list of {L} ints in [0, {K}) (its sequence's length), got {path!r}")
        out[b, :L] = torch.tensor(path, dtype=torch.long)
    return out


def assert_best_paths(cand, ref, em, mask, full, where: str):
    paths, best = (assert_paths(m.viterbi_decode(em, mask), full, em.shape[-1]) for m in (cand, ref))
    assert_close(ref.score(em, paths, full), ref.score(em, best, full), f"score of the decoded paths{where} vs the reference's")


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@pytest.mark.parametrize("K", [1, 5])
def test_parameters_follow_the_interface(candidate, K):
    kit.assert_state_shapes(candidate.CRF(K), {"start_transitions": (K,), "end_transitions": (K,),
                                               "transitions": (K, K)}, f"CRF({K})")


@pytest.mark.category("shape")
@given_cases(chains(T=st.integers(1, 7), K=st.integers(1, 6)), max_examples=15)
def test_output_shapes_and_types(candidate, case):
    em, tags, mask, full = case.inputs(case.generator(), dtype=torch.float32)
    crf = candidate.CRF(case.K)
    assert_finite(assert_shape(crf.score(em, tags, mask), (case.B,), "score", dtype=torch.float32), "score")
    assert_finite(assert_shape(crf.log_partition(em, mask), (case.B,), "log_partition", dtype=torch.float32), "log Z")
    assert_finite(assert_shape(crf(em, tags, mask), (), "forward (the mean NLL)", dtype=torch.float32), "NLL")
    assert_paths(crf.viterbi_decode(em, mask), full, case.K)


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(chains())
def test_score_log_partition_and_nll_match_brute_force(candidate, reference, case):
    cand, _, brute, _, em, tags, mask, full = case.build(candidate, reference)[:8]
    assert_close(cand.score(em, tags, mask), brute.score(em, tags, full), "score of the given tags vs the formula")
    assert_close(cand.log_partition(em, mask), brute.log_partition(em, full), "log_partition vs logsumexp over all "
                 "K^L tag sequences")
    assert_close(cand(em, tags, mask), brute(em, tags, full), "forward: mean over the batch of -log p(tags | emissions)")


@pytest.mark.category("equivalence")
@given_cases(chains())
def test_viterbi_finds_the_best_path(candidate, reference, case):
    """Ties are practically impossible with random float64 scores; the path's score is compared, not the path."""
    cand, _, brute, _, em, _, mask, full = case.build(candidate, reference)[:8]
    paths = assert_paths(cand.viterbi_decode(em, mask), full, case.K)
    assert_close(brute.score(em, paths, full), brute.best(em, full), f"score of the decoded paths {paths.tolist()} "
                 "vs the best score over all K^L tag sequences")


@pytest.mark.category("equivalence")
@given_cases(chains(T=st.integers(5, 12), K=st.integers(2, 6)), max_examples=15)
def test_matches_reference_on_longer_sequences(candidate, reference, case):
    cand, ref, _, _, em, tags, mask, full = case.build(candidate, reference)[:8]
    for name, args in (("score", (em, tags, mask)), ("log_partition", (em, mask)), ("forward", (em, tags, mask))):
        assert_close(getattr(cand, name)(*args), getattr(ref, name)(*args), f"{name} vs reference")
    assert_best_paths(cand, ref, em, mask, full, "")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(chains(T=st.integers(2, 4), mask=st.sampled_from(["full", "padded"])))  # T=1 uses no transition at all
def test_gradients_match_brute_force(candidate, reference, case):
    cand, _, brute, _, em, tags, _, full, g = case.build(candidate, reference)
    kit.check_gradients(candidate, cand, brute, {"emissions": em, "tags": tags, "mask": full}, g=g,
                        against="autograd through the brute force")


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, reference, seed):
    cand, _, _, sd, em, tags, _, full, g = Chain(3, 5, 3, "padded", data_seed=seed).build(candidate, reference)
    kit.check_finite_differences(candidate, cand, {"emissions": em, "tags": tags, "mask": full}, g=g, state_dict=sd)


# -- convergence -----------------------------------------------------------------------------
@pytest.mark.category("convergence")
def test_learns_a_tagging_task(candidate, reference, seed, artifacts):
    """Tags climb by one (mod 4) and tokens show 40% of them: emissions alone tag about half right, a CRF ~97%."""
    for run, s in enumerate(seed * 1000 + run for run in range(3)):
        x, y, mask = support.tagging_task(s, 24)
        x_test, y_test, mask_test = support.tagging_task(s + 1, 256)
        with kit.seeded(s):
            init = {k: v.detach() for k, v in reference.CRF(support.NUM_TAGS).state_dict().items()}
        got = candidate.lib.support("fit_crf", candidate.CRF(support.NUM_TAGS), init, x, y, mask,
                                    _timeout_factor=kit.TRAIN_TIMEOUT_FACTOR, steps=20, lr=0.1)
        if run == 0:  # the reference trains only to draw the first loss curve
            want = support.fit_crf(reference.CRF(support.NUM_TAGS), init, x, y, mask, steps=20, lr=0.1)
            artifacts["loss_curve"] = {"candidate": got["losses"], "reference": want["losses"]}
        trained = reference.CRF(support.NUM_TAGS)  # the candidate's trained weights, decoded and scored here
        trained.load_state_dict(got["crf"])
        assert_close(torch.tensor(got["final"]), trained(got["table"][x], y, mask).detach(),
                     f"reported final loss vs the NLL of the trained weights (data seed {s})", rtol=1e-4, atol=1e-5)
        paths = assert_paths(trained.viterbi_decode(got["table"][x_test], mask_test), mask_test, support.NUM_TAGS)
        score = float((paths == y_test)[mask_test].double().mean())
        assert score >= 0.9, (f"after 20 Adam steps on your NLL (data seed {s}, final loss "
                              f"{got['final']:.3f}) Viterbi tags {score:.1%} of held-out tokens right (90% needed)")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(chains(T=st.integers(2, 8), K=st.integers(1, 5), mask=st.just("padded")), max_examples=15)
def test_padding_changes_nothing(candidate, reference, case):
    """Redrawing the emissions and tags of padded positions changes no score, log Z, NLL or decoded path."""
    cand, _, _, _, em, tags, mask, full, g = case.build(candidate, reference)
    em2 = torch.where(full[..., None], em, 100 * torch.randn(em.shape, generator=g, dtype=f64))
    tags2 = torch.where(full, tags, torch.randint(case.K, tags.shape, generator=g))
    for name, a, b in (("score", (em, tags, mask), (em2, tags2, mask)), ("log_partition", (em, mask), (em2, mask)),
                       ("forward", (em, tags, mask), (em2, tags2, mask))):
        assert_close(getattr(cand, name)(*b), getattr(cand, name)(*a), f"{name} with other padding values vs before")
    assert cand.viterbi_decode(em2, mask) == cand.viterbi_decode(em, mask), "decoded paths changed with the padding"


@pytest.mark.category("property")
@given_cases(chains(T=st.integers(1, 6), K=st.integers(1, 5), mask=st.just("padded")))
def test_log_partition_gradient_is_the_marginals(candidate, reference, case):
    """d log Z / d emissions[b, t, k] = p(y_t = k): each real token's row sums to 1, padding's is exactly 0."""
    cand, _, _, _, em, _, mask, full, _ = case.build(candidate, reference)
    got = candidate.lib.grads(cand.log_partition, [em, mask], grad_output=torch.ones(case.B, dtype=f64))
    marginals = assert_shape(kit.require_gradients({"emissions": got["input_grads"][0]})["emissions"], em.shape, "dlogZ/dem")
    assert_close(marginals.sum(-1), full.to(f64), "sum over tags of d log Z / d emissions (1 at real tokens, 0 at padding)")
    assert_equal(marginals * ~full[..., None], torch.zeros_like(em), "d log Z / d emissions at padded positions")


@pytest.mark.category("property")
def test_stable_at_large_emissions(candidate, reference, seed):
    """float32 emissions of order 1e3: exp() overflows unless log Z subtracts the maximum (logsumexp)."""
    cand, ref, _, _, em, tags, mask, full, _ = Chain(3, 6, 4, "padded", data_seed=seed).build(candidate, reference)
    cand, em32 = cand.float(), (em * 1000).float()
    got = candidate.lib.grads(cand, [em32, tags, mask])
    assert_finite(got["input_grads"][0], "float32 gradient w.r.t. emissions of order 1e3")
    assert_close(assert_finite(cand.log_partition(em32, mask), "float32 log Z"), ref.log_partition(em32.double(), mask).float(),
                 "float32 log_partition at emissions of order 1e3 vs float64 reference", rtol=1e-4, atol=1e-2)


@pytest.mark.category("property")
def test_long_sequences_in_polynomial_time(candidate, reference, seed):
    """T=300, K=8: 8^300 tag sequences cannot be enumerated; the forward algorithm and Viterbi take O(T K^2)."""
    cand, ref, _, _, em, tags, mask, full, _ = Chain(4, 300, 8, "padded", data_seed=seed).build(candidate, reference)
    assert_close(cand(em, tags, mask), ref(em, tags, mask), "forward vs reference at T=300")
    assert_best_paths(cand, ref, em, mask, full, " at T=300")


@pytest.mark.category("property")
def test_does_not_modify_its_inputs(candidate, seed):
    em, tags, mask, _ = Chain(2, 5, 3, "padded").inputs(kit.generator(seed), dtype=torch.float32)
    crf = candidate.CRF(3)
    kit.assert_inputs_unchanged(crf, {"emissions": em, "tags": tags, "mask": mask}, what="forward")
    kit.assert_inputs_unchanged(crf.viterbi_decode, {"emissions": em, "mask": mask}, what="viterbi_decode")
