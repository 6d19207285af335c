"""Suite for 59_patch_embedding: `patchify` / `unpatchify` vs a plain-loop spec and F.unfold / F.fold, `PatchEmbedding`
vs nn.Conv2d(kernel_size=stride=p) with its weight transplanted, `TinyViT` vs the reference with the same state_dict;
gradients, round trips, locality and translation, a task that needs positions, errors for sizes that do not tile."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from grader import kit
from grader.kit import assert_close, assert_equal, assert_finite, assert_shape, f64, given_cases

support = kit.exercise_support(__file__)
FEW = settings(max_examples=10)  # each ViT example builds two transformers


def loop_patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """The spec, one patch at a time: token n = (row n // w, column n % w) of the grid, pixels in (C, p, p) order."""
    B, C, H, W = x.shape
    return torch.stack([x[:, :, i:i + p, j:j + p].reshape(B, C * p * p) for i in range(0, H, p)
                        for j in range(0, W, p)], dim=1)  # (B, N, C*p*p)


def unfold(x: torch.Tensor, p: int) -> torch.Tensor:  # torch's own patch extraction, (B, N, C*p*p)
    return F.unfold(x, kernel_size=p, stride=p).transpose(1, 2)


def fold(patches: torch.Tensor, p: int, H: int, W: int) -> torch.Tensor:  # torch's inverse of unfold, (B, C, H, W)
    return F.fold(patches.transpose(1, 2), output_size=(H, W), kernel_size=p, stride=p)


class Img(kit.Case):
    """B images of C channels, an (h, w) grid of p x p patches, embedded in E dims."""

    B: int
    C: int
    p: int
    h: int
    w: int
    E: int
    data_seed: int

    @property
    def size(self) -> tuple:
        return self.h * self.p, self.w * self.p

    def images(self, offset: int = 0, dtype=f64) -> torch.Tensor:
        return torch.randn(self.B, self.C, *self.size, generator=self.generator(offset), dtype=dtype)

    def patches(self, offset: int = 1) -> torch.Tensor:
        return torch.randn(self.B, self.h * self.w, self.C * self.p ** 2, generator=self.generator(offset), dtype=f64)

    def embedding(self, candidate, reference) -> kit.Twins:
        """Candidate and reference PatchEmbedding holding the same random float64 weights."""
        return kit.twins(lambda lib: lib.PatchEmbedding(self.C, self.p, self.E), candidate, reference,
                         self.generator(2))


def imgs(w=st.integers(1, 3)):
    return st.builds(Img, st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), w,
                     st.integers(1, 6), kit.data_seeds)


class Vit(kit.Case):
    """TinyViT on B images of C channels, an (h, w) grid of p x p patches, heads x hd dims, depth blocks, K classes."""

    B: int
    C: int
    p: int
    h: int
    w: int
    heads: int
    hd: int
    depth: int
    K: int
    data_seed: int

    def make(self, lib):
        return lib.TinyViT((self.h * self.p, self.w * self.p), self.p, self.C, self.K, embed_dim=self.heads * self.hd,
                           depth=self.depth, num_heads=self.heads)

    def build(self, candidate, reference):
        """Candidate, reference, one random float64 state_dict ([CLS] and positions ~ N(0, 0.5^2)), images."""
        E, N = self.heads * self.hd, self.h * self.w
        cand, ref, sd = kit.twins(self.make, candidate, reference, g := self.generator(),
                                  scales={"cls_token": 0.5 * math.sqrt(E), "pos_embed": 0.5 * math.sqrt((N + 1) * E)})
        return cand, ref, sd, torch.randn(self.B, self.C, self.h * self.p, self.w * self.p, generator=g, dtype=f64)


vits = st.builds(Vit, *(st.integers(1, 3),) * 5, st.integers(1, 2), st.integers(2, 4), st.integers(1, 2),
                 st.integers(1, 4), kit.data_seeds)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(imgs())
def test_patchify_and_unpatchify_shapes(candidate, case):
    tokens = (case.B, case.h * case.w, case.C * case.p ** 2)
    patches = assert_shape(candidate.patchify(case.images(0, torch.float32), case.p), tokens, "patchify output",
                           dtype=torch.float32)
    assert_shape(candidate.unpatchify(patches, case.p, case.size), (case.B, case.C, *case.size), "unpatchify output",
                 dtype=torch.float32)


@pytest.mark.category("shape")
@given_cases(imgs())
def test_patch_embedding_output_shape(candidate, case):
    y = candidate.PatchEmbedding(case.C, case.p, case.E)(case.images(0, torch.float32))
    assert_finite(assert_shape(y, (case.B, case.h * case.w, case.E), "patch embeddings", dtype=torch.float32))


@pytest.mark.category("shape")
@given(C=st.integers(1, 4), p=st.integers(1, 5), E=st.integers(1, 8))
def test_patch_embedding_parameters_follow_the_interface(candidate, C, p, E):
    kit.assert_state_shapes(candidate.PatchEmbedding(C, p, E), {"proj.weight": (E, C * p * p), "proj.bias": (E,)},
                            f"PatchEmbedding({C}, {p}, {E}) (one nn.Linear named proj on flattened patches)")


@pytest.mark.category("shape")
@FEW
@given_cases(vits)
def test_vit_logits_shape(candidate, case):
    x = torch.randn(case.B, case.C, case.h * case.p, case.w * case.p, generator=case.generator())
    assert_finite(assert_shape(case.make(candidate)(x), (case.B, case.K), "logits", dtype=torch.float32))


@pytest.mark.category("shape")
@pytest.mark.parametrize("image_size, patch_size, C, K, depth", [(8, 4, 3, 5, 2), ((6, 9), 3, 1, 2, 1)])
def test_vit_state_dict_follows_the_interface(candidate, reference, image_size, patch_size, C, K, depth):
    kit.assert_state_shapes(*(lib.TinyViT(image_size, patch_size, C, K, embed_dim=8, depth=depth, num_heads=2)
                              for lib in (candidate, reference)),
                            "TinyViT (patch_embed, cls_token, pos_embed, encoder = nn.TransformerEncoder, norm, head)")


@pytest.mark.category("shape")
@pytest.mark.parametrize("H, W, p", [(7, 8, 4), (8, 10, 4), (5, 5, 2), (9, 6, 4)])
def test_sizes_that_do_not_tile_raise(candidate, seed, H, W, p):
    """An image that is not a whole number of patches is an error, never a silent crop (as a stride-p Conv2d does)."""
    x, (H2, W2) = torch.randn(2, 3, H, W, generator=kit.generator(seed)), (H - H % p, W - W % p)
    patches = torch.randn(2, (H2 // p) * (W2 // p), 3 * p * p, generator=kit.generator(seed))
    for what, call in [(f"patchify of images {tuple(x.shape)}, p={p}", lambda: candidate.patchify(x, p)),
                       (f"PatchEmbedding(3, {p}, 4) on {tuple(x.shape)}", lambda: candidate.PatchEmbedding(3, p, 4)(x)),
                       (f"TinyViT({(H, W)}, {p}, ...)",
                        lambda: candidate.TinyViT((H, W), p, 3, 2, embed_dim=4, depth=1, num_heads=1)),
                       (f"unpatchify to image_size={(H, W)}", lambda: candidate.unpatchify(patches, p, (H, W))),
                       ("unpatchify of a last dim not a multiple of p*p",
                        lambda: candidate.unpatchify(patches[:, :, 1:], p, (H2, W2))),
                       (f"unpatchify of N={patches.shape[1]} patches to {(H2 + p, W2)}",
                        lambda: candidate.unpatchify(patches, p, (H2 + p, W2)))]:
        kit.expect_raises(call, "ValueError", what)


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(imgs())
def test_patchify_matches_the_loop_spec_and_unfold(candidate, case):
    expected = loop_patchify(x := case.images(), case.p)
    assert_equal(unfold(x, case.p), expected, "F.unfold vs the loop spec (oracle self-check)")
    assert_equal(candidate.patchify(x, case.p), expected, "patchify vs the spec (token n = patch (n // w, n % w), "
                 "flattened (C, p, p)); index [b, n, c*p*p + i*p + j]")


@pytest.mark.category("equivalence")
@given_cases(imgs())
def test_unpatchify_matches_fold(candidate, case):
    assert_equal(candidate.unpatchify(patches := case.patches(), case.p, case.size), fold(patches, case.p, *case.size),
                 "unpatchify vs F.fold; index [b, c, y, x]")


@pytest.mark.category("equivalence")
@given_cases(imgs())
def test_patch_embedding_matches_conv2d(candidate, reference, case):
    """Conv2d(kernel_size=stride=p) is a Linear on (C, p, p)-flattened patches: weight (E, C, p, p) = proj.weight."""
    cand, _, sd = case.embedding(candidate, reference)
    conv = F.conv2d(x := case.images(), sd["proj.weight"].reshape(case.E, case.C, case.p, case.p), sd["proj.bias"],
                    stride=case.p)  # (B, E, h, w)
    assert_close(cand(x), conv.flatten(2).transpose(1, 2), "PatchEmbedding vs nn.Conv2d(kernel_size=stride=p) with "
                 "conv.weight.reshape(E, C*p*p) as proj.weight; index [b, n, e]")


@pytest.mark.category("equivalence")
@given_cases(imgs())
def test_patch_embedding_matches_reference(candidate, reference, case):
    cand, ref, _ = case.embedding(candidate, reference)
    assert_close(cand(x := case.images()), ref(x).detach(), "patch embeddings vs reference")


@pytest.mark.category("equivalence")
@FEW
@given_cases(vits)
def test_vit_matches_reference(candidate, reference, case):
    cand, ref, _, x = case.build(candidate, reference)
    assert_close(cand(x), ref(x).detach(), "logits vs reference with the same state_dict (train mode: the encoder's "
                 "dropout must be 0)")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(imgs())
def test_patchify_and_unpatchify_gradients_route_back(candidate, case):
    """Both only move numbers around: each backward pass is the other's forward."""
    got = candidate.lib.grads(candidate.patchify, [case.images(), case.p], {}, grad := case.patches())
    assert_equal(got["input_grads"][0], fold(grad, case.p, *case.size), "gradient of patchify vs F.fold of grad_out")
    got = candidate.lib.grads(candidate.unpatchify, [case.patches(2), case.p, case.size], {}, grad := case.images(3))
    assert_equal(got["input_grads"][0], unfold(grad, case.p), "gradient of unpatchify vs F.unfold of grad_out")


@pytest.mark.category("gradient")
@given_cases(imgs())
def test_patch_embedding_gradients_match_reference(candidate, reference, case):
    cand, ref, _ = case.embedding(candidate, reference)
    kit.check_gradients(candidate, cand, ref, {"x": case.images()}, g=case.generator(1))


@pytest.mark.category("gradient")
def test_patch_embedding_gradients_match_finite_differences(candidate, reference, seed):
    case = Img(2, 3, 2, 2, 3, 4, seed)
    cand, _, sd = case.embedding(candidate, reference)
    kit.check_finite_differences(candidate, cand, {"x": case.images()}, g=case.generator(1), state_dict=sd)


@pytest.mark.category("gradient")
@pytest.mark.parametrize("config", [(2, 2, 2, 2, 2, 2, 3, 2, 3), (1, 3, 3, 1, 2, 1, 3, 1, 2)],
                         ids=["2x2-patches-depth2", "1x2-patches-depth1"])
def test_vit_gradients_match_reference(candidate, reference, seed, config):
    """Gradients w.r.t. the images and every parameter ([CLS], positions, encoder, head)."""
    cand, ref, _, x = (case := Vit(*config, seed)).build(candidate, reference)
    kit.check_gradients(candidate, cand, ref, {"x": x}, g=case.generator(1))


# -- convergence -----------------------------------------------------------------------------
GRID, PATCH, CHANNELS, VIT = 2, 4, 2, dict(embed_dim=16, depth=1, num_heads=2)


@pytest.mark.category("convergence")
def test_vit_learns_where_the_spot_is(candidate, reference, seed, artifacts):
    """Top half or bottom half? Every patch looks alike wherever it is: the position embeddings tell (without: 50%)."""
    args = (GRID * PATCH, PATCH, CHANNELS, GRID)
    kit.check_convergence(
        candidate, artifacts, seed, runs=2, threshold=0.9, train=dict(steps=80, lr=5e-3, batch_size=32),
        models=lambda s, run: kit.same_init(candidate.TinyViT(*args, **VIT), lambda: reference.TinyViT(*args, **VIT),
                                            s),
        task=lambda g: (*support.spot_row_task(1024, GRID, PATCH, CHANNELS, g),
                        *support.spot_row_task(512, GRID, PATCH, CHANNELS, g)),
        subject=f"your TinyViT{args} {VIT}", goal="on 'is the bright spot in the top or the bottom half'")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(imgs())
def test_unpatchify_inverts_patchify(candidate, case):
    x, other, p, size = case.images(0, torch.float32), case.patches().float(), case.p, case.size
    assert_equal(candidate.unpatchify(candidate.patchify(x, p), p, size), x, "unpatchify(patchify(x)) vs x")
    assert_equal(candidate.patchify(candidate.unpatchify(other, p, size), p), other, "patchify(unpatchify(P)) vs P")


@pytest.mark.category("property")
@given_cases(imgs(), data=st.data())
def test_one_pixel_moves_one_token(candidate, reference, case, data):
    """Changing pixel (c, y, x) changes only token (y // p) * w + x // p, in every image."""
    cand, (x, changed) = case.embedding(candidate, reference)[0], (case.images(), case.images())
    c, y, z = (data.draw(st.integers(0, n - 1), label=what) for n, what in zip((case.C, *case.size), "c y x".split()))
    changed[:, c, y, z] += 1.0 + torch.rand(case.B, generator=case.generator(1), dtype=f64)
    others = torch.arange(case.h * case.w)[None, :, None] != (y // case.p) * case.w + z // case.p  # (1, N, 1)
    before = assert_shape(cand(x), (case.B, case.h * case.w, case.E), "patch embeddings")
    assert_close(cand(changed), before, f"tokens other than {(y // case.p) * case.w + z // case.p} after changing "
                 f"only pixel (c={c}, y={y}, x={z}) of patch row {y // case.p}, column {z // case.p}", where=others)


@pytest.mark.category("property")
@given_cases(imgs(w=st.integers(2, 3)), data=st.data())
def test_shifting_by_a_patch_shifts_the_tokens(candidate, reference, case, data):
    """Rolling the image by whole patches rolls the (h, w) grid of tokens the same way."""
    cand, x, p = case.embedding(candidate, reference)[0], case.images(), case.p
    dy = data.draw(st.integers(0, case.h - 1), label="patch rows")
    dx = data.draw(st.integers(1, case.w - 1), label="patch columns")
    flat, grid = (case.B, case.h * case.w, case.E), (case.B, case.h, case.w, case.E)
    tokens = assert_shape(cand(x), flat, "patch embeddings").reshape(grid)
    rolled = assert_shape(cand(torch.roll(x, (dy * p, dx * p), dims=(2, 3))), flat, "embeddings of the rolled image")
    assert_close(rolled.reshape(grid), torch.roll(tokens, (dy, dx), dims=(1, 2)), f"tokens of the image rolled by "
                 f"({dy}, {dx}) patches vs the token grid rolled the same; index [b, patch row, patch column, e]")


@pytest.mark.category("property")
@FEW
@given_cases(vits)
def test_vit_without_positions_ignores_patch_order(candidate, reference, case):
    """With pos_embed = 0 only content tells patches apart: shuffling them leaves the logits read from [CLS] alone."""
    cand, _, sd, x = case.build(candidate, reference)
    cand.load_state_dict({**sd, "pos_embed": torch.zeros_like(sd["pos_embed"])})
    perm = torch.randperm(case.h * case.w, generator=case.generator(1))
    shuffled = fold(unfold(x, case.p)[:, perm], case.p, case.h * case.p, case.w * case.p)
    assert_close(cand(shuffled), assert_shape(cand(x), (case.B, case.K), "logits", dtype=f64),
                 f"logits with zero pos_embed after shuffling the patches by {perm.tolist()} vs before")
