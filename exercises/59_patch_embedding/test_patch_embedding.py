"""Suite for 59_patch_embedding: `patchify` / `unpatchify` against a plain-loop spec and
F.unfold / F.fold, `PatchEmbedding` against nn.Conv2d(kernel_size=stride=patch_size) with its
weight transplanted (which pins the (C, p, p) flattening order), and `TinyViT` against the
reference with the same state_dict; gradients, a round trip, locality and translation of
patches, a task that needs position embeddings, and clear errors for sizes that do not tile.

`candidate` is the submission in a sandboxed worker; `reference` runs here.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from grader import training
from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape
from grader.proxy import CandidateError
from grader.testing import (assert_gradients_match, check_finite_differences, exercise_support, generator,
                            seeded, fit_and_check)

support = exercise_support(__file__)
f64 = torch.float64

sizes = dict(
    B=st.integers(1, 3), C=st.integers(1, 3), p=st.integers(1, 4), h=st.integers(1, 3), w=st.integers(1, 3),
    data_seed=st.integers(0, 2**32 - 1),
)
vit_sizes = dict(
    B=st.integers(1, 3), C=st.integers(1, 3), p=st.integers(1, 3), h=st.integers(1, 3), w=st.integers(1, 3),
    heads=st.integers(1, 2), hd=st.integers(2, 4), depth=st.integers(1, 2), K=st.integers(1, 4),
    data_seed=st.integers(0, 2**32 - 1),
)
FEW = settings(max_examples=10)  # each ViT example builds two transformers


# -- helpers ---------------------------------------------------------------------------------
def loop_patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """The spec, one patch at a time: token n = (row n // w, column n % w) of the patch grid,
    its pixels flattened in (C, p, p) order."""
    B, C, H, W = x.shape
    h, w = H // p, W // p
    out = torch.empty(B, h * w, C * p * p, dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            out[:, i * w + j] = x[:, :, i * p:(i + 1) * p, j * p:(j + 1) * p].reshape(B, C * p * p)
    return out


def unfold_oracle(x: torch.Tensor, p: int) -> torch.Tensor:
    """torch's own patch extraction: F.unfold gives (B, C*p*p, N) in the same orders."""
    return F.unfold(x, kernel_size=p, stride=p).transpose(1, 2)  # (B, N, C*p*p)


def fold_oracle(patches: torch.Tensor, p: int, H: int, W: int) -> torch.Tensor:
    """F.fold puts non-overlapping patches back: the inverse of unfold_oracle."""
    return F.fold(patches.transpose(1, 2), output_size=(H, W), kernel_size=p, stride=p)  # (B, C, H, W)


def conv_oracle(C: int, p: int, E: int, g: torch.Generator) -> nn.Conv2d:
    """A float64 Conv2d(kernel_size=stride=p) with random weights ~ N(0, 1/fan_in), bias ~ N(0, 0.5^2)."""
    conv = nn.Conv2d(C, E, kernel_size=p, stride=p, dtype=f64)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(E, C, p, p, generator=g, dtype=f64) / math.sqrt(C * p * p))
        conv.bias.copy_(0.5 * torch.randn(E, generator=g, dtype=f64))
    return conv


def transplant(conv: nn.Conv2d) -> dict:
    """The conv's weights as PatchEmbedding's state_dict: (E, C, p, p) -> (E, C*p*p)."""
    return {"proj.weight": conv.weight.detach().reshape(conv.out_channels, -1).clone(),
            "proj.bias": conv.bias.detach().clone()}


def build_patch_embedding(candidate, reference, C, p, E, g):
    """The candidate's and the reference's PatchEmbedding holding the same random float64 weights."""
    sd = transplant(conv_oracle(C, p, E, g))
    cand = candidate.PatchEmbedding(C, p, E).to(f64)
    cand.load_state_dict(sd)
    ref = reference.PatchEmbedding(C, p, E).to(f64)
    ref.load_state_dict(sd)
    return cand, ref, sd


def vit_args(C, p, h, w, heads, hd, depth, K) -> tuple[tuple, dict]:
    """TinyViT's positional and keyword arguments for an (h*p, w*p) image of C channels, K classes."""
    return ((h * p, w * p), p, C, K), dict(embed_dim=heads * hd, depth=depth, num_heads=heads)


def random_vit_state(reference, args, kwargs, g, seed) -> dict:
    """The reference's float64 state_dict, every tensor perturbed and [CLS] / positions made
    large, so that each part (including the position of each patch) visibly matters."""
    with seeded(seed):
        sd = reference.TinyViT(*args, **kwargs).to(f64).state_dict()
    sd = {k: v + 0.1 * torch.randn(v.shape, generator=g, dtype=f64) for k, v in sd.items()}
    sd["cls_token"] = 0.5 * torch.randn(sd["cls_token"].shape, generator=g, dtype=f64)
    sd["pos_embed"] = 0.5 * torch.randn(sd["pos_embed"].shape, generator=g, dtype=f64)
    return sd


def build_vit(candidate, reference, args, kwargs, g, seed):
    sd = random_vit_state(reference, args, kwargs, g, seed)
    with seeded(seed):
        ref = reference.TinyViT(*args, **kwargs).to(f64)
    ref.load_state_dict(sd)
    cand = candidate.TinyViT(*args, **kwargs).to(f64)
    cand.load_state_dict(sd)
    return cand, ref, sd


def expect_value_error(call, what: str) -> CandidateError:
    """`call()` must raise ValueError in the worker; anything else (or nothing) fails the test."""
    try:
        call()
    except CandidateError as e:
        if e.kind != "exception":
            raise
        if e.remote_type != "ValueError":
            raise Mismatch(f"{what}: expected a ValueError with a clear message, got {e.remote_type}: "
                           f"{e.remote_message}") from None
        return e
    raise Mismatch(f"{what}: expected a ValueError, but the call returned normally")


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**sizes)
def test_patchify_and_unpatchify_shapes(candidate, B, C, p, h, w, data_seed):
    g = generator(data_seed)
    H, W = h * p, w * p
    x = torch.randn(B, C, H, W, generator=g)
    patches = assert_shape(candidate.patchify(x, p), (B, h * w, C * p * p),
                           f"patchify of images {tuple(x.shape)} with patch_size={p}", dtype=torch.float32)
    assert_shape(candidate.unpatchify(patches, p, (H, W)), (B, C, H, W),
                 f"unpatchify of patches {tuple(patches.shape)} with patch_size={p}, image_size={(H, W)}",
                 dtype=torch.float32)


@pytest.mark.category("shape")
@given(**sizes, E=st.integers(1, 6))
def test_patch_embedding_output_shape(candidate, B, C, p, h, w, data_seed, E):
    g = generator(data_seed)
    m = candidate.PatchEmbedding(C, p, E)
    x = torch.randn(B, C, h * p, w * p, generator=g)
    y = assert_shape(m(x), (B, h * w, E), f"PatchEmbedding({C}, {p}, {E}) output for images {tuple(x.shape)}",
                     dtype=torch.float32)
    assert_finite(y, "patch embeddings")


@pytest.mark.category("shape")
@given(C=st.integers(1, 4), p=st.integers(1, 5), E=st.integers(1, 8))
def test_patch_embedding_parameters_follow_the_interface(candidate, C, p, E):
    m = candidate.PatchEmbedding(C, p, E)
    got = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    expected = {"proj.weight": (E, C * p * p), "proj.bias": (E,)}
    assert got == expected, (f"state_dict (name: shape) of PatchEmbedding({C}, {p}, {E}) should be exactly "
                             f"{expected} (one nn.Linear named proj on flattened patches); got {got}")


@pytest.mark.category("shape")
@FEW
@given(**vit_sizes)
def test_vit_logits_shape(candidate, B, C, p, h, w, heads, hd, depth, K, data_seed):
    g = generator(data_seed)
    args, kwargs = vit_args(C, p, h, w, heads, hd, depth, K)
    m = candidate.TinyViT(*args, **kwargs)
    x = torch.randn(B, C, h * p, w * p, generator=g)
    y = assert_shape(m(x), (B, K), f"TinyViT{args} {kwargs} logits for images {tuple(x.shape)}",
                     dtype=torch.float32)
    assert_finite(y, "logits")


@pytest.mark.category("shape")
@pytest.mark.parametrize("image_size, patch_size, C, K, depth", [(8, 4, 3, 5, 2), ((6, 9), 3, 1, 2, 1)])
def test_vit_state_dict_follows_the_interface(candidate, reference, image_size, patch_size, C, K, depth):
    kwargs = dict(embed_dim=8, depth=depth, num_heads=2)
    expected = {k: tuple(v.shape) for k, v in
                reference.TinyViT(image_size, patch_size, C, K, **kwargs).state_dict().items()}
    got = {k: tuple(v.shape) for k, v in candidate.TinyViT(image_size, patch_size, C, K, **kwargs)
           .state_dict().items()}
    missing = {k: s for k, s in expected.items() if k not in got}
    unexpected = {k: s for k, s in got.items() if k not in expected}
    wrong = {k: (got[k], s) for k, s in expected.items() if k in got and got[k] != s}
    assert not (missing or unexpected or wrong), (
        f"TinyViT({image_size}, {patch_size}, {C}, {K}, {kwargs}) state_dict differs from the interface "
        f"(patch_embed, cls_token, pos_embed, encoder = nn.TransformerEncoder, norm, head):\n"
        f"  missing: {missing}\n  unexpected: {unexpected}\n  wrong shape (yours, expected): {wrong}")


@pytest.mark.category("shape")
@pytest.mark.parametrize("H, W, p", [(7, 8, 4), (8, 10, 4), (5, 5, 2), (9, 6, 4)])
def test_sizes_that_do_not_tile_raise(candidate, seed, H, W, p):
    """An image that is not a whole number of patches is an error, never a silent crop
    (nn.Conv2d with stride p would drop the remainder without a word)."""
    g = generator(seed)
    x = torch.randn(2, 3, H, W, generator=g)
    expect_value_error(lambda: candidate.patchify(x, p), f"patchify of images {tuple(x.shape)} with patch_size={p}")
    m = candidate.PatchEmbedding(3, p, 4)
    expect_value_error(lambda: m(x), f"PatchEmbedding(3, {p}, 4) on images {tuple(x.shape)}")
    expect_value_error(lambda: candidate.TinyViT((H, W), p, 3, 2, embed_dim=4, depth=1, num_heads=1),
                       f"TinyViT(image_size={(H, W)}, patch_size={p}, ...)")
    H2, W2 = H - H % p, W - W % p
    patches = torch.randn(2, (H2 // p) * (W2 // p), 3 * p * p, generator=g)
    expect_value_error(lambda: candidate.unpatchify(patches, p, (H, W)),
                       f"unpatchify(patches {tuple(patches.shape)}, {p}, image_size={(H, W)})")
    expect_value_error(lambda: candidate.unpatchify(patches[:, :, 1:], p, (H2, W2)),
                       f"unpatchify(patches {tuple(patches[:, :, 1:].shape)}, {p}, image_size={(H2, W2)}) "
                       f"(last dim not a multiple of p*p={p * p})")
    expect_value_error(lambda: candidate.unpatchify(patches, p, (H2 + p, W2)),
                       f"unpatchify(patches {tuple(patches.shape)}, {p}, image_size={(H2 + p, W2)}) "
                       f"(N={patches.shape[1]} patches do not fill that image)")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(**sizes)
def test_patchify_matches_the_loop_spec_and_unfold(candidate, B, C, p, h, w, data_seed):
    g = generator(data_seed)
    x = torch.randn(B, C, h * p, w * p, generator=g, dtype=f64)
    expected = loop_patchify(x, p)
    assert_equal(unfold_oracle(x, p), expected, "F.unfold vs the loop spec (oracle self-check)")
    assert_equal(candidate.patchify(x, p), expected, f"patchify(images {tuple(x.shape)}, {p}) vs the spec "
                 "(token n = patch (n // w, n % w), flattened (C, p, p)); index [b, n, c*p*p + i*p + j]")


@pytest.mark.category("equivalence")
@given(**sizes)
def test_unpatchify_matches_fold(candidate, B, C, p, h, w, data_seed):
    g = generator(data_seed)
    H, W = h * p, w * p
    patches = torch.randn(B, h * w, C * p * p, generator=g, dtype=f64)
    assert_equal(candidate.unpatchify(patches, p, (H, W)), fold_oracle(patches, p, H, W),
                 f"unpatchify(patches {tuple(patches.shape)}, {p}, {(H, W)}) vs F.fold; index [b, c, y, x]")


@pytest.mark.category("equivalence")
@given(**sizes, E=st.integers(1, 6))
def test_patch_embedding_matches_conv2d(candidate, B, C, p, h, w, data_seed, E):
    """Conv2d(kernel_size=stride=p) is a Linear on (C, p, p)-flattened patches: its weight
    (E, C, p, p) reshaped to (E, C*p*p) is PatchEmbedding's proj.weight."""
    g = generator(data_seed)
    conv = conv_oracle(C, p, E, g)
    m = candidate.PatchEmbedding(C, p, E).to(f64)
    m.load_state_dict(transplant(conv))
    x = torch.randn(B, C, h * p, w * p, generator=g, dtype=f64)
    with torch.no_grad():
        expected = conv(x).flatten(2).transpose(1, 2)  # (B, E, h, w) -> (B, N, E)
    assert_close(m(x), expected, f"PatchEmbedding({C}, {p}, {E}) vs nn.Conv2d(kernel_size=stride={p}) with the "
                 "same weights (conv.weight.reshape(E, C*p*p) as proj.weight); index [b, n, e]")


@pytest.mark.category("equivalence")
@given(**sizes, E=st.integers(1, 6))
def test_patch_embedding_matches_reference(candidate, reference, B, C, p, h, w, data_seed, E):
    g = generator(data_seed)
    cand, ref, _ = build_patch_embedding(candidate, reference, C, p, E, g)
    x = torch.randn(B, C, h * p, w * p, generator=g, dtype=f64)
    with torch.no_grad():
        expected = ref(x)
    assert_close(cand(x), expected, "patch embeddings vs reference")


@pytest.mark.category("equivalence")
@FEW
@given(**vit_sizes)
def test_vit_matches_reference(candidate, reference, B, C, p, h, w, heads, hd, depth, K, data_seed):
    g = generator(data_seed)
    args, kwargs = vit_args(C, p, h, w, heads, hd, depth, K)
    cand, ref, _ = build_vit(candidate, reference, args, kwargs, g, data_seed % 1000)
    x = torch.randn(B, C, h * p, w * p, generator=g, dtype=f64)
    with torch.no_grad():
        expected = ref(x)
    assert_close(cand(x), expected, f"TinyViT{args} {kwargs} logits vs reference with the same state_dict "
                 "(train mode: the encoder's dropout must be 0)")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(**sizes)
def test_patchify_and_unpatchify_gradients_route_back(candidate, B, C, p, h, w, data_seed):
    """Both only move numbers around: each backward pass is the other's forward."""
    g = generator(data_seed)
    H, W = h * p, w * p
    x = torch.randn(B, C, H, W, generator=g, dtype=f64)
    grad_patches = torch.randn(B, h * w, C * p * p, generator=g, dtype=f64)
    got = candidate.lib.grads(candidate.patchify, [x, p], {}, grad_patches)
    assert_equal(got["input_grads"][0], fold_oracle(grad_patches, p, H, W),
                 "gradient of patchify w.r.t. the images vs F.fold of the output gradient")
    patches = torch.randn(B, h * w, C * p * p, generator=g, dtype=f64)
    grad_images = torch.randn(B, C, H, W, generator=g, dtype=f64)
    got = candidate.lib.grads(candidate.unpatchify, [patches, p, (H, W)], {}, grad_images)
    assert_equal(got["input_grads"][0], unfold_oracle(grad_images, p),
                 "gradient of unpatchify w.r.t. the patches vs F.unfold of the output gradient")


@pytest.mark.category("gradient")
@given(**sizes, E=st.integers(1, 6))
def test_patch_embedding_gradients_match_reference(candidate, reference, B, C, p, h, w, data_seed, E):
    g = generator(data_seed)
    cand, ref, _ = build_patch_embedding(candidate, reference, C, p, E, g)
    x = torch.randn(B, C, h * p, w * p, generator=g, dtype=f64)
    grad_out = torch.randn(B, h * w, E, generator=g, dtype=f64)
    assert_gradients_match(candidate.lib.grads(cand, [x], {}, grad_out), ref, x, {}, grad_out)


@pytest.mark.category("gradient")
def test_patch_embedding_gradients_match_finite_differences(candidate, seed):
    g = generator(seed)
    B, C, p, h, w, E = 2, 3, 2, 2, 3, 4
    sd = transplant(conv_oracle(C, p, E, g))
    m = candidate.PatchEmbedding(C, p, E).to(f64)
    x = torch.randn(B, C, h * p, w * p, generator=g, dtype=f64)
    grad_out = torch.randn(B, h * w, E, generator=g, dtype=f64)
    check_finite_differences(candidate, m, sd, x, {}, grad_out, g)


@pytest.mark.category("gradient")
@pytest.mark.parametrize("config", [dict(B=2, C=2, p=2, h=2, w=2, heads=2, depth=2, K=3),
                                    dict(B=1, C=3, p=3, h=1, w=2, heads=1, depth=1, K=2)],
                         ids=["2x2-patches-depth2", "1x2-patches-depth1"])
def test_vit_gradients_match_reference(candidate, reference, seed, config):
    """Gradients w.r.t. the images and every parameter ([CLS], positions, encoder, head)."""
    B, C, p, h, w, heads, depth, K = config.values()
    g = generator(seed)
    args, kwargs = vit_args(C, p, h, w, heads, 3, depth, K)
    cand, ref, _ = build_vit(candidate, reference, args, kwargs, g, seed)
    x = torch.randn(B, C, h * p, w * p, generator=g, dtype=f64)
    grad_out = torch.randn(B, K, generator=g, dtype=f64)
    assert_gradients_match(candidate.lib.grads(cand, [x], {}, grad_out), ref, x, {}, grad_out)


# -- convergence -----------------------------------------------------------------------------
GRID, PATCH, CHANNELS = 2, 4, 2
VIT = dict(embed_dim=16, depth=1, num_heads=2)
TRAIN = dict(steps=80, lr=5e-3, batch_size=32)


@pytest.mark.category("convergence")
def test_vit_learns_where_the_spot_is(candidate, reference, seed, artifacts):
    """Top half or bottom half? Every patch looks alike wherever it is, so the answer comes
    from the position embeddings (without them: about 50%)."""
    args = (GRID * PATCH, PATCH, CHANNELS, GRID)
    for run in range(2):
        s = seed * 1000 + run
        g = generator(s)
        x_train, y_train = support.spot_row_task(1024, GRID, PATCH, CHANNELS, g)
        x_test, y_test = support.spot_row_task(512, GRID, PATCH, CHANNELS, g)
        with seeded(s):
            ref_model = reference.TinyViT(*args, **VIT)
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}

        model = candidate.TinyViT(*args, **VIT)
        model.load_state_dict(init)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        logits = assert_shape(model(x_test), (512, GRID), "logits on the held-out set")
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        if run == 0 or accuracy < 0.9:  # the reference trains only for the report and the message
            ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]
            with torch.no_grad():
                ref_accuracy = float((ref_model(x_test).argmax(-1) == y_test).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.9, (
            f"after {TRAIN['steps']} Adam steps (data seed {s}) your TinyViT{args} {VIT} reaches {accuracy:.1%} "
            f"held-out accuracy on 'is the bright spot in the top or the bottom half' (without position "
            f"embeddings: about 50%); the reference, from the same initial weights, reaches {ref_accuracy:.1%}; "
            f"at least 90% is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(**sizes)
def test_unpatchify_inverts_patchify(candidate, B, C, p, h, w, data_seed):
    g = generator(data_seed)
    H, W = h * p, w * p
    x = torch.randn(B, C, H, W, generator=g)
    patches = assert_shape(candidate.patchify(x, p), (B, h * w, C * p * p), "patchify output")
    assert_equal(candidate.unpatchify(patches, p, (H, W)), x, f"unpatchify(patchify(x, {p}), {p}, {(H, W)}) vs x")
    other = torch.randn(B, h * w, C * p * p, generator=g)
    images = assert_shape(candidate.unpatchify(other, p, (H, W)), (B, C, H, W), "unpatchify output")
    assert_equal(candidate.patchify(images, p), other, f"patchify(unpatchify(P, {p}, {(H, W)}), {p}) vs P")


@pytest.mark.category("property")
@given(**sizes, E=st.integers(1, 6), data=st.data())
def test_one_pixel_moves_one_token(candidate, reference, B, C, p, h, w, data_seed, E, data):
    """Changing pixel (c, y, x) changes only token (y // p) * w + x // p, in every image."""
    g = generator(data_seed)
    cand, _, _ = build_patch_embedding(candidate, reference, C, p, E, g)
    x = torch.randn(B, C, h * p, w * p, generator=g, dtype=f64)
    c = data.draw(st.integers(0, C - 1), label="channel")
    y0 = data.draw(st.integers(0, h * p - 1), label="row")
    x0 = data.draw(st.integers(0, w * p - 1), label="column")
    changed = x.clone()
    changed[:, c, y0, x0] += 1.0 + torch.rand(B, generator=g, dtype=f64)
    before = assert_shape(cand(x), (B, h * w, E), "patch embeddings")
    after = assert_shape(cand(changed), (B, h * w, E), "patch embeddings")
    n = (y0 // p) * w + x0 // p
    others = torch.ones(B, h * w, 1, dtype=torch.bool)
    others[:, n] = False
    assert_close(after, before, f"tokens other than {n} after changing only pixel (c={c}, y={y0}, x={x0}) "
                 f"(it lies in patch row {y0 // p}, column {x0 // p}: token {n})", where=others)


@pytest.mark.category("property")
@given(**{**sizes, "w": st.integers(2, 3)}, E=st.integers(1, 6), data=st.data())
def test_shifting_by_a_patch_shifts_the_tokens(candidate, reference, B, C, p, h, w, data_seed, E, data):
    """Rolling the image by whole patches rolls the (h, w) grid of tokens the same way."""
    g = generator(data_seed)
    cand, _, _ = build_patch_embedding(candidate, reference, C, p, E, g)
    x = torch.randn(B, C, h * p, w * p, generator=g, dtype=f64)
    dy = data.draw(st.integers(0, h - 1), label="patch rows")
    dx = data.draw(st.integers(1, w - 1), label="patch columns")
    tokens = assert_shape(cand(x), (B, h * w, E), "patch embeddings").reshape(B, h, w, E)
    rolled = assert_shape(cand(torch.roll(x, (dy * p, dx * p), dims=(2, 3))), (B, h * w, E), "patch embeddings")
    assert_close(rolled.reshape(B, h, w, E), torch.roll(tokens, (dy, dx), dims=(1, 2)),
                 f"tokens of the image rolled by ({dy * p}, {dx * p}) pixels vs the token grid rolled by "
                 f"({dy}, {dx}) patches; index [b, patch row, patch column, e]")


@pytest.mark.category("property")
@FEW
@given(**vit_sizes)
def test_vit_without_positions_ignores_patch_order(candidate, reference, B, C, p, h, w, heads, hd, depth, K,
                                                   data_seed):
    """With pos_embed = 0 nothing tells patches apart but their content: shuffling whole
    patches must not change the logits read from [CLS] (it would if the head read a patch token)."""
    g = generator(data_seed)
    args, kwargs = vit_args(C, p, h, w, heads, hd, depth, K)
    cand, _, sd = build_vit(candidate, reference, args, kwargs, g, data_seed % 1000)
    cand.load_state_dict({**sd, "pos_embed": torch.zeros_like(sd["pos_embed"])})
    x = torch.randn(B, C, h * p, w * p, generator=g, dtype=f64)
    perm = torch.randperm(h * w, generator=g)
    shuffled = fold_oracle(unfold_oracle(x, p)[:, perm], p, h * p, w * p)
    before = assert_shape(cand(x), (B, K), "logits", dtype=f64)
    assert_close(cand(shuffled), before, f"logits with zero pos_embed after shuffling the patches by "
                 f"{perm.tolist()} vs before")
