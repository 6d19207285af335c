"""Suite for 29_transformer_masks: masks vs the reference and torch (bool True = may NOT attend; float masks add)."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from grader import kit
from grader.kit import assert_close, assert_equal, assert_finite, assert_shape, f64, given_cases

FLOAT_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
# (attn_mask kind, key_padding_mask kind) for merge_masks; a 3D attn_mask is (B*H, T, S)
KINDS = [("bool 2D", "bool"), ("bool 3D", "bool"), ("float 2D", "float"), ("float 3D", "float"),
         ("bool 2D", "float"), ("float 3D", "bool")]
lengths_st = st.lists(st.integers(0, 8), min_size=1, max_size=4)
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched")  # mixed bool/float masks in torch's attention


def random_mask(kind: str, shape: tuple, g, keep_first_key: bool) -> torch.Tensor:
    """bool (True = blocked, ~30%) or float (N(0, 2^2), ~20% -inf); key 0 open if asked (every query has a key)."""
    blocked = torch.rand(shape, generator=g) < (0.3 if kind.startswith("bool") else 0.2)
    blocked[..., 0] &= not keep_first_key  # key 0 open: every query has a key
    return blocked if kind.startswith("bool") else (2 * torch.randn(shape, generator=g, dtype=f64)).masked_fill(
        blocked, float("-inf"))


class Merge(kit.Case):
    """merge_masks(attn_mask (T, S) or (B*H, T, S), key_padding_mask (B, S), num_heads=H) of the given kinds."""

    B: int
    H: int
    T: int
    S: int
    kinds: tuple
    data_seed: int

    def masks(self, g=None, keep_first_key=True):
        g, attn = g or self.generator(), (self.B * self.H, self.T, self.S)[1 - self.kinds[0].endswith("3D"):]
        return tuple(random_mask(k, s, g, keep_first_key) for k, s in zip(self.kinds, (attn, (self.B, self.S))))

    def merged(self, candidate, attn, kpm):  # the candidate's, checked: bool only for two bool masks
        return assert_shape(candidate.merge_masks(attn, kpm, self.H), (self.B * self.H, self.T, self.S), "merged mask",
                            dtype=kpm.dtype if attn.dtype == torch.bool else attn.dtype)


def merges(kinds=st.sampled_from(KINDS)):  # B, H, T, S from 1 to 3, 3, 5, 6
    return st.builds(Merge, *map(st.integers, (1, 1, 1, 1), (3, 3, 5, 6)), kinds=kinds, data_seed=kit.data_seeds)


def mha(E: int, H: int, g):
    """run(q, kv=q, **masks) -> output, per-head weights of torch's attention (float64, random weights and biases)."""
    m = nn.MultiheadAttention(E, H, batch_first=True, dtype=f64).eval()
    m.load_state_dict(kit.random_state_dict(m, g))

    @torch.no_grad()
    def run(q, kv=None, **masks):
        return m(q, q if kv is None else kv, q if kv is None else kv, **masks, average_attn_weights=False)
    return run


def as_float(mask: torch.Tensor) -> torch.Tensor:
    return torch.zeros(mask.shape, dtype=f64).masked_fill(mask, float("-inf"))


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(T=st.integers(1, 12), dtype=st.sampled_from([*FLOAT_DTYPES, torch.bool]))
def test_causal_mask_shape_and_dtype(candidate, T, dtype):
    assert_shape(candidate.causal_mask(T, dtype=dtype), (T, T), f"causal_mask({T}, dtype={dtype})", dtype=dtype)


@pytest.mark.category("shape")
def test_causal_mask_defaults_to_float32(candidate):
    assert_shape(candidate.causal_mask(5), (5, 5), "causal_mask(5)", dtype=torch.float32)


@pytest.mark.category("shape")
@given(lengths=lengths_st, extra=st.none() | st.integers(0, 3))
def test_padding_mask_shape_and_dtype(candidate, lengths, extra):
    max_len = None if extra is None else max(lengths) + extra
    assert_shape(candidate.padding_mask(torch.tensor(lengths), max_len), (len(lengths), max_len or max(lengths)),
                 f"padding_mask(lengths={lengths}, max_len={max_len})", dtype=torch.bool)


@pytest.mark.category("shape")
@given_cases(merges())
def test_merge_masks_shape_and_dtype(candidate, case):
    case.merged(candidate, *case.masks())


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(T=st.integers(1, 16), dtype=st.sampled_from(FLOAT_DTYPES))
def test_causal_mask_equals_generate_square_subsequent_mask(candidate, T, dtype):
    assert_equal(candidate.causal_mask(T, dtype=dtype), nn.Transformer.generate_square_subsequent_mask(T, dtype=dtype),
                 f"causal_mask({T}, dtype={dtype}) vs nn.Transformer.generate_square_subsequent_mask", nonfinite_ok=True)


@pytest.mark.category("equivalence")
@given(T=st.integers(1, 16))
def test_bool_causal_mask_blocks_where_the_float_one_is_minus_inf(candidate, T):
    assert_equal(candidate.causal_mask(T, dtype=torch.bool), nn.Transformer.generate_square_subsequent_mask(T) < 0,
                 f"causal_mask({T}, dtype=torch.bool) vs generate_square_subsequent_mask(...) == -inf")


@pytest.mark.category("equivalence")
@given(lengths=lengths_st, extra=st.none() | st.integers(0, 3))
def test_padding_mask_matches_reference(candidate, reference, lengths, extra):
    max_len = None if extra is None else max(lengths) + extra
    assert_equal(candidate.padding_mask(torch.tensor(lengths), max_len), reference.padding_mask(torch.tensor(lengths),
                 max_len), f"padding_mask(lengths={lengths}, max_len={max_len}) vs reference")


@pytest.mark.category("equivalence")
@given_cases(merges())
def test_merge_masks_matches_reference(candidate, reference, case):
    attn, kpm = case.masks(keep_first_key=False)
    assert_equal(candidate.merge_masks(attn, kpm, case.H), reference.merge_masks(attn, kpm, case.H),
                 "merge_masks vs reference", nonfinite_ok=True)


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("kinds", KINDS, ids=lambda c: f"attn={c[0]},kpm={c[1]}")
@given_cases(merges(), replace=("kinds",), hd=st.integers(1, 3))
def test_merged_mask_equals_separate_masks_in_multihead_attention(candidate, kinds, case, hd):
    g = case.generator()
    attn, kpm = case.masks(g)
    run, merged = mha(case.H * hd, case.H, g), case.merged(candidate, attn, kpm)
    q, kv = (torch.randn(case.B, L, case.H * hd, generator=g, dtype=f64) for L in (case.T, case.S))
    for name, got, expected in zip(("output", "per-head weights"), run(q, kv, attn_mask=merged),
                                   run(q, kv, attn_mask=attn, key_padding_mask=kpm)):
        assert_close(got, expected, f"{name} of nn.MultiheadAttention with the merged mask vs the two masks")


class Decoder(kit.Case):  # self-attention over a right-padded batch of sequences of these lengths, H heads of size hd

    lengths: list
    H: int
    hd: int
    data_seed: int

    def inputs(self, extra=0):  # x (B, max(lengths) + extra, H * hd), torch's attention with random weights, g
        g = self.generator()
        x = torch.randn(len(self.lengths), max(self.lengths) + extra, self.H * self.hd, generator=g, dtype=f64)
        return x, mha(self.H * self.hd, self.H, g), g


def decoders(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=3)):
    return st.builds(Decoder, lengths, st.integers(1, 3), st.integers(1, 3), kit.data_seeds)


@pytest.mark.category("equivalence")
@given_cases(decoders(), dtype=st.sampled_from([torch.bool, f64]))
def test_decoder_self_attention_masks_match_torch(candidate, case, dtype):
    """merge_masks(causal_mask(T), padding_mask(lengths), H) in attention vs torch's causal and padding masks."""
    (x, run, _), lengths, T = case.inputs(), torch.tensor(case.lengths), max(case.lengths)
    expected, _ = run(x, attn_mask=nn.Transformer.generate_square_subsequent_mask(T, dtype=f64),
                      key_padding_mask=as_float(torch.arange(T) >= lengths[:, None]))
    mask = candidate.merge_masks(candidate.causal_mask(T, dtype=dtype), candidate.padding_mask(lengths), case.H)
    got, _ = run(x, attn_mask=assert_shape(mask, (len(lengths) * case.H, T, T), "merged decoder mask", dtype=dtype))
    assert_close(got, expected, f"self-attention output with your merged {dtype} causal + padding masks vs "
                 "torch's masks passed separately")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(decoders(), dtype=st.sampled_from([torch.bool, f64]), data=st.data())
def test_causal_mask_hides_future_tokens(candidate, case, dtype, data):
    (x, run, g), T = case.inputs(), max(case.lengths)
    mask = assert_shape(candidate.causal_mask(T, dtype=dtype), (T, T), "causal mask", dtype=dtype)
    assert_finite(run(x, attn_mask=mask)[0], f"attention output with your {dtype} causal mask")
    t = data.draw(st.integers(0, T - 1), label="last unchanged position t")
    kit.assert_causal(lambda x: run(x, attn_mask=mask)[0], x, t, g)


@pytest.mark.category("property")
@given(T=st.integers(1, 8), H=st.integers(1, 3), hd=st.integers(1, 4), data_seed=kit.data_seeds)
def test_causal_mask_for_scaled_dot_product_attention(candidate, T, H, hd, data_seed):
    """~causal_mask(T, bool) (SDPA's bool mask means "may attend") and the float mask reproduce is_causal=True."""
    q, k, v = torch.randn(3, 2, H, T, hd, generator=kit.generator(data_seed), dtype=f64)
    for dtype, form in ((torch.bool, "~causal_mask(T, dtype=torch.bool)"), (f64, "causal_mask(T, dtype=torch.float64)")):
        mask = assert_shape(candidate.causal_mask(T, dtype=dtype), (T, T), form, dtype=dtype)
        assert_close(F.scaled_dot_product_attention(q, k, v, attn_mask=~mask if dtype == torch.bool else mask),
                     F.scaled_dot_product_attention(q, k, v, is_causal=True), f"SDPA with {form} vs is_causal=True")


@pytest.mark.category("property")
@given_cases(decoders(), extra=st.integers(1, 3))
def test_padding_is_invisible(candidate, case, extra):
    """Each sequence of a padded batch gives what it gives alone, however much padding (random contents) follows."""
    x, run, _ = case.inputs(extra)
    for max_len in (x.shape[1] - extra, x.shape[1]):
        kpm = candidate.padding_mask(torch.tensor(case.lengths), max_len)
        batch, _ = run(x[:, :max_len], key_padding_mask=assert_shape(kpm, (len(x), max_len), "mask", dtype=torch.bool))
        for b, n in enumerate(case.lengths):
            assert_close(batch[b:b + 1, :n], run(x[b:b + 1, :n])[0], f"sequence {b} (length {n}) in a batch "
                         f"padded to {max_len} vs the same sequence alone without padding")


@pytest.mark.category("property")
@given_cases(merges(kinds=st.sampled_from(KINDS[:2])))
def test_bool_and_float_forms_agree(candidate, case):
    attn, kpm = case.masks(keep_first_key=False)
    expected = as_float(case.merged(candidate, attn, kpm))
    assert_equal(candidate.merge_masks(as_float(attn), as_float(kpm), case.H), expected,
                 "merge_masks of the float forms vs the float form of merge_masks of the bool masks", nonfinite_ok=True)


@pytest.mark.category("property")
def test_does_not_modify_its_inputs(candidate, seed):
    kit.assert_inputs_unchanged(candidate.padding_mask, dict(lengths=torch.tensor([5, 2]), max_len=6), what="padding_mask")
    for kinds in KINDS:
        attn, kpm = Merge(2, 3, 4, 5, kinds, seed).masks()
        args = {"attn_mask": attn, "key_padding_mask": kpm, "num_heads": 3}
        kit.assert_inputs_unchanged(candidate.merge_masks, args, what=f"merge_masks ({kinds[0]}, {kinds[1]} masks)")
