"""Suite for 17_self_attention: SelfAttention against the reference, nn.MultiheadAttention and
F.scaled_dot_product_attention, plus gradients, a learning task and the properties of attention.

`candidate` is the submission in a sandboxed worker; `reference` runs here. Mask convention
(as nn.MultiheadAttention): key_padding_mask True = padding, never attended to.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from grader import tasks, training
from grader.compare import assert_close, assert_finite, assert_shape, assert_unchanged
from grader.testing import assert_gradients_match, check_finite_differences, generator, seeded, fit_and_check

MASKS = ["none", "causal", "padding", "causal+padding"]
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")
f64 = torch.float64

sizes = dict(
    B=st.integers(1, 3), T=st.integers(1, 6), H=st.integers(1, 4), hd=st.integers(1, 4),
    data_seed=st.integers(0, 2**32 - 1),
)


# -- helpers ---------------------------------------------------------------------------------
def random_state_dict(d_model: int, bias: bool, g: torch.Generator, dtype=f64, scale: float = 1.0) -> dict:
    """Weights ~ N(0, 1/d) (non-saturating logits), biases ~ N(0, 0.5^2) (large enough to matter)."""
    sd = {}
    for name in PROJECTIONS:
        sd[f"{name}.weight"] = torch.randn(d_model, d_model, generator=g, dtype=dtype) * scale / math.sqrt(d_model)
        if bias:
            sd[f"{name}.bias"] = 0.5 * torch.randn(d_model, generator=g, dtype=dtype)
    return sd


def build(candidate, reference, d_model, heads, bias, g, dtype=f64, scale=1.0):
    """The candidate and the reference module, loaded with the same random weights."""
    sd = random_state_dict(d_model, bias, g, dtype, scale)
    ref = reference.SelfAttention(d_model, heads, bias=bias).to(dtype)
    ref.load_state_dict(sd)
    cand = candidate.SelfAttention(d_model, heads, bias=bias).to(dtype)
    cand.load_state_dict(sd)
    return cand, ref, sd


def random_inputs(B, T, d_model, mask, g, dtype=f64):
    """x (B, T, C), a random key padding mask (B, T) or None, and the causal flag."""
    x = torch.randn(B, T, d_model, generator=g, dtype=dtype)
    kpm = None
    if "padding" in mask:
        kpm = torch.rand(B, T, generator=g) < 0.4
        kpm[0, 0] = False  # some query always has a key, so every example compares something
    return x, kpm, mask.startswith("causal")


def queries_with_keys(B, T, kpm, causal) -> torch.Tensor:
    """(B, T, 1) bool: queries that may attend to at least one key (others have no defined output)."""
    allowed = torch.ones(T, T, dtype=torch.bool)
    if causal:
        allowed = allowed.tril()
    allowed = allowed.expand(B, T, T)
    if kpm is not None:
        allowed = allowed & ~kpm[:, None, :]
    return allowed.any(-1)[..., None]


def mha_oracle(sd: dict, d_model: int, heads: int, bias: bool) -> nn.MultiheadAttention:
    """torch's own attention with the same weights (q, k, v stacked into in_proj)."""
    mha = nn.MultiheadAttention(d_model, heads, bias=bias, batch_first=True, dtype=f64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([sd[f"{p}.weight"] for p in PROJECTIONS[:3]]))
        mha.out_proj.weight.copy_(sd["out_proj.weight"])
        if bias:
            mha.in_proj_bias.copy_(torch.cat([sd[f"{p}.bias"] for p in PROJECTIONS[:3]]))
            mha.out_proj.bias.copy_(sd["out_proj.bias"])
    return mha.eval()


def sdpa_oracle(sd: dict, x, heads, kpm, causal):
    """The same attention through F.scaled_dot_product_attention (its bool mask: True = may attend)."""
    B, T, C = x.shape

    def proj(name, t):
        return F.linear(t, sd[f"{name}.weight"], sd.get(f"{name}.bias"))

    q, k, v = (proj(p, x).view(B, T, heads, C // heads).transpose(1, 2) for p in PROJECTIONS[:3])  # (B, H, T, hd)
    allowed = torch.ones(T, T, dtype=torch.bool).tril() if causal else torch.ones(T, T, dtype=torch.bool)
    allowed = allowed.expand(B, 1, T, T)
    if kpm is not None:
        allowed = allowed & ~kpm[:, None, None, :]
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # (B, H, T, hd)
    return proj("out_proj", y.transpose(1, 2).reshape(B, T, C))


def assert_tensor_like(y, x):
    """y must be a tensor with x's shape and dtype."""
    return assert_shape(y, x.shape, "output", dtype=x.dtype)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**sizes, bias=st.booleans(), mask=st.sampled_from(MASKS))
def test_output_shape_and_dtype(candidate, B, T, H, hd, data_seed, bias, mask):
    g = generator(data_seed)
    m = candidate.SelfAttention(H * hd, H, bias=bias)
    x, kpm, causal = random_inputs(B, T, H * hd, mask, g, dtype=torch.float32)
    y = m(x, key_padding_mask=kpm, causal=causal)
    assert_shape(y, (B, T, H * hd), "output", dtype=torch.float32)
    assert_finite(y, "output")


@pytest.mark.category("shape")
@pytest.mark.parametrize("bias", [True, False])
def test_parameters_follow_the_interface(candidate, bias):
    d_model, heads = 12, 3
    m = candidate.SelfAttention(d_model, heads, bias=bias)
    got = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    expected = {f"{p}.weight": (d_model, d_model) for p in PROJECTIONS}
    if bias:
        expected.update({f"{p}.bias": (d_model,) for p in PROJECTIONS})
    assert got == expected, (f"state_dict (name: shape) should be exactly {expected} for d_model={d_model}, "
                             f"bias={bias}; got {got}")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@pytest.mark.parametrize("mask", MASKS)
@given(**sizes, bias=st.booleans())
def test_matches_reference(candidate, reference, mask, B, T, H, hd, data_seed, bias):
    g = generator(data_seed)
    cand, ref, _ = build(candidate, reference, H * hd, H, bias, g)
    x, kpm, causal = random_inputs(B, T, H * hd, mask, g)
    expected = ref(x, key_padding_mask=kpm, causal=causal)
    got = cand(x, key_padding_mask=kpm, causal=causal)
    assert_close(got, expected, "output vs reference", where=queries_with_keys(B, T, kpm, causal))


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("mask", MASKS)
@given(**sizes, bias=st.booleans())
def test_matches_torch_multihead_attention(candidate, mask, B, T, H, hd, data_seed, bias):
    g = generator(data_seed)
    d_model = H * hd
    sd = random_state_dict(d_model, bias, g)
    cand = candidate.SelfAttention(d_model, H, bias=bias).to(f64)
    cand.load_state_dict(sd)
    x, kpm, causal = random_inputs(B, T, d_model, mask, g)
    attn_mask = torch.ones(T, T, dtype=torch.bool).triu(1) if causal else None  # True = may NOT attend
    with torch.no_grad():
        expected, _ = mha_oracle(sd, d_model, H, bias)(x, x, x, key_padding_mask=kpm, attn_mask=attn_mask,
                                                       need_weights=False)
    got = cand(x, key_padding_mask=kpm, causal=causal)
    assert_close(got, expected, "output vs nn.MultiheadAttention", where=queries_with_keys(B, T, kpm, causal))


@pytest.mark.category("equivalence")
@given(**sizes, bias=st.booleans(), mask=st.sampled_from(MASKS))
def test_matches_scaled_dot_product_attention(candidate, B, T, H, hd, data_seed, bias, mask):
    g = generator(data_seed)
    sd = random_state_dict(H * hd, bias, g)
    cand = candidate.SelfAttention(H * hd, H, bias=bias).to(f64)
    cand.load_state_dict(sd)
    x, kpm, causal = random_inputs(B, T, H * hd, mask, g)
    expected = sdpa_oracle(sd, x, H, kpm, causal)
    got = cand(x, key_padding_mask=kpm, causal=causal)
    assert_close(got, expected, "output vs F.scaled_dot_product_attention", where=queries_with_keys(B, T, kpm, causal))


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@pytest.mark.parametrize("mask", ["none", "causal+padding"])
@given(**sizes, bias=st.booleans())
def test_gradients_match_reference(candidate, reference, mask, B, T, H, hd, data_seed, bias):
    g = generator(data_seed)
    cand, ref, _ = build(candidate, reference, H * hd, H, bias, g)
    x, kpm, causal = random_inputs(B, T, H * hd, mask, g)
    # queries without keys have no defined output, so no gradient flows from them
    grad_out = torch.randn(B, T, H * hd, generator=g, dtype=f64) * queries_with_keys(B, T, kpm, causal)
    kwargs = {"key_padding_mask": kpm, "causal": causal}
    assert_gradients_match(candidate.lib.grads(cand, [x], kwargs, grad_out), ref, x, kwargs, grad_out)


@pytest.mark.category("gradient")
@pytest.mark.parametrize("mask", ["none", "causal+padding"])
def test_gradients_match_finite_differences(candidate, seed, mask):
    B, T, H, hd = 2, 4, 2, 3
    g = generator(seed)
    sd = random_state_dict(H * hd, True, g)
    cand = candidate.SelfAttention(H * hd, H).to(f64)
    x, kpm, causal = random_inputs(B, T, H * hd, mask, g)
    grad_out = torch.randn(B, T, H * hd, generator=g, dtype=f64) * queries_with_keys(B, T, kpm, causal)
    check_finite_differences(candidate, cand, sd, x, {"key_padding_mask": kpm, "causal": causal}, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
VOCAB, LENGTH, D_MODEL, HEADS = 8, 6, 16, 2
TRAIN = dict(steps=150, lr=1e-2, batch_size=32)


@pytest.mark.category("convergence")
def test_learns_a_task_that_needs_attention(candidate, reference, seed, artifacts):
    """Every position must output the sequence's first token: without attention a position
    sees only itself (12% accuracy); uniform averaging reaches about 37%."""
    for run in range(3):
        s = seed * 1000 + run
        g = generator(s)
        x_train, y_train = tasks.first_token_task(512, LENGTH, VOCAB, g)
        x_test, y_test = tasks.first_token_task(256, LENGTH, VOCAB, g)
        with seeded(s):
            ref_model = tasks.TokenTagger(reference.SelfAttention(D_MODEL, HEADS), VOCAB, D_MODEL, LENGTH, VOCAB)
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}
        ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]

        model = candidate.lib.build("TokenTagger", candidate.SelfAttention(D_MODEL, HEADS), VOCAB, D_MODEL, LENGTH, VOCAB)
        model.load_state_dict(init)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        logits = assert_shape(model(x_test), (256, LENGTH, VOCAB), "logits")
        accuracy = float((logits.argmax(-1)[:, 1:] == y_test[:, 1:]).double().mean())
        with torch.no_grad():
            ref_accuracy = float((ref_model(x_test).argmax(-1)[:, 1:] == y_test[:, 1:]).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.9, (
            f"after {TRAIN['steps']} Adam steps (data seed {s}) your attention reaches {accuracy:.1%} held-out "
            f"accuracy on the copy-the-first-token task; the reference, from the same initial weights, "
            f"reaches {ref_accuracy:.1%}; at least 90% is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(**sizes)
def test_permutation_equivariance(candidate, reference, B, T, H, hd, data_seed):
    g = generator(data_seed)
    cand, _, _ = build(candidate, reference, H * hd, H, True, g)
    x = torch.randn(B, T, H * hd, generator=g, dtype=f64)
    perm = torch.randperm(T, generator=g)
    y = assert_tensor_like(cand(x), x)
    assert_close(cand(x[:, perm]), y[:, perm], f"output for tokens permuted by {perm.tolist()} vs permuted output")


@pytest.mark.category("property")
@given(**sizes, data=st.data())
def test_causal_outputs_ignore_future_tokens(candidate, reference, B, T, H, hd, data_seed, data):
    g = generator(data_seed)
    cand, _, _ = build(candidate, reference, H * hd, H, True, g)
    x = torch.randn(B, T, H * hd, generator=g, dtype=f64)
    t = data.draw(st.integers(0, T - 1), label="last unchanged position t")
    x_changed = x.clone()
    x_changed[:, t + 1:] = torch.randn(B, T - t - 1, H * hd, generator=g, dtype=f64)
    before = assert_tensor_like(cand(x, causal=True), x)
    after = assert_tensor_like(cand(x_changed, causal=True), x)
    assert_close(after[:, :t + 1], before[:, :t + 1], f"causal outputs at positions <= {t} after changing "
                 f"only positions > {t} (the future leaks in)")


@pytest.mark.category("property")
@given(**sizes, causal=st.booleans())
def test_padding_keys_are_ignored(candidate, reference, B, T, H, hd, data_seed, causal):
    g = generator(data_seed)
    cand, _, _ = build(candidate, reference, H * hd, H, True, g)
    x, kpm, _ = random_inputs(B, T, H * hd, "padding", g)
    x_changed = torch.where(kpm[..., None], torch.randn(x.shape, generator=g, dtype=f64), x)
    before = assert_tensor_like(cand(x, key_padding_mask=kpm, causal=causal), x)
    after = assert_tensor_like(cand(x_changed, key_padding_mask=kpm, causal=causal), x)
    real = ~kpm[..., None] & queries_with_keys(B, T, kpm, causal)
    assert_close(after, before, "outputs of real tokens after changing only padded tokens", where=real)


@pytest.mark.category("property")
def test_finite_when_a_query_has_no_key(candidate, seed):
    """A fully padded sequence, and left padding under a causal mask, leave some queries
    without any key: their outputs (and all gradients) must still be finite."""
    g = generator(seed)
    B, T, C = 3, 5, 8
    m = candidate.SelfAttention(C, 2)
    x = torch.randn(B, T, C, generator=g)
    kpm = torch.zeros(B, T, dtype=torch.bool)
    kpm[0] = True  # everything padded
    kpm[1, :2] = True  # left padding: with causal, queries 0 and 1 see no key
    for causal in (False, True):
        got = candidate.lib.grads(m, [x], {"key_padding_mask": kpm, "causal": causal})
        assert_finite(got["output"], f"output (causal={causal}) with fully masked queries")
        assert_finite(got["input_grads"][0], f"gradient w.r.t. x (causal={causal}) with fully masked queries")


@pytest.mark.category("property")
def test_stable_at_large_logits(candidate, reference, seed):
    """Logits in the thousands overflow exp() unless the softmax subtracts the row maximum."""
    g = generator(seed)
    B, T, H, hd = 2, 5, 2, 4
    sd = random_state_dict(H * hd, True, g, dtype=torch.float32, scale=1.0)
    for name in ("q_proj.weight", "k_proj.weight"):
        sd[name] = sd[name] * 40.0
    cand = candidate.SelfAttention(H * hd, H)
    cand.load_state_dict(sd)
    ref = reference.SelfAttention(H * hd, H).to(f64)
    ref.load_state_dict({k: v.double() for k, v in sd.items()})
    x = torch.randn(B, T, H * hd, generator=g)
    got = cand(x, causal=True)
    assert_finite(got, "float32 output at logits of order 1e3")
    with torch.no_grad():
        expected = ref(x.double(), causal=True).float()
    assert_close(got, expected, "float32 output at logits of order 1e3 vs float64 reference", rtol=1e-3, atol=1e-3)


@pytest.mark.category("property")
def test_forward_does_not_modify_its_inputs(candidate, seed):
    g = generator(seed)
    m = candidate.SelfAttention(8, 2)
    x, kpm, _ = random_inputs(2, 5, 8, "padding", g, dtype=torch.float32)
    _, args_after, kwargs_after = m.call_checked(x, key_padding_mask=kpm, causal=True)
    assert_unchanged(args_after[0], x, "x after forward (modified in place)")
    assert_unchanged(kwargs_after["key_padding_mask"], kpm, "key_padding_mask after forward (modified in place)")
