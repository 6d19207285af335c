"""Suite for 10_transformer_encoder_layer: EncoderLayer against nn.TransformerEncoderLayer
(batch_first=True, activation="relu") loaded with the same state_dict and against the reference,
post-norm and pre-norm, with bool and float src_mask / src_key_padding_mask; train/eval and
where dropout acts; gradients; a padded sequence task; and the properties of an encoder layer.

`candidate` is the submission in a sandboxed worker; `reference` runs here. Mask convention
(as the library): a bool mask is True where attention is NOT allowed (src_key_padding_mask:
True = padding); a float mask is added to the attention scores.

The library's oracle always runs its ordinary ("slow") path: its fused fast path (eval mode,
no autograd) is turned off with torch.backends.mha.set_fastpath_enabled(False).
"""
import contextlib
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from grader import training
from grader.compare import Mismatch, assert_close, assert_finite, assert_shape, assert_unchanged
from grader.testing import assert_gradients_match, check_finite_differences, exercise_support, generator, seeded, fit_and_check

support = exercise_support(__file__)
f64 = torch.float64
NORMS = [False, True]
NORM_IDS = ["post-norm", "pre-norm"]
# (src_mask kind, src_key_padding_mask kind); both given -> same kind, as torch asks
MASKS = [("none", "none"), ("bool", "none"), ("float", "none"), ("none", "bool"), ("bool", "bool"),
         ("float", "float")]
MASK_IDS = [f"src_mask={a},padding={b}" for a, b in MASKS]

sizes = dict(
    B=st.integers(1, 3), T=st.integers(1, 6), H=st.integers(1, 3), hd=st.integers(1, 4), ff=st.integers(1, 12),
    data_seed=st.integers(0, 2**32 - 1),
)


# -- helpers ---------------------------------------------------------------------------------
def random_state_dict(d_model: int, dim_ff: int, g: torch.Generator, dtype=f64) -> dict:
    """nn.TransformerEncoderLayer's state_dict with random values: weights ~ N(0, 1/fan_in),
    biases ~ N(0, 0.5^2), LayerNorm weights ~ 1 + N(0, 0.3^2) (so norm1 and norm2 differ)."""
    def w(rows, cols):
        return torch.randn(rows, cols, generator=g, dtype=dtype) / math.sqrt(cols)

    def b(n, scale=0.5):
        return scale * torch.randn(n, generator=g, dtype=dtype)

    d = d_model
    return {
        "self_attn.in_proj_weight": w(3 * d, d), "self_attn.in_proj_bias": b(3 * d),
        "self_attn.out_proj.weight": w(d, d), "self_attn.out_proj.bias": b(d),
        "linear1.weight": w(dim_ff, d), "linear1.bias": b(dim_ff),
        "linear2.weight": w(d, dim_ff), "linear2.bias": b(d),
        "norm1.weight": 1 + b(d, 0.3), "norm1.bias": b(d, 0.3),
        "norm2.weight": 1 + b(d, 0.3), "norm2.bias": b(d, 0.3),
    }


def library_layer(sd: dict, d_model, nhead, dim_ff, dropout, norm_first) -> nn.TransformerEncoderLayer:
    """The oracle: nn.TransformerEncoderLayer(batch_first=True, activation="relu") with `sd`."""
    layer = nn.TransformerEncoderLayer(d_model, nhead, dim_ff, dropout, activation="relu", batch_first=True,
                                       norm_first=norm_first, dtype=f64)
    layer.load_state_dict(sd)
    return layer.eval()


@contextlib.contextmanager
def slow_path():
    """The library's ordinary code path (its fused fast path has other numerics)."""
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


def oracle(layer, x, **masks) -> torch.Tensor:
    with slow_path(), torch.no_grad():
        return layer(x, **masks)


def build(candidate, sd, d_model, nhead, dim_ff, dropout, norm_first, dtype=f64):
    """The candidate's layer in eval mode with `sd` loaded."""
    layer = candidate.EncoderLayer(d_model, nhead, dim_ff=dim_ff, dropout=dropout, norm_first=norm_first).to(dtype)
    layer.load_state_dict(sd)
    return layer.eval()


def random_mask(kind: str, shape: tuple, g: torch.Generator, dtype=f64):
    """None, a bool mask (True = not allowed, ~30%) or a float one (N(0, 1), ~20% -inf). Key 0
    is never blocked, so every query has a key and every output is defined."""
    if kind == "none":
        return None
    if kind == "bool":
        mask = torch.rand(shape, generator=g) < 0.3
        mask[..., 0] = False
        return mask
    mask = torch.randn(shape, generator=g, dtype=dtype)
    mask = mask.masked_fill(torch.rand(shape, generator=g) < 0.2, float("-inf"))
    mask[..., 0] = mask[..., 0].clamp(min=-3.0)
    return mask


def random_masks(case, B, T, g, dtype=f64) -> dict:
    """The keyword arguments src_mask (T, T) and src_key_padding_mask (B, T) for a case of MASKS."""
    return {"src_mask": random_mask(case[0], (T, T), g, dtype),
            "src_key_padding_mask": random_mask(case[1], (B, T), g, dtype)}


def norm_name(norm_first: bool) -> str:
    return "pre-norm (norm_first=True)" if norm_first else "post-norm (norm_first=False)"


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**sizes, norm_first=st.booleans(), case=st.sampled_from(MASKS))
def test_output_shape_and_dtype(candidate, B, T, H, hd, ff, data_seed, norm_first, case):
    g = generator(data_seed)
    layer = candidate.EncoderLayer(H * hd, H, dim_ff=ff, dropout=0.1, norm_first=norm_first).eval()
    x = torch.randn(B, T, H * hd, generator=g)
    y = layer(x, **random_masks(case, B, T, g, dtype=torch.float32))
    assert_shape(y, (B, T, H * hd), f"output ({norm_name(norm_first)})", dtype=torch.float32)
    assert_finite(y, "output")


@pytest.mark.category("shape")
@pytest.mark.parametrize("norm_first", NORMS, ids=NORM_IDS)
def test_state_dict_is_the_libraries(candidate, norm_first):
    """The same names and shapes as nn.TransformerEncoderLayer's state_dict, nothing more."""
    d_model, nhead, dim_ff = 12, 3, 20
    layer = candidate.EncoderLayer(d_model, nhead, dim_ff=dim_ff, dropout=0.1, norm_first=norm_first)
    got = {k: tuple(v.shape) for k, v in layer.state_dict().items()}
    lib = nn.TransformerEncoderLayer(d_model, nhead, dim_ff, 0.1, batch_first=True, norm_first=norm_first)
    expected = {k: tuple(v.shape) for k, v in lib.state_dict().items()}
    if got != expected:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
        raise Mismatch(f"state_dict (name: shape) must be exactly nn.TransformerEncoderLayer's for d_model={d_model}, "
                       f"nhead={nhead}, dim_ff={dim_ff}: missing {missing}, unexpected {extra}, wrong shape "
                       f"{[(k, got[k], expected[k]) for k in wrong]}; expected {expected}")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@pytest.mark.parametrize("norm_first", NORMS, ids=NORM_IDS)
@given(**sizes)
def test_matches_torch_encoder_layer(candidate, norm_first, B, T, H, hd, ff, data_seed):
    """Eval mode, float64, the library's state_dict loaded into both; every mask case of MASKS."""
    g = generator(data_seed)
    d = H * hd
    sd = random_state_dict(d, ff, g)
    x = torch.randn(B, T, d, generator=g, dtype=f64)
    lib = library_layer(sd, d, H, ff, 0.1, norm_first)
    layer = build(candidate, sd, d, H, ff, 0.1, norm_first)
    for case, case_id in zip(MASKS, MASK_IDS):
        masks = random_masks(case, B, T, g)
        assert_close(layer(x, **masks), oracle(lib, x, **masks),
                     f"output vs nn.TransformerEncoderLayer, {norm_name(norm_first)}, eval mode, {case_id}")


@pytest.mark.category("equivalence")
@given(**sizes, norm_first=st.booleans(), case=st.sampled_from(MASKS))
def test_matches_reference(candidate, reference, B, T, H, hd, ff, data_seed, norm_first, case):
    g = generator(data_seed)
    d = H * hd
    sd = random_state_dict(d, ff, g)
    x = torch.randn(B, T, d, generator=g, dtype=f64)
    masks = random_masks(case, B, T, g)
    ref = reference.EncoderLayer(d, H, dim_ff=ff, dropout=0.1, norm_first=norm_first).to(f64).eval()
    ref.load_state_dict(sd)
    with torch.no_grad():
        expected = ref(x, **masks)
    got = build(candidate, sd, d, H, ff, 0.1, norm_first)(x, **masks)
    assert_close(got, expected, f"output vs reference, {norm_name(norm_first)}")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("norm_first", NORMS, ids=NORM_IDS)
@given(**sizes, case=st.sampled_from(MASKS))
def test_train_mode_without_dropout_matches_library(candidate, norm_first, B, T, H, hd, ff, data_seed, case):
    """With dropout=0.0, train() mode is the same function as eval() mode."""
    g = generator(data_seed)
    d = H * hd
    sd = random_state_dict(d, ff, g)
    x = torch.randn(B, T, d, generator=g, dtype=f64)
    masks = random_masks(case, B, T, g)
    expected = oracle(library_layer(sd, d, H, ff, 0.0, norm_first).train(), x, **masks)
    got = build(candidate, sd, d, H, ff, 0.0, norm_first).train()(x, **masks)
    assert_close(got, expected, f"output in train() mode with dropout=0.0 vs nn.TransformerEncoderLayer, "
                 f"{norm_name(norm_first)}")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("norm_first", NORMS, ids=NORM_IDS)
def test_eval_mode_is_deterministic_with_dropout(candidate, seed, norm_first):
    """dropout=0.5, but eval(): every call gives the library's (dropout-free) output."""
    g = generator(seed)
    B, T, H, d, ff = 3, 7, 2, 8, 16
    sd = random_state_dict(d, ff, g)
    x = torch.randn(B, T, d, generator=g, dtype=f64)
    masks = random_masks(("bool", "bool"), B, T, g)
    expected = oracle(library_layer(sd, d, H, ff, 0.5, norm_first), x, **masks)
    layer = build(candidate, sd, d, H, ff, 0.5, norm_first)
    layer.train()
    layer.eval()  # back from train(): eval() must switch dropout off again
    for call in range(3):
        assert_close(layer(x, **masks), expected, f"output of eval() call {call + 1} with dropout=0.5 vs "
                     f"nn.TransformerEncoderLayer in eval mode, {norm_name(norm_first)} (dropout still active?)")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@pytest.mark.parametrize("norm_first", NORMS, ids=NORM_IDS)
@given(**sizes)
def test_gradients_match_library(candidate, norm_first, B, T, H, hd, ff, data_seed):
    """Gradients w.r.t. src and every parameter (by state_dict name) vs nn.TransformerEncoderLayer,
    without a mask and with bool and float masks."""
    g = generator(data_seed)
    d = H * hd
    sd = random_state_dict(d, ff, g)
    x = torch.randn(B, T, d, generator=g, dtype=f64)
    lib = library_layer(sd, d, H, ff, 0.1, norm_first)
    layer = build(candidate, sd, d, H, ff, 0.1, norm_first)
    for case in [("none", "none"), ("bool", "bool"), ("float", "float")]:
        masks = random_masks(case, B, T, g)
        grad_out = torch.randn(B, T, d, generator=g, dtype=f64)
        got = candidate.lib.grads(layer, [x], masks, grad_out)
        with slow_path():
            assert_gradients_match(got, lib, x, masks, grad_out)


@pytest.mark.category("gradient")
@pytest.mark.parametrize("norm_first", NORMS, ids=NORM_IDS)
def test_gradients_match_finite_differences(candidate, seed, norm_first):
    B, T, H, d, ff = 2, 4, 2, 6, 5
    g = generator(seed)
    sd = random_state_dict(d, ff, g)
    layer = build(candidate, sd, d, H, ff, 0.1, norm_first)
    x = torch.randn(B, T, d, generator=g, dtype=f64)
    masks = random_masks(("float", "bool"), B, T, g)
    masks["src_key_padding_mask"] = masks["src_key_padding_mask"].to(f64).masked_fill(
        masks["src_key_padding_mask"], float("-inf"))  # as float: the same kind as src_mask
    grad_out = torch.randn(B, T, d, generator=g, dtype=f64)
    check_finite_differences(candidate, layer, sd, x, masks, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
VOCAB, LENGTH, D_MODEL, HEADS, DIM_FF = 8, 6, 16, 2, 32
TRAIN = dict(steps=80, lr=2e-2, batch_size=32)


@pytest.mark.category("convergence")
def test_learns_the_last_real_token(candidate, reference, seed, artifacts):
    """Every position must output the last real token of its padded sequence (lengths 2..6, the
    padding after it holds random tokens). Without attention a position sees only itself; a layer
    that attends to padding picks junk (about 35% accuracy). Run once post-norm, once pre-norm."""
    for run, norm_first in enumerate(NORMS):
        s = seed * 1000 + run
        g = generator(s)
        x_train, y_train = support.last_real_token_task(1024, LENGTH, VOCAB, g)
        x_test, y_test = support.last_real_token_task(512, LENGTH, VOCAB, g)
        with seeded(s):
            ref_model = support.PaddedTagger([reference.EncoderLayer(D_MODEL, HEADS, DIM_FF, 0.0, norm_first)],
                                             VOCAB, D_MODEL, LENGTH)
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}
        ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]

        layer = candidate.EncoderLayer(D_MODEL, HEADS, dim_ff=DIM_FF, dropout=0.0, norm_first=norm_first)
        model = candidate.lib.support("PaddedTagger", [layer], VOCAB, D_MODEL, LENGTH)
        model.load_state_dict(init)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        logits = assert_shape(model(x_test), (512, LENGTH, VOCAB), "logits")
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        with torch.no_grad():
            ref_accuracy = float((ref_model(x_test).argmax(-1) == y_test).double().mean())
        artifacts[f"loss_curve_{NORM_IDS[run]}"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.9, (
            f"after {TRAIN['steps']} Adam steps (data seed {s}, {norm_name(norm_first)}) a tagger built on your "
            f"layer reaches {accuracy:.1%} held-out accuracy on the last-real-token task; the reference, from the "
            f"same initial weights, reaches {ref_accuracy:.1%}; at least 90% is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(**sizes, norm_first=st.booleans())
def test_permutation_equivariance(candidate, B, T, H, hd, ff, data_seed, norm_first):
    """Without a mask (and no positions) permuting the tokens permutes the outputs."""
    g = generator(data_seed)
    d = H * hd
    layer = build(candidate, random_state_dict(d, ff, g), d, H, ff, 0.1, norm_first)
    x = torch.randn(B, T, d, generator=g, dtype=f64)
    perm = torch.randperm(T, generator=g)
    y = assert_shape(layer(x), (B, T, d), "output", dtype=f64)
    assert_close(layer(x[:, perm]), y[:, perm], f"output for tokens permuted by {perm.tolist()} vs permuted "
                 f"output ({norm_name(norm_first)})")


@pytest.mark.category("property")
@given(**sizes, norm_first=st.booleans(), extra=st.integers(1, 3))
def test_appended_padding_changes_nothing(candidate, B, T, H, hd, ff, data_seed, norm_first, extra):
    """Appending `extra` padding tokens (random contents, True in src_key_padding_mask) leaves
    the outputs at the original positions equal."""
    g = generator(data_seed)
    d = H * hd
    layer = build(candidate, random_state_dict(d, ff, g), d, H, ff, 0.1, norm_first)
    x = torch.randn(B, T, d, generator=g, dtype=f64)
    kpm = random_mask("bool", (B, T), g)
    x_long = torch.cat([x, 10 * torch.randn(B, extra, d, generator=g, dtype=f64)], dim=1)
    kpm_long = torch.cat([kpm, torch.ones(B, extra, dtype=torch.bool)], dim=1)
    before = assert_shape(layer(x, src_key_padding_mask=kpm), (B, T, d), "output", dtype=f64)
    after = assert_shape(layer(x_long, src_key_padding_mask=kpm_long), (B, T + extra, d),
                         f"output with {extra} padding tokens appended", dtype=f64)
    assert_close(after[:, :T], before, f"outputs at the original positions after appending {extra} padding tokens "
                 f"({norm_name(norm_first)})")


@pytest.mark.category("property")
@pytest.mark.parametrize("norm_first", NORMS, ids=NORM_IDS)
def test_fully_padded_sequence_is_finite(candidate, seed, norm_first):
    """A sequence that is all padding has no key to attend to: its outputs must still be finite
    (the library gives it zero attention), and the other sequences are unaffected."""
    g = generator(seed)
    B, T, H, d, ff = 3, 5, 2, 8, 12
    sd = random_state_dict(d, ff, g)
    x = torch.randn(B, T, d, generator=g, dtype=f64)
    kpm = random_mask("bool", (B, T), g)
    kpm[1] = True
    got = build(candidate, sd, d, H, ff, 0.1, norm_first)(x, src_key_padding_mask=kpm)
    got = assert_shape(got, (B, T, d), "output", dtype=f64)
    assert_finite(got, f"output with sequence 1 fully padded ({norm_name(norm_first)})")
    expected = oracle(library_layer(sd, d, H, ff, 0.1, norm_first), x, src_key_padding_mask=kpm)
    assert_close(got[[0, 2]], expected[[0, 2]], "outputs of sequences 0 and 2 (not padded) vs "
                 "nn.TransformerEncoderLayer when sequence 1 is fully padded")


def zeroed_branch(sd: dict, branch: str) -> dict:
    """`sd` with the output projection of one sublayer (weight and bias) set to zero: that
    branch then adds exactly 0, whatever dropout does inside it."""
    name = {"attention": "self_attn.out_proj", "feed-forward": "linear2"}[branch]
    return {k: torch.zeros_like(v) if k.startswith(name + ".") else v for k, v in sd.items()}


@pytest.mark.category("property")
@pytest.mark.parametrize("norm_first", NORMS, ids=NORM_IDS)
def test_dropout_only_on_the_branches(candidate, seed, norm_first):
    """Dropout acts on each sublayer's output, never on the residual stream: with both branches
    zeroed, train() mode with dropout=0.5 gives exactly the eval() output."""
    g = generator(seed)
    B, T, H, d, ff = 4, 8, 2, 16, 32
    sd = zeroed_branch(zeroed_branch(random_state_dict(d, ff, g), "attention"), "feed-forward")
    x = torch.randn(B, T, d, generator=g, dtype=f64)
    kpm = random_mask("bool", (B, T), g)
    layer = build(candidate, sd, d, H, ff, 0.5, norm_first)
    expected = assert_shape(layer(x, src_key_padding_mask=kpm), (B, T, d), "eval() output", dtype=f64)
    candidate.lib.make("torch.manual_seed", seed)
    layer.train()
    got = layer(x, src_key_padding_mask=kpm)
    assert_close(got, expected, f"train() output with dropout=0.5 and both branches zeroed vs eval() output "
                 f"({norm_name(norm_first)}): dropout reached the residual stream")


@pytest.mark.category("property")
@pytest.mark.parametrize("norm_first", NORMS, ids=NORM_IDS)
def test_train_mode_is_stochastic(candidate, seed, norm_first):
    g = generator(seed)
    B, T, H, d, ff = 2, 6, 2, 8, 16
    sd = random_state_dict(d, ff, g)
    x = torch.randn(B, T, d, generator=g, dtype=f64)
    layer = build(candidate, sd, d, H, ff, 0.5, norm_first)
    evaluated = layer(x)
    candidate.lib.make("torch.manual_seed", seed)
    layer.train()
    first, second = layer(x), layer(x)
    for name, y in (("first", first), ("second", second)):
        y = assert_shape(y, (B, T, d), f"{name} train() output", dtype=f64)
        assert_finite(y, f"{name} train() output")
        if torch.equal(y, evaluated):
            raise Mismatch(f"{name} train() output with dropout=0.5 equals the eval() output: no dropout in train()")
    if torch.equal(first, second):
        raise Mismatch("two train() calls with dropout=0.5 gave the same output: dropout does not draw new masks")


def fraction(mask: torch.Tensor) -> float:
    return float(mask.double().mean()) if mask.numel() else 0.0


@pytest.mark.category("property")
@pytest.mark.parametrize("branch", ["attention", "feed-forward"])
def test_dropout_where_the_library_drops(candidate, seed, branch):
    """Pre-norm with dropout p=0.5 and the other branch zeroed, so out - src is exactly this
    branch's output. The library drops (1) that output elementwise (dropout1 / dropout2): about
    half its elements are exactly 0; and (2) inside the branch (the attention weights / the FFN's
    hidden units): the surviving elements are NOT simply 2x their eval() value, which they would
    all be if only the outer dropout were there."""
    g = generator(seed)
    B, T, H, d, ff = 4, 8, 2, 16, 32
    other = "feed-forward" if branch == "attention" else "attention"
    sd = zeroed_branch(random_state_dict(d, ff, g), other)
    x = torch.randn(B, T, d, generator=g, dtype=f64)
    layer = build(candidate, sd, d, H, ff, 0.5, True)
    eval_delta = assert_shape(layer(x), (B, T, d), "eval() output", dtype=f64) - x
    candidate.lib.make("torch.manual_seed", seed)
    layer.train()
    delta = assert_shape(layer(x), (B, T, d), "train() output", dtype=f64) - x
    assert_finite(delta, "train() output")
    zeros = fraction(delta == 0)
    if not 0.35 <= zeros <= 0.65:
        raise Mismatch(f"{branch} branch in train() mode with dropout=0.5: {zeros:.1%} of its output elements are "
                       f"exactly 0; the library's dropout on the branch output drops about 50% (0.35..0.65 "
                       f"accepted). Is dropout{1 if branch == 'attention' else 2} missing or misplaced?")
    kept = delta != 0
    just_rescaled = fraction(((delta - 2 * eval_delta).abs() <= 1e-9 * (1 + eval_delta.abs()))[kept])
    inner = "the attention weights" if branch == "attention" else "the hidden units between linear1 and linear2"
    if just_rescaled > 0.5:
        raise Mismatch(f"{branch} branch in train() mode with dropout=0.5: {just_rescaled:.1%} of its kept output "
                       f"elements are exactly 2x their eval() value, so nothing inside the branch is dropped; the "
                       f"library also applies dropout to {inner}")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_inputs(candidate, seed):
    g = generator(seed)
    B, T, H, d, ff = 2, 5, 2, 8, 12
    for norm_first in NORMS:
        layer = build(candidate, random_state_dict(d, ff, g, torch.float32), d, H, ff, 0.1, norm_first,
                      dtype=torch.float32)
        for case in [("bool", "bool"), ("float", "float")]:
            x = torch.randn(B, T, d, generator=g)
            masks = random_masks(case, B, T, g, dtype=torch.float32)
            _, args_after, kwargs_after = layer.call_checked(x, **masks)
            assert_unchanged(args_after[0], x, f"src after forward ({norm_name(norm_first)}; modified in place)")
            for name, mask in masks.items():
                assert_unchanged(kwargs_after[name], mask, f"{name} ({case[0]}) after forward (modified in place)")
