"""Suite for 50_positional_encoding: `sinusoidal_table` vs a plain-loop formula, `PositionalEncoding` (a non-persistent
buffer), `LearnedPositionalEmbedding` in both layouts: gradients, a task, relative shifts, dropout, max_len errors."""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from grader import kit
from grader.kit import assert_close, assert_equal, assert_finite, assert_shape, f64, given_cases

support = kit.exercise_support(__file__)
CLASSES = ["PositionalEncoding", "LearnedPositionalEmbedding"]
table_sizes = dict(L=st.integers(1, 48), D=st.integers(1, 33))
bases = st.sampled_from([10000.0, 10000.0, 100.0, 523.5])


def formula_table(max_len: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """The paper's formula in Python floats: PE[t, j] = sin(t w) (even j), cos(t w) (odd j); w = base^(-(j - j%2)/d)."""
    return torch.tensor([[(math.cos if j % 2 else math.sin)(t * math.pow(base, -(j - j % 2) / d_model))
                          for j in range(d_model)] for t in range(max_len)], dtype=f64).reshape(max_len, d_model)


class Seq(kit.Case):
    """x (B, T, D) in the module's layout through `name`(D, max_len=T + extra, batch_first); learned rows ~ N(0, 1)."""

    name: str
    B: int
    T: int
    D: int
    extra: int
    batch_first: bool
    data_seed: int

    def layout(self, x_btd: torch.Tensor) -> torch.Tensor:  # (B, T, D) to the module's layout and back
        return x_btd if self.batch_first else x_btd.transpose(0, 1).contiguous()

    def x(self, dtype=torch.float32, g=None) -> torch.Tensor:  # (B, T, D) ~ N(0, 1) in the module's layout
        return self.layout(torch.randn(self.B, self.T, self.D, generator=g or self.generator(), dtype=dtype))

    def module(self, lib, **kwargs):
        return getattr(lib, self.name)(self.D, self.T + self.extra, batch_first=self.batch_first, **kwargs)

    def build(self, candidate, reference, dtype=f64, dropout=0.3):
        """Candidate and reference modules (eval mode, the same weights), x in the layout, the (T, D) rows to add."""
        g = self.generator()
        cand, ref, sd = kit.twins(lambda lib: self.module(lib, dropout=dropout), candidate, reference, g, dtype=dtype)
        rows = formula_table(self.T, self.D) if not sd else sd["embedding.weight"][:self.T].double()
        return cand.eval(), ref.eval(), self.x(dtype, g), rows


def seqs(name=st.sampled_from(CLASSES), B=st.integers(1, 3)):
    return st.builds(Seq, name, B, st.integers(1, 8), st.integers(1, 17), st.integers(0, 8), st.booleans(),
                     kit.data_seeds)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**table_sizes, dtype=st.sampled_from([torch.float32, f64]))
def test_table_shape_and_dtype(candidate, L, D, dtype):
    assert_finite(assert_shape(candidate.sinusoidal_table(L, D, dtype=dtype), (L, D), f"table in {dtype}", dtype=dtype))
    assert_shape(candidate.sinusoidal_table(L, D), (L, D), "table in the default dtype", dtype=torch.float32)


@pytest.mark.category("shape")
@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("dtype", [torch.float32, f64, torch.bfloat16])
@given_cases(seqs(), replace=("name",))
def test_output_shape_and_dtype(candidate, name, dtype, case):
    """A float32 module returns x's shape and dtype (x + a float32 table would upcast bfloat16)."""
    x = case.x().to(dtype)
    assert_finite(assert_shape(case.module(candidate)(x), x.shape, f"{name} output for {dtype} x", dtype=dtype))


@pytest.mark.category("shape")
@pytest.mark.parametrize("name", CLASSES)
@given(D=st.integers(1, 17), L=st.integers(1, 40))
def test_state_follows_the_interface(candidate, name, D, L):
    """The sinusoidal table: a buffer `pe` (persistent=False, follows .to()); the learned rows: an nn.Embedding."""
    m, learned = getattr(candidate, name)(D, L), name == "LearnedPositionalEmbedding"
    names = candidate.lib.support("parameter_names", m), candidate.lib.support("buffer_names", m)
    assert names == ((["embedding.weight"], []) if learned else ([], ["pe"])), (f"(parameters, buffers) of {name}: "
        f"{names}; the sinusoidal table is fixed: a buffer (a plain tensor attribute does not follow .to())")
    kit.assert_state_shapes(m, {"embedding.weight": (L, D)} if learned else {}, f"{name}({D}, {L}) ("
                            + ("an nn.Embedding)" if learned else "register `pe` with persistent=False)"))
    if not learned:
        assert_shape(m.pe, (L, D), "PositionalEncoding.pe", dtype=torch.float32)
        assert_shape(m.to(f64).pe, (L, D), "PositionalEncoding.pe after module.to(torch.float64)", dtype=f64)


@pytest.mark.category("shape")
@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("batch_first", [True, False])
def test_longer_than_max_len_raises(candidate, seed, name, batch_first):
    """T == max_len works; T > max_len raises a ValueError that says T and max_len (no truncation, no broadcast)."""
    case = Seq(name, 2, 5, 4, 0, batch_first, seed)
    m = case.module(candidate)  # max_len = 5
    assert_shape(m(x := case.x()), x.shape, "output at T == max_len")
    for x in (case.replace(T=6).x(), case.replace(T=9).x()):
        T = x.shape[1 if batch_first else 0]
        error = kit.expect_raises(lambda: m(x), "ValueError", f"{name}(4, max_len=5) on x {tuple(x.shape)} (T={T})")
        assert str(T) in error.remote_message and "5" in error.remote_message, (
            f"the ValueError should say T={T} and max_len=5; it said {error.remote_message!r}")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(**table_sizes, base=bases)
def test_table_matches_the_formula(candidate, L, D, base):
    assert_close(candidate.sinusoidal_table(L, D, base=base, dtype=f64), formula_table(L, D, base), f"sinusoidal_table("
                 f"{L}, {D}, base={base}, float64) vs PE[t, 2i] = sin(t w_i), PE[t, 2i+1] = cos(t w_i); index [t, col]")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("L, D", [(2048, 32), (600, 7)])
def test_table_matches_the_formula_at_far_positions(candidate, L, D):
    assert_close(candidate.sinusoidal_table(L, D, dtype=f64), formula_table(L, D), f"sinusoidal_table({L}, {D}, "
                 "float64) vs the formula (angles up to ~2000 rad need float64 when dtype is float64)")


@pytest.mark.category("equivalence")
@given(L=st.integers(1, 64), D=st.integers(1, 33))
def test_float32_table_matches_the_formula(candidate, L, D):
    assert_close(candidate.sinusoidal_table(L, D), formula_table(L, D).float(), f"sinusoidal_table({L}, {D}) float32")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("name", CLASSES)
@given_cases(seqs(), replace=("name",))
def test_module_adds_its_rows(candidate, reference, name, case):
    """eval mode: x + PE[:T] from the formula (float32 module and x), or x + embedding(arange(T)) (float64)."""
    dtype = torch.float32 if name == "PositionalEncoding" else f64
    cand, _, x, rows = case.build(candidate, reference, dtype)
    expected = case.layout((case.layout(x).double() + rows).to(dtype))
    assert_close(cand(x), expected, f"{name} output (eval mode) vs x + its rows 0..T-1 (index in x's layout)")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@pytest.mark.parametrize("name", CLASSES)
@given_cases(seqs(), replace=("name",))
def test_gradients_match_reference(candidate, reference, name, case):
    """d(x + rows)/dx is the identity; only learned rows train (rows 0..T-1: the output gradient summed over B)."""
    cand, ref, x, _ = case.build(candidate, reference)
    got = kit.check_gradients(candidate, cand, ref, {"x": x}, grad_output=(grad_out := case.x(f64, case.generator(1))))
    assert_equal(got["input_grads"][0], grad_out, "gradient w.r.t. x (d(x + PE)/dx is the identity)")
    trained = sorted(k for k, v in got["param_grads"].items() if v is not None)
    assert trained == [k for k, _ in ref.named_parameters()], (
        f"parameters that received gradients: {trained} (the sinusoidal table must not be trained)")


@pytest.mark.category("gradient")
@pytest.mark.parametrize("batch_first", [True, False])
def test_learned_gradients_match_finite_differences(candidate, reference, seed, batch_first):
    cand, ref, x, _ = Seq("LearnedPositionalEmbedding", 2, 4, 3, 2, batch_first, seed).build(candidate, reference)
    kit.check_finite_differences(candidate, cand, {"x": x}, g=kit.generator(seed + 1), state_dict=ref.state_dict())


# -- convergence -----------------------------------------------------------------------------
VOCAB, LENGTH, D_MODEL, MAX_LEN = 8, 8, 16, 16
TAGGER = (VOCAB, D_MODEL, VOCAB)  # vocab_size, d_model, num_classes of support.position_tagger


@pytest.mark.category("convergence")
@pytest.mark.parametrize("name", CLASSES)
def test_learns_a_task_that_needs_positions(candidate, reference, seed, artifacts, name):
    """Position t must output the token at t - 1: attention alone sees a set (about 32%); with positions, 100%."""
    def models(s, run):
        with kit.seeded(s):
            ref = support.position_tagger(getattr(reference, name)(D_MODEL, MAX_LEN), *TAGGER, s)
        model = candidate.lib.support("position_tagger", getattr(candidate, name)(D_MODEL, MAX_LEN), *TAGGER, s)
        model.load_state_dict(ref.state_dict(), strict=False)  # the positions' own names are graded elsewhere
        return model, ref

    kit.check_convergence(candidate, artifacts, seed, models=models, runs=2, threshold=0.9,
                          task=lambda g: (*support.previous_token_task(1024, LENGTH, VOCAB, g),
                                          *support.previous_token_task(256, LENGTH, VOCAB, g)),
                          train=dict(steps=100, lr=2e-2, batch_size=32), subject=f"an attention model with your {name}",
                          goal="on 'output the previous token' (without positions: about 32%)")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(L=st.integers(3, 48), D=st.integers(2, 33), base=bases, data=st.data())
def test_shift_by_k_is_a_rotation_of_each_pair(candidate, L, D, base, data):
    """PE[t + k] = M_k PE[t]: per (sin, cos) pair the rotation by k * w_i, w_i read off your own row 1 (so this checks
    the structure whatever the frequencies: sin on even columns, cos on odd ones, one w_i per pair)."""
    pe = assert_shape(candidate.sinusoidal_table(L, D, base=base, dtype=f64), (L, D), "table", dtype=f64)
    pairs = pe[:, : 2 * (D // 2)].reshape(L, D // 2, 2)  # (L, P, 2): (sin, cos) of each frequency
    assert_close(pairs.pow(2).sum(-1), torch.ones(L, D // 2, dtype=f64), "sin^2 + cos^2 of each pair; index [t, i]")
    k = data.draw(st.integers(1, L - 1), label="offset k")
    w = torch.atan2(pairs[1, :, 0], pairs[1, :, 1])  # (P,) the angle step of each pair
    c, s = torch.cos(k * w), torch.sin(k * w)  # (P,)
    sin_t, cos_t = pairs[: L - k].unbind(-1)  # (L-k, P) each
    rotated = torch.stack([sin_t * c + cos_t * s, cos_t * c - sin_t * s], dim=-1)  # (L-k, P, 2)
    assert_close(pairs[k:], rotated, f"PE[t + {k}] vs PE[t] rotated by {k} * w_i in each pair (index [t, i, sin|cos])")


@pytest.mark.category("property")
@given_cases(seqs(B=st.integers(2, 3)))
def test_same_positions_for_every_sequence_in_both_layouts(candidate, reference, case):
    """output - x is one (T, D) table for every sequence and every x; (T, B, D) gives the transpose of (B, T, D)."""
    (m_bf, _, x, _), (m_tf, *_) = (case.replace(batch_first=bf).build(candidate, reference) for bf in (True, False))
    x2 = torch.randn(x.shape, generator=case.generator(1), dtype=f64)
    added = assert_shape(m_bf(x), x.shape, "output") - x  # (B, T, D)
    assert_close(added, added[:1].expand_as(added), "output - x of each sequence vs of sequence 0 (the same positions "
                 "for all; index [b, t, d])", rtol=0, atol=1e-12)
    assert_close(m_bf(x2) - x2, added, "output - x for another x (must not depend on x)", rtol=0, atol=1e-12)
    assert_close(m_tf(x.transpose(0, 1).contiguous()), m_bf(x).transpose(0, 1), "output with batch_first=False on "
                 "x.transpose(0, 1) vs batch_first=True on x, transposed")


@pytest.mark.category("property")
@pytest.mark.parametrize("name", CLASSES)
def test_dropout_only_in_training(candidate, reference, seed, name):
    """train(): each element is 0 or (x + PE) / (1 - p), about p of them 0; eval(): exactly x + PE."""
    cand, _, x, rows = Seq(name, 4, 16, 32, 4, True, seed).build(candidate, reference, torch.float32, dropout=0.5)
    expected = (x.double() + rows).float()  # (B, T, D)
    y = assert_shape(cand.train()(x), x.shape, f"{name} output in train mode")
    assert_close(y, expected / 0.5, "train-mode output where not dropped vs (x + PE) / (1 - p) (dropout after the "
                 "addition, kept elements rescaled)", where=y != 0)
    kit.assert_rate(y == 0, 0.5, f"share of the outputs {name} with dropout=0.5 zeroed in train mode")
    assert_close(cand.eval()(x), expected, f"{name} output in eval mode vs x + PE (no dropout in eval)")


@pytest.mark.category("property")
@pytest.mark.parametrize("name", CLASSES)
def test_forward_does_not_modify_its_input(candidate, seed, name):
    x = torch.randn(2, 5, 6, generator=kit.generator(seed))
    kit.assert_inputs_unchanged(getattr(candidate, name)(6, 10), {"x": x}, {}, f"{name} forward (x + pe, not x += pe)")
