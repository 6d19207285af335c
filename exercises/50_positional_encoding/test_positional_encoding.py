"""Suite for 50_positional_encoding: `sinusoidal_table` against a plain-loop float64 formula
(and the reference), `PositionalEncoding` (a fixed, non-persistent buffer added to (B, T, D) or
(T, B, D) inputs) and `LearnedPositionalEmbedding` (a trained nn.Embedding table), plus
gradients, a task that needs positions, the relative-shift property of the sinusoids,
dropout, and clear errors for sequences longer than max_len.

`candidate` is the submission in a sandboxed worker; `reference` runs here.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from grader import training
from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.proxy import CandidateError
from grader.testing import (assert_gradients_match, check_finite_differences, exercise_support, generator,
                            seeded, fit_and_check)

support = exercise_support(__file__)
f64 = torch.float64
CLASSES = ["PositionalEncoding", "LearnedPositionalEmbedding"]

sizes = dict(
    B=st.integers(1, 3), T=st.integers(1, 8), D=st.integers(1, 17), extra=st.integers(0, 8),
    data_seed=st.integers(0, 2**32 - 1),
)
table_sizes = dict(L=st.integers(1, 48), D=st.integers(1, 33))
bases = st.sampled_from([10000.0, 10000.0, 100.0, 523.5])


# -- helpers ---------------------------------------------------------------------------------
def formula_table(max_len: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """The paper's formula written out element by element in Python floats (float64), as the spec:
    PE[t, j] = sin(t * w) for even j, cos(t * w) for odd j, with w = base^(-2i/d), 2i = j - j % 2."""
    rows = []
    for t in range(max_len):
        row = []
        for j in range(d_model):
            two_i = j - j % 2
            w = math.pow(base, -two_i / d_model)
            row.append(math.sin(t * w) if j % 2 == 0 else math.cos(t * w))
        rows.append(row)
    return torch.tensor(rows, dtype=f64).reshape(max_len, d_model)


def layout(x_btd: torch.Tensor, batch_first: bool) -> torch.Tensor:
    """x given as (B, T, D), in the module's layout: (B, T, D) or (T, B, D)."""
    return x_btd if batch_first else x_btd.transpose(0, 1).contiguous()


def layout_name(batch_first: bool) -> str:
    return "(B, T, D)" if batch_first else "(T, B, D)"


def random_embedding(max_len: int, D: int, g: torch.Generator, dtype=f64) -> dict:
    """A learned table ~ N(0, 1): large enough that every position visibly matters."""
    return {"embedding.weight": torch.randn(max_len, D, generator=g, dtype=dtype)}


def expected_positions(name: str, max_len: int, D: int, sd: dict | None) -> torch.Tensor:
    """The (max_len, D) float64 table the module `name` should add."""
    return formula_table(max_len, D) if name == "PositionalEncoding" else sd["embedding.weight"].to(f64)


def build_eval(candidate, name, D, max_len, batch_first, g, dropout=0.1, dtype=torch.float32):
    """The candidate's module in eval mode (dropout off) and, for the learned one, its random weights."""
    m = getattr(candidate, name)(D, max_len, dropout=dropout, batch_first=batch_first)
    sd = None
    if name == "LearnedPositionalEmbedding":
        sd = random_embedding(max_len, D, g, dtype)
        m.to(dtype)
        m.load_state_dict(sd)
    m.eval()
    return m, sd


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
@given(**table_sizes, dtype=st.sampled_from([torch.float32, f64]))
def test_table_shape_and_dtype(candidate, L, D, dtype):
    pe = candidate.sinusoidal_table(L, D, dtype=dtype)
    assert_shape(pe, (L, D), f"sinusoidal_table({L}, {D}, dtype={dtype})", dtype=dtype)
    assert_finite(pe, "table")
    assert_shape(candidate.sinusoidal_table(L, D), (L, D), f"sinusoidal_table({L}, {D}) (default dtype float32)",
                 dtype=torch.float32)


@pytest.mark.category("shape")
@pytest.mark.parametrize("name", CLASSES)
@given(**sizes, batch_first=st.booleans())
def test_module_output_shape(candidate, name, B, T, D, extra, data_seed, batch_first):
    g = generator(data_seed)
    m = getattr(candidate, name)(D, T + extra, batch_first=batch_first)
    x = layout(torch.randn(B, T, D, generator=g), batch_first)
    y = assert_shape(m(x), x.shape, f"{name} output for x {layout_name(batch_first)} = {tuple(x.shape)}",
                     dtype=torch.float32)
    assert_finite(y, "output")


@pytest.mark.category("shape")
@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("dtype", [f64, torch.bfloat16])
def test_output_keeps_the_input_dtype(candidate, seed, name, dtype):
    """A float32 module given x in another dtype returns that dtype (cast the table to x.dtype:
    x + a float32 table silently upcasts bfloat16 activations to float32)."""
    g = generator(seed)
    m = getattr(candidate, name)(6, 10)
    x = torch.randn(2, 5, 6, generator=g).to(dtype)
    y = assert_shape(m(x), x.shape, f"{name} output for float32 module and x in {dtype}", dtype=dtype)
    assert_finite(y, "output")


@pytest.mark.category("shape")
@given(D=st.integers(1, 17), L=st.integers(1, 40))
def test_sinusoidal_table_is_a_non_persistent_buffer(candidate, D, L):
    """`pe` is a buffer (moves with .to(), never trained) that is not saved in the state_dict
    (it is a pure function of max_len and d_model)."""
    m = candidate.PositionalEncoding(D, L)
    params = candidate.lib.support("parameter_names", m)
    assert params == [], (f"PositionalEncoding({D}, max_len={L}) has parameters {params}; the table is fixed, "
                          "so it must be a buffer (register_buffer), not an nn.Parameter")
    buffers = candidate.lib.support("buffer_names", m)
    assert buffers == ["pe"], (f"PositionalEncoding buffers should be exactly ['pe'], got {buffers} (a plain "
                               "tensor attribute is not a buffer: it does not follow .to(device) or .to(dtype))")
    saved = candidate.lib.support("persistent_state_names", m)
    assert saved == [], (f"state_dict() of PositionalEncoding should be empty, got keys {saved}: register `pe` "
                         "with persistent=False (it is rebuilt from max_len and d_model on construction)")
    assert_shape(m.pe, (L, D), "PositionalEncoding.pe", dtype=torch.float32)
    m.to(f64)
    assert_shape(m.pe, (L, D), "PositionalEncoding.pe after module.to(torch.float64)", dtype=f64)


@pytest.mark.category("shape")
@given(D=st.integers(1, 17), L=st.integers(1, 40))
def test_learned_table_follows_the_interface(candidate, D, L):
    m = candidate.LearnedPositionalEmbedding(D, L)
    got = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    expected = {"embedding.weight": (L, D)}
    assert got == expected, (f"state_dict (name: shape) of LearnedPositionalEmbedding({D}, max_len={L}) should be "
                             f"exactly {expected} (an nn.Embedding(max_len, d_model) named `embedding`); got {got}")
    params = candidate.lib.support("parameter_names", m)
    assert params == ["embedding.weight"], f"parameters should be ['embedding.weight'], got {params}"


@pytest.mark.category("shape")
@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("batch_first", [True, False])
def test_longer_than_max_len_raises(candidate, seed, name, batch_first):
    """T == max_len works; T > max_len raises ValueError (no silent truncation or broadcast error)."""
    g = generator(seed)
    D, max_len = 4, 5
    m = getattr(candidate, name)(D, max_len, batch_first=batch_first)
    x = layout(torch.randn(2, max_len, D, generator=g), batch_first)
    assert_shape(m(x), x.shape, f"{name} output at T == max_len == {max_len}")
    for T in (max_len + 1, max_len + 4):
        x = layout(torch.randn(2, T, D, generator=g), batch_first)
        what = f"{name}(d_model={D}, max_len={max_len}, batch_first={batch_first}) called with T={T}"
        error = expect_value_error(lambda: m(x), f"{what} (x of shape {tuple(x.shape)})")
        assert str(T) in error.remote_message and str(max_len) in error.remote_message, (
            f"{what}: the ValueError should say both T={T} and max_len={max_len}; its message was "
            f"{error.remote_message!r}")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(**table_sizes, base=bases)
def test_table_matches_the_formula(candidate, reference, L, D, base):
    expected = formula_table(L, D, base)
    assert_close(reference.sinusoidal_table(L, D, base=base, dtype=f64), expected, "reference table vs formula")
    got = candidate.sinusoidal_table(L, D, base=base, dtype=f64)
    assert_close(got, expected, f"sinusoidal_table({L}, {D}, base={base}, dtype=float64) vs the formula "
                 "(PE[t, 2i] = sin(t w_i), PE[t, 2i+1] = cos(t w_i), w_i = base^(-2i/d_model)); index [t, column]")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("L, D", [(2048, 32), (600, 7)])
def test_table_matches_the_formula_at_far_positions(candidate, L, D):
    got = candidate.sinusoidal_table(L, D, dtype=f64)
    assert_close(got, formula_table(L, D), f"sinusoidal_table({L}, {D}, dtype=float64) vs the formula "
                 "(angles up to ~2000 rad must be computed in float64 when dtype is float64)")


@pytest.mark.category("equivalence")
@given(L=st.integers(1, 64), D=st.integers(1, 33))
def test_float32_table_matches_the_formula(candidate, L, D):
    got = candidate.sinusoidal_table(L, D)
    assert_close(got, formula_table(L, D).float(), f"sinusoidal_table({L}, {D}) (float32) vs the formula")


@pytest.mark.category("equivalence")
@given(**sizes, batch_first=st.booleans())
def test_positional_encoding_adds_the_table(candidate, B, T, D, extra, data_seed, batch_first):
    """eval mode: output == x + PE[:T] broadcast over the batch, in either layout."""
    g = generator(data_seed)
    m, _ = build_eval(candidate, "PositionalEncoding", D, T + extra, batch_first, g, dropout=0.3)
    x_btd = torch.randn(B, T, D, generator=g)
    expected = (x_btd.double() + formula_table(T, D)).float()  # (B, T, D)
    got = m(layout(x_btd, batch_first))
    assert_close(got, layout(expected, batch_first), f"PositionalEncoding output (eval, x {layout_name(batch_first)})"
                 " vs x + PE[:T] from the formula")


@pytest.mark.category("equivalence")
@given(**sizes, batch_first=st.booleans())
def test_learned_embedding_matches_reference_and_lookup(candidate, reference, B, T, D, extra, data_seed,
                                                        batch_first):
    g = generator(data_seed)
    max_len = T + extra
    m, sd = build_eval(candidate, "LearnedPositionalEmbedding", D, max_len, batch_first, g, dtype=f64)
    ref = reference.LearnedPositionalEmbedding(D, max_len, dropout=0.1, batch_first=batch_first).to(f64).eval()
    ref.load_state_dict(sd)
    x = layout(torch.randn(B, T, D, generator=g, dtype=f64), batch_first)
    with torch.no_grad():
        expected_ref = ref(x)
    got = m(x)
    assert_close(got, expected_ref, f"LearnedPositionalEmbedding output (eval, x {layout_name(batch_first)}) "
                 "vs reference")
    lookup = F.embedding(torch.arange(T), sd["embedding.weight"])  # (T, D): one row per position
    assert_close(got, layout(layout(x, batch_first) + lookup, batch_first),
                 "LearnedPositionalEmbedding output vs x + embedding(arange(T))")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(**sizes, batch_first=st.booleans())
def test_sinusoidal_gradient_passes_straight_through(candidate, B, T, D, extra, data_seed, batch_first):
    """d(x + PE)/dx is the identity, and there is nothing to train."""
    g = generator(data_seed)
    m, _ = build_eval(candidate, "PositionalEncoding", D, T + extra, batch_first, g)
    m.to(f64)
    x = layout(torch.randn(B, T, D, generator=g, dtype=f64), batch_first)
    grad_out = torch.randn(x.shape, generator=g, dtype=f64)
    got = candidate.lib.grads(m, [x], {}, grad_out)
    assert_equal(got["input_grads"][0], grad_out, "gradient w.r.t. x (should equal the output gradient)")
    trained = [k for k, v in got["param_grads"].items() if v is not None]
    assert not trained, f"the sinusoidal table must not be trained, but these received gradients: {trained}"


@pytest.mark.category("gradient")
@given(**sizes, batch_first=st.booleans())
def test_learned_gradients_match_reference(candidate, reference, B, T, D, extra, data_seed, batch_first):
    g = generator(data_seed)
    max_len = T + extra
    m, sd = build_eval(candidate, "LearnedPositionalEmbedding", D, max_len, batch_first, g, dtype=f64)
    ref = reference.LearnedPositionalEmbedding(D, max_len, batch_first=batch_first).to(f64)
    ref.load_state_dict(sd)
    x = layout(torch.randn(B, T, D, generator=g, dtype=f64), batch_first)
    grad_out = torch.randn(x.shape, generator=g, dtype=f64)
    got = candidate.lib.grads(m, [x], {}, grad_out)
    assert_gradients_match(got, ref, x, {}, grad_out)
    per_position = layout(grad_out, batch_first).sum(0)  # (T, D): every sequence adds to row t
    rows = got["param_grads"]["embedding.weight"]
    assert_close(rows[:T], per_position, "gradient w.r.t. embedding.weight rows 0..T-1 (sum of the output "
                 "gradient over the batch)")
    assert_equal(rows[T:], torch.zeros(extra, D, dtype=f64), f"gradient w.r.t. embedding.weight rows "
                 f"{T}..{max_len - 1} (positions the input does not reach)")


@pytest.mark.category("gradient")
@pytest.mark.parametrize("batch_first", [True, False])
def test_learned_gradients_match_finite_differences(candidate, seed, batch_first):
    g = generator(seed)
    B, T, D, max_len = 2, 4, 3, 6
    sd = random_embedding(max_len, D, g)
    m = candidate.LearnedPositionalEmbedding(D, max_len, batch_first=batch_first).to(f64)
    x = layout(torch.randn(B, T, D, generator=g, dtype=f64), batch_first)
    grad_out = torch.randn(x.shape, generator=g, dtype=f64)
    check_finite_differences(candidate, m, sd, x, {}, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
VOCAB, LENGTH, D_MODEL, MAX_LEN = 8, 8, 16, 16
TRAIN = dict(steps=100, lr=2e-2, batch_size=32)


@pytest.mark.category("convergence")
@pytest.mark.parametrize("name", CLASSES)
def test_learns_a_task_that_needs_positions(candidate, reference, seed, artifacts, name):
    """Every position must output the token one step back. Attention alone sees the sequence
    as a set (about 32% accuracy); with positions added the same model learns it exactly."""
    for run in range(2):
        s = seed * 1000 + run
        g = generator(s)
        x_train, y_train = support.previous_token_task(1024, LENGTH, VOCAB, g)
        x_test, y_test = support.previous_token_task(256, LENGTH, VOCAB, g)
        with seeded(s):
            ref_positions = getattr(reference, name)(D_MODEL, MAX_LEN)
        ref_model = support.position_tagger(ref_positions, VOCAB, D_MODEL, VOCAB, s)
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}

        model = candidate.lib.support("position_tagger", getattr(candidate, name)(D_MODEL, MAX_LEN),
                                      VOCAB, D_MODEL, VOCAB, s)
        model.load_state_dict(init, strict=False)  # the positions' own names are graded elsewhere
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        logits = assert_shape(model(x_test), (256, LENGTH, VOCAB), "logits on the held-out set")
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        if run == 0 or accuracy < 0.9:  # the reference trains only for the report and the message
            ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]
            with torch.no_grad():
                ref_accuracy = float((ref_model(x_test).argmax(-1) == y_test).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.9, (
            f"after {TRAIN['steps']} Adam steps (data seed {s}) a one-layer attention model with your {name} "
            f"reaches {accuracy:.1%} held-out accuracy on 'output the previous token' (without positions: "
            f"about 32%); the reference, from the same initial weights, reaches {ref_accuracy:.1%}; "
            f"at least 90% is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(L=st.integers(3, 48), D=st.integers(2, 33), base=bases, data=st.data())
def test_shift_by_k_is_a_rotation_of_each_pair(candidate, L, D, base, data):
    """Relative positions: for every offset k there is one fixed linear map M_k with
    PE[t + k] = M_k PE[t] for every t; per (sin, cos) pair it is the rotation by k * w_i.
    The step w_i of each pair is read from your own table (the angle of row 1), so this checks
    the structure whatever the frequencies: sin on even columns, cos on odd ones, same w_i in both."""
    pe = assert_shape(candidate.sinusoidal_table(L, D, base=base, dtype=f64), (L, D), "table", dtype=f64)
    pairs = pe[:, : 2 * (D // 2)].reshape(L, D // 2, 2)  # (L, P, 2): (sin, cos) of each frequency
    assert_close(pairs.pow(2).sum(-1), torch.ones(L, D // 2, dtype=f64),
                 "sin^2 + cos^2 of each (column 2i, column 2i+1) pair; index [t, i]")
    k = data.draw(st.integers(1, L - 1), label="offset k")
    w = torch.atan2(pairs[1, :, 0], pairs[1, :, 1])  # (P,) the angle step of each pair
    c, s = torch.cos(k * w), torch.sin(k * w)  # (P,)
    sin_t, cos_t = pairs[: L - k, :, 0], pairs[: L - k, :, 1]  # (L-k, P)
    rotated = torch.stack([sin_t * c + cos_t * s, cos_t * c - sin_t * s], dim=-1)  # (L-k, P, 2)
    assert_close(pairs[k:], rotated, f"PE[t + {k}] vs PE[t] rotated by {k} * w_i in each pair "
                 "(index [t, pair i, sin|cos])")


@pytest.mark.category("property")
@given(**{**sizes, "B": st.integers(2, 3)})
def test_same_positions_for_every_sequence_in_both_layouts(candidate, B, T, D, extra, data_seed):
    """output - x is the same (T, D) table for every sequence and every x, and the (T, B, D)
    layout gives the transpose of the (B, T, D) one."""
    g = generator(data_seed)
    for name in CLASSES:
        m_bf, sd = build_eval(candidate, name, D, T + extra, True, g, dtype=f64)
        m_tf = getattr(candidate, name)(D, T + extra, batch_first=False).to(f64).eval()
        if sd is not None:
            m_tf.load_state_dict(sd)
        x1, x2 = torch.randn(2, B, T, D, generator=g, dtype=f64)
        added = assert_shape(m_bf(x1), x1.shape, f"{name} output") - x1  # (B, T, D)
        assert_close(added, added[:1].expand_as(added), f"{name}: output - x for each sequence vs for sequence 0 "
                     "(every sequence must get the same positions; index [b, t, d])", rtol=0, atol=1e-12)
        assert_close(m_bf(x2) - x2, added, f"{name}: output - x for another input x' vs for x (must not depend on x)",
                     rtol=0, atol=1e-12)
        assert_close(m_tf(x1.transpose(0, 1).contiguous()), m_bf(x1).transpose(0, 1),
                     f"{name} with batch_first=False on x.transpose(0, 1) vs batch_first=True on x, transposed")


@pytest.mark.category("property")
@pytest.mark.parametrize("name", CLASSES)
def test_dropout_only_in_training(candidate, seed, name):
    """train(): each element is 0 or (x + PE) / (1 - p), with about a fraction p zeroed;
    eval(): exactly x + PE (dropout off)."""
    g = generator(seed)
    B, T, D, p = 4, 16, 32, 0.5
    m = getattr(candidate, name)(D, 20, dropout=p)
    full = formula_table(20, D) if name == "PositionalEncoding" else None
    if full is None:
        sd = random_embedding(20, D, g, torch.float32)
        m.load_state_dict(sd)
        full = sd["embedding.weight"].double()
    x = torch.randn(B, T, D, generator=g)
    expected = (x.double() + full[:T]).float()  # (B, T, D)
    m.train()
    y = assert_shape(m(x), x.shape, f"{name} output in train mode")
    dropped = y == 0
    assert_close(y, expected / (1 - p), f"{name} train-mode output where not dropped vs (x + PE) / (1 - p) "
                 "(dropout goes after the addition and rescales the kept elements)", where=~dropped)
    n, frac = y.numel(), float(dropped.double().mean())
    bound = 6 * math.sqrt(p * (1 - p) / n)
    assert abs(frac - p) <= bound, (f"{name} with dropout={p} in train mode zeroed {frac:.1%} of {n} outputs; "
                                    f"expected {p:.0%} +- {bound:.1%}")
    m.eval()
    assert_close(m(x), expected, f"{name} output in eval mode vs x + PE (no dropout in eval)")


@pytest.mark.category("property")
@pytest.mark.parametrize("name", CLASSES)
def test_forward_does_not_modify_its_input(candidate, seed, name):
    g = generator(seed)
    m = getattr(candidate, name)(6, 10)
    x = torch.randn(2, 5, 6, generator=g)
    _, args_after, _ = m.call_checked(x)
    assert_unchanged(args_after[0], x, f"x after {name} forward (modified in place: use x + pe, not x += pe)")
