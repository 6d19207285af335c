"""Suite for 19_additive_attention: Bahdanau attention v^T tanh(W_q q + W_k k_j) vs a plain-loop spec and the
reference; gradients, a learning task, properties of masked weights. mask (B, S) bool: True = a VALID position
(the opposite of nn.MultiheadAttention's key_padding_mask)."""
import pytest
import torch
from hypothesis import strategies as st

from grader import kit
from grader.kit import assert_close, f64, given_cases

support = kit.exercise_support(__file__)


class Additive(kit.Case):
    """query (B, Dq) over keys (B, S, Dk), values (B, S, Dv); use_mask: >= 1 valid position per row, or None."""

    B: int
    S: int
    Dq: int
    Dk: int
    Dv: int
    hidden: int
    use_mask: bool
    data_seed: int

    def inputs(self, g, dtype=f64):
        query, keys, values = (torch.randn(self.B, *shape, generator=g, dtype=dtype)
                               for shape in ((self.Dq,), (self.S, self.Dk), (self.S, self.Dv)))
        mask = torch.rand(self.B, self.S, generator=g) < 0.6
        mask[torch.arange(self.B), torch.randint(self.S, (self.B,), generator=g)] = True
        return query, keys, values, mask if self.use_mask else None

    def build(self, candidate, reference, dtype=f64, v_scale: float = 2.0):
        """cand, ref (same weights; v large enough that the weights are far from uniform), sd, inputs, g."""
        g = self.generator()
        cand, ref, sd = kit.twins(lambda lib: lib.AdditiveAttention(self.Dq, self.Dk, self.hidden), candidate,
                                  reference, g, dtype=dtype, scales={"v.weight": v_scale})
        return cand, ref, sd, *self.inputs(g, dtype), g


def additive(use_mask=st.booleans()):
    return st.builds(Additive, B=st.integers(1, 3), S=st.integers(1, 6), Dq=st.integers(1, 4), Dk=st.integers(1, 4),
                     Dv=st.integers(1, 4), hidden=st.integers(1, 5), use_mask=use_mask, data_seed=kit.data_seeds)


def attend(module, query, keys, values, mask, dtype=f64, finite=False):
    """The candidate's (context (B, Dv), weights (B, S)), checked to be of `dtype` (and finite)."""
    shapes = {"context": (values.shape[0], values.shape[2]), "weights": values.shape[:2]}
    return kit.unpack(module(query, keys, values, mask=mask), shapes, dtype, "forward", finite=finite)


def loop_spec(sd: dict, query, keys, values, mask):
    """The definition, one batch element and one position at a time, in float64."""
    B, S, Dv = values.shape
    context, weights = torch.zeros(B, Dv, dtype=f64), torch.zeros(B, S, dtype=f64)
    for b in range(B):
        valid = [j for j in range(S) if mask is None or bool(mask[b, j])]
        scores = torch.stack([sd["v.weight"][0] @ torch.tanh(sd["W_q.weight"] @ query[b] + sd["W_k.weight"] @ keys[b, j]
                                                             + sd["W_k.bias"]) for j in valid])
        e = torch.exp(scores - scores.max())
        weights[b, valid] = e / e.sum()
        context[b] = weights[b] @ values[b]
    return context, weights


def joined(candidate, reference, case: Additive):
    """support.Joined ([context, weights] side by side) on both sides, its inputs, a cotangent, its weights."""
    cand, ref, sd, query, keys, values, mask, g = case.build(candidate, reference)
    grad_out = torch.randn(case.B, case.Dv + case.S, generator=g, dtype=f64)
    grad_out[:, case.Dv:] *= mask  # none on padded weights (their value is 0)
    weights = {f"attention.{k}": v for k, v in sd.items()}
    args = {"query": query, "keys": keys, "values": values}
    return candidate.lib.support("Joined", cand), support.Joined(ref), args, {"mask": mask}, grad_out, weights, g


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(additive())
def test_output_shapes_and_dtype(candidate, case):
    m = candidate.AdditiveAttention(case.Dq, case.Dk, case.hidden)
    attend(m, *case.inputs(case.generator(), torch.float32), dtype=torch.float32, finite=True)


@pytest.mark.category("shape")
def test_parameters_follow_the_interface(candidate, reference):
    kit.assert_state_shapes(candidate.AdditiveAttention(3, 5, 7), reference.AdditiveAttention(3, 5, 7),
                            "AdditiveAttention(3, 5, 7) (W_q, W_k with bias, v: nn.Linear)")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(additive())
def test_matches_loop_spec(candidate, reference, case):
    cand, _, sd, *inputs, _ = case.build(candidate, reference)
    expected_context, expected_weights = loop_spec(sd, *inputs)
    context, weights = attend(cand, *inputs)
    assert_close(weights, expected_weights, "weights vs the loop definition")
    assert_close(context, expected_context, "context vs the loop definition")


@pytest.mark.category("equivalence")
@given_cases(additive())
def test_matches_reference(candidate, reference, case):
    cand, ref, _, *inputs, _ = case.build(candidate, reference)
    expected_context, expected_weights = (t.detach() for t in ref(*inputs))
    context, weights = attend(cand, *inputs)
    assert_close(weights, expected_weights, "weights vs reference")
    assert_close(context, expected_context, "context vs reference")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(additive(use_mask=st.just(True)))
def test_gradients_match_reference(candidate, reference, case):
    fn, oracle, args, kwargs, grad_out, _, _ = joined(candidate, reference, case)
    kit.check_gradients(candidate, fn, oracle, args, kwargs, grad_output=grad_out)


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, reference, seed):
    fn, _, args, kwargs, grad_out, weights, g = joined(candidate, reference, Additive(2, 5, 3, 4, 3, 4, True, seed))
    kit.check_finite_differences(candidate, fn, args, kwargs, g=g, grad_output=grad_out, state_dict=weights)


# -- convergence -----------------------------------------------------------------------------
VOCAB, POSITIONS, D_MODEL = 8, 8, 16
POINTER, TASK = (VOCAB, D_MODEL, POSITIONS), (POSITIONS, VOCAB)


@pytest.mark.category("convergence")
def test_learns_to_attend_to_the_marked_position(candidate, reference, seed, artifacts):
    """The query names a marker (1 or 2); the model must output the token at the position
    carrying that marker, among 2..8 valid positions (padding holds junk markers too). Without
    the query or without a non-linear score the best is about 55%."""
    def models(s, run):
        attention = candidate.AdditiveAttention(D_MODEL, D_MODEL, D_MODEL)
        return kit.same_init(candidate.lib.support("Pointer", attention, *POINTER),
                             lambda: support.Pointer(reference.AdditiveAttention(D_MODEL, D_MODEL, D_MODEL), *POINTER), s)

    kit.check_convergence(
        candidate, artifacts, seed, models=models, runs=2, threshold=0.95, train=dict(steps=60, lr=3e-2, batch_size=64),
        task=lambda g: (*support.pointer_task(1024, *TASK, g), *support.pointer_task(512, *TASK, g)),
        subject="a model built on your attention", goal="at reading the token under the queried marker")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(additive(use_mask=st.just(True)))
def test_masked_weights_are_zero_and_rows_sum_to_one(candidate, reference, case):
    cand, _, _, *inputs, _ = case.build(candidate, reference)
    kit.assert_attention_weights(attend(cand, *inputs)[1], inputs[-1], "weights (mask False: padding)")


@pytest.mark.category("property")
@given_cases(additive(use_mask=st.just(True)), extra=st.integers(1, 3))
def test_appended_padding_changes_nothing(candidate, reference, case, extra):
    cand, _, _, query, keys, values, mask, g = case.build(candidate, reference)
    kit.assert_appending_changes_nothing(lambda keys, values, mask: attend(cand, query, keys, values, mask),
                                         {"keys": keys, "values": values, "mask": mask},
                                         {"keys": None, "values": None, "mask": False}, extra, g,
                                         what="padded positions (junk keys and values, mask False)")


@pytest.mark.category("property")
@given_cases(additive(use_mask=st.just(True)))
def test_permuting_positions_permutes_weights(candidate, reference, case):
    cand, _, _, query, keys, values, mask, g = case.build(candidate, reference)
    perm = torch.randperm(case.S, generator=g)
    context, weights = attend(cand, query, keys, values, mask)
    context_p, weights_p = attend(cand, query, keys[:, perm], values[:, perm], mask[:, perm])
    assert_close(weights_p, weights[:, perm], f"weights for positions permuted by {perm.tolist()} vs permuted weights")
    assert_close(context_p, context, f"context for positions permuted by {perm.tolist()} (must not change)")


@pytest.mark.category("property")
def test_stable_for_large_scores(candidate, reference, seed):
    """|score| <= sum |v|: with v of order 1e3 the scores are in the thousands and exp() overflows
    in float32 unless the softmax subtracts the row maximum."""
    cand, ref, _, *inputs, _ = Additive(3, 6, 4, 4, 3, 5, True, seed).build(candidate, reference, torch.float32, 1000.0)
    context, weights = attend(cand, *inputs, dtype=torch.float32)
    expected_context, expected_weights = (t.detach() for t in ref.double()(*(t.double() for t in inputs[:3]), inputs[3]))
    # float32 vs float64 through scores ~1e3: agreement to 1e-3 is far tighter than any overflow (inf, NaN).
    assert_close(weights, expected_weights.float(), "float32 weights at scores ~1e3 vs float64 reference",
                 rtol=1e-3, atol=1e-3)
    assert_close(context, expected_context.float(), "float32 context at scores ~1e3 vs float64 reference",
                 rtol=1e-3, atol=1e-3)


@pytest.mark.category("property")
def test_forward_does_not_modify_its_inputs(candidate, seed):
    query, keys, values, mask = Additive(2, 5, 3, 4, 2, 5, True, seed).inputs(kit.generator(seed), torch.float32)
    kit.assert_inputs_unchanged(candidate.AdditiveAttention(3, 4, 5), {"query": query, "keys": keys, "values": values},
                                {"mask": mask}, "forward")
