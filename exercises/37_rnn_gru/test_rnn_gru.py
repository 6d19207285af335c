"""Suite for 37_rnn_gru: RNN (tanh, relu) and GRU vs torch.nn.RNN / nn.GRU holding the same state_dict (float64, both
directions, stacked layers, given and default initial states), gradients, a memory task, the GRU's gates."""
import pytest
import torch
from hypothesis import strategies as st
from torch import nn

from grader import kit
from grader.kit import assert_close, assert_finite, assert_shape, f64, given_cases

support = kit.exercise_support(__file__)
KINDS = ["tanh", "relu", "gru"]  # RNN(nonlinearity="tanh"), RNN(nonlinearity="relu"), GRU
FEW = 6  # hypothesis examples per kind: each runs a Python loop over steps, layers and directions


class Rec(kit.Case):
    """x of T steps and batch B with I features through RNN or GRU(I, H, L, bias, batch_first, bidirectional);
    init: h0 passed (else the default zero state)."""

    kind: str
    T: int
    B: int
    I: int
    H: int
    L: int
    bidirectional: bool
    bias: bool = True
    batch_first: bool = False
    init: bool = True

    def make(self, lib):
        kw = dict(bias=self.bias, batch_first=self.batch_first, bidirectional=self.bidirectional)
        if self.kind == "gru":
            return lib.GRU(self.I, self.H, self.L, **kw)
        return lib.RNN(self.I, self.H, self.L, nonlinearity=self.kind, **kw)

    def shapes(self):
        """output's shape, and h_n's."""
        D = 2 if self.bidirectional else 1
        return ((self.B, self.T) if self.batch_first else (self.T, self.B)) + (D * self.H,), (self.L * D, self.B, self.H)

    def inputs(self, g, dtype=f64):
        """x (T, B, I) or (B, T, I), and h0 or None."""
        x = torch.randn(*self.shapes()[0][:2], self.I, generator=g, dtype=dtype)
        return x, torch.randn(self.shapes()[1], generator=g, dtype=dtype) if self.init else None

    def build(self, candidate, reference):
        """The candidate's module and torch's holding the same random state_dict, x, h0, the generator."""
        g = self.generator()
        cand, _, sd = kit.twins(self.make, candidate, reference, g)
        oracle = self.make(nn).to(f64)
        oracle.load_state_dict(sd)
        return cand, oracle, sd, *self.inputs(g), g

    def outputs(self, result, dtype=f64):
        """(output, h_n), which forward must return with the right shapes."""
        if not (isinstance(result, tuple) and len(result) == 2):
            raise kit.Mismatch(f"forward must return (output, h_n), got {type(result).__name__}")
        out_shape, state = self.shapes()
        return assert_shape(result[0], out_shape, "output", dtype), assert_shape(result[1], state, "h_n", dtype)


def run(module, x, h0):
    return module(x) if h0 is None else module(x, h0)


def recs(kind=st.sampled_from(KINDS), T=st.integers(1, 5), L=st.integers(1, 3), bidirectional=st.booleans(),
         init=st.booleans()):
    return kit.builds(Rec, kind=kind, T=T, B=st.integers(1, 3), I=st.integers(1, 4), H=st.integers(1, 5), L=L,
                      bidirectional=bidirectional, bias=st.booleans(), batch_first=st.booleans(), init=init)


def oracle_name(case):
    return "nn.GRU" if case.kind == "gru" else f"nn.RNN(nonlinearity={case.kind!r})"


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(recs(), max_examples=10)
def test_output_shapes(candidate, case):
    x, h0 = case.inputs(case.generator(), dtype=torch.float32)
    for value, name in zip(case.outputs(run(case.make(candidate), x, h0), torch.float32), ("output", "h_n")):
        assert_finite(value, name)


@pytest.mark.category("shape")
@pytest.mark.parametrize("case", [Rec("relu", 1, 1, 3, 5, 2, True), Rec("gru", 1, 1, 4, 3, 3, True, bias=False)],
                         ids=lambda c: f"{c.kind}, I={c.I}, H={c.H}, L={c.L}, bias={c.bias}, bidirectional={c.bidirectional}")
def test_state_dict_matches_torch(candidate, case):
    kit.assert_state_shapes(case.make(candidate), case.make(nn), f"{case}, as {oracle_name(case)}'s")


# -- equivalence -----------------------------------------------------------------------------
def check_vs_oracle(candidate, reference, case):
    cand, oracle, _, x, h0, _ = case.build(candidate, reference)
    kit.assert_outputs_close(case.outputs(run(cand, x, h0)), case.outputs(run(oracle, x, h0)), ("output", "h_n"),
                             oracle_name(case))


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("kind", KINDS)
@given_cases(recs(), replace=("kind",), max_examples=FEW)
def test_matches_torch(candidate, reference, kind, case):
    check_vs_oracle(candidate, reference, case)


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("case", [Rec("gru", 1, 1, 1, 1, 1, False), Rec("relu", 1, 2, 3, 5, 3, True, init=False),
                                  Rec("gru", 4, 2, 2, 1, 2, True, bias=False, batch_first=True)], ids=str)
def test_edge_sizes_match_torch(candidate, reference, case, seed):
    with kit.about(case := case.replace(data_seed=seed)):
        check_vs_oracle(candidate, reference, case)


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@pytest.mark.parametrize("kind", KINDS)
@given_cases(recs(T=st.integers(1, 4), L=st.integers(1, 2), init=st.just(True)), replace=("kind",), max_examples=3)
def test_gradients_match_torch(candidate, reference, kind, case):
    """Gradients w.r.t. x, h0 and every parameter of (output, h_n) under a random upstream gradient."""
    cand, oracle, _, x, h0, g = case.build(candidate, reference)
    kit.check_gradients(candidate, cand, oracle, {"x": x, "h0": h0}, g=g, against=oracle_name(case))


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, reference, seed):
    cand, _, sd, x, h0, g = Rec("gru", 3, 2, 2, 3, 2, True, data_seed=seed).build(candidate, reference)
    kit.check_finite_differences(candidate, cand, {"x": x, "h0": h0}, g=g, state_dict=sd)


# -- convergence -----------------------------------------------------------------------------
CLASSES, STEPS, HIDDEN = 4, 6, 16


@pytest.mark.category("convergence")
@pytest.mark.parametrize("kind", ["gru", "tanh"])
def test_learns_to_remember_the_first_step(candidate, reference, seed, artifacts, kind):
    """The class shown at step 0 must survive 5 steps of noise to the final state (chance: 25%)."""
    case = Rec(kind, STEPS, 1, CLASSES, HIDDEN, 1, False, batch_first=True)

    def models(s, run):
        return kit.same_init(candidate.lib.support("Classifier", case.make(candidate), HIDDEN, CLASSES),
                             lambda: support.Classifier(case.make(reference), HIDDEN, CLASSES), s)

    kit.check_convergence(candidate, artifacts, seed, models=models, runs=2, threshold=0.9,
                          train=dict(steps=200, lr=3e-2, batch_size=32), subject=f"a classifier on your {oracle_name(case)[3:]}",
                          goal="on recalling the class shown at step 0", task=lambda g: (
                              *support.first_step_task(512, STEPS, CLASSES, g), *support.first_step_task(256, STEPS, CLASSES, g)))


# -- properties ------------------------------------------------------------------------------
def pushed(case, sd, r: float, z: float):
    """sd with r and z pushed to 0 or 1 through bias_ih (+-40), the GRU's gates stacked r, z, n."""
    push = torch.cat([torch.full((case.H,), v, dtype=f64) for v in (r, z, 0.0)])
    return {k: v + push if k.startswith("bias_ih") else v for k, v in sd.items()}


@pytest.mark.category("property")
@given_cases(recs(kind=st.just("gru"), init=st.just(True)), max_examples=FEW)
def test_gru_update_gate_keeps_the_state(candidate, reference, case):
    """z = 1 (update gate bias +40): h' = (1 - z) * n + z * h = h, so h_n is h0 and the output at every step is
    the last layer's h0 (its directions side by side)."""
    cand, _, sd, x, h0, _ = case.replace(bias=True).build(candidate, reference)
    out, h_n = case.outputs(kit.load(cand, pushed(case, sd, 0.0, 40.0))(x, h0))
    assert_close(h_n, h0, "h_n with the update gate z = 1 (h' = (1 - z) * n + z * h)")
    last = torch.cat(list(h0[-(2 if case.bidirectional else 1):]), dim=-1)  # (B, D*H)
    assert_close(out, last.unsqueeze(1 if case.batch_first else 0).expand_as(out), "output with z = 1 (the last layer's h0)")


@pytest.mark.category("property")
@given_cases(recs(kind=st.just("gru"), T=st.just(1), L=st.just(1), bidirectional=st.just(False), init=st.just(True)),
             max_examples=FEW)
def test_gru_shut_reset_gate_drops_the_whole_hidden_term(candidate, reference, case):
    """r = 0 and z = 0: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) loses W_hn h AND b_hn, so h_1 = tanh(W_in x + b_in)."""
    cand, _, sd, x, h0, _ = case.replace(bias=True).build(candidate, reference)
    sd = pushed(case, sd, -40.0, -40.0)
    _, h_n = case.outputs(kit.load(cand, sd)(x, h0))
    H = case.H
    expected = torch.tanh(x.reshape(case.B, case.I) @ sd["weight_ih_l0"][2 * H:].T + sd["bias_ih_l0"][2 * H:])
    assert_close(h_n[0], expected, "h_1 with r = 0, z = 0: tanh(W_in x + b_in), the reset gate multiplying W_hn h + b_hn")


@pytest.mark.category("property")
@given_cases(recs(kind=st.sampled_from(["tanh", "relu"])), max_examples=FEW)
def test_rnn_nonlinearity_bounds_the_state(candidate, reference, case):
    """tanh keeps every output in [-1, 1], relu keeps it >= 0 (inputs scaled by 3)."""
    cand, _, sd, x, h0, _ = case.build(candidate, reference)
    out, h_n = case.outputs(run(cand, 3 * x, h0 if h0 is None else h0.clamp(min=0)))
    low, high = (-1.0, 1.0) if case.kind == "tanh" else (0.0, float("inf"))
    outside = ((out < low) | (out > high)).sum().item()
    assert outside == 0, f"{outside} outputs outside [{low}, {high}] with nonlinearity={case.kind!r}"


@pytest.mark.category("property")
@given_cases(recs(T=st.integers(2, 6), bidirectional=st.just(False)), data=st.data(), max_examples=FEW)
def test_state_carries_across_calls(candidate, reference, case, data):
    """Running x[:t] and then x[t:] from the h_n it returned is running x at once."""
    cand, _, _, x, h0, _ = case.build(candidate, reference)
    t = data.draw(st.integers(1, case.T - 1), label="split at step t")
    first, rest = (x[:, :t], x[:, t:]) if case.batch_first else (x[:t], x[t:])
    whole = case.outputs(run(cand, x, h0))
    out1, h1 = case.replace(T=t).outputs(run(cand, first, h0))
    out2, h2 = case.replace(T=case.T - t).outputs(cand(rest, h1))
    split = (torch.cat([out1, out2], dim=1 if case.batch_first else 0), h2)
    kit.assert_outputs_close(split, whole, ("output", "h_n"), f"running all {case.T} steps at once (split at t={t})")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_inputs(candidate, reference, seed):
    for kind, batch_first in (("gru", False), ("gru", True), ("tanh", True)):
        case = Rec(kind, 3, 2, 3, 4, 2, True, batch_first=batch_first, data_seed=seed)
        cand, _, _, x, h0, _ = case.build(candidate, reference)
        kit.assert_inputs_unchanged(cand, {"x": x, "h0": h0}, {}, f"forward ({kind}, batch_first={batch_first})")
