"""Suite for 09_multihead_attention: a functional multi-head attention with packed in-projection
weights, against the reference, F.multi_head_attention_forward and nn.MultiheadAttention
(batch_first=True) with the same weights; gradients; a cross-attention retrieval task; and the
properties of masked attention.

`candidate` is the submission in a sandboxed worker; `reference` runs here. Mask convention (as
nn.MultiheadAttention): bool True = NOT allowed to attend; float masks are added to the scores.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from grader import training
from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.gradcheck import check_directional_derivatives
from grader.testing import exercise_support, generator, seeded, fit_and_check

support = exercise_support(__file__)
f64 = torch.float64
WEIGHTS = ("in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias")
ARGS = ("query", "key", "value", "num_heads", *WEIGHTS)

# (key_padding_mask kind, attn_mask kind); 3D attn_mask is (B*H, T, S)
MASKS = [("none", "none"), ("bool", "none"), ("float", "none"), ("none", "bool 2D"), ("none", "float 2D"),
         ("bool", "bool 3D"), ("float", "float 3D"), ("bool", "bool 2D"), ("float", "float 2D")]

sizes = dict(
    B=st.integers(1, 3), T=st.integers(1, 5), S=st.integers(1, 6), H=st.integers(1, 3), hd=st.integers(1, 4),
    data_seed=st.integers(0, 2**32 - 1),
)
self_sizes = {name: strategy for name, strategy in sizes.items() if name != "S"}  # self-attention: S = T


# -- helpers ---------------------------------------------------------------------------------
def random_weights(E: int, bias: bool, g: torch.Generator, dtype=f64, scale: float = 1.0) -> dict:
    """Weights ~ N(0, 1/E) (non-saturating logits), biases ~ N(0, 0.5^2) (large enough to matter)."""
    w = {"in_proj_weight": torch.randn(3 * E, E, generator=g, dtype=dtype) * scale / math.sqrt(E),
         "out_proj_weight": torch.randn(E, E, generator=g, dtype=dtype) / math.sqrt(E)}
    w["in_proj_bias"] = 0.5 * torch.randn(3 * E, generator=g, dtype=dtype) if bias else None
    w["out_proj_bias"] = 0.5 * torch.randn(E, generator=g, dtype=dtype) if bias else None
    return w


def random_qkv(B, T, S, E, g, dtype=f64):
    """query (B, T, E) and key, value (B, S, E): cross-attention, another length than the queries."""
    return (torch.randn(B, T, E, generator=g, dtype=dtype), torch.randn(B, S, E, generator=g, dtype=dtype),
            torch.randn(B, S, E, generator=g, dtype=dtype))


def random_mask(kind: str, shape: tuple, g: torch.Generator, dtype=f64, keep_first_key: bool = False):
    """None, a bool mask (True = not allowed, ~30%), or a float mask (N(0, 2^2), ~20% -inf)."""
    if kind == "none":
        return None
    if kind.startswith("bool"):
        mask = torch.rand(shape, generator=g) < 0.3
        if keep_first_key:
            mask[..., 0] = False
        return mask
    mask = 2.0 * torch.randn(shape, generator=g, dtype=dtype)
    mask = mask.masked_fill(torch.rand(shape, generator=g) < 0.2, float("-inf"))
    if keep_first_key:
        mask[..., 0] = mask[..., 0].clamp(min=-5.0)
    return mask


def random_masks(case, B, H, T, S, g, dtype=f64, keep_first_key=False) -> dict:
    """The keyword arguments key_padding_mask and attn_mask for a case of MASKS."""
    kpm_kind, attn_kind = case
    attn_shape = (B * H, T, S) if attn_kind.endswith("3D") else (T, S)
    return {"key_padding_mask": random_mask(kpm_kind, (B, S), g, dtype, keep_first_key),
            "attn_mask": random_mask(attn_kind, attn_shape, g, dtype, keep_first_key)}


def allowed_keys(B, H, T, S, key_padding_mask=None, attn_mask=None) -> torch.Tensor:
    """Bool (B, H, T, S): key j gets a finite score from query i in head h."""
    allowed = torch.ones(B, H, T, S, dtype=torch.bool)
    if attn_mask is not None:
        ok = ~attn_mask if attn_mask.dtype == torch.bool else attn_mask > float("-inf")
        allowed = allowed & (ok if ok.dim() == 2 else ok.view(B, H, T, S))
    if key_padding_mask is not None:
        ok = ~key_padding_mask if key_padding_mask.dtype == torch.bool else key_padding_mask > float("-inf")
        allowed = allowed & ok[:, None, None, :]
    return allowed


def valid_queries(B, H, T, S, masks) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, 1) queries with a key in every head (their output is defined) and (B, H, T, 1) per head."""
    has_key = allowed_keys(B, H, T, S, **masks).any(dim=-1)  # (B, H, T)
    return has_key.all(dim=1)[..., None], has_key[..., None]


def attend(fn, *args, **kwargs):
    """Call a multi_head_attention (the candidate's or another) and check it returns a pair."""
    result = fn(*args, **kwargs)
    if not isinstance(result, tuple) or len(result) != 2:
        raise Mismatch(f"multi_head_attention must return a tuple (output, weights), got {type(result).__name__}")
    return result


def call(fn, q, k, v, H, w, **kwargs):
    return attend(fn, q, k, v, H, *(w[n] for n in WEIGHTS), **kwargs)


def oracle(q, k, v, H, w, key_padding_mask=None, attn_mask=None, need_weights=True, average_attn_weights=True):
    """F.multi_head_attention_forward (sequence first) on batch-first inputs."""
    E = q.shape[-1]
    with torch.no_grad():
        out, weights = F.multi_head_attention_forward(
            q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), E, H, w["in_proj_weight"], w["in_proj_bias"],
            None, None, False, 0.0, w["out_proj_weight"], w["out_proj_bias"], training=False,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            average_attn_weights=average_attn_weights)
    return out.transpose(0, 1), weights


def check_weights(got, expected, valid, valid_per_head, average: bool, name: str):
    assert_close(got, expected, name, where=valid if average else valid_per_head)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**sizes, bias=st.booleans(), case=st.sampled_from(MASKS), need_weights=st.booleans(),
       average=st.booleans())
def test_output_and_weights_shapes(candidate, B, T, S, H, hd, data_seed, bias, case, need_weights, average):
    g = generator(data_seed)
    E = H * hd
    w = random_weights(E, bias, g, dtype=torch.float32)
    q, k, v = random_qkv(B, T, S, E, g, dtype=torch.float32)
    masks = random_masks(case, B, H, T, S, g, dtype=torch.float32, keep_first_key=True)
    out, weights = call(candidate.multi_head_attention, q, k, v, H, w, **masks, need_weights=need_weights,
                        average_attn_weights=average)
    assert_shape(out, (B, T, E), "output", dtype=torch.float32)
    assert_finite(out, "output")
    if not need_weights:
        assert weights is None, f"with need_weights=False the weights must be None, got {type(weights).__name__}"
        return
    expected = (B, T, S) if average else (B, H, T, S)
    assert_shape(weights, expected, f"attention weights (average_attn_weights={average})", dtype=torch.float32)


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@pytest.mark.parametrize("case", MASKS, ids=lambda c: f"kpm={c[0]},attn={c[1]}")
@given(**sizes, bias=st.booleans(), average=st.booleans())
def test_matches_torch_functional(candidate, case, B, T, S, H, hd, data_seed, bias, average):
    g = generator(data_seed)
    E = H * hd
    w = random_weights(E, bias, g)
    q, k, v = random_qkv(B, T, S, E, g)
    masks = random_masks(case, B, H, T, S, g)
    valid, valid_per_head = valid_queries(B, H, T, S, masks)
    expected, expected_weights = oracle(q, k, v, H, w, **masks, average_attn_weights=average)
    out, weights = call(candidate.multi_head_attention, q, k, v, H, w, **masks, average_attn_weights=average)
    assert_close(out, expected, "output vs F.multi_head_attention_forward", where=valid)
    check_weights(weights, expected_weights, valid, valid_per_head, average,
                  f"attention weights (average_attn_weights={average}) vs F.multi_head_attention_forward")


@pytest.mark.category("equivalence")
@given(**sizes, bias=st.booleans(), case=st.sampled_from(MASKS), need_weights=st.booleans(),
       average=st.booleans())
def test_matches_reference(candidate, reference, B, T, S, H, hd, data_seed, bias, case, need_weights, average):
    g = generator(data_seed)
    E = H * hd
    w = random_weights(E, bias, g)
    q, k, v = random_qkv(B, T, S, E, g)
    masks = random_masks(case, B, H, T, S, g)
    valid, valid_per_head = valid_queries(B, H, T, S, masks)
    kwargs = dict(**masks, need_weights=need_weights, average_attn_weights=average)
    expected, expected_weights = call(reference.multi_head_attention, q, k, v, H, w, **kwargs)
    out, weights = call(candidate.multi_head_attention, q, k, v, H, w, **kwargs)
    assert_close(out, expected, "output vs reference", where=valid)
    if need_weights:
        check_weights(weights, expected_weights, valid, valid_per_head, average,
                      f"attention weights (average_attn_weights={average}) vs reference")


@pytest.mark.category("equivalence")
@given(**sizes, case=st.sampled_from(MASKS), average=st.booleans())
def test_matches_nn_multihead_attention(candidate, B, T, S, H, hd, data_seed, case, average):
    """The weights of an nn.MultiheadAttention(batch_first=True) module, passed to your function."""
    g = generator(data_seed)
    E = H * hd
    with seeded(data_seed):
        mha = nn.MultiheadAttention(E, H, batch_first=True, dtype=f64).eval()
    with torch.no_grad():  # its biases start at zero: make them matter
        mha.in_proj_bias.copy_(0.5 * torch.randn(3 * E, generator=g, dtype=f64))
        mha.out_proj.bias.copy_(0.5 * torch.randn(E, generator=g, dtype=f64))
    q, k, v = random_qkv(B, T, S, E, g)
    masks = random_masks(case, B, H, T, S, g)
    valid, valid_per_head = valid_queries(B, H, T, S, masks)
    with torch.no_grad():
        expected, expected_weights = mha(q, k, v, **masks, average_attn_weights=average)
    out, weights = attend(candidate.multi_head_attention, q, k, v, H, mha.in_proj_weight, mha.in_proj_bias,
                          mha.out_proj.weight, mha.out_proj.bias, **masks, average_attn_weights=average)
    assert_close(out, expected, "output vs nn.MultiheadAttention(batch_first=True)", where=valid)
    check_weights(weights, expected_weights, valid, valid_per_head, average,
                  f"attention weights (average_attn_weights={average}) vs nn.MultiheadAttention")


# -- gradient --------------------------------------------------------------------------------
def reference_grads(reference, args: list, kwargs: dict, grad_output: torch.Tensor) -> list:
    leaves = [a.clone().requires_grad_() if isinstance(a, torch.Tensor) else a for a in args]
    out, _ = reference.multi_head_attention(*leaves, **kwargs)
    out.backward(grad_output)
    return [a.grad if isinstance(a, torch.Tensor) else None for a in leaves]


@pytest.mark.category("gradient")
@pytest.mark.parametrize("case", [("none", "none"), ("bool", "bool 3D"), ("float", "float 2D")],
                         ids=lambda c: f"kpm={c[0]},attn={c[1]}")
@given(**sizes, bias=st.booleans())
def test_gradients_match_reference(candidate, reference, case, B, T, S, H, hd, data_seed, bias):
    g = generator(data_seed)
    E = H * hd
    w = random_weights(E, bias, g)
    args = [*random_qkv(B, T, S, E, g), H, *(w[n] for n in WEIGHTS)]
    kwargs = dict(**random_masks(case, B, H, T, S, g, keep_first_key=True), need_weights=False)
    grad_out = torch.randn(B, T, E, generator=g, dtype=f64)
    got = candidate.lib.grads(candidate.lib.support("output_only", candidate.multi_head_attention), args, kwargs,
                              grad_out)
    expected = reference_grads(reference, args, kwargs, grad_out)
    for name, grad, want in zip(ARGS, got["input_grads"], expected):
        if want is None:
            continue
        if grad is None:
            raise Mismatch(f"gradient w.r.t. {name}: none reached it (detached, or computed under no_grad?)")
        assert_close(grad, want, f"gradient w.r.t. {name}")


@pytest.mark.category("gradient")
@pytest.mark.parametrize("case", [("none", "none"), ("float", "float 3D")], ids=lambda c: f"kpm={c[0]},attn={c[1]}")
def test_gradients_match_finite_differences(candidate, seed, case):
    B, T, S, H, hd = 2, 3, 4, 2, 3
    g = generator(seed)
    E = H * hd
    w = random_weights(E, True, g)
    q, k, v = random_qkv(B, T, S, E, g)
    point = {"query": q, "key": k, "value": v, **w}
    masks = random_masks(case, B, H, T, S, g, keep_first_key=True)
    grad_out = torch.randn(B, T, E, generator=g, dtype=f64)

    def forward(p):
        return call(candidate.multi_head_attention, p["query"], p["key"], p["value"], H, p, **masks,
                    need_weights=False)[0]

    got = candidate.lib.grads(candidate.lib.support("output_only", candidate.multi_head_attention),
                              [q, k, v, H, *(w[n] for n in WEIGHTS)], masks, grad_out)
    analytic = dict(zip(ARGS, got["input_grads"]))
    missing = [n for n in point if analytic.get(n) is None]
    if missing:
        raise Mismatch(f"no gradient reached {missing} (detached, computed under no_grad, or not used?)")
    check_directional_derivatives(forward, point, analytic, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
VOCAB, QUERIES, SLOTS, D_MODEL, HEADS = 8, 4, 6, 16, 2
TRAIN = dict(steps=60, lr=2e-2, batch_size=64)


@pytest.mark.category("convergence")
def test_learns_key_value_retrieval(candidate, reference, seed, artifacts):
    """Queries must fetch the value stored under their key in a padded memory of 2..6 slots:
    impossible without cross-attention (12.5%); attending to padding slots, whose random keys
    often repeat a real one, tops out near 90%."""
    for run in range(2):
        s = seed * 1000 + run
        g = generator(s)
        x_train, y_train = support.retrieval_task(1024, QUERIES, SLOTS, VOCAB, g)
        x_test, y_test = support.retrieval_task(512, QUERIES, SLOTS, VOCAB, g)
        with seeded(s):
            ref_model = support.Retriever(reference.multi_head_attention, VOCAB, D_MODEL, HEADS, QUERIES, SLOTS)
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}
        ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]

        model = candidate.lib.support("Retriever", candidate.multi_head_attention, VOCAB, D_MODEL, HEADS,
                                      QUERIES, SLOTS)
        model.load_state_dict(init)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        logits = assert_shape(model(x_test), (512, QUERIES, VOCAB), "logits")
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        with torch.no_grad():
            ref_accuracy = float((ref_model(x_test).argmax(-1) == y_test).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.97, (
            f"after {TRAIN['steps']} Adam steps (data seed {s}) a model built on your attention reaches "
            f"{accuracy:.1%} held-out accuracy on key-value retrieval from a padded memory; the reference, "
            f"from the same initial weights, reaches {ref_accuracy:.1%}; at least 97% is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(**sizes, case=st.sampled_from([("bool", "bool 3D"), ("float", "float 2D"), ("bool", "bool 2D")]))
def test_masked_keys_get_exactly_zero_weight(candidate, B, T, S, H, hd, data_seed, case):
    """Per-head weights: 0 exactly where a mask says -inf / True, rows of queries with a key sum to 1."""
    g = generator(data_seed)
    E = H * hd
    w = random_weights(E, True, g)
    q, k, v = random_qkv(B, T, S, E, g)
    masks = random_masks(case, B, H, T, S, g)
    _, valid_per_head = valid_queries(B, H, T, S, masks)
    _, weights = call(candidate.multi_head_attention, q, k, v, H, w, **masks, average_attn_weights=False)
    weights = assert_shape(weights, (B, H, T, S), "per-head attention weights", dtype=f64)
    masked = ~allowed_keys(B, H, T, S, **masks) & valid_per_head
    assert_equal(torch.where(masked, weights, 0.0), torch.zeros_like(weights),
                 "per-head weights of masked keys (must be 0)")
    assert_close(weights.sum(-1, keepdim=True), torch.ones(B, H, T, 1, dtype=f64),
                 "per-head weights summed over keys", where=valid_per_head)


@pytest.mark.category("property")
@given(**self_sizes, form=st.sampled_from(["bool", "float"]), data=st.data())
def test_causal_outputs_ignore_future_tokens(candidate, B, T, H, hd, data_seed, form, data):
    """Self-attention (query = key = value = x) with a causal attn_mask in bool or float form."""
    g = generator(data_seed)
    E = H * hd
    w = random_weights(E, True, g)
    x = torch.randn(B, T, E, generator=g, dtype=f64)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)  # True = may NOT attend
    mask = future if form == "bool" else torch.zeros(T, T, dtype=f64).masked_fill(future, float("-inf"))
    t = data.draw(st.integers(0, T - 1), label="last unchanged position t")
    x_changed = x.clone()
    x_changed[:, t + 1:] = torch.randn(B, T - t - 1, E, generator=g, dtype=f64)
    before, w_before = call(candidate.multi_head_attention, x, x, x, H, w, attn_mask=mask)
    after, w_after = call(candidate.multi_head_attention, x_changed, x_changed, x_changed, H, w, attn_mask=mask)
    before, after = (assert_shape(y, (B, T, E), "output") for y in (before, after))
    w_before, w_after = (assert_shape(y, (B, T, T), "weights") for y in (w_before, w_after))
    assert_finite(before, f"output with a {form} causal mask (every query may see itself)")
    assert_close(after[:, :t + 1], before[:, :t + 1],
                 f"outputs at positions <= {t} after changing only positions > {t} ({form} causal mask)")
    assert_close(w_after[:, :t + 1], w_before[:, :t + 1],
                 f"weights of queries <= {t} after changing only positions > {t} ({form} causal mask)")


@pytest.mark.category("property")
@given(**sizes, form=st.sampled_from(["bool", "float"]), extra=st.integers(1, 3))
def test_appended_padding_changes_nothing(candidate, B, T, S, H, hd, data_seed, form, extra):
    """Appending `extra` padded key/value slots (random contents, masked in key_padding_mask)
    leaves the output equal and gives the new slots weight 0."""
    g = generator(data_seed)
    E = H * hd
    w = random_weights(E, True, g)
    q, k, v = random_qkv(B, T, S, E, g)
    kpm = random_mask(form, (B, S), g, keep_first_key=True)
    attn = random_mask(form, (T, S), g, keep_first_key=True)
    pad = torch.ones(B, extra, dtype=torch.bool)
    kpm_long = torch.cat([kpm, pad if form == "bool" else torch.full((B, extra), float("-inf"), dtype=f64)], 1)
    attn_long = torch.cat([attn, random_mask(form, (T, extra), g)], 1)
    k_long = torch.cat([k, torch.randn(B, extra, E, generator=g, dtype=f64)], 1)
    v_long = torch.cat([v, 10 * torch.randn(B, extra, E, generator=g, dtype=f64)], 1)
    before, w_before = call(candidate.multi_head_attention, q, k, v, H, w, key_padding_mask=kpm, attn_mask=attn)
    after, w_after = call(candidate.multi_head_attention, q, k_long, v_long, H, w, key_padding_mask=kpm_long,
                          attn_mask=attn_long)
    valid, _ = valid_queries(B, H, T, S, {"key_padding_mask": kpm, "attn_mask": attn})
    w_after = assert_shape(w_after, (B, T, S + extra), f"weights with {extra} padding slots appended")
    assert_finite(before, "output (every query has a key)")
    assert_close(after, assert_shape(before, (B, T, E), "output"),
                 f"output after appending {extra} padded key/value slots ({form} masks)", where=valid)
    assert_close(w_after[..., :S], w_before, f"weights of the original keys after appending {extra} padded slots",
                 where=valid)
    assert_equal(w_after[..., S:], torch.zeros(B, T, extra, dtype=f64), "weights of the appended padding slots")


@pytest.mark.category("property")
@given(**sizes, case=st.sampled_from([("bool", "bool 2D"), ("float", "float 3D")]))
def test_key_value_order_does_not_matter(candidate, B, T, S, H, hd, data_seed, case):
    """Permuting the key/value slots (and the masks' key columns) keeps the output and permutes
    the weights' columns the same way."""
    g = generator(data_seed)
    E = H * hd
    w = random_weights(E, True, g)
    q, k, v = random_qkv(B, T, S, E, g)
    masks = random_masks(case, B, H, T, S, g, keep_first_key=True)
    perm = torch.randperm(S, generator=g)
    permuted = {name: m[..., perm] for name, m in masks.items()}
    before, w_before = call(candidate.multi_head_attention, q, k, v, H, w, **masks)
    after, w_after = call(candidate.multi_head_attention, q, k[:, perm], v[:, perm], H, w, **permuted)
    name = f"keys permuted by {perm.tolist()}"
    assert_finite(before, "output (every query has a key)")
    assert_close(after, assert_shape(before, (B, T, E), "output"), f"output for {name}")
    assert_close(w_after, assert_shape(w_before, (B, T, S), "weights")[..., perm], f"weights for {name}")


@pytest.mark.category("property")
@given(**sizes, case=st.sampled_from([("bool", "bool 2D"), ("bool", "bool 3D")]))
def test_bool_and_float_masks_agree(candidate, B, T, S, H, hd, data_seed, case):
    """A bool mask and its float form (-inf where True, 0 elsewhere) give the same attention."""
    g = generator(data_seed)
    E = H * hd
    w = random_weights(E, True, g)
    q, k, v = random_qkv(B, T, S, E, g)
    masks = random_masks(case, B, H, T, S, g, keep_first_key=True)
    floats = {n: torch.zeros(m.shape, dtype=f64).masked_fill(m, float("-inf")) for n, m in masks.items()}
    out_bool, w_bool = call(candidate.multi_head_attention, q, k, v, H, w, **masks)
    out_float, w_float = call(candidate.multi_head_attention, q, k, v, H, w, **floats)
    assert_finite(out_bool, "output with bool masks (every query has a key)")
    assert_close(out_float, assert_shape(out_bool, (B, T, E), "output with bool masks"),
                 "output with float (-inf/0) masks vs the same masks as bool")
    assert_close(w_float, assert_shape(w_bool, (B, T, S), "weights with bool masks"),
                 "weights with float (-inf/0) masks vs the same masks as bool")


@pytest.mark.category("property")
def test_stable_at_large_logits(candidate, reference, seed):
    """Logits in the thousands overflow exp() unless the softmax subtracts the row maximum."""
    g = generator(seed)
    B, T, S, H, hd = 2, 4, 5, 2, 4
    E = H * hd
    w = random_weights(E, True, g, dtype=torch.float32)
    w["in_proj_weight"] = w["in_proj_weight"] * 40.0
    q, k, v = random_qkv(B, T, S, E, g, dtype=torch.float32)
    kpm = torch.zeros(B, S, dtype=torch.bool)
    kpm[:, -1] = True
    out, weights = call(candidate.multi_head_attention, q, k, v, H, w, key_padding_mask=kpm)
    assert_finite(out, "float32 output at logits of order 1e3")
    with torch.no_grad():
        expected, expected_weights = call(reference.multi_head_attention, q.double(), k.double(), v.double(), H,
                                          {n: t.double() for n, t in w.items()}, key_padding_mask=kpm)
    assert_close(out, expected.float(), "float32 output at logits of order 1e3 vs float64 reference",
                 rtol=1e-3, atol=1e-3)
    assert_close(weights, expected_weights.float(), "float32 weights at logits of order 1e3 vs float64 reference",
                 rtol=1e-3, atol=1e-3)


@pytest.mark.category("property")
def test_does_not_modify_its_inputs(candidate, seed):
    g = generator(seed)
    B, T, S, H, E = 2, 3, 4, 2, 6
    w = random_weights(E, True, g, dtype=torch.float32)
    q, k, v = random_qkv(B, T, S, E, g, dtype=torch.float32)
    args = [q, k, v, H, *(w[n] for n in WEIGHTS)]
    for case in [("bool", "bool 3D"), ("float", "float 2D")]:
        masks = random_masks(case, B, H, T, S, g, dtype=torch.float32, keep_first_key=True)
        _, args_after, kwargs_after = candidate.multi_head_attention.call_checked(*args, **masks)
        for name, before, after in zip(ARGS, args, args_after):
            if isinstance(before, torch.Tensor):
                assert_unchanged(after, before, f"{name} after the call (modified in place)")
        for name, mask in masks.items():
            assert_unchanged(kwargs_after[name], mask, f"{name} ({case}) after the call (modified in place)")
