"""Suite for 29_transformer_masks: causal_mask, padding_mask and merge_masks against the
reference, nn.Transformer.generate_square_subsequent_mask, and nn.MultiheadAttention fed the
masks separately vs merged; plus what the masks must do inside attention.

`candidate` is the submission in a sandboxed worker; every attention here is torch's own, run
on the trusted side with the masks the candidate returned. Convention (nn.MultiheadAttention,
nn.Transformer): bool True = NOT allowed to attend; float masks are added to the scores.
"""
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from grader.compare import assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.testing import generator, seeded

f64 = torch.float64
FLOAT_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
# (attn_mask kind, key_padding_mask kind) for merge_masks; a 3D attn_mask is (B*H, T, S)
MERGE_CASES = [("bool 2D", "bool"), ("bool 3D", "bool"), ("float 2D", "float"), ("float 3D", "float"),
               ("bool 2D", "float"), ("float 3D", "bool")]

lengths_st = st.lists(st.integers(0, 8), min_size=1, max_size=4)
sizes = dict(B=st.integers(1, 3), H=st.integers(1, 3), T=st.integers(1, 5), S=st.integers(1, 6),
             data_seed=st.integers(0, 2**32 - 1))


# -- helpers ---------------------------------------------------------------------------------
def random_mask(kind: str, shape: tuple, g: torch.Generator, keep_first_key: bool = True, dtype=f64):
    """A bool mask (True = blocked, ~30%) or a float one (N(0, 2^2), ~20% -inf); key 0 kept open
    by default, so every query has a key and attention is defined everywhere."""
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


def random_merge_inputs(case, B, H, T, S, g, keep_first_key=True):
    attn_kind, kpm_kind = case
    attn_shape = (B * H, T, S) if attn_kind.endswith("3D") else (T, S)
    return random_mask(attn_kind, attn_shape, g, keep_first_key), random_mask(kpm_kind, (B, S), g, keep_first_key)


def merged_dtype(attn_mask, key_padding_mask):
    """What merge_masks returns: bool for two bool masks, else the float mask's dtype."""
    if attn_mask.dtype == torch.bool and key_padding_mask.dtype == torch.bool:
        return torch.bool
    return attn_mask.dtype if attn_mask.dtype != torch.bool else key_padding_mask.dtype


def mha_module(E: int, H: int, seed: int, g: torch.Generator) -> nn.MultiheadAttention:
    """An nn.MultiheadAttention(batch_first=True) in float64 with non-zero biases."""
    with seeded(seed):
        mha = nn.MultiheadAttention(E, H, batch_first=True, dtype=f64).eval()
    with torch.no_grad():
        mha.in_proj_bias.copy_(0.5 * torch.randn(3 * E, generator=g, dtype=f64))
        mha.out_proj.bias.copy_(0.5 * torch.randn(E, generator=g, dtype=f64))
    return mha


def run_mha(mha, q, k, v, **masks):
    """Output and per-head weights of torch's attention (mixed bool/float masks warn: ignored)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mha(q, k, v, **masks, need_weights=True, average_attn_weights=False)


def as_float(mask: torch.Tensor) -> torch.Tensor:
    """The float form of a bool mask: -inf where True, 0 elsewhere."""
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
    got = candidate.padding_mask(torch.tensor(lengths), max_len)
    expected = (len(lengths), max(lengths) if max_len is None else max_len)
    assert_shape(got, expected, f"padding_mask(lengths={lengths}, max_len={max_len})", dtype=torch.bool)


@pytest.mark.category("shape")
@given(**sizes, case=st.sampled_from(MERGE_CASES))
def test_merge_masks_shape_and_dtype(candidate, B, H, T, S, data_seed, case):
    attn, kpm = random_merge_inputs(case, B, H, T, S, generator(data_seed))
    got = candidate.merge_masks(attn, kpm, H)
    assert_shape(got, (B * H, T, S), f"merge_masks of a {case[0]} attn_mask and a {case[1]} key_padding_mask "
                 f"(B={B}, H={H})", dtype=merged_dtype(attn, kpm))


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(T=st.integers(1, 16), dtype=st.sampled_from(FLOAT_DTYPES))
def test_causal_mask_equals_generate_square_subsequent_mask(candidate, T, dtype):
    expected = nn.Transformer.generate_square_subsequent_mask(T, dtype=dtype)
    assert_equal(candidate.causal_mask(T, dtype=dtype), expected,
                 f"causal_mask({T}, dtype={dtype}) vs nn.Transformer.generate_square_subsequent_mask", nonfinite_ok=True)


@pytest.mark.category("equivalence")
@given(T=st.integers(1, 16))
def test_bool_causal_mask_blocks_where_the_float_one_is_minus_inf(candidate, T):
    expected = nn.Transformer.generate_square_subsequent_mask(T, dtype=f64) == float("-inf")
    assert_equal(candidate.causal_mask(T, dtype=torch.bool), expected,
                 f"causal_mask({T}, dtype=torch.bool) vs generate_square_subsequent_mask(...) == -inf")


@pytest.mark.category("equivalence")
@given(lengths=lengths_st, extra=st.none() | st.integers(0, 3))
def test_padding_mask_matches_reference(candidate, reference, lengths, extra):
    max_len = None if extra is None else max(lengths) + extra
    expected = reference.padding_mask(torch.tensor(lengths), max_len)
    assert_equal(candidate.padding_mask(torch.tensor(lengths), max_len), expected,
                 f"padding_mask(lengths={lengths}, max_len={max_len}) vs reference")


@pytest.mark.category("equivalence")
@given(**sizes, case=st.sampled_from(MERGE_CASES))
def test_merge_masks_matches_reference(candidate, reference, B, H, T, S, data_seed, case):
    attn, kpm = random_merge_inputs(case, B, H, T, S, generator(data_seed), keep_first_key=False)
    assert_equal(candidate.merge_masks(attn, kpm, H), reference.merge_masks(attn, kpm, H),
                 f"merge_masks({case[0]} attn_mask, {case[1]} key_padding_mask, num_heads={H}) vs reference", nonfinite_ok=True)


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("case", MERGE_CASES, ids=lambda c: f"attn={c[0]},kpm={c[1]}")
@given(**sizes, hd=st.integers(1, 3))
def test_merged_mask_equals_separate_masks_in_multihead_attention(candidate, case, B, H, T, S, hd, data_seed):
    """nn.MultiheadAttention(attn_mask=merged) must equal nn.MultiheadAttention(attn_mask, key_padding_mask)."""
    g = generator(data_seed)
    E = H * hd
    mha = mha_module(E, H, data_seed, g)
    q, k, v = (torch.randn(B, L, E, generator=g, dtype=f64) for L in (T, S, S))
    attn, kpm = random_merge_inputs(case, B, H, T, S, g)
    expected, expected_weights = run_mha(mha, q, k, v, attn_mask=attn, key_padding_mask=kpm)
    merged = assert_shape(candidate.merge_masks(attn, kpm, H), (B * H, T, S), "merged mask",
                          dtype=merged_dtype(attn, kpm))
    got, weights = run_mha(mha, q, k, v, attn_mask=merged)
    name = f"nn.MultiheadAttention with the merged mask vs the {case[0]} attn_mask and {case[1]} key_padding_mask"
    assert_close(got, expected, f"output of {name}")
    assert_close(weights, expected_weights, f"per-head weights of {name}")


@pytest.mark.category("equivalence")
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=3), H=st.integers(1, 3), hd=st.integers(1, 3),
       data_seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from([torch.bool, f64]))
def test_decoder_self_attention_masks_match_torch(candidate, lengths, H, hd, data_seed, dtype):
    """merge_masks(causal_mask(T), padding_mask(lengths), H) in attention equals torch's own causal mask
    and a key_padding_mask passed separately (right padding: every query keeps key 0)."""
    g = generator(data_seed)
    B, T, E = len(lengths), max(lengths), H * hd
    mha = mha_module(E, H, data_seed, g)
    x = torch.randn(B, T, E, generator=g, dtype=f64)
    kpm = torch.arange(T)[None, :] >= torch.tensor(lengths)[:, None]
    torch_causal = nn.Transformer.generate_square_subsequent_mask(T, dtype=f64)
    expected, _ = run_mha(mha, x, x, x, attn_mask=torch_causal, key_padding_mask=as_float(kpm))
    causal, padding = candidate.causal_mask(T, dtype=dtype), candidate.padding_mask(torch.tensor(lengths))
    mask = candidate.merge_masks(causal, padding, H)
    got, _ = run_mha(mha, x, x, x, attn_mask=assert_shape(mask, (B * H, T, T), "merged decoder mask", dtype=dtype))
    assert_close(got, expected, f"self-attention output with your merged causal + padding masks "
                 f"(lengths={lengths}, {dtype} causal mask) vs torch's masks passed separately")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(B=st.integers(1, 3), T=st.integers(1, 6), H=st.integers(1, 3), hd=st.integers(1, 3),
       data_seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from([torch.bool, f64]), data=st.data())
def test_causal_mask_hides_future_tokens(candidate, B, T, H, hd, data_seed, dtype, data):
    """Self-attention with your causal mask: changing tokens after t never changes outputs up to t."""
    g = generator(data_seed)
    E = H * hd
    mha = mha_module(E, H, data_seed, g)
    mask = assert_shape(candidate.causal_mask(T, dtype=dtype), (T, T), "causal mask", dtype=dtype)
    x = torch.randn(B, T, E, generator=g, dtype=f64)
    t = data.draw(st.integers(0, T - 1), label="last unchanged position t")
    x_changed = x.clone()
    x_changed[:, t + 1:] = torch.randn(B, T - t - 1, E, generator=g, dtype=f64)
    before, _ = run_mha(mha, x, x, x, attn_mask=mask)
    after, _ = run_mha(mha, x_changed, x_changed, x_changed, attn_mask=mask)
    assert_finite(before, f"attention output with your {dtype} causal mask (every query may see itself)")
    assert_close(after[:, :t + 1], before[:, :t + 1], f"outputs at positions <= {t} after changing only positions "
                 f"> {t} ({dtype} causal mask: the future leaks in)")


@pytest.mark.category("property")
@given(T=st.integers(1, 8), H=st.integers(1, 3), hd=st.integers(1, 4), data_seed=st.integers(0, 2**32 - 1))
def test_causal_mask_for_scaled_dot_product_attention(candidate, T, H, hd, data_seed):
    """F.scaled_dot_product_attention's bool mask means "may attend": ~causal_mask(T, bool) and the
    float causal mask must both reproduce is_causal=True."""
    g = generator(data_seed)
    q, k, v = (torch.randn(2, H, T, hd, generator=g, dtype=f64) for _ in range(3))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    bool_mask = assert_shape(candidate.causal_mask(T, dtype=torch.bool), (T, T), "bool causal mask", dtype=torch.bool)
    float_mask = assert_shape(candidate.causal_mask(T, dtype=f64), (T, T), "float causal mask", dtype=f64)
    assert_close(F.scaled_dot_product_attention(q, k, v, attn_mask=~bool_mask), expected,
                 "F.scaled_dot_product_attention with ~causal_mask(T, dtype=torch.bool) vs is_causal=True")
    assert_close(F.scaled_dot_product_attention(q, k, v, attn_mask=float_mask), expected,
                 "F.scaled_dot_product_attention with causal_mask(T, dtype=torch.float64) vs is_causal=True")


@pytest.mark.category("property")
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=3), extra=st.integers(1, 3), H=st.integers(1, 3),
       hd=st.integers(1, 3), data_seed=st.integers(0, 2**32 - 1))
def test_padding_is_invisible(candidate, lengths, extra, H, hd, data_seed):
    """With your padding mask, each sequence of a padded batch gives exactly what it gives alone,
    and appending more padding (random contents) changes nothing."""
    g = generator(data_seed)
    B, T, E = len(lengths), max(lengths), H * hd
    mha = mha_module(E, H, data_seed, g)
    x = torch.randn(B, T + extra, E, generator=g, dtype=f64)  # positions >= lengths[b] are padding
    for max_len in (T, T + extra):
        kpm = assert_shape(candidate.padding_mask(torch.tensor(lengths), max_len), (B, max_len),
                           f"padding_mask(lengths={lengths}, max_len={max_len})", dtype=torch.bool)
        xs = x[:, :max_len]
        batch, _ = run_mha(mha, xs, xs, xs, key_padding_mask=kpm)
        for b, n in enumerate(lengths):
            alone, _ = run_mha(mha, xs[b:b + 1, :n], xs[b:b + 1, :n], xs[b:b + 1, :n])
            assert_close(batch[b:b + 1, :n], alone, f"sequence {b} (length {n}) in a batch padded to {max_len} "
                         f"(lengths={lengths}) vs the same sequence alone without padding")


@pytest.mark.category("property")
@given(**sizes, case=st.sampled_from([("bool 2D", "bool"), ("bool 3D", "bool")]))
def test_bool_and_float_forms_agree(candidate, B, H, T, S, data_seed, case):
    """Merging the float forms (-inf/0) of two bool masks gives the float form of merging the bool masks."""
    attn, kpm = random_merge_inputs(case, B, H, T, S, generator(data_seed), keep_first_key=False)
    merged_bool = assert_shape(candidate.merge_masks(attn, kpm, H), (B * H, T, S), "merged bool masks",
                               dtype=torch.bool)
    merged_float = candidate.merge_masks(as_float(attn), as_float(kpm), H)
    assert_equal(merged_float, as_float(merged_bool),
                 "merge_masks of the float forms vs the float form of merge_masks of the bool masks", nonfinite_ok=True)


@pytest.mark.category("property")
def test_does_not_modify_its_inputs(candidate, seed):
    g = generator(seed)
    B, H, T, S = 2, 3, 4, 5
    lengths = torch.tensor([5, 2])
    _, args_after, _ = candidate.padding_mask.call_checked(lengths, 6)
    assert_unchanged(args_after[0], lengths, "lengths after padding_mask (modified in place)")
    for case in MERGE_CASES:
        attn, kpm = random_merge_inputs(case, B, H, T, S, g)
        _, args_after, _ = candidate.merge_masks.call_checked(attn, kpm, H)
        assert_unchanged(args_after[0], attn, f"the {case[0]} attn_mask after merge_masks (modified in place)")
        assert_unchanged(args_after[1], kpm, f"the {case[1]} key_padding_mask after merge_masks (modified in place)")
