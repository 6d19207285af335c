"""Suite for 36_lstm: LSTM vs torch.nn.LSTM holding the same state_dict (float64, both directions, stacked
layers, given and default initial states), gradients, a memory task, gate order and initial states."""
import pytest
import torch
from hypothesis import strategies as st
from torch import nn

from grader import kit
from grader.kit import assert_close, assert_finite, assert_shape, f64, given_cases, unpack

support = kit.exercise_support(__file__)
FEW = 10  # hypothesis examples per test: each runs a Python loop over steps, layers and directions


class Lstm(kit.Case):
    """x of T steps and batch B with I features through LSTM(I, H, L, bias, batch_first, bidirectional);
    init: (h0, c0) passed (else the default zero state)."""

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
        return lib.LSTM(self.I, self.H, self.L, bias=self.bias, batch_first=self.batch_first,
                        bidirectional=self.bidirectional)

    def shapes(self):
        """output's shape, and the shape of h_n and c_n."""
        D = 2 if self.bidirectional else 1
        return ((self.B, self.T) if self.batch_first else (self.T, self.B)) + (D * self.H,), (self.L * D, self.B, self.H)

    def inputs(self, g, dtype=f64):
        """x (T, B, I) or (B, T, I), and hx = (h0, c0) or None."""
        x = torch.randn(*self.shapes()[0][:2], self.I, generator=g, dtype=dtype)
        state = self.shapes()[1]
        return x, (torch.randn(state, generator=g, dtype=dtype), torch.randn(state, generator=g, dtype=dtype)) \
            if self.init else None

    def build(self, candidate, reference, **weights):
        """The candidate's LSTM and nn.LSTM holding the same random state_dict, x, hx, the generator."""
        g = self.generator()
        cand, _, sd = kit.twins(self.make, candidate, reference, g, **weights)
        oracle = self.make(nn).to(f64)
        oracle.load_state_dict(sd)
        return cand, oracle, sd, *self.inputs(g), g

    def outputs(self, result, dtype=f64):
        """(output, h_n, c_n) from forward's result, which must be (output, (h_n, c_n)) of the right shapes."""
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], tuple)):
            raise kit.Mismatch(f"forward must return (output, (h_n, c_n)), got {type(result).__name__}")
        out_shape, state = self.shapes()
        return (assert_shape(result[0], out_shape, "output", dtype),
                *unpack(result[1], {"h_n": state, "c_n": state}, dtype, "the state (h_n, c_n)"))


def run(module, x, hx):
    return module(x) if hx is None else module(x, hx)


def lstms(T=st.integers(1, 5), L=st.integers(1, 3), bidirectional=st.booleans(), init=st.booleans()):
    return kit.builds(Lstm, T=T, B=st.integers(1, 3), I=st.integers(1, 4), H=st.integers(1, 5), L=L,
                      bidirectional=bidirectional, bias=st.booleans(), batch_first=st.booleans(), init=init)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(lstms(), max_examples=FEW)
def test_output_shapes(candidate, case):
    x, hx = case.inputs(case.generator(), dtype=torch.float32)
    for value, name in zip(case.outputs(run(case.make(candidate), x, hx), torch.float32), ("output", "h_n", "c_n")):
        assert_finite(value, name)


@pytest.mark.category("shape")
@pytest.mark.parametrize("config", [(3, 5, 1, True, False), (3, 5, 2, True, True), (4, 3, 3, False, True)],
                         ids=lambda c: "LSTM(I={}, H={}, L={}, bias={}, bidirectional={})".format(*c))
def test_state_dict_matches_nn_lstm(candidate, config):
    I, H, L, bias, bidirectional = config
    kit.assert_state_shapes(candidate.LSTM(I, H, L, bias=bias, bidirectional=bidirectional),
                            nn.LSTM(I, H, L, bias=bias, bidirectional=bidirectional), f"LSTM{config}, as nn.LSTM's")


# -- equivalence -----------------------------------------------------------------------------
NAMES = ("output", "h_n", "c_n")


def check_vs_oracle(candidate, reference, case):
    cand, oracle, _, x, hx, _ = case.build(candidate, reference)
    kit.assert_outputs_close(case.outputs(run(cand, x, hx)), case.outputs(run(oracle, x, hx)), NAMES, "nn.LSTM")


@pytest.mark.category("equivalence")
@given_cases(lstms(), max_examples=FEW)
def test_matches_nn_lstm(candidate, reference, case):
    check_vs_oracle(candidate, reference, case)


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("case", [Lstm(1, 1, 1, 1, 1, False), Lstm(1, 2, 3, 5, 3, True, init=False),
                                  Lstm(4, 2, 2, 1, 2, True, bias=False, batch_first=True)], ids=str)
def test_edge_sizes_match_nn_lstm(candidate, reference, case, seed):
    with kit.about(case := case.replace(data_seed=seed)):
        check_vs_oracle(candidate, reference, case)


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(lstms(T=st.integers(1, 4), L=st.integers(1, 2), init=st.just(True)), max_examples=8)
def test_gradients_match_nn_lstm(candidate, reference, case):
    """Gradients w.r.t. x, h0, c0 and every parameter of (output, h_n, c_n) under a random upstream gradient."""
    cand, oracle, _, x, (h0, c0), g = case.build(candidate, reference)
    kit.check_gradients(candidate, candidate.lib.support("Flat", cand), support.Flat(oracle),
                        {"x": x, "h0": h0, "c0": c0}, g=g, against="nn.LSTM")


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, reference, seed):
    cand, _, sd, x, (h0, c0), g = Lstm(3, 2, 2, 3, 2, True, data_seed=seed).build(candidate, reference)
    kit.check_finite_differences(candidate, candidate.lib.support("Flat", cand), {"x": x, "h0": h0, "c0": c0}, g=g,
                                 state_dict={f"core.{k}": v for k, v in sd.items()})


# -- convergence -----------------------------------------------------------------------------
CLASSES, STEPS, HIDDEN = 4, 6, 16


@pytest.mark.category("convergence")
def test_learns_to_remember_the_first_step(candidate, reference, seed, artifacts):
    """The class shown at step 0 must survive 5 steps of noise to the final state (chance: 25%)."""
    def models(s, run):
        return kit.same_init(
            candidate.lib.support("Classifier", candidate.LSTM(CLASSES, HIDDEN, batch_first=True), HIDDEN, 1, CLASSES),
            lambda: support.Classifier(reference.LSTM(CLASSES, HIDDEN, batch_first=True), HIDDEN, 1, CLASSES), s)

    kit.check_convergence(candidate, artifacts, seed, models=models, runs=2, threshold=0.9,
                          train=dict(steps=200, lr=3e-2, batch_size=32), subject="a classifier on your LSTM",
                          task=lambda g: (*support.first_step_task(512, STEPS, CLASSES, g),
                                          *support.first_step_task(256, STEPS, CLASSES, g)),
                          goal="on recalling the class shown at the first step")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(lstms(L=st.integers(1, 2), init=st.just(True)), max_examples=6)
def test_gate_order(candidate, reference, case):
    """Gates stacked i, f, g, o: with the input gate shut (bias -40) and the forget and output gates open
    (+40), every cell keeps c0 exactly and every h is tanh(c0), whatever the inputs."""
    H = case.H
    push = torch.cat([torch.full((H,), v, dtype=f64) for v in (-40.0, 40.0, 0.0, 40.0)])  # i, f, g, o
    cand, _, sd, x, (h0, c0), _ = case.replace(bias=True).build(candidate, reference)
    sd = {k: v + push if k.startswith("bias_ih") else v for k, v in sd.items()}
    kit.load(cand, sd)
    out, h_n, c_n = case.outputs(cand(x, (h0, c0)))
    assert_close(c_n, c0, "c_n with the input gate shut and the forget gate open (gate order i, f, g, o)")
    assert_close(h_n, c0.tanh(), "h_n = o * tanh(c) with o = 1 (gate order i, f, g, o)")


@pytest.mark.category("property")
@given_cases(lstms(T=st.integers(2, 6), bidirectional=st.just(False), init=st.booleans()), data=st.data(),
             max_examples=8)
def test_state_carries_across_calls(candidate, reference, case, data):
    """Running x[:t] and then x[t:] from the (h_n, c_n) it returned is running x at once."""
    cand, _, _, x, hx, _ = case.build(candidate, reference)
    t = data.draw(st.integers(1, case.T - 1), label="split at step t")
    first, rest = (x[:, :t], x[:, t:]) if case.batch_first else (x[:t], x[t:])
    whole = case.outputs(run(cand, x, hx))
    out1, h1, c1 = case.replace(T=t).outputs(run(cand, first, hx))
    out2, h2, c2 = case.replace(T=case.T - t).outputs(cand(rest, (h1, c1)))
    split = (torch.cat([out1, out2], dim=1 if case.batch_first else 0), h2, c2)
    kit.assert_outputs_close(split, whole, NAMES, f"running all {case.T} steps at once (split at t={t})")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_inputs(candidate, reference, seed):
    for batch_first in (False, True):
        case = Lstm(3, 2, 3, 4, 2, True, batch_first=batch_first, data_seed=seed)
        cand, _, _, x, (h0, c0), _ = case.build(candidate, reference)
        _, (x_after, (h0_after, c0_after)), _ = cand.call_checked(x, (h0, c0))
        for after, before, name in ((x_after, x, "x"), (h0_after, h0, "h0"), (c0_after, c0, "c0")):
            kit.assert_unchanged(after, before, f"{name} after forward (batch_first={batch_first}; modified in place)")
