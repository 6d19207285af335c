"""Suite for 19_additive_attention: Bahdanau attention against a plain-loop float64 spec of
v^T tanh(W_q q + W_k k_j) and against the reference, plus gradients, a learning task and the
properties of masked attention weights.

`candidate` is the submission in a sandboxed worker; `reference` runs here. Mask convention:
mask (B, S) bool, True = a VALID position (the opposite of nn.MultiheadAttention's
key_padding_mask, where True = padding).
"""
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from grader import training
from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.gradcheck import check_directional_derivatives
from grader.testing import assert_grads_close, exercise_support, generator, seeded, fit_and_check

support = exercise_support(__file__)
f64 = torch.float64
PARAMS = ("W_q.weight", "W_k.weight", "W_k.bias", "v.weight")

sizes = dict(
    B=st.integers(1, 3), S=st.integers(1, 6), Dq=st.integers(1, 4), Dk=st.integers(1, 4),
    Dv=st.integers(1, 4), hidden=st.integers(1, 5), data_seed=st.integers(0, 2**32 - 1),
)


# -- helpers ---------------------------------------------------------------------------------
def random_state_dict(Dq, Dk, hidden, g, dtype=f64, v_scale: float = 2.0) -> dict:
    """Weights ~ N(0, 1/fan_in) (tanh not saturated), bias ~ N(0, 0.5^2), v large enough that
    the weights are far from uniform."""
    return {
        "W_q.weight": torch.randn(hidden, Dq, generator=g, dtype=dtype) / Dq ** 0.5,
        "W_k.weight": torch.randn(hidden, Dk, generator=g, dtype=dtype) / Dk ** 0.5,
        "W_k.bias": 0.5 * torch.randn(hidden, generator=g, dtype=dtype),
        "v.weight": torch.randn(1, hidden, generator=g, dtype=dtype) * v_scale / hidden ** 0.5,
    }


def random_inputs(B, S, Dq, Dk, Dv, g, dtype=f64):
    """query (B, Dq), keys (B, S, Dk), values (B, S, Dv), mask (B, S) with >= 1 valid per row."""
    query = torch.randn(B, Dq, generator=g, dtype=dtype)
    keys = torch.randn(B, S, Dk, generator=g, dtype=dtype)
    values = torch.randn(B, S, Dv, generator=g, dtype=dtype)
    mask = torch.rand(B, S, generator=g) < 0.6
    mask[torch.arange(B), torch.randint(S, (B,), generator=g)] = True
    return query, keys, values, mask


def build(candidate, reference, Dq, Dk, hidden, g, dtype=f64, **kw):
    """The candidate and the reference module, loaded with the same random weights."""
    sd = random_state_dict(Dq, Dk, hidden, g, dtype, **kw)
    cand = candidate.AdditiveAttention(Dq, Dk, hidden).to(dtype)
    cand.load_state_dict(sd)
    ref = reference.AdditiveAttention(Dq, Dk, hidden).to(dtype)
    ref.load_state_dict(sd)
    return cand, ref, sd


def attend(module, query, keys, values, mask, dtype=f64):
    """Call the candidate; check it returns (context (B, Dv), weights (B, S)) of `dtype`."""
    result = module(query, keys, values, mask=mask)
    if not isinstance(result, tuple) or len(result) != 2:
        raise Mismatch(f"forward must return a pair (context, weights), got {type(result).__name__}")
    B, S, Dv = values.shape
    return assert_shape(result[0], (B, Dv), "context", dtype), assert_shape(result[1], (B, S), "weights", dtype)


def loop_spec(sd: dict, query, keys, values, mask):
    """The definition, one batch element and one position at a time, in float64."""
    B, S, Dv = values.shape
    context, weights = torch.zeros(B, Dv, dtype=f64), torch.zeros(B, S, dtype=f64)
    for b in range(B):
        valid = [j for j in range(S) if mask is None or bool(mask[b, j])]
        scores = {}
        for j in valid:
            hidden = torch.tanh(sd["W_q.weight"] @ query[b] + sd["W_k.weight"] @ keys[b, j] + sd["W_k.bias"])
            scores[j] = float(sd["v.weight"][0] @ hidden)
        top = max(scores.values())
        total = sum(torch.exp(torch.tensor(s - top, dtype=f64)) for s in scores.values())
        for j in valid:
            weights[b, j] = torch.exp(torch.tensor(scores[j] - top, dtype=f64)) / total
            context[b] += weights[b, j] * values[b, j]
    return context, weights


def unprefixed(param_grads: dict) -> dict:
    """Parameter gradients of support.Joined(attention), named as in AdditiveAttention."""
    return {name.removeprefix("attention."): grad for name, grad in param_grads.items()}


def joined_grad_output(B, S, Dv, mask, g):
    """A random cotangent for [context, weights]; none on padded weights (their value is 0)."""
    grad = torch.randn(B, Dv + S, generator=g, dtype=f64)
    grad[:, Dv:] *= mask
    return grad


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**sizes, use_mask=st.booleans())
def test_output_shapes_and_dtype(candidate, B, S, Dq, Dk, Dv, hidden, data_seed, use_mask):
    g = generator(data_seed)
    m = candidate.AdditiveAttention(Dq, Dk, hidden)
    query, keys, values, mask = random_inputs(B, S, Dq, Dk, Dv, g, dtype=torch.float32)
    context, weights = attend(m, query, keys, values, mask if use_mask else None, dtype=torch.float32)
    assert_finite(context, "context")
    assert_finite(weights, "weights")


@pytest.mark.category("shape")
def test_parameters_follow_the_interface(candidate):
    Dq, Dk, hidden = 3, 5, 7
    m = candidate.AdditiveAttention(Dq, Dk, hidden)
    got = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    expected = {"W_q.weight": (hidden, Dq), "W_k.weight": (hidden, Dk), "W_k.bias": (hidden,),
                "v.weight": (1, hidden)}
    assert got == expected, (f"state_dict (name: shape) should be exactly {expected} for query_dim={Dq}, "
                             f"key_dim={Dk}, hidden_dim={hidden}; got {got}")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(**sizes, use_mask=st.booleans())
def test_matches_loop_spec(candidate, reference, B, S, Dq, Dk, Dv, hidden, data_seed, use_mask):
    g = generator(data_seed)
    cand, _, sd = build(candidate, reference, Dq, Dk, hidden, g)
    query, keys, values, mask = random_inputs(B, S, Dq, Dk, Dv, g)
    mask = mask if use_mask else None
    expected_context, expected_weights = loop_spec(sd, query, keys, values, mask)
    context, weights = attend(cand, query, keys, values, mask)
    assert_close(weights, expected_weights, f"weights vs the loop definition (mask={'given' if use_mask else None})")
    assert_close(context, expected_context, f"context vs the loop definition (mask={'given' if use_mask else None})")


@pytest.mark.category("equivalence")
@given(**sizes, use_mask=st.booleans())
def test_matches_reference(candidate, reference, B, S, Dq, Dk, Dv, hidden, data_seed, use_mask):
    g = generator(data_seed)
    cand, ref, _ = build(candidate, reference, Dq, Dk, hidden, g)
    query, keys, values, mask = random_inputs(B, S, Dq, Dk, Dv, g)
    mask = mask if use_mask else None
    with torch.no_grad():
        expected_context, expected_weights = ref(query, keys, values, mask=mask)
    context, weights = attend(cand, query, keys, values, mask)
    assert_close(weights, expected_weights, "weights vs reference")
    assert_close(context, expected_context, "context vs reference")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(**sizes)
def test_gradients_match_reference(candidate, reference, B, S, Dq, Dk, Dv, hidden, data_seed):
    g = generator(data_seed)
    cand, ref, _ = build(candidate, reference, Dq, Dk, hidden, g)
    inputs = random_inputs(B, S, Dq, Dk, Dv, g)
    query, keys, values, mask = inputs
    grad_out = joined_grad_output(B, S, Dv, mask, g)
    got = candidate.lib.grads(candidate.lib.support("Joined", cand), [query, keys, values], {"mask": mask}, grad_out)
    leaves = [t.clone().requires_grad_() for t in (query, keys, values)]
    ref.zero_grad(set_to_none=True)
    support.Joined(ref)(*leaves, mask=mask).backward(grad_out)
    for name, grad, leaf in zip(("query", "keys", "values"), got["input_grads"], leaves):
        if grad is None:
            raise Mismatch(f"gradient w.r.t. {name}: none reached it (detached, or computed under no_grad?)")
        assert_close(grad, leaf.grad, f"gradient of [context, weights] w.r.t. {name}")
    assert_grads_close(unprefixed(got["param_grads"]), ref)


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, seed):
    B, S, Dq, Dk, Dv, hidden = 2, 5, 3, 4, 3, 4
    g = generator(seed)
    sd = random_state_dict(Dq, Dk, hidden, g)
    query, keys, values, mask = random_inputs(B, S, Dq, Dk, Dv, g)
    grad_out = joined_grad_output(B, S, Dv, mask, g)
    cand = candidate.AdditiveAttention(Dq, Dk, hidden).to(f64)
    cand.load_state_dict(sd)
    got = candidate.lib.grads(candidate.lib.support("Joined", cand), [query, keys, values], {"mask": mask}, grad_out)
    analytic = {"query": got["input_grads"][0], "keys": got["input_grads"][1], "values": got["input_grads"][2],
                **unprefixed(got["param_grads"])}
    point = {"query": query, "keys": keys, "values": values, **sd}
    missing = [n for n in point if analytic.get(n) is None]
    if missing:
        raise Mismatch(f"no gradient reached {missing} (detached, computed under no_grad, or not used?)")

    def forward(p):
        cand.load_state_dict({k: p[k] for k in PARAMS})
        return torch.cat(attend(cand, p["query"], p["keys"], p["values"], mask), dim=-1)

    check_directional_derivatives(forward, point, analytic, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
VOCAB, POSITIONS, D_MODEL = 8, 8, 16
TRAIN = dict(steps=60, lr=3e-2, batch_size=64)


@pytest.mark.category("convergence")
def test_learns_to_attend_to_the_marked_position(candidate, reference, seed, artifacts):
    """The query names a marker (1 or 2); the model must output the token at the position
    carrying that marker, among 2..8 valid positions (padding holds junk markers too). Without
    the query or without a non-linear score the best is about 55%."""
    for run in range(2):
        s = seed * 1000 + run
        g = generator(s)
        x_train, y_train = support.pointer_task(1024, POSITIONS, VOCAB, g)
        x_test, y_test = support.pointer_task(512, POSITIONS, VOCAB, g)
        with seeded(s):
            ref_model = support.Pointer(reference.AdditiveAttention(D_MODEL, D_MODEL, D_MODEL), VOCAB, D_MODEL,
                                        POSITIONS)
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}
        ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]

        model = candidate.lib.support("Pointer", candidate.AdditiveAttention(D_MODEL, D_MODEL, D_MODEL), VOCAB,
                                      D_MODEL, POSITIONS)
        model.load_state_dict(init)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        logits = assert_shape(model(x_test), (512, VOCAB), "logits")
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        with torch.no_grad():
            ref_accuracy = float((ref_model(x_test).argmax(-1) == y_test).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.95, (
            f"after {TRAIN['steps']} Adam steps (data seed {s}) a model built on your attention reaches "
            f"{accuracy:.1%} held-out accuracy at reading the token under the queried marker; the reference, "
            f"from the same initial weights, reaches {ref_accuracy:.1%}; at least 95% is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(**sizes)
def test_masked_weights_are_zero_and_rows_sum_to_one(candidate, reference, B, S, Dq, Dk, Dv, hidden, data_seed):
    g = generator(data_seed)
    cand, _, _ = build(candidate, reference, Dq, Dk, hidden, g)
    query, keys, values, mask = random_inputs(B, S, Dq, Dk, Dv, g)
    _, weights = attend(cand, query, keys, values, mask)
    assert_equal(weights[~mask], torch.zeros(int((~mask).sum()), dtype=f64),
                 "weights at padded positions (mask False), which must be exactly 0")
    assert_close(weights.sum(-1), torch.ones(B, dtype=f64), "sum of the weights over the positions of each row")
    if (weights < 0).any():
        raise Mismatch(f"weights: {int((weights < 0).sum())} negative values; min {float(weights.min()):.3g}")


@pytest.mark.category("property")
@given(**sizes, extra=st.integers(1, 3))
def test_appended_padding_changes_nothing(candidate, reference, B, S, Dq, Dk, Dv, hidden, data_seed, extra):
    g = generator(data_seed)
    cand, _, _ = build(candidate, reference, Dq, Dk, hidden, g)
    query, keys, values, mask = random_inputs(B, S, Dq, Dk, Dv, g)
    context, weights = attend(cand, query, keys, values, mask)
    junk_keys = torch.randn(B, extra, Dk, generator=g, dtype=f64) * 3
    junk_values = torch.randn(B, extra, Dv, generator=g, dtype=f64) * 3
    padded = attend(cand, query, torch.cat([keys, junk_keys], 1), torch.cat([values, junk_values], 1),
                    torch.cat([mask, torch.zeros(B, extra, dtype=torch.bool)], 1))
    assert_close(padded[0], context, f"context after appending {extra} padded positions")
    assert_close(padded[1][:, :S], weights, f"weights of the first {S} positions after appending {extra} padded ones")


@pytest.mark.category("property")
@given(**sizes)
def test_permuting_positions_permutes_weights(candidate, reference, B, S, Dq, Dk, Dv, hidden, data_seed):
    g = generator(data_seed)
    cand, _, _ = build(candidate, reference, Dq, Dk, hidden, g)
    query, keys, values, mask = random_inputs(B, S, Dq, Dk, Dv, g)
    perm = torch.randperm(S, generator=g)
    context, weights = attend(cand, query, keys, values, mask)
    context_p, weights_p = attend(cand, query, keys[:, perm], values[:, perm], mask[:, perm])
    assert_close(weights_p, weights[:, perm], f"weights for positions permuted by {perm.tolist()} vs permuted weights")
    assert_close(context_p, context, f"context for positions permuted by {perm.tolist()} (must not change)")


@pytest.mark.category("property")
def test_stable_for_large_scores(candidate, reference, seed):
    """|score| <= sum |v|: with v of order 1e3 the scores are in the thousands and exp() overflows
    in float32 unless the softmax subtracts the row maximum."""
    g = generator(seed)
    B, S, Dq, Dk, Dv, hidden = 3, 6, 4, 4, 3, 5
    sd = random_state_dict(Dq, Dk, hidden, g, dtype=torch.float32, v_scale=1000.0)
    cand = candidate.AdditiveAttention(Dq, Dk, hidden)
    cand.load_state_dict(sd)
    ref = reference.AdditiveAttention(Dq, Dk, hidden).to(f64)
    ref.load_state_dict({k: v.double() for k, v in sd.items()})
    query, keys, values, mask = random_inputs(B, S, Dq, Dk, Dv, g, dtype=torch.float32)
    context, weights = attend(cand, query, keys, values, mask, dtype=torch.float32)
    assert_finite(weights, "float32 weights at scores of order 1e3")
    assert_finite(context, "float32 context at scores of order 1e3")
    with torch.no_grad():
        expected_context, expected_weights = ref(query.double(), keys.double(), values.double(), mask=mask)
    # float32 vs float64 through scores ~1e3: agreement to 1e-3 is far tighter than any overflow.
    assert_close(weights, expected_weights.float(), "float32 weights at scores ~1e3 vs float64 reference",
                 rtol=1e-3, atol=1e-3)
    assert_close(context, expected_context.float(), "float32 context at scores ~1e3 vs float64 reference",
                 rtol=1e-3, atol=1e-3)


@pytest.mark.category("property")
def test_forward_does_not_modify_its_inputs(candidate, seed):
    g = generator(seed)
    m = candidate.AdditiveAttention(3, 4, 5)
    query, keys, values, mask = random_inputs(2, 5, 3, 4, 2, g, dtype=torch.float32)
    _, args_after, kwargs_after = m.call_checked(query, keys, values, mask=mask)
    for name, before, after in zip(("query", "keys", "values"), (query, keys, values), args_after):
        assert_unchanged(after, before, f"{name} after forward (modified in place)")
    assert_unchanged(kwargs_after["mask"], mask, "mask after forward (modified in place)")
