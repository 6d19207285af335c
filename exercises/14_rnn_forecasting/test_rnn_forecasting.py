"""Suite for 14_rnn_forecasting: make_windows vs a plain-loop definition of each window and target;
RNNForecaster vs the reference and a plain-loop tanh RNN (weights transplanted); learns a sine wave."""
import pytest
import torch
from hypothesis import strategies as st
from torch import nn

from grader import kit, training
from grader.kit import assert_close, assert_equal, f64, given_cases

support = kit.exercise_support(__file__)


class Win(kit.Case):
    """A series of T steps (F features per step; F=0: a 1-D series) cut into windows of `window` + `horizon` targets."""
    T: int
    F: int
    window: int
    horizon: int

    def series(self, dtype=f64) -> torch.Tensor:
        return torch.randn(self.T, *([self.F] if self.F else []), generator=self.generator(), dtype=dtype)


@st.composite
def wins(draw, extra=st.integers(0, 6)):
    window, horizon = draw(st.integers(1, 5), label="window"), draw(st.integers(1, 4), label="horizon")
    return Win(max(0, window + horizon + draw(extra, label="T - window - horizon")), draw(st.sampled_from([0, 1, 3])),
               window, horizon, data_seed=draw(kit.data_seeds))


def windows_spec(series, window: int, horizon: int):
    """The definition, one value at a time: X[i, j] = series[i + j], Y[i, k] = series[i + window + k]."""
    n = len(series) - window - horizon + 1
    X = torch.stack([torch.stack([series[i + j] for j in range(window)]) for i in range(n)])
    return X, torch.stack([torch.stack([series[i + window + k] for k in range(horizon)]) for i in range(n)])


class Net(kit.Case):
    """x (B, W, I) through RNNForecaster(I, Hd, horizon, L)."""
    B: int
    W: int
    I: int
    Hd: int
    horizon: int
    L: int

    def make(self, lib):
        return lib.RNNForecaster(self.I, self.Hd, self.horizon, self.L)

    def build(self, candidate, reference):
        g = self.generator()
        cand, ref, sd = kit.twins(self.make, candidate, reference, g)
        return cand, ref, sd, torch.randn(self.B, self.W, self.I, generator=g, dtype=f64), g


FEW = 12  # each example builds two float64 RNNs
nets = kit.builds(Net, B=st.integers(1, 4), W=st.integers(1, 6), I=st.integers(1, 3), Hd=st.integers(1, 5),
                  horizon=st.integers(1, 4), L=st.integers(1, 3))


def rnn_spec(sd: dict, x: torch.Tensor, layers: int) -> torch.Tensor:
    """A tanh RNN step by step, h_0 = 0, each layer reading the one below; the head on the top layer's last state."""
    for l in range(layers):
        w_ih, w_hh, b_ih, b_hh = (sd[f"rnn.{n}_l{l}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        h, states = x.new_zeros(x.shape[0], w_hh.shape[0]), []
        for t in range(x.shape[1]):
            h = torch.tanh(x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh)  # (B, Hd)
            states.append(h)
        x = torch.stack(states, 1)  # (B, W, Hd)
    return x[:, -1] @ sd["head.weight"].T + sd["head.bias"]


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(wins(), dtype=st.sampled_from([torch.float32, f64]))
def test_window_shapes(candidate, case, dtype):
    n, feat = case.T - case.window - case.horizon + 1, [case.F] if case.F else []
    kit.unpack(candidate.make_windows(case.series(dtype), case.window, case.horizon),
               {"X": (n, case.window, *feat), "Y": (n, case.horizon, *feat)}, dtype, "make_windows")


@pytest.mark.category("shape")
@given_cases(nets, max_examples=FEW)
def test_forecast_shape_and_parameters(candidate, reference, case):
    x = torch.randn(case.B, case.W, case.I, generator=case.generator())
    kit.assert_shape(case.make(candidate)(x), (case.B, case.horizon), "forecast", dtype=torch.float32)
    kit.assert_state_shapes(case.make(candidate), case.make(reference), "RNNForecaster (rnn: nn.RNN, head: nn.Linear)")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(wins())
def test_windows_match_the_loop_definition(candidate, case):
    X, Y = windows_spec(series := case.series(), case.window, case.horizon)
    got = candidate.make_windows(series, case.window, case.horizon)
    kit.assert_outputs_close(got, (X, Y), ("X (windows)", "Y (targets)"), "X[i, j] = series[i + j], "
                             "Y[i, k] = series[i + window + k]", rtol=0, atol=0)


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("oracle", ["reference", "a plain-loop tanh RNN"])
@given_cases(nets, max_examples=FEW)
def test_forecaster_matches(candidate, reference, case, oracle):
    cand, ref, sd, x, _ = case.build(candidate, reference)
    assert_close(cand(x), ref(x) if oracle == "reference" else rnn_spec(sd, x, case.L), f"forecast vs {oracle}")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(nets, max_examples=FEW)
def test_gradients_match_reference(candidate, reference, case):
    cand, ref, _, x, g = case.build(candidate, reference)
    kit.check_gradients(candidate, cand, ref, {"x": x}, g=g, against="reference")


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, reference, seed):
    cand, _, sd, x, g = Net(2, 4, 2, 3, 3, 2, data_seed=seed).build(candidate, reference)
    kit.check_finite_differences(candidate, cand, {"x": x}, g=g, state_dict=sd)


# -- convergence -----------------------------------------------------------------------------
WINDOW, HORIZON, TRAIN = 12, 4, dict(steps=100, lr=1e-2, batch_size=32)


@pytest.mark.category("convergence")
def test_learns_a_sine_wave(candidate, reference, seed, artifacts):
    """Windows of a sine (period 12-24 steps, random phase); trained on the first 160 windows, forecast the last 40
    (after a gap): the mean squared error must fall below 0.01 (the series' variance is 0.5)."""
    for run in range(2):
        s = seed * 1000 + run
        X, Y = windows_spec(support.sine(240, kit.generator(s)), WINDOW, HORIZON)  # (N, W), (N, horizon)
        X = X[..., None]  # (N, W, 1)
        model, ref_model = kit.same_init(candidate.RNNForecaster(1, 16, HORIZON),
                                         lambda: reference.RNNForecaster(1, 16, HORIZON), s)
        losses = candidate.lib.fit(model, X[:160], Y[:160], seed=s, loss="mse", **TRAIN,
                                       _timeout_factor=kit.TRAIN_TIMEOUT_FACTOR)["losses"]
        mse = float(((kit.assert_shape(model(X[-40:]), (40, HORIZON), "forecast") - Y[-40:]) ** 2).mean())
        if run == 0 or mse >= 0.01:
            ref_losses = training.fit(ref_model, X[:160], Y[:160], seed=s, loss="mse", **TRAIN)["losses"]
            artifacts.setdefault("loss_curve", {"candidate": losses, "reference": ref_losses})
        assert mse < 0.01, (f"after {TRAIN['steps']} Adam steps (data seed {s}) your forecaster's held-out mean "
                            f"squared error is {mse:.4f}; the reference's, from the same initial weights, is "
                            f"{float(((ref_model(X[-40:]) - Y[-40:]) ** 2).mean()):.4f}; below 0.01 is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(wins())
def test_windows_follow_time_order(candidate, case):
    """With series[t] = t (+ f / 8 for feature f), values are time steps: window i starts at step i, and its
    targets start right after its last step."""
    series = (torch.arange(case.T, dtype=f64) + torch.arange(max(case.F, 1), dtype=f64)[:, None] / 8).T
    X, Y = candidate.make_windows(series if case.F else series[:, 0], case.window, case.horizon)
    steps = torch.arange(case.T - case.window - case.horizon + 1, dtype=f64)
    assert_equal(X[:, 0].floor().reshape(len(steps), -1)[:, 0], steps, "time step of X[i, 0] (window i starts at i)")
    assert_equal(Y[:, 0] - X[:, -1], torch.ones_like(Y[:, 0]), "time of Y[i, 0] minus time of X[i, -1] (the first "
                 "target is the step right after the window)")


@pytest.mark.category("property")
@given_cases(wins(extra=st.integers(-3, -1)))
def test_too_short_a_series_raises(candidate, case):
    kit.expect_raises(lambda: candidate.make_windows(case.series(), case.window, case.horizon), "ValueError",
                      f"make_windows on a series of {case.T} steps with window + horizon = {case.window + case.horizon}")


@pytest.mark.category("property")
def test_window_or_horizon_below_one_raises(candidate):
    for window, horizon in ((0, 2), (3, 0), (-1, 1)):
        kit.expect_raises(lambda: candidate.make_windows(Win(12, 0, window, horizon).series(), window, horizon),
                          "ValueError", f"make_windows with window={window}, horizon={horizon} on a series of 12 steps")


@pytest.mark.category("property")
@given_cases(nets, max_examples=FEW)
def test_each_row_is_forecast_on_its_own(candidate, reference, case):
    """A window's forecast cannot depend on the other windows of the batch (batch_first: time is dim 1)."""
    cand, _, _, x, g = case.build(candidate, reference)
    perm = torch.randperm(case.B, generator=g)
    y = kit.assert_shape(cand(x), (case.B, case.horizon), "forecast", dtype=f64)
    assert_close(cand(x[perm]), y[perm], f"forecast of the batch permuted by {perm.tolist()} vs permuted forecast")
    assert_close(cand(x[-1:]), y[-1:], "forecast of the last window alone vs in the batch")


@pytest.mark.category("property")
def test_calls_do_not_modify_their_inputs(candidate, seed):
    series = torch.randn(9, 2, generator=kit.generator(seed))
    kit.assert_inputs_unchanged(candidate.make_windows, {"series": series, "window": 3, "horizon": 2}, None,
                                "make_windows")
    kit.assert_inputs_unchanged(candidate.RNNForecaster(2, 4, 3), {"x": series[None]}, None, "forward")
