"""Suite for 09_multihead_attention: functional multi-head attention (packed in-projection) vs the reference,
F.multi_head_attention_forward and nn.MultiheadAttention (batch_first) with the same weights; gradients, a retrieval
task, masked attention's properties. Masks as nn.MultiheadAttention's: bool True = NOT allowed; float: added."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import nn

from grader import kit
from grader.kit import assert_close, assert_equal, assert_finite, assert_outputs_close, f64, given_cases

support = kit.exercise_support(__file__)
WEIGHTS = ("in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias")
# (key_padding_mask kind, attn_mask kind); a 3D attn_mask is (B*H, T, S)
MASKS = [("none", "none"), ("bool", "none"), ("float", "none"), ("none", "bool 2D"), ("none", "float 2D"),
         ("bool", "bool 3D"), ("float", "float 3D"), ("bool", "bool 2D"), ("float", "float 2D")]


class Mha(kit.Case):
    """query (B, T, E = H * hd) over key and value (B, S, E) with H heads; masks: (key_padding_mask, attn_mask) kinds."""

    B: int
    T: int
    S: int
    H: int
    hd: int
    bias: bool
    masks: tuple
    data_seed: int

    def draw(self, g, dtype=f64, keep_first_key=False, in_scale=1.0):
        """Weights ~ N(0, 1/E), biases N(0, 0.5^2) or None; query, key, value; the masks' keyword arguments
        (bool: True = not allowed, ~30%; float: N(0, 2^2), ~20% -inf)."""
        E = self.H * self.hd
        w = kit.random_state_dict({"in_proj_weight": (3 * E, E), "in_proj_bias": (3 * E,), "out_proj_weight": (E, E),
                                   "out_proj_bias": (E,)}, g, dtype=dtype, scales={"in_proj_weight": in_scale})
        w.update({} if self.bias else {"in_proj_bias": None, "out_proj_bias": None})
        q, k, v = (torch.randn(self.B, L, E, generator=g, dtype=dtype) for L in (self.T, self.S, self.S))
        attn_shape = (self.B * self.H, self.T, self.S) if self.masks[1].endswith("3D") else (self.T, self.S)
        masks = {"key_padding_mask": (self.masks[0], (self.B, self.S)), "attn_mask": (self.masks[1], attn_shape)}
        masks = {name: kit.random_attention_mask(kind, shape, g, dtype, keep_first_key=keep_first_key)
                 for name, (kind, shape) in masks.items()}
        return w, q, k, v, masks


def mhas(masks=st.sampled_from(MASKS), bias=st.booleans()):
    return st.builds(Mha, B=st.integers(1, 3), T=st.integers(1, 5), S=st.integers(1, 6), H=st.integers(1, 3),
                     hd=st.integers(1, 4), bias=bias, masks=masks, data_seed=kit.data_seeds)


def allowed_keys(case: Mha, key_padding_mask=None, attn_mask=None) -> torch.Tensor:
    """Bool (B, H, T, S): key j gets a finite score from query i in head h."""
    allowed = torch.ones(case.B, case.H, case.T, case.S, dtype=torch.bool)
    if attn_mask is not None:
        ok = ~attn_mask if attn_mask.dtype == torch.bool else attn_mask > -torch.inf
        allowed = allowed & (ok if ok.dim() == 2 else ok.view(allowed.shape))  # row b*H + h: batch b, head h
    if key_padding_mask is not None:
        ok = ~key_padding_mask if key_padding_mask.dtype == torch.bool else key_padding_mask > -torch.inf
        allowed = allowed & ok[:, None, None, :]
    return allowed


def valid_queries(case: Mha, masks) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, 1) queries with a key in every head (their output is defined) and (B, H, T, 1) per head."""
    has_key = allowed_keys(case, **masks).any(dim=-1)  # (B, H, T)
    return has_key.all(dim=1)[..., None], has_key[..., None]


def call(fn, q, k, v, H, w, **kwargs):
    """A multi_head_attention (the candidate's or another) called: (output, weights), each of its shape and q's dtype
    (weights None when need_weights=False)."""
    result = fn(q, k, v, H, *(w[n] for n in WEIGHTS), **kwargs)
    (B, T, _), S, average = q.shape, k.shape[1], kwargs.get("average_attn_weights", True)
    weights = ((B, T, S) if average else (B, H, T, S)) if kwargs.get("need_weights", True) else None
    return kit.unpack(result, {"output": q.shape, f"weights (average_attn_weights={average}, need_weights="
                               f"{weights is not None})": weights}, q.dtype, "multi_head_attention")


def oracle(q, k, v, H, w, key_padding_mask=None, attn_mask=None, average_attn_weights=True):
    """F.multi_head_attention_forward (sequence first) on batch-first inputs."""
    out, weights = F.multi_head_attention_forward(
        q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), q.shape[-1], H, w["in_proj_weight"],
        w["in_proj_bias"], None, None, False, 0.0, w["out_proj_weight"], w["out_proj_bias"], training=False,
        key_padding_mask=key_padding_mask, attn_mask=attn_mask, average_attn_weights=average_attn_weights)
    return out.transpose(0, 1), weights


def compare(got, expected, case: Mha, masks, average: bool, vs: str):
    """Output and weights vs another implementation, on the queries whose attention is defined."""
    valid, valid_per_head = valid_queries(case, masks)
    assert_close(got[0], expected[0], f"output vs {vs}", where=valid)
    if expected[1] is not None:
        assert_close(got[1], expected[1], f"attention weights (average_attn_weights={average}) vs {vs}",
                     where=valid if average else valid_per_head)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(mhas(), need_weights=st.booleans(), average=st.booleans())
def test_output_and_weights_shapes(candidate, case, need_weights, average):
    w, q, k, v, masks = case.draw(case.generator(), torch.float32, keep_first_key=True)
    out, _ = call(candidate.multi_head_attention, q, k, v, case.H, w, **masks, need_weights=need_weights,
                  average_attn_weights=average)
    assert_finite(out, "output")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@pytest.mark.parametrize("masks", MASKS, ids=lambda c: f"kpm={c[0]},attn={c[1]}")
@given_cases(mhas(), replace=("masks",), average=st.booleans())
def test_matches_torch_functional(candidate, masks, case, average):
    w, q, k, v, kw = case.draw(case.generator())
    got = call(candidate.multi_head_attention, q, k, v, case.H, w, **kw, average_attn_weights=average)
    compare(got, oracle(q, k, v, case.H, w, **kw, average_attn_weights=average), case, kw, average,
            "F.multi_head_attention_forward")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("vs", ["reference", "nn.MultiheadAttention"])
@given_cases(mhas(), need_weights=st.booleans(), average=st.booleans())
def test_matches(candidate, reference, vs, case, need_weights, average):
    """The reference, and an nn.MultiheadAttention(batch_first=True) module holding the same weights (its layout)."""
    w, q, k, v, kw = case.draw(case.generator())
    options = dict(kw, need_weights=need_weights, average_attn_weights=average)
    mha = nn.MultiheadAttention(case.H * case.hd, case.H, bias=case.bias, batch_first=True, dtype=f64).eval()
    mha.load_state_dict({n.replace("out_proj_", "out_proj."): t for n, t in w.items() if t is not None})
    with torch.no_grad():
        expected = mha(q, k, v, **options) if vs != "reference" else call(reference.multi_head_attention, q, k, v,
                                                                          case.H, w, **options)
    compare(call(candidate.multi_head_attention, q, k, v, case.H, w, **options), expected, case, kw, average, vs)


# -- gradient --------------------------------------------------------------------------------
def grad_setup(candidate, case: Mha):
    """The remote function (output only), its arguments by name, the masks, the generator."""
    g = case.generator()
    w, q, k, v, masks = case.draw(g, keep_first_key=True)
    args = {"query": q, "key": k, "value": v, "num_heads": case.H, **w}
    return candidate.lib.support("output_only", candidate.multi_head_attention), args, dict(masks, need_weights=False), g


@pytest.mark.category("gradient")
@pytest.mark.parametrize("masks", [("none", "none"), ("bool", "bool 3D"), ("float", "float 2D")],
                         ids=lambda c: f"kpm={c[0]},attn={c[1]}")
@given_cases(mhas(), replace=("masks",))
def test_gradients_match_reference(candidate, reference, masks, case):
    fn, args, kwargs, g = grad_setup(candidate, case)
    kit.check_gradients(candidate, fn, support.output_only(reference.multi_head_attention), args, kwargs, g=g)


@pytest.mark.category("gradient")
@pytest.mark.parametrize("masks", [("none", "none"), ("float", "float 3D")], ids=lambda c: f"kpm={c[0]},attn={c[1]}")
def test_gradients_match_finite_differences(candidate, seed, masks):
    fn, args, kwargs, g = grad_setup(candidate, Mha(2, 3, 4, 2, 3, True, masks, seed))
    kit.check_finite_differences(candidate, fn, args, kwargs, g=g)


# -- convergence -----------------------------------------------------------------------------
VOCAB, QUERIES, SLOTS, D_MODEL, HEADS = 8, 4, 6, 16, 2
RETRIEVER = (VOCAB, D_MODEL, HEADS, QUERIES, SLOTS)


@pytest.mark.category("convergence")
def test_learns_key_value_retrieval(candidate, reference, seed, artifacts):
    """Queries must fetch the value stored under their key in a padded memory of 2..6 slots:
    impossible without cross-attention (12.5%); attending to padding slots, whose random keys
    often repeat a real one, tops out near 90%."""
    def models(s, run):
        return kit.same_init(candidate.lib.support("Retriever", candidate.multi_head_attention, *RETRIEVER),
                             lambda: support.Retriever(reference.multi_head_attention, *RETRIEVER), s)

    kit.check_convergence(
        candidate, artifacts, seed, models=models, runs=2, threshold=0.97, train=dict(steps=60, lr=2e-2, batch_size=64),
        task=lambda g: (*support.retrieval_task(1024, QUERIES, SLOTS, VOCAB, g),
                        *support.retrieval_task(512, QUERIES, SLOTS, VOCAB, g)),
        subject="a model built on your attention", goal="on key-value retrieval from a padded memory")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(mhas(masks=st.sampled_from([("bool", "bool 3D"), ("float", "float 2D"), ("bool", "bool 2D")])))
def test_masked_keys_get_exactly_zero_weight(candidate, case):
    """Per-head weights: 0 exactly where a mask says -inf / True, rows of queries with a key sum to 1."""
    w, q, k, v, masks = case.draw(case.generator())
    _, weights = call(candidate.multi_head_attention, q, k, v, case.H, w, **masks, average_attn_weights=False)
    kit.assert_attention_weights(weights, allowed_keys(case, **masks), "per-head weights",
                                 where=valid_queries(case, masks)[1])


@pytest.mark.category("property")
@given_cases(mhas(masks=st.just(("none", "none")), bias=st.just(True)), form=st.sampled_from(["bool", "float"]),
             data=st.data())
def test_causal_outputs_ignore_future_tokens(candidate, case, form, data):
    """Self-attention (query = key = value = x) with a causal attn_mask in bool or float form."""
    w, x, _, _, _ = case.draw(g := case.generator())  # query = key = value = x (B, T, E)
    future = torch.ones(case.T, case.T, dtype=torch.bool).triu(1)  # True = may NOT attend
    mask = future if form == "bool" else torch.zeros(case.T, case.T, dtype=f64).masked_fill(future, -torch.inf)
    t = data.draw(st.integers(0, case.T - 1), label="last unchanged position t")
    for k in (0, 1):  # the output, then the weights
        kit.assert_causal(lambda x: call(candidate.multi_head_attention, x, x, x, case.H, w, attn_mask=mask)[k], x, t, g)


@pytest.mark.category("property")
@given_cases(mhas(masks=st.sampled_from([("bool", "bool 2D"), ("float", "float 2D")]), bias=st.just(True)),
             extra=st.integers(1, 3))
def test_appended_padding_changes_nothing(candidate, case, extra):
    """`extra` padded key/value slots appended (junk contents, masked in key_padding_mask): the output and
    the weights of the original keys are unchanged, and the new slots get weight 0."""
    w, q, k, v, masks = case.draw(g := case.generator(), keep_first_key=True)
    boolean, calls = case.masks[0] == "bool", []

    def attend(key, value, **masks):
        calls.append(call(candidate.multi_head_attention, q, key, value, case.H, w, **masks))
        return calls[-1]

    kit.assert_appending_changes_nothing(attend, {"key": k, "value": v, **masks}, {
        "key": None, "value": None, "key_padding_mask": True if boolean else -torch.inf,
        "attn_mask": False if boolean else None}, extra, g, what=f"padded key/value slots ({case.masks[0]} masks)")
    assert_equal(calls[-1][1][..., case.S:], torch.zeros(case.B, case.T, extra, dtype=f64),
                 "weights of the appended padding slots")


@pytest.mark.category("property")
@given_cases(mhas(masks=st.sampled_from([("bool", "bool 2D"), ("float", "float 3D")]), bias=st.just(True)))
def test_key_value_order_does_not_matter(candidate, case):
    """Permuting the key/value slots (and the masks' key columns) keeps the output and permutes
    the weights' columns the same way."""
    w, q, k, v, masks = case.draw(g := case.generator(), keep_first_key=True)
    perm = torch.randperm(case.S, generator=g)
    before = call(candidate.multi_head_attention, q, k, v, case.H, w, **masks)
    after = call(candidate.multi_head_attention, q, k[:, perm], v[:, perm], case.H, w,
                 **{name: m[..., perm] for name, m in masks.items()})
    assert_finite(before[0], "output (every query has a key)")
    assert_outputs_close(after, (before[0], before[1][..., perm]), ("output", "weights"),
                         f"the unpermuted call's, for keys permuted by {perm.tolist()}")


@pytest.mark.category("property")
@given_cases(mhas(masks=st.sampled_from([("bool", "bool 2D"), ("bool", "bool 3D")]), bias=st.just(True)))
def test_bool_and_float_masks_agree(candidate, case):
    """A bool mask and its float form (-inf where True, 0 elsewhere) give the same attention."""
    w, q, k, v, masks = case.draw(case.generator(), keep_first_key=True)
    floats = {n: torch.zeros(m.shape, dtype=f64).masked_fill(m, -torch.inf) for n, m in masks.items()}
    bools = call(candidate.multi_head_attention, q, k, v, case.H, w, **masks)
    assert_finite(bools[0], "output with bool masks (all have a key)")
    assert_outputs_close(call(candidate.multi_head_attention, q, k, v, case.H, w, **floats), bools,
                         ("output with float (-inf/0) masks", "weights with float masks"), "the same masks as bool")


@pytest.mark.category("property")
def test_stable_at_large_logits(candidate, reference, seed):
    """Logits in the thousands overflow exp() unless the softmax subtracts the row maximum."""
    case = Mha(2, 4, 5, 2, 4, True, ("none", "none"), seed)
    w, q, k, v, _ = case.draw(case.generator(), torch.float32, in_scale=40.0)
    kpm = (torch.arange(case.S) == case.S - 1).repeat(case.B, 1)  # the last key is padding
    expected = call(reference.multi_head_attention, q.double(), k.double(), v.double(), case.H,
                    {n: t.double() for n, t in w.items()}, key_padding_mask=kpm)
    assert_outputs_close(call(candidate.multi_head_attention, q, k, v, case.H, w, key_padding_mask=kpm),
                         [t.float() for t in expected], ("float32 output", "float32 weights"),
                         "the float64 reference at logits ~1e3", rtol=1e-3, atol=1e-3)


@pytest.mark.category("property")
def test_does_not_modify_its_inputs(candidate, seed):
    for masks in [("bool", "bool 3D"), ("float", "float 2D")]:
        case = Mha(2, 3, 4, 2, 3, True, masks, seed)
        w, q, k, v, kw = case.draw(case.generator(), torch.float32, keep_first_key=True)
        kit.assert_inputs_unchanged(candidate.multi_head_attention, {"query": q, "key": k, "value": v,
                                                                    "num_heads": case.H, **w}, kw, f"the call ({masks})")
