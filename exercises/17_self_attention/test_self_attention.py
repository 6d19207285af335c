"""Suite for 17_self_attention: SelfAttention vs the reference, nn.MultiheadAttention, F.scaled_dot_product_attention;
gradients, a learning task, attention's properties. key_padding_mask True = padding (as in nn.MultiheadAttention)."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import nn

from grader import kit, tasks
from grader.kit import assert_close, assert_finite, assert_shape, f64, given_cases

MASKS = ["none", "causal", "padding", "causal+padding"]
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")


class Attn(kit.Case):
    """x (B, T, H * hd) through H heads of size hd; mask: which keys each query may see."""

    B: int
    T: int
    H: int
    hd: int
    bias: bool
    mask: str

    def inputs(self, g, dtype=f64):
        """x (B, T, C) and the keyword arguments: a random key_padding_mask (B, T) or None, causal."""
        x = torch.randn(self.B, self.T, self.H * self.hd, generator=g, dtype=dtype)
        kpm = torch.rand(self.B, self.T, generator=g) < 0.4 if "padding" in self.mask else None
        if kpm is not None:
            kpm[0, 0] = False  # some query always has a key, so every example compares something
        return x, {"key_padding_mask": kpm, "causal": self.mask.startswith("causal")}

    def build(self, candidate, reference):
        """Candidate and reference with the same random weights, the weights, x, kwargs, the generator."""
        g = self.generator()
        cand, ref, sd = kit.twins(lambda lib: lib.SelfAttention(self.H * self.hd, self.H, bias=self.bias),
                                  candidate, reference, g)
        return cand, ref, sd, *self.inputs(g), g


def attns(mask=st.sampled_from(MASKS), bias=st.booleans()):
    return kit.builds(Attn, B=st.integers(1, 3), T=st.integers(1, 6), H=st.integers(1, 4), hd=st.integers(1, 4),
                      bias=bias, mask=mask)


def allowed(kw: dict, T: int) -> torch.Tensor:
    """(B or 1, T, T) bool: may query i attend to key j."""
    ok = torch.ones(T, T, dtype=torch.bool).tril() if kw["causal"] else torch.ones(T, T, dtype=torch.bool)
    return ok & ~kw["key_padding_mask"][:, None, :] if kw["key_padding_mask"] is not None else ok[None]


def has_keys(kw: dict, T: int) -> torch.Tensor:
    """(B, T, 1) bool: queries that may attend to at least one key (others have no defined output)."""
    return allowed(kw, T).any(-1)[..., None]


def mha_oracle(sd: dict, x, case: Attn, kw: dict) -> torch.Tensor:
    """torch's own attention with the same weights (q, k, v stacked into in_proj)."""
    mha = nn.MultiheadAttention(x.shape[-1], case.H, bias=case.bias, batch_first=True, dtype=f64)
    names = ("weight", "bias") if case.bias else ("weight",)
    mha.load_state_dict({**{f"in_proj_{n}": torch.cat([sd[f"{p}.{n}"] for p in PROJECTIONS[:3]]) for n in names},
                         **{f"out_proj.{n}": sd[f"out_proj.{n}"] for n in names}})
    causal = torch.ones(case.T, case.T, dtype=torch.bool).triu(1) if kw["causal"] else None  # True = may NOT attend
    return mha(x, x, x, key_padding_mask=kw["key_padding_mask"], attn_mask=causal, need_weights=False)[0]


def sdpa_oracle(sd: dict, x, heads, kw):
    """The same attention through F.scaled_dot_product_attention (its bool mask: True = may attend)."""
    B, T, C = x.shape
    q, k, v = (F.linear(x, sd[f"{p}.weight"], sd.get(f"{p}.bias")).view(B, T, heads, C // heads).transpose(1, 2)
               for p in PROJECTIONS[:3])  # (B, H, T, hd)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed(kw, T)[:, None])  # (B, H, T, hd)
    return F.linear(y.transpose(1, 2).reshape(B, T, C), sd["out_proj.weight"], sd.get("out_proj.bias"))


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(attns())
def test_output_shape_and_dtype(candidate, case):
    x, kw = case.inputs(case.generator(), dtype=torch.float32)
    y = candidate.SelfAttention(x.shape[-1], case.H, bias=case.bias)(x, **kw)
    assert_finite(assert_shape(y, x.shape, "output", dtype=torch.float32), "output")


@pytest.mark.category("shape")
@pytest.mark.parametrize("bias", [True, False])
def test_parameters_follow_the_interface(candidate, reference, bias):
    kit.assert_state_shapes(candidate.SelfAttention(12, 3, bias=bias), reference.SelfAttention(12, 3, bias=bias),
                            f"SelfAttention(12, 3, bias={bias}) (q_proj, k_proj, v_proj, out_proj: nn.Linear)")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@pytest.mark.parametrize("mask", MASKS)
@given_cases(attns(), replace=("mask",))
def test_matches_reference(candidate, reference, mask, case):
    cand, ref, _, x, kw, _ = case.build(candidate, reference)
    assert_close(cand(x, **kw), ref(x, **kw), "output vs reference", where=has_keys(kw, case.T))


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("mask", MASKS)
@given_cases(attns(), replace=("mask",))
def test_matches_torch_multihead_attention(candidate, reference, mask, case):
    cand, _, sd, x, kw, _ = case.build(candidate, reference)
    assert_close(cand(x, **kw), mha_oracle(sd, x, case, kw), "output vs nn.MultiheadAttention",
                 where=has_keys(kw, case.T))


@pytest.mark.category("equivalence")
@given_cases(attns())
def test_matches_scaled_dot_product_attention(candidate, reference, case):
    cand, _, sd, x, kw, _ = case.build(candidate, reference)
    assert_close(cand(x, **kw), sdpa_oracle(sd, x, case.H, kw), "output vs F.scaled_dot_product_attention",
                 where=has_keys(kw, case.T))


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@pytest.mark.parametrize("mask", ["none", "causal+padding"])
@given_cases(attns(), replace=("mask",))
def test_gradients_match_reference(candidate, reference, mask, case):
    cand, ref, _, x, kw, g = case.build(candidate, reference)
    keys = has_keys(kw, case.T)  # queries without keys have no defined output, so no gradient flows from them
    grad_out = torch.randn(x.shape, generator=g, dtype=f64) * keys
    kit.check_gradients(candidate, cand, ref, {"x": x}, kw, grad_output=grad_out, where=keys, against="reference")


@pytest.mark.category("gradient")
@pytest.mark.parametrize("mask", ["none", "causal+padding"])
def test_gradients_match_finite_differences(candidate, reference, seed, mask):
    case = Attn(2, 4, 2, 3, True, mask, data_seed=seed)
    cand, _, sd, x, kw, g = case.build(candidate, reference)
    grad_out = torch.randn(x.shape, generator=g, dtype=f64) * has_keys(kw, case.T)
    kit.check_finite_differences(candidate, cand, {"x": x}, kw, g=g, grad_output=grad_out, state_dict=sd)


# -- convergence -----------------------------------------------------------------------------
VOCAB, LENGTH, D_MODEL, HEADS = 8, 6, 16, 2
TAGGER = (VOCAB, D_MODEL, LENGTH, VOCAB)  # vocab_size, d_model, max_len, num_classes


@pytest.mark.category("convergence")
def test_learns_a_task_that_needs_attention(candidate, reference, seed, artifacts):
    """Every position must output the sequence's first token: without attention a position
    sees only itself (12% accuracy); uniform averaging reaches about 37%."""
    def models(s, run):
        return kit.same_init(candidate.lib.build("TokenTagger", candidate.SelfAttention(D_MODEL, HEADS), *TAGGER),
                             lambda: tasks.TokenTagger(reference.SelfAttention(D_MODEL, HEADS), *TAGGER), s)

    def task(g):
        return (*tasks.first_token_task(512, LENGTH, VOCAB, g), *tasks.first_token_task(256, LENGTH, VOCAB, g))

    kit.check_convergence(candidate, artifacts, seed, models=models, task=task, runs=3, threshold=0.9,
                          train=dict(steps=150, lr=1e-2, batch_size=32), subject="your attention",
                          score=lambda logits, y: kit.accuracy(logits[:, 1:], y[:, 1:]),
                          goal="on the copy-the-first-token task")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(attns(mask=st.just("none"), bias=st.just(True)))
def test_permutation_equivariance(candidate, reference, case):
    cand, _, _, x, _, g = case.build(candidate, reference)
    perm = torch.randperm(case.T, generator=g)
    y = assert_shape(cand(x), x.shape, "output", dtype=f64)
    assert_close(cand(x[:, perm]), y[:, perm], f"output for tokens permuted by {perm.tolist()} vs permuted output")


@pytest.mark.category("property")
@given_cases(attns(mask=st.just("causal"), bias=st.just(True)), data=st.data())
def test_causal_outputs_ignore_future_tokens(candidate, reference, case, data):
    cand, _, _, x, _, g = case.build(candidate, reference)
    t = data.draw(st.integers(0, case.T - 1), label="last unchanged position t")
    kit.assert_causal(lambda x: cand(x, causal=True), x, t, g)


@pytest.mark.category("property")
@given_cases(attns(mask=st.sampled_from(["padding", "causal+padding"]), bias=st.just(True)))
def test_padding_keys_are_ignored(candidate, reference, case):
    cand, _, _, x, kw, g = case.build(candidate, reference)
    padded = kw["key_padding_mask"][..., None]  # (B, T, 1)
    kit.assert_ignores(lambda x: cand(x, **kw), x, padded, g, what="padded tokens", where=~padded & has_keys(kw, case.T))


@pytest.mark.category("property")
def test_finite_when_a_query_has_no_key(candidate, seed):
    """A fully padded sequence, and left padding under a causal mask, leave some queries
    without any key: their outputs (and all gradients) must still be finite."""
    x = torch.randn(3, 5, 8, generator=kit.generator(seed))
    # row 0: everything padded; row 1: left padding (with causal, queries 0 and 1 see no key); row 2: none
    kpm = torch.tensor([[True] * 5, [True] * 2 + [False] * 3, [False] * 5])
    for causal in (False, True):
        got = candidate.lib.grads(candidate.SelfAttention(8, 2), [x], {"key_padding_mask": kpm, "causal": causal})
        assert_finite(got["output"], f"output (causal={causal}) with fully masked queries")
        assert_finite(got["input_grads"][0], f"gradient w.r.t. x (causal={causal}) with fully masked queries")


@pytest.mark.category("property")
def test_stable_at_large_logits(candidate, reference, seed):
    """Logits in the thousands overflow exp() unless the softmax subtracts the row maximum."""
    g = kit.generator(seed)
    cand, ref, _ = kit.twins(lambda lib: lib.SelfAttention(8, 2), candidate, reference, g, dtype=torch.float32,
                             scales={"[qk]_proj.weight": 40.0})
    x = torch.randn(2, 5, 8, generator=g)
    got = assert_finite(cand(x, causal=True), "float32 output at logits of order 1e3")
    expected = ref.to(f64)(x.double(), causal=True).float()
    assert_close(got, expected, "float32 output at logits of order 1e3 vs float64 reference", rtol=1e-3, atol=1e-3)


@pytest.mark.category("property")
def test_forward_does_not_modify_its_inputs(candidate, seed):
    x, kw = Attn(2, 5, 2, 4, True, "causal+padding").inputs(kit.generator(seed), dtype=torch.float32)
    kit.assert_inputs_unchanged(candidate.SelfAttention(8, 2), {"x": x}, kw, "forward")
