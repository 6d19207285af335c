"""Suite for 57_attention_decoder: a Luong attention decoder step (GRU state) and its teacher-forced
unroll, against the reference and a plain-loop oracle in float64, plus gradients, an alignment toy
and the properties of masked attention.

`candidate` is the submission in a sandboxed worker; `reference` runs here. Mask convention:
src_mask True = a VALID source position (the opposite of nn.MultiheadAttention's key_padding_mask).
"""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from grader import training
from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.gradcheck import check_directional_derivatives
from grader.testing import exercise_support, generator, seeded, fit_and_check

support = exercise_support(__file__)
f64 = torch.float64
SCORES = ["dot", "general"]

sizes = dict(
    B=st.integers(1, 3), S=st.integers(1, 5), V=st.integers(2, 7), E=st.integers(1, 4), H=st.integers(1, 5),
    data_seed=st.integers(0, 2**32 - 1),
)


# -- helpers ---------------------------------------------------------------------------------
def random_state_dict(V, E, H, score, g, dtype=f64) -> dict:
    """Weights ~ N(0, 1/fan_in) so that scores and gates neither vanish nor saturate."""
    def w(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype) / math.sqrt(shape[-1])
    sd = {
        "embedding.weight": torch.randn(V, E, generator=g, dtype=dtype),
        "cell.weight_ih": w(3 * H, E), "cell.weight_hh": w(3 * H, H),
        "cell.bias_ih": 0.5 * torch.randn(3 * H, generator=g, dtype=dtype),
        "cell.bias_hh": 0.5 * torch.randn(3 * H, generator=g, dtype=dtype),
        "W_c.weight": w(H, 2 * H), "out.weight": w(V, H),
        "out.bias": 0.5 * torch.randn(V, generator=g, dtype=dtype),
    }
    if score == "general":
        sd["attention.W_a.weight"] = 2 * w(H, H)
    return sd


def expected_keys(V, E, H, score) -> dict:
    keys = {"embedding.weight": (V, E), "cell.weight_ih": (3 * H, E), "cell.weight_hh": (3 * H, H),
            "cell.bias_ih": (3 * H,), "cell.bias_hh": (3 * H,), "W_c.weight": (H, 2 * H),
            "out.weight": (V, H), "out.bias": (V,)}
    if score == "general":
        keys["attention.W_a.weight"] = (H, H)
    return keys


def build(candidate, reference, V, E, H, score, g, bos_id=0):
    sd = random_state_dict(V, E, H, score, g)
    cand = candidate.AttentionDecoder(V, E, H, score=score, bos_id=bos_id).to(f64)
    cand.load_state_dict(sd)
    ref = reference.AttentionDecoder(V, E, H, score=score, bos_id=bos_id).to(f64)
    ref.load_state_dict(sd)
    return cand, ref, sd


def random_inputs(B, S, V, H, g, T=None):
    """prev tokens (B,) or targets (B, T), h (B, H), encoder outputs (B, S, H), src_mask (B, S)
    with random holes (True = valid); position 0 is always valid (every row has a source)."""
    tokens = torch.randint(V, (B,) if T is None else (B, T), generator=g)
    h = torch.randn(B, H, generator=g, dtype=f64)
    enc = torch.randn(B, S, H, generator=g, dtype=f64)
    mask = torch.rand(B, S, generator=g) < 0.7
    mask[:, 0] = True
    return tokens, h, enc, mask


def loop_oracle(sd, score, prev_token, h, enc, mask):
    """One decoder step written with Python loops from the equations (GRU, Luong attention)."""
    B, S, H = enc.shape
    x = sd["embedding.weight"][prev_token]  # (B, E)
    gi = x @ sd["cell.weight_ih"].T + sd["cell.bias_ih"]
    gh = h @ sd["cell.weight_hh"].T + sd["cell.bias_hh"]
    r = torch.sigmoid(gi[:, :H] + gh[:, :H])
    z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    h_new = (1 - z) * n + z * h
    logits, weights = [], torch.zeros(B, S, dtype=f64)
    for b in range(B):
        valid = [s for s in range(S) if mask[b, s]]
        scores = {}
        for s in valid:
            key = enc[b, s] if score == "dot" else sd["attention.W_a.weight"] @ enc[b, s]
            scores[s] = float(h_new[b] @ key)
        top = max(scores.values())
        total = sum(math.exp(v - top) for v in scores.values())
        context = torch.zeros(H, dtype=f64)
        for s in valid:
            weights[b, s] = math.exp(scores[s] - top) / total
            context = context + weights[b, s] * enc[b, s]
        h_tilde = torch.tanh(sd["W_c.weight"] @ torch.cat([context, h_new[b]]))
        logits.append(sd["out.weight"] @ h_tilde + sd["out.bias"])
    return torch.stack(logits), h_new, weights


def column(targets, t):
    """targets[:, t] as a fresh tensor with stride 1 (a size-1 slice keeps its old stride, which the
    transport to the worker does not accept)."""
    return targets[:, t].clone(memory_format=torch.contiguous_format)


def unpack_step(result, B, S, V, H):
    if not isinstance(result, tuple) or len(result) != 3:
        raise Mismatch(f"step must return a tuple (logits, new_state, attn_weights), got {type(result).__name__}"
                       + (f" of length {len(result)}" if isinstance(result, tuple) else ""))
    logits, h, w = result
    return (assert_shape(logits, (B, V), "logits"), assert_shape(h, (B, H), "new_state h"),
            assert_shape(w, (B, S), "attn_weights"))


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**sizes, T=st.integers(1, 4), score=st.sampled_from(SCORES))
def test_output_shapes_and_dtype(candidate, B, S, V, E, H, T, data_seed, score):
    g = generator(data_seed)
    m = candidate.AttentionDecoder(V, E, H, score=score)
    prev, h, enc, mask = random_inputs(B, S, V, H, g)
    h, enc = h.float(), enc.float()
    logits, h_new, w = unpack_step(m.step(prev, h, enc, mask), B, S, V, H)
    for name, t in (("logits", logits), ("new_state h", h_new), ("attn_weights", w)):
        assert_shape(t, t.shape, name, dtype=torch.float32)
        assert_finite(t, name)
    targets = torch.randint(V, (B, T), generator=g)
    assert_shape(m(targets, h, enc, mask), (B, T, V), "forward logits", dtype=torch.float32)


@pytest.mark.category("shape")
def test_parameters_follow_the_interface(candidate):
    V, E, H = 7, 3, 5
    for score in SCORES:
        m = candidate.AttentionDecoder(V, E, H, score=score)
        got = {k: tuple(v.shape) for k, v in m.state_dict().items()}
        expected = expected_keys(V, E, H, score)
        assert got == expected, (f"state_dict (name: shape) should be exactly {expected} for vocab_size={V}, "
                                 f"embed_dim={E}, hidden={H}, score={score!r}; got {got}")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@pytest.mark.parametrize("score", SCORES)
@given(**sizes)
def test_step_matches_loop_oracle_and_reference(candidate, reference, score, B, S, V, E, H, data_seed):
    g = generator(data_seed)
    cand, ref, sd = build(candidate, reference, V, E, H, score, g)
    prev, h, enc, mask = random_inputs(B, S, V, H, g)
    logits, h_new, w = unpack_step(cand.step(prev, h, enc, mask), B, S, V, H)
    exp_logits, exp_h, exp_w = loop_oracle(sd, score, prev, h, enc, mask)
    assert_close(h_new, exp_h, "new_state h vs GRU equations")
    assert_close(w, exp_w, "attn_weights vs loop oracle")
    assert_close(logits, exp_logits, "logits vs loop oracle")
    with torch.no_grad():
        ref_logits, _, _ = ref.step(prev, h, enc, mask)
    assert_close(logits, ref_logits, "logits vs reference")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("score", SCORES)
@given(**sizes, T=st.integers(1, 4), bos_id=st.integers(0, 1))
def test_forward_matches_reference(candidate, reference, score, B, S, V, E, H, T, data_seed, bos_id):
    g = generator(data_seed)
    cand, ref, _ = build(candidate, reference, V, E, H, score, g, bos_id=bos_id)
    targets, h, enc, mask = random_inputs(B, S, V, H, g, T=T)
    with torch.no_grad():
        expected = ref(targets, h, enc, mask)
    assert_close(assert_shape(cand(targets, h, enc, mask), (B, T, V), "forward logits"), expected,
                 f"teacher-forced logits (bos_id={bos_id}) vs reference")


@pytest.mark.category("equivalence")
@given(**sizes, T=st.integers(1, 4), score=st.sampled_from(SCORES))
def test_forward_equals_running_step(candidate, reference, B, S, V, E, H, T, data_seed, score):
    """Your teacher-forced forward must equal your own step run T times: BOS first, then targets[:, t-1]."""
    g = generator(data_seed)
    bos_id = V - 1
    cand, _, _ = build(candidate, reference, V, E, H, score, g, bos_id=bos_id)
    targets, h, enc, mask = random_inputs(B, S, V, H, g, T=T)
    got = assert_shape(cand(targets, h, enc, mask), (B, T, V), "forward logits")
    state, prev = h, torch.full((B,), bos_id)
    for t in range(T):
        logits, state, _ = unpack_step(cand.step(prev, state, enc, mask), B, S, V, H)
        assert_close(got[:, t], logits, f"forward logits at t={t} vs step fed BOS={bos_id} then targets[:, :{t}]")
        prev = column(targets, t)


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@pytest.mark.parametrize("score", SCORES)
@given(**sizes, T=st.integers(1, 3))
def test_gradients_match_reference(candidate, reference, score, B, S, V, E, H, T, data_seed):
    g = generator(data_seed)
    cand, ref, _ = build(candidate, reference, V, E, H, score, g)
    targets, h, enc, mask = random_inputs(B, S, V, H, g, T=T)
    grad_out = torch.randn(B, T, V, generator=g, dtype=f64)
    got = candidate.lib.grads(cand, [targets, h, enc, mask], {}, grad_out)
    h_ref, enc_ref = h.clone().requires_grad_(), enc.clone().requires_grad_()
    ref.zero_grad(set_to_none=True)
    ref(targets, h_ref, enc_ref, mask).backward(grad_out)
    assert_close(got["input_grads"][1], h_ref.grad, "gradient w.r.t. the initial state h")
    assert_close(got["input_grads"][2], enc_ref.grad, "gradient w.r.t. encoder_outputs")
    for name, p in ref.named_parameters():
        if got["param_grads"].get(name) is None:
            raise Mismatch(f"gradient w.r.t. {name}: no gradient reached this parameter")
        assert_close(got["param_grads"][name], p.grad, f"gradient w.r.t. {name}")


@pytest.mark.category("gradient")
@pytest.mark.parametrize("score", SCORES)
def test_gradients_match_finite_differences(candidate, reference, seed, score):
    B, S, V, E, H, T = 2, 4, 5, 3, 4, 3
    g = generator(seed)
    sd = random_state_dict(V, E, H, score, g)
    cand = candidate.AttentionDecoder(V, E, H, score=score).to(f64)
    targets, h, enc, mask = random_inputs(B, S, V, H, g, T=T)
    grad_out = torch.randn(B, T, V, generator=g, dtype=f64)
    cand.load_state_dict(sd)
    got = candidate.lib.grads(cand, [targets, h, enc, mask], {}, grad_out)
    analytic = {"h": got["input_grads"][1], "enc": got["input_grads"][2], **got["param_grads"]}
    missing = [k for k in ["h", "enc", *sd] if analytic.get(k) is None]
    if missing:
        raise Mismatch(f"no gradient reached {missing} (detached, computed under no_grad, or not used?)")

    def forward(point):
        cand.load_state_dict({k: point[k] for k in sd})
        return cand(targets, point["h"], point["enc"], mask)

    check_directional_derivatives(forward, {"h": h, "enc": enc, **sd}, analytic, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
VOCAB, EMBED, HIDDEN, REAL, PADDING = 8, 16, 32, 6, 3
TRAIN = dict(steps=60, lr=3e-2, batch_size=32)


@pytest.mark.category("convergence")
def test_learns_to_copy_the_source(candidate, reference, seed, artifacts):
    """Step t must output source token t: the previous target token says nothing about it, so the
    decoder has to find position t among the encoder outputs (chance is 1/7)."""
    for run in range(2):
        s = seed * 1000 + run
        g = generator(s)
        x_train, y_train = support.copy_task(512, REAL, PADDING, VOCAB, g)
        x_test, y_test = support.copy_task(256, REAL, PADDING, VOCAB, g)
        with seeded(s):
            ref_model = support.build_copier(reference.AttentionDecoder(VOCAB, EMBED, HIDDEN, score="general"),
                                             VOCAB, HIDDEN, REAL, PADDING)
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}
        ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]

        model = candidate.lib.support("build_copier",
                                      candidate.AttentionDecoder(VOCAB, EMBED, HIDDEN, score="general"),
                                      VOCAB, HIDDEN, REAL, PADDING)
        model.load_state_dict(init)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        logits = assert_shape(model(x_test), (256, REAL, VOCAB), "logits")
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        with torch.no_grad():
            ref_accuracy = float((ref_model(x_test).argmax(-1) == y_test).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.9, (
            f"after {TRAIN['steps']} Adam steps (data seed {s}) your decoder reaches {accuracy:.1%} held-out "
            f"accuracy on the copy task; the reference, from the same initial weights, reaches "
            f"{ref_accuracy:.1%}; at least 90% is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(**sizes, score=st.sampled_from(SCORES))
def test_masked_weights_are_zero_and_rows_sum_to_one(candidate, reference, B, S, V, E, H, data_seed, score):
    g = generator(data_seed)
    cand, _, _ = build(candidate, reference, V, E, H, score, g)
    prev, h, enc, mask = random_inputs(B, S, V, H, g)
    _, _, w = unpack_step(cand.step(prev, h, enc, mask), B, S, V, H)
    assert_equal(torch.where(mask, 0.0, w), torch.zeros(B, S, dtype=w.dtype),
                 "attn_weights at masked source positions (src_mask False)")
    assert_close(w.sum(-1), torch.ones(B, dtype=w.dtype), "attn_weights summed over source positions")
    if not bool((w >= 0).all()):
        raise Mismatch(f"attn_weights must be non-negative; min {float(w.min()):.3g}")


@pytest.mark.category("property")
@given(**sizes, T=st.integers(1, 3), extra=st.integers(1, 3), score=st.sampled_from(SCORES))
def test_appending_padded_positions_changes_nothing(candidate, reference, B, S, V, E, H, T, extra, data_seed,
                                                    score):
    g = generator(data_seed)
    cand, _, _ = build(candidate, reference, V, E, H, score, g)
    targets, h, enc, mask = random_inputs(B, S, V, H, g, T=T)
    enc_long = torch.cat([enc, 3 * torch.randn(B, extra, H, generator=g, dtype=f64)], dim=1)
    mask_long = torch.cat([mask, torch.zeros(B, extra, dtype=torch.bool)], dim=1)
    before = assert_shape(cand(targets, h, enc, mask), (B, T, V), "forward logits")
    after = assert_shape(cand(targets, h, enc_long, mask_long), (B, T, V), "forward logits with padding")
    assert_close(after, before, f"logits after appending {extra} padded (src_mask False) source positions")
    prev = column(targets, 0)
    _, _, w = unpack_step(cand.step(prev, h, enc_long, mask_long), B, S + extra, V, H)
    _, _, w_short = unpack_step(cand.step(prev, h, enc, mask), B, S, V, H)
    assert_close(w[:, :S], w_short, "attn_weights on the real positions after appending padded ones")


@pytest.mark.category("property")
def test_step_and_forward_do_not_modify_inputs(candidate, seed):
    g = generator(seed)
    B, S, V, E, H, T = 2, 4, 5, 3, 4, 3
    m = candidate.AttentionDecoder(V, E, H)
    targets, h, enc, mask = random_inputs(B, S, V, H, g, T=T)
    h, enc = h.float(), enc.float()
    for name, fn, first in (("step", m.step, column(targets, 0)), ("forward", m, targets)):
        _, after, _ = fn.call_checked(first, h, enc, mask)
        for arg, before, label in zip(after, (first, h, enc, mask), ("tokens", "state", "encoder_outputs",
                                                                      "src_mask")):
            assert_unchanged(arg, before, f"{label} after {name} (modified in place)")
