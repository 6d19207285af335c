"""Suite for 25_attention_pooling: learned-query attention pooling with a padding mask, and a
BiLSTM + attention text classifier, against a plain-loop float64 spec, a one-sequence-at-a-time
nn.LSTM oracle and the reference, plus gradients, a keyword task and padding invariance.

`candidate` is the submission in a sandboxed worker; `reference` runs here. Mask convention:
mask (B, T) bool, True = a REAL token (the opposite of nn.MultiheadAttention's key_padding_mask,
where True = padding). The classifier's padding is given by `lengths`; padded slots hold pad_idx.
"""
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from grader import training
from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.gradcheck import check_directional_derivatives
from grader.testing import assert_grads_close, exercise_support, generator, seeded, fit_and_check

support = exercise_support(__file__)
f64 = torch.float64
POOL_PARAMS = ("proj.weight", "proj.bias", "query")

pool_sizes = dict(B=st.integers(1, 3), T=st.integers(1, 6), D=st.integers(1, 5), hidden=st.integers(1, 5),
                  data_seed=st.integers(0, 2**32 - 1))
model_sizes = dict(B=st.integers(1, 5), T=st.integers(1, 6), V=st.integers(2, 7), E=st.integers(1, 3),
                   H=st.integers(1, 3), C=st.integers(1, 3), data_seed=st.integers(0, 2**32 - 1))


# -- helpers: pooling ------------------------------------------------------------------------
def pool_state_dict(D, hidden, g, dtype=f64, query_scale: float = 2.0) -> dict:
    """proj ~ N(0, 1/D) (tanh not saturated), bias ~ N(0, 0.5^2), a query large enough that the
    weights are far from uniform."""
    return {
        "proj.weight": torch.randn(hidden, D, generator=g, dtype=dtype) / D ** 0.5,
        "proj.bias": 0.5 * torch.randn(hidden, generator=g, dtype=dtype),
        "query": query_scale * torch.randn(hidden, generator=g, dtype=dtype),
    }


def pool_inputs(B, T, D, g, dtype=f64):
    """h (B, T, D) and a mask (B, T) with random holes and at least one real token per row."""
    h = torch.randn(B, T, D, generator=g, dtype=dtype)
    mask = torch.rand(B, T, generator=g) < 0.6
    mask[torch.arange(B), torch.randint(T, (B,), generator=g)] = True
    return h, mask


def build_pooling(candidate, reference, D, hidden, g, dtype=f64, **kw):
    sd = pool_state_dict(D, hidden, g, dtype, **kw)
    cand = candidate.AttentionPooling(D, hidden).to(dtype)
    cand.load_state_dict(sd)
    ref = reference.AttentionPooling(D, hidden).to(dtype)
    ref.load_state_dict(sd)
    return cand, ref, sd


def pool(module, h, mask, dtype=f64):
    """Call the candidate's pooling; check it returns (pooled (B, D), weights (B, T)) of `dtype`."""
    result = module(h, mask)
    if not isinstance(result, tuple) or len(result) != 2:
        raise Mismatch(f"AttentionPooling.forward must return a pair (pooled, weights), got {type(result).__name__}")
    B, T, D = h.shape
    return assert_shape(result[0], (B, D), "pooled", dtype), assert_shape(result[1], (B, T), "weights", dtype)


def pool_spec(sd: dict, h, mask):
    """The definition, one row and one token at a time, in float64 (all-padding rows: zeros)."""
    B, T, D = h.shape
    pooled, weights = torch.zeros(B, D, dtype=f64), torch.zeros(B, T, dtype=f64)
    for b in range(B):
        real = [t for t in range(T) if mask is None or bool(mask[b, t])]
        scores = {t: float(torch.tanh(sd["proj.weight"] @ h[b, t] + sd["proj.bias"]) @ sd["query"]) for t in real}
        if not scores:
            continue
        top = max(scores.values())
        total = sum(torch.exp(torch.tensor(s - top, dtype=f64)) for s in scores.values())
        for t in real:
            weights[b, t] = torch.exp(torch.tensor(scores[t] - top, dtype=f64)) / total
            pooled[b] += weights[b, t] * h[b, t]
    return pooled, weights


def pool_grad_output(B, D, T, mask, g):
    """A random cotangent for [pooled, weights]; none on padded weights (their value is 0)."""
    grad = torch.randn(B, D + T, generator=g, dtype=f64)
    grad[:, D:] *= mask
    return grad


def unprefixed(param_grads: dict, prefix: str) -> dict:
    return {name.removeprefix(prefix): grad for name, grad in param_grads.items()}


# -- helpers: classifier ---------------------------------------------------------------------
def model_state_dict(V, E, H, C, pad_idx, g, dtype=f64) -> dict:
    def w(*shape, scale=1.0):
        return scale * torch.randn(*shape, generator=g, dtype=dtype) / shape[-1] ** 0.5
    sd = {"embedding.weight": torch.randn(V, E, generator=g, dtype=dtype)}
    sd["embedding.weight"][pad_idx] = 0.0
    for suffix in ("", "_reverse"):
        sd[f"lstm.weight_ih_l0{suffix}"] = w(4 * H, E, scale=1.5)
        sd[f"lstm.weight_hh_l0{suffix}"] = w(4 * H, H, scale=1.5)
        sd[f"lstm.bias_ih_l0{suffix}"] = 0.5 * torch.randn(4 * H, generator=g, dtype=dtype)
        sd[f"lstm.bias_hh_l0{suffix}"] = 0.5 * torch.randn(4 * H, generator=g, dtype=dtype)
    sd.update({f"pooling.{k}": v for k, v in pool_state_dict(2 * H, 2 * H, g, dtype, query_scale=3.0).items()})
    sd["head.weight"] = w(C, 2 * H)
    sd["head.bias"] = 0.5 * torch.randn(C, generator=g, dtype=dtype)
    return sd


def model_shapes(V, E, H, C) -> dict:
    shapes = {"embedding.weight": (V, E)}
    for suffix in ("", "_reverse"):
        shapes.update({f"lstm.weight_ih_l0{suffix}": (4 * H, E), f"lstm.weight_hh_l0{suffix}": (4 * H, H),
                       f"lstm.bias_ih_l0{suffix}": (4 * H,), f"lstm.bias_hh_l0{suffix}": (4 * H,)})
    shapes.update({"pooling.proj.weight": (2 * H, 2 * H), "pooling.proj.bias": (2 * H,), "pooling.query": (2 * H,),
                   "head.weight": (C, 2 * H), "head.bias": (C,)})
    return shapes


def build_model(candidate, reference, V, E, H, C, pad_idx, g):
    sd = model_state_dict(V, E, H, C, pad_idx, g)
    cand = candidate.BiLSTMAttentionClassifier(V, E, H, C, pad_idx).to(f64)
    cand.load_state_dict(sd)
    ref = reference.BiLSTMAttentionClassifier(V, E, H, C, pad_idx).to(f64)
    ref.load_state_dict(sd)
    return cand, ref, sd


def model_inputs(B, T, V, pad_idx, g, lengths=None):
    """tokens (B, T) int64 and lengths (B,) in 1..T (unsorted); real tokens are never pad_idx,
    padded slots are pad_idx."""
    if lengths is None:
        lengths = torch.randint(1, T + 1, (B,), generator=g)
    tokens = torch.randint(V - 1, (B, T), generator=g)
    tokens = tokens + (tokens >= pad_idx).long()  # any token but pad_idx
    tokens = tokens.masked_fill(torch.arange(T)[None, :] >= lengths[:, None], pad_idx)
    return tokens, lengths


def classify(module, tokens, lengths, C):
    """Call the candidate's classifier; check it returns (logits (B, C), weights (B, T)) in float64."""
    result = module(tokens, lengths)
    if not isinstance(result, tuple) or len(result) != 2:
        raise Mismatch(f"BiLSTMAttentionClassifier.forward must return a pair (logits, weights), "
                       f"got {type(result).__name__}")
    B, T = tokens.shape
    return assert_shape(result[0], (B, C), "logits", f64), assert_shape(result[1], (B, T), "weights", f64)


def one_sequence_oracle(sd: dict, tokens, lengths, E, H, C):
    """Each sequence ALONE, unpadded, through torch's own nn.LSTM with the same weights, then the
    loop pooling spec and the head: what the classifier means, with no padding anywhere."""
    lstm = nn.LSTM(E, H, batch_first=True, bidirectional=True).to(f64)
    lstm.load_state_dict({k.removeprefix("lstm."): v for k, v in sd.items() if k.startswith("lstm.")})
    pool_sd = {k.removeprefix("pooling."): v for k, v in sd.items() if k.startswith("pooling.")}
    B, T = tokens.shape
    logits, weights = torch.zeros(B, C, dtype=f64), torch.zeros(B, T, dtype=f64)
    with torch.no_grad():
        for b in range(B):
            L = int(lengths[b])
            out, _ = lstm(sd["embedding.weight"][tokens[b, :L]][None])  # (1, L, 2H)
            pooled, w = pool_spec(pool_sd, out, None)
            logits[b] = sd["head.weight"] @ pooled[0] + sd["head.bias"]
            weights[b, :L] = w[0]
    return logits, weights


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**pool_sizes, use_mask=st.booleans())
def test_pooling_shapes_and_dtype(candidate, B, T, D, hidden, data_seed, use_mask):
    g = generator(data_seed)
    m = candidate.AttentionPooling(D, hidden)
    h, mask = pool_inputs(B, T, D, g, dtype=torch.float32)
    pooled, weights = pool(m, h, mask if use_mask else None, dtype=torch.float32)
    assert_finite(pooled, "pooled")
    assert_finite(weights, "weights")


@pytest.mark.category("shape")
@given(**model_sizes)
def test_classifier_shapes_and_dtype(candidate, B, T, V, E, H, C, data_seed):
    g = generator(data_seed)
    pad_idx = int(torch.randint(V, (1,), generator=g))
    m = candidate.BiLSTMAttentionClassifier(V, E, H, C, pad_idx)
    tokens, lengths = model_inputs(B, T, V, pad_idx, g)
    result = m(tokens, lengths)
    if not isinstance(result, tuple) or len(result) != 2:
        raise Mismatch(f"forward must return a pair (logits, weights), got {type(result).__name__}")
    assert_finite(assert_shape(result[0], (B, C), "logits", torch.float32), "logits")
    assert_finite(assert_shape(result[1], (B, T), "weights", torch.float32), "weights")


@pytest.mark.category("shape")
def test_parameters_follow_the_interface(candidate):
    D, hidden = 6, 4
    got = {k: tuple(v.shape) for k, v in candidate.AttentionPooling(D, hidden).state_dict().items()}
    expected = {"proj.weight": (hidden, D), "proj.bias": (hidden,), "query": (hidden,)}
    assert got == expected, f"AttentionPooling({D}, {hidden}).state_dict() (name: shape) should be {expected}; got {got}"
    got = {k: tuple(v.shape) for k, v in candidate.AttentionPooling(D).state_dict().items()}
    expected = {"proj.weight": (D, D), "proj.bias": (D,), "query": (D,)}
    assert got == expected, f"AttentionPooling({D}) (hidden defaults to dim) state_dict should be {expected}; got {got}"
    V, E, H, C, pad_idx = 9, 5, 3, 4, 2
    m = candidate.BiLSTMAttentionClassifier(V, E, H, C, pad_idx)
    sd = m.state_dict()
    got = {k: tuple(v.shape) for k, v in sd.items()}
    expected = model_shapes(V, E, H, C)
    assert got == expected, (f"BiLSTMAttentionClassifier{(V, E, H, C, pad_idx)}.state_dict() (name: shape) should be "
                             f"exactly {expected}; got {got}")
    assert_equal(sd["embedding.weight"][pad_idx], torch.zeros(E),
                 f"embedding row pad_idx={pad_idx} of a fresh model (nn.Embedding(padding_idx=pad_idx) zeroes it)")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(**pool_sizes, use_mask=st.booleans())
def test_pooling_matches_loop_spec(candidate, reference, B, T, D, hidden, data_seed, use_mask):
    g = generator(data_seed)
    cand, _, sd = build_pooling(candidate, reference, D, hidden, g)
    h, mask = pool_inputs(B, T, D, g)
    mask = mask if use_mask else None
    expected_pooled, expected_weights = pool_spec(sd, h, mask)
    pooled, weights = pool(cand, h, mask)
    label = f"(mask={'given' if use_mask else None})"
    assert_close(weights, expected_weights, f"weights vs the loop definition {label}")
    assert_close(pooled, expected_pooled, f"pooled vs the loop definition {label}")


@pytest.mark.category("equivalence")
@given(**pool_sizes, use_mask=st.booleans())
def test_pooling_matches_reference(candidate, reference, B, T, D, hidden, data_seed, use_mask):
    g = generator(data_seed)
    cand, ref, _ = build_pooling(candidate, reference, D, hidden, g)
    h, mask = pool_inputs(B, T, D, g)
    mask = mask if use_mask else None
    with torch.no_grad():
        expected_pooled, expected_weights = ref(h, mask)
    pooled, weights = pool(cand, h, mask)
    assert_close(weights, expected_weights, "weights vs reference")
    assert_close(pooled, expected_pooled, "pooled vs reference")


@pytest.mark.category("equivalence")
@given(**model_sizes)
def test_classifier_matches_reference(candidate, reference, B, T, V, E, H, C, data_seed):
    g = generator(data_seed)
    pad_idx = int(torch.randint(V, (1,), generator=g))
    cand, ref, _ = build_model(candidate, reference, V, E, H, C, pad_idx, g)
    tokens, lengths = model_inputs(B, T, V, pad_idx, g)
    with torch.no_grad():
        expected_logits, expected_weights = ref(tokens, lengths)
    logits, weights = classify(cand, tokens, lengths, C)
    where = f"(lengths={lengths.tolist()}, T={T}, pad_idx={pad_idx})"
    assert_close(weights, expected_weights, f"attention weights vs reference {where}")
    assert_close(logits, expected_logits, f"logits vs reference {where}")


@pytest.mark.category("equivalence")
@given(**model_sizes)
def test_classifier_matches_each_sequence_run_alone(candidate, reference, B, T, V, E, H, C, data_seed):
    """Oracle: torch's nn.LSTM on each sequence alone, with no padding at all. A BiLSTM run over
    the padded batch without packing differs: its backward direction starts on the pad tokens."""
    g = generator(data_seed)
    pad_idx = int(torch.randint(V, (1,), generator=g))
    cand, _, sd = build_model(candidate, reference, V, E, H, C, pad_idx, g)
    tokens, lengths = model_inputs(B, T, V, pad_idx, g)
    expected_logits, expected_weights = one_sequence_oracle(sd, tokens, lengths, E, H, C)
    logits, weights = classify(cand, tokens, lengths, C)
    where = f"(lengths={lengths.tolist()}, T={T})"
    assert_close(weights, expected_weights, f"attention weights vs each sequence run alone through nn.LSTM {where}")
    assert_close(logits, expected_logits, f"logits vs each sequence run alone through nn.LSTM {where}")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(**pool_sizes)
def test_pooling_gradients_match_reference(candidate, reference, B, T, D, hidden, data_seed):
    g = generator(data_seed)
    cand, ref, _ = build_pooling(candidate, reference, D, hidden, g)
    h, mask = pool_inputs(B, T, D, g)
    grad_out = pool_grad_output(B, D, T, mask, g)
    got = candidate.lib.grads(candidate.lib.support("JoinedPooling", cand), [h, mask], {}, grad_out)
    leaf = h.clone().requires_grad_()
    ref.zero_grad(set_to_none=True)
    support.JoinedPooling(ref)(leaf, mask).backward(grad_out)
    if got["input_grads"][0] is None:
        raise Mismatch("gradient w.r.t. h: none reached it (detached, or computed under no_grad?)")
    assert_close(got["input_grads"][0], leaf.grad, "gradient of [pooled, weights] w.r.t. h")
    assert_grads_close(unprefixed(got["param_grads"], "pooling."), ref)


@pytest.mark.category("gradient")
def test_pooling_gradients_match_finite_differences(candidate, seed):
    B, T, D, hidden = 3, 5, 4, 3
    g = generator(seed)
    sd = pool_state_dict(D, hidden, g)
    h, mask = pool_inputs(B, T, D, g)
    grad_out = pool_grad_output(B, D, T, mask, g)
    cand = candidate.AttentionPooling(D, hidden).to(f64)
    cand.load_state_dict(sd)
    got = candidate.lib.grads(candidate.lib.support("JoinedPooling", cand), [h, mask], {}, grad_out)
    analytic = {"h": got["input_grads"][0], **unprefixed(got["param_grads"], "pooling.")}
    point = {"h": h, **sd}
    missing = [n for n in point if analytic.get(n) is None]
    if missing:
        raise Mismatch(f"no gradient reached {missing} (detached, computed under no_grad, or not used?)")

    def forward(p):
        cand.load_state_dict({k: p[k] for k in POOL_PARAMS})
        return torch.cat(pool(cand, p["h"], mask), dim=-1)

    check_directional_derivatives(forward, point, analytic, grad_out, g)


@pytest.mark.category("gradient")
@given(**model_sizes)
def test_classifier_gradients_match_reference(candidate, reference, B, T, V, E, H, C, data_seed):
    g = generator(data_seed)
    pad_idx = int(torch.randint(V, (1,), generator=g))
    cand, ref, _ = build_model(candidate, reference, V, E, H, C, pad_idx, g)
    tokens, lengths = model_inputs(B, T, V, pad_idx, g)
    classify(cand, tokens, lengths, C)  # shapes first, for a clear message
    real = torch.arange(T)[None, :] < lengths[:, None]
    grad_out = torch.randn(B, C + T, generator=g, dtype=f64)
    grad_out[:, C:] *= real  # no cotangent on the (exactly 0) weights of padding
    got = candidate.lib.grads(candidate.lib.support("JoinedClassifier", cand), [tokens, lengths], {}, grad_out)
    ref.zero_grad(set_to_none=True)
    support.JoinedClassifier(ref)(tokens, lengths).backward(grad_out)
    assert_grads_close(unprefixed(got["param_grads"], "model."), ref)


# -- convergence -----------------------------------------------------------------------------
VOCAB, MAX_LEN, EMBED, HIDDEN, CLASSES = 16, 12, 8, 8, 3
TRAIN = dict(steps=40, lr=2e-2, batch_size=64)


@pytest.mark.category("convergence")
def test_learns_a_keyword_task(candidate, reference, seed, artifacts):
    """Class 1 if keyword 1 occurs anywhere in the sentence (length 2..12, padded to 12), class 2 for
    keyword 2, class 0 for neither: the classifier must find one token wherever it is."""
    for run in range(2):
        s = seed * 1000 + run
        g = generator(s)
        x_train, y_train = support.keyword_task(1024, MAX_LEN, VOCAB, g)
        x_test, y_test = support.keyword_task(512, MAX_LEN, VOCAB, g)
        with seeded(s):
            ref_model = support.Packed(reference.BiLSTMAttentionClassifier(VOCAB, EMBED, HIDDEN, CLASSES, 0))
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}
        ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]

        model = candidate.lib.support(
            "packed_classifier", candidate.BiLSTMAttentionClassifier(VOCAB, EMBED, HIDDEN, CLASSES, 0))
        model.load_state_dict(init)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        logits = assert_shape(model(x_test), (512, CLASSES), "logits")
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        with torch.no_grad():
            ref_accuracy = float((ref_model(x_test).argmax(-1) == y_test).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.95, (
            f"after {TRAIN['steps']} Adam steps (data seed {s}) your classifier reaches {accuracy:.1%} held-out "
            f"accuracy on the keyword task; the reference, from the same initial weights, reaches "
            f"{ref_accuracy:.1%}; at least 95% is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(**pool_sizes)
def test_pooling_masked_weights_are_zero_and_rows_sum_to_one(candidate, reference, B, T, D, hidden, data_seed):
    g = generator(data_seed)
    cand, _, _ = build_pooling(candidate, reference, D, hidden, g)
    h, mask = pool_inputs(B, T, D, g)
    _, weights = pool(cand, h, mask)
    assert_equal(weights[~mask], torch.zeros(int((~mask).sum()), dtype=f64),
                 "weights at padded positions (mask False), which must be exactly 0")
    assert_close(weights.sum(-1), torch.ones(B, dtype=f64), "sum of the weights over the tokens of each row")
    if (weights < 0).any():
        raise Mismatch(f"weights: {int((weights < 0).sum())} negative values; min {float(weights.min()):.3g}")


@pytest.mark.category("property")
@given(**pool_sizes, extra=st.integers(1, 3))
def test_pooling_appended_padding_changes_nothing(candidate, reference, B, T, D, hidden, data_seed, extra):
    g = generator(data_seed)
    cand, _, _ = build_pooling(candidate, reference, D, hidden, g)
    h, mask = pool_inputs(B, T, D, g)
    pooled, weights = pool(cand, h, mask)
    junk = torch.randn(B, extra, D, generator=g, dtype=f64) * 3
    padded = pool(cand, torch.cat([h, junk], 1), torch.cat([mask, torch.zeros(B, extra, dtype=torch.bool)], 1))
    assert_close(padded[0], pooled, f"pooled after appending {extra} padded positions (junk values, mask False)")
    assert_close(padded[1][:, :T], weights, f"weights of the first {T} positions after appending {extra} padded ones")


@pytest.mark.category("property")
@given(**model_sizes, extra=st.integers(1, 3))
def test_classifier_padding_invariance(candidate, reference, B, T, V, E, H, C, data_seed, extra):
    """Appending pad columns (lengths unchanged) must not change the logits or the weights, and
    the weights of padding are exactly 0 with rows summing to 1."""
    g = generator(data_seed)
    pad_idx = int(torch.randint(V, (1,), generator=g))
    cand, _, _ = build_model(candidate, reference, V, E, H, C, pad_idx, g)
    tokens, lengths = model_inputs(B, T, V, pad_idx, g)
    logits, weights = classify(cand, tokens, lengths, C)
    longer = torch.cat([tokens, torch.full((B, extra), pad_idx)], dim=1)
    logits_p, weights_p = classify(cand, longer, lengths, C)
    where = f"(lengths={lengths.tolist()}, T={T} -> {T + extra}, pad_idx={pad_idx})"
    assert_close(logits_p, logits, f"logits after appending {extra} pad tokens {where}")
    assert_close(weights_p[:, :T], weights, f"weights of the first {T} positions after appending {extra} pad tokens")
    padding = torch.arange(T + extra)[None, :] >= lengths[:, None]
    assert_equal(weights_p[padding], torch.zeros(int(padding.sum()), dtype=f64),
                 f"classifier weights at padded positions (t >= lengths) {where}, which must be exactly 0")
    assert_close(weights_p.sum(-1), torch.ones(B, dtype=f64), "sum of the classifier's weights over each row")


@pytest.mark.category("property")
def test_classifier_rows_do_not_depend_on_batch_order(candidate, reference, seed):
    """Sort-by-length-then-unsort bugs show here: permuting the batch must permute the outputs."""
    g = generator(seed)
    V, E, H, C, B, T = 7, 3, 3, 3, 6, 7
    cand, _, _ = build_model(candidate, reference, V, E, H, C, 0, g)
    lengths = torch.tensor([2, 7, 1, 5, 3, 6])  # unsorted; the sorting permutation is no involution
    tokens, _ = model_inputs(B, T, V, 0, g, lengths=lengths)
    logits, weights = classify(cand, tokens, lengths, C)
    for k in range(2):
        perm = torch.randperm(B, generator=g)
        logits_p, weights_p = classify(cand, tokens[perm], lengths[perm], C)
        assert_close(logits_p, logits[perm], f"logits of the batch permuted by {perm.tolist()} vs permuted logits")
        assert_close(weights_p, weights[perm], f"weights of the batch permuted by {perm.tolist()} vs permuted weights")


@pytest.mark.category("property")
def test_pooling_single_real_token(candidate, reference, seed):
    """A row with one real token gives it weight 1 and pools exactly its vector (finite, even with
    large scores elsewhere)."""
    g = generator(seed)
    B, T, D, hidden = 4, 6, 3, 4
    cand, _, _ = build_pooling(candidate, reference, D, hidden, g, query_scale=50.0)
    h, _ = pool_inputs(B, T, D, g)
    where = torch.randint(T, (B,), generator=g)
    mask = torch.zeros(B, T, dtype=torch.bool)
    mask[torch.arange(B), where] = True
    pooled, weights = pool(cand, h, mask)
    assert_finite(weights, "weights with one real token per row")
    assert_close(weights, mask.double(), f"weights with one real token per row (at positions {where.tolist()})")
    assert_close(pooled, h[torch.arange(B), where], "pooled with one real token per row (must be that token's h)")


@pytest.mark.category("property")
def test_pooling_all_padding_row_gives_zeros(candidate, reference, seed):
    """The stated behaviour for a row with no real token: weights all 0, pooled all 0, no NaN, and
    finite gradients (other rows unaffected)."""
    g = generator(seed)
    B, T, D, hidden = 3, 5, 4, 3
    cand, ref, _ = build_pooling(candidate, reference, D, hidden, g)
    h, mask = pool_inputs(B, T, D, g)
    mask[1] = False
    pooled, weights = pool(cand, h, mask)
    assert_finite(weights, "weights when row 1 is all padding")
    assert_finite(pooled, "pooled when row 1 is all padding")
    assert_equal(weights[1], torch.zeros(T, dtype=f64), "weights of the all-padding row 1")
    assert_equal(pooled[1], torch.zeros(D, dtype=f64), "pooled vector of the all-padding row 1")
    grad_out = pool_grad_output(B, D, T, mask, g)
    got = candidate.lib.grads(candidate.lib.support("JoinedPooling", cand), [h, mask], {}, grad_out)
    assert_finite(got["input_grads"][0], "gradient w.r.t. h when row 1 is all padding")
    for name, grad in got["param_grads"].items():
        assert_finite(grad, f"gradient w.r.t. {name.removeprefix('pooling.')} when row 1 is all padding")
    leaf = h.clone().requires_grad_()
    support.JoinedPooling(ref)(leaf, mask).backward(grad_out)
    assert_close(got["input_grads"][0], leaf.grad, "gradient w.r.t. h when row 1 is all padding")


@pytest.mark.category("property")
def test_pooling_stable_for_large_scores(candidate, reference, seed):
    """|score| <= sum |q|: with q of order 1e3 the scores are in the thousands and exp() overflows
    in float32 unless the softmax subtracts the row maximum."""
    g = generator(seed)
    B, T, D, hidden = 3, 6, 4, 5
    sd = pool_state_dict(D, hidden, g, dtype=torch.float32, query_scale=1000.0)
    cand = candidate.AttentionPooling(D, hidden)
    cand.load_state_dict(sd)
    ref = reference.AttentionPooling(D, hidden).to(f64)
    ref.load_state_dict({k: v.double() for k, v in sd.items()})
    h, mask = pool_inputs(B, T, D, g, dtype=torch.float32)
    pooled, weights = pool(cand, h, mask, dtype=torch.float32)
    assert_finite(weights, "float32 weights at scores of order 1e3")
    assert_finite(pooled, "float32 pooled at scores of order 1e3")
    with torch.no_grad():
        expected_pooled, expected_weights = ref(h.double(), mask)
    assert_close(weights, expected_weights.float(), "float32 weights at scores ~1e3 vs float64 reference",
                 rtol=1e-3, atol=1e-3)
    assert_close(pooled, expected_pooled.float(), "float32 pooled at scores ~1e3 vs float64 reference",
                 rtol=1e-3, atol=1e-3)


@pytest.mark.category("property")
def test_forward_does_not_modify_its_inputs(candidate, seed):
    g = generator(seed)
    h, mask = pool_inputs(2, 5, 3, g, dtype=torch.float32)
    _, args_after, _ = candidate.AttentionPooling(3, 4).call_checked(h, mask)
    assert_unchanged(args_after[0], h, "h after AttentionPooling.forward (modified in place)")
    assert_unchanged(args_after[1], mask, "mask after AttentionPooling.forward (modified in place)")
    tokens, lengths = model_inputs(3, 5, 6, 0, g)
    _, args_after, _ = candidate.BiLSTMAttentionClassifier(6, 3, 2, 2, 0).call_checked(tokens, lengths)
    assert_unchanged(args_after[0], tokens, "tokens after BiLSTMAttentionClassifier.forward (modified in place)")
    assert_unchanged(args_after[1], lengths, "lengths after BiLSTMAttentionClassifier.forward (modified in place)")
