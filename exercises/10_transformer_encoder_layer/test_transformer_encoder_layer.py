"""Suite for 10_transformer_encoder_layer (masks as the library's: bool True = may NOT attend; float masks add)."""
import pytest
import torch
from hypothesis import strategies as st
from torch import nn

from grader import kit
from grader.kit import Mismatch, assert_close, assert_finite, assert_shape, f64, given_cases

support = kit.exercise_support(__file__)
NORMS = {"post-norm": False, "pre-norm": True}
norms = pytest.mark.parametrize("norm_first", NORMS.values(), ids=list(NORMS))
# (src_mask kind, src_key_padding_mask kind); both given -> the same kind, as torch asks
MASKS = [("none", "none"), ("bool", "none"), ("float", "none"), ("none", "bool"), ("bool", "bool"), ("float", "float")]


@pytest.fixture(autouse=True)
def slow_path():
    """nn.TransformerEncoderLayer, the oracle, on its ordinary code path (its fused fast path has other numerics)."""
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    yield
    torch.backends.mha.set_fastpath_enabled(before)


def random_mask(kind, shape, g, dtype=f64):
    """None, bool (True = not allowed, ~30%) or float (N(0, 1), ~20% -inf); key 0 is never blocked."""
    if kind == "none":
        return None
    blocked = torch.rand(shape, generator=g) < (0.3 if kind == "bool" else 0.2)
    blocked[..., 0] = False  # every query has a key, so every output is defined
    return blocked if kind == "bool" else torch.randn(shape, generator=g, dtype=dtype).masked_fill(blocked, -torch.inf)


class Enc(kit.Case):
    """EncoderLayer(d = H * hd, H, dim_ff=ff, norm_first) on x (B, T, d), src_mask and src_key_padding_mask of `masks`."""

    B: int
    T: int
    H: int
    hd: int
    ff: int
    norm_first: bool
    masks: tuple
    data_seed: int

    def kwargs(self, g, dtype=f64):
        return {"src_mask": random_mask(self.masks[0], (self.T, self.T), g, dtype),
                "src_key_padding_mask": random_mask(self.masks[1], (self.B, self.T), g, dtype)}

    def make(self, lib, dropout=0.1):
        return lib.EncoderLayer(self.H * self.hd, self.H, dim_ff=self.ff, dropout=dropout, norm_first=self.norm_first)

    def out(self, y, name="output", x=None):  # y checked to be float64 of x's shape (x: the case's B, T, d)
        return assert_finite(assert_shape(y, (self.B, self.T, self.H * self.hd) if x is None else x.shape, name,
                                          dtype=f64), name)

    def library(self, dropout=0.1):
        return nn.TransformerEncoderLayer(self.H * self.hd, self.H, self.ff, dropout, norm_first=self.norm_first,
                                          batch_first=True, dtype=f64).eval()

    def build(self, candidate, dropout=0.1, zero=()):  # yours (eval mode), the library's, sd, x (B, T, d), masks, g
        """float64, the same random weights; the sublayers whose output projection is named in `zero` add exactly 0."""
        g, lib = self.generator(), self.library(dropout)
        sd = {k: v * 0 if k.startswith(zero) else v for k, v in kit.random_state_dict(lib, g).items()}
        lib.load_state_dict(sd)
        x = torch.randn(self.B, self.T, self.H * self.hd, generator=g, dtype=f64)
        return kit.load(self.make(candidate, dropout), sd, f64).eval(), lib, sd, x, self.kwargs(g), g


def encs(norm_first=st.booleans(), masks=st.sampled_from(MASKS)):  # B, T, H, hd, ff from 1 to 3, 6, 3, 4, 12
    return st.builds(Enc, *map(st.integers, (1,) * 5, (3, 6, 3, 4, 12)), norm_first, masks, kit.data_seeds)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(encs())
def test_output_shape_and_dtype(candidate, case):
    g = case.generator()
    x = torch.randn(case.B, case.T, case.H * case.hd, generator=g)
    y = case.make(candidate).eval()(x, **case.kwargs(g, torch.float32))
    assert_finite(assert_shape(y, x.shape, "output", dtype=torch.float32), "output")


@pytest.mark.category("shape")
@norms
def test_state_dict_is_the_libraries(candidate, norm_first):
    case = Enc(1, 1, 3, 4, 20, norm_first, MASKS[0], 0)
    kit.assert_state_shapes(case.make(candidate), case.library(), "EncoderLayer(12, 3, dim_ff=20)")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@norms
@given_cases(encs(), replace=("norm_first",))
def test_matches_torch_encoder_layer(candidate, norm_first, case):
    """Eval mode, float64, the library's state_dict loaded into both; every mask case of MASKS."""
    cand, lib, _, x, _, g = case.build(candidate)
    for kinds in MASKS:
        masks = case.replace(masks=kinds).kwargs(g)
        assert_close(cand(x, **masks), lib(x, **masks).detach(), "output vs nn.TransformerEncoderLayer, eval mode, "
                     f"src_mask={kinds[0]}, padding={kinds[1]}")


@pytest.mark.category("equivalence")
@given_cases(encs())
def test_matches_reference(candidate, reference, case):
    cand, _, sd, x, masks, _ = case.build(candidate)
    assert_close(cand(x, **masks), kit.load(case.make(reference), sd, f64).eval()(x, **masks).detach(),
                 "output vs reference")


@pytest.mark.category("equivalence")
@norms
@given_cases(encs(), replace=("norm_first",))
def test_train_mode_without_dropout_matches_library(candidate, norm_first, case):
    """With dropout=0.0, train() mode is the same function as eval() mode."""
    cand, lib, _, x, masks, _ = case.build(candidate, dropout=0.0)
    assert_close(cand.train()(x, **masks), lib.train()(x, **masks).detach(), "train() output, dropout=0.0, vs the library")


@pytest.mark.category("equivalence")
@norms
def test_eval_mode_is_deterministic_with_dropout(candidate, seed, norm_first):
    """dropout=0.5, but eval(): every call gives the library's (dropout-free) output."""
    case = Enc(3, 7, 2, 4, 16, norm_first, ("bool", "bool"), seed)
    cand, lib, _, x, masks, _ = case.build(candidate, dropout=0.5)
    cand.train().eval()  # back from train(): eval() must switch dropout off again
    for call in range(3):
        assert_close(cand(x, **masks), lib(x, **masks).detach(), f"output of eval() call {call + 1} with dropout=0.5 vs "
                     "the library (dropout still active?)")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@norms
@given_cases(encs(), replace=("norm_first",))
def test_gradients_match_library(candidate, norm_first, case):
    """Gradients w.r.t. src and every parameter (by name) vs the library, without a mask, with bool and float masks."""
    cand, lib, _, x, _, g = case.build(candidate)
    for kinds in [("none", "none"), ("bool", "bool"), ("float", "float")]:
        with kit.about(f"src_mask={kinds[0]}, padding={kinds[1]}"):
            kit.check_gradients(candidate, cand, lib, {"src": x}, case.replace(masks=kinds).kwargs(g), g=g)


@pytest.mark.category("gradient")
@norms
def test_gradients_match_finite_differences(candidate, seed, norm_first):
    case = Enc(2, 4, 2, 3, 5, norm_first, ("float", "float"), seed)
    cand, _, sd, x, masks, g = case.build(candidate)
    kit.check_finite_differences(candidate, cand, {"src": x}, masks, g=g, state_dict=sd)


# -- convergence -----------------------------------------------------------------------------
VOCAB, LENGTH, D_MODEL, HEADS, DIM_FF = 8, 6, 16, 2, 32


@pytest.mark.category("convergence")
def test_learns_the_last_real_token(candidate, reference, seed, artifacts):
    """Output the last real token of a padded sequence: without attention or attending to padding, about 35%."""
    def models(s, run):
        layer = Enc(1, LENGTH, HEADS, D_MODEL // HEADS, DIM_FF, NORMS[run], MASKS[0], s)
        return kit.same_init(candidate.lib.support("PaddedTagger", [layer.make(candidate, 0.0)], VOCAB, D_MODEL, LENGTH),
                             lambda: support.PaddedTagger([layer.make(reference, 0.0)], VOCAB, D_MODEL, LENGTH), s)

    kit.check_convergence(
        candidate, artifacts, seed, models=models, runs=NORMS, threshold=0.9, train=dict(steps=80, lr=.02, batch_size=32),
        task=lambda g: (*support.last_real_token_task(1024, LENGTH, VOCAB, g),
                        *support.last_real_token_task(512, LENGTH, VOCAB, g)),
        subject="a tagger built on your layer", goal="on the last-real-token task")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(encs(masks=st.just(MASKS[0])))
def test_permutation_equivariance(candidate, case):
    """Without a mask (and no positions) permuting the tokens permutes the outputs."""
    cand, _, _, x, _, g = case.build(candidate)
    perm, y = torch.randperm(case.T, generator=g), case.out(cand(x))
    assert_close(cand(x[:, perm]), y[:, perm], f"output for tokens permuted by {perm.tolist()} vs permuted output")


@pytest.mark.category("property")
@given_cases(encs(masks=st.just(("none", "bool"))), extra=st.integers(1, 3))
def test_appended_padding_changes_nothing(candidate, case, extra):
    """Appending padding tokens (random contents, True in src_key_padding_mask) leaves the other outputs equal."""
    cand, _, _, x, masks, g = case.build(candidate)
    kpm = masks["src_key_padding_mask"]
    longer = torch.cat([x, 10 * torch.randn(case.B, extra, x.shape[2], generator=g, dtype=f64)], dim=1)
    after = cand(longer, src_key_padding_mask=torch.cat([kpm, torch.ones(case.B, extra, dtype=torch.bool)], dim=1))
    assert_close(case.out(after, x=longer)[:, :case.T], cand(x, src_key_padding_mask=kpm), "outputs at the original "
                 f"positions after appending {extra} padding tokens")


@pytest.mark.category("property")
@norms
def test_fully_padded_sequence_is_finite(candidate, seed, norm_first):
    """A sequence of padding only has no key: finite outputs (the library: zero attention), the others unaffected."""
    case = Enc(3, 5, 2, 4, 12, norm_first, ("none", "bool"), seed)
    cand, lib, _, x, masks, _ = case.build(candidate)
    masks["src_key_padding_mask"][1] = True
    got = case.out(cand(x, **masks), "output with sequence 1 fully padded")
    assert_close(got[[0, 2]], lib(x, **masks).detach()[[0, 2]], "outputs of sequences 0 and 2 vs the "
                 "library when sequence 1 is fully padded")


@pytest.mark.category("property")
@norms
def test_dropout_only_on_the_branches(candidate, seed, norm_first):
    """Dropout never touches the residual stream: with both branches zeroed, train() (p=0.5) is exactly eval()."""
    case = Enc(4, 8, 2, 8, 32, norm_first, ("none", "bool"), seed)
    cand, _, _, x, masks, _ = case.build(candidate, 0.5, zero=("self_attn.out_proj.", "linear2."))
    expected = case.out(cand(x, **masks), "eval() output")
    candidate.lib.make("torch.manual_seed", seed)
    assert_close(cand.train()(x, **masks), expected, f"train() output, dropout=0.5, both branches "
                 f"zeroed, vs eval() output ({case}): dropout reached the residual stream")


@pytest.mark.category("property")
@norms
def test_train_mode_is_stochastic(candidate, seed, norm_first):
    case = Enc(2, 6, 2, 4, 16, norm_first, MASKS[0], seed)
    cand, _, _, x, _, _ = case.build(candidate, 0.5)
    evaluated = cand(x)
    candidate.lib.make("torch.manual_seed", seed)
    first, second = cand.train()(x), cand(x)
    for name, y in (("first", first), ("second", second)):
        if torch.equal(case.out(y, f"{name} train() output"), evaluated):
            raise Mismatch(f"{name} train() output with dropout=0.5 equals the eval() output: no dropout in train()")
    if torch.equal(first, second):
        raise Mismatch("two train() calls with dropout=0.5 gave the same output: dropout does not draw new masks")


@pytest.mark.category("property")
@pytest.mark.parametrize("branch", ["attention", "feed-forward"])
def test_dropout_where_the_library_drops(candidate, seed, branch):
    """Pre-norm, p=0.5, the other branch zeroed (out - src: this branch). The library drops that output (about half its
    elements exactly 0) and inside the branch (attention weights, FFN hidden units): not all kept ones are 2x eval()."""
    attention = branch == "attention"
    case = Enc(4, 8, 2, 8, 32, True, MASKS[0], seed)
    cand, _, _, x, _, _ = case.build(candidate, 0.5, zero=("linear2." if attention else "self_attn.out_proj.",))
    eval_delta = case.out(cand(x), "eval() output") - x
    candidate.lib.make("torch.manual_seed", seed)
    delta = case.out(cand.train()(x), "train() output") - x
    if not 0.35 <= (zeros := float((delta == 0).double().mean())) <= 0.65:
        raise Mismatch(f"{branch} branch in train() mode, dropout=0.5: {zeros:.1%} of its output elements are exactly 0 "
                       f"(the library's dropout{1 if attention else 2} drops about 50%; 0.35..0.65 accepted)")
    rescaled = ((delta - 2 * eval_delta).abs() <= 1e-9 * (1 + eval_delta.abs()))[delta != 0].double().mean()
    if float(rescaled) > 0.5:
        raise Mismatch(f"{branch} branch in train() mode, dropout=0.5: {float(rescaled):.1%} of its kept output elements "
                       f"are exactly 2x their eval() value: nothing inside the branch is dropped; the library also "
                       f"drops {'the attention weights' if attention else 'the hidden units (linear1 -> linear2)'}")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_inputs(candidate, seed):
    for case in (Enc(2, 5, 2, 4, 12, norm, kinds, seed) for norm in NORMS.values() for kinds in MASKS[4:]):
        g = case.generator()
        kit.assert_inputs_unchanged(case.make(candidate).eval(), {"src": torch.randn(2, 5, 8, generator=g)},
                                    case.kwargs(g, torch.float32), f"forward ({case})")
