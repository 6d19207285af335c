"""Suite for 28_lstm_forecasting: the chronological split and its standardisation vs their definition, with no
validation data leaking into the statistics; LSTMForecaster vs the reference and a step-by-step LSTM (weights
transplanted); forecast() back in the series' units; the whole pipeline learns a noisy sine."""
import pytest
import torch
from hypothesis import strategies as st

from grader import kit, training
from grader.kit import assert_close, assert_equal, f64, given_cases

support = kit.exercise_support(__file__)


class Split(kit.Case):
    """A series of T steps (F features per step; F=0: a 1-D series), its last n_val steps held out."""
    T: int
    F: int
    n_val: int

    def series(self, dtype=f64, offset: int = 0) -> torch.Tensor:
        """Level and scale per feature far from 0 and 1 (so standardising changes the values)."""
        g = self.generator(offset)
        shape = (self.T, *([self.F] if self.F else []))
        return (5 * torch.randn(shape[1:], generator=g, dtype=f64) + (0.5 + 3 * torch.rand(shape[1:], generator=g,
                dtype=f64)) * torch.randn(shape, generator=g, dtype=f64)).to(dtype)

    def call(self, lib, series):
        return kit.unpack(lib.split_and_standardize(series, self.n_val), self.shapes(), series.dtype,
                          f"split_and_standardize(series {tuple(series.shape)}, n_val={self.n_val})", finite=True)

    def shapes(self) -> dict:
        feat = (self.F,) if self.F else ()
        return {"train_z": (self.T - self.n_val, *feat), "val_z": (self.n_val, *feat), "mean": feat, "std": feat}


@st.composite
def splits(draw):
    n_train, n_val = draw(st.integers(2, 9), label="T - n_val"), draw(st.integers(1, 6), label="n_val")
    return Split(n_train + n_val, draw(st.sampled_from([0, 1, 3]), label="F"), n_val, data_seed=draw(kit.data_seeds))


def split_spec(series, n_val: int):
    """The definition: the first T - n_val steps train, the rest validate; mean and population std of the train part."""
    train, val = series[:len(series) - n_val], series[len(series) - n_val:]
    mean = train.sum(0) / len(train)
    std = (((train - mean) ** 2).sum(0) / len(train)).sqrt()
    return (train - mean) / std, (val - mean) / std, mean, std


class Net(kit.Case):
    """x (B, W, I) through LSTMForecaster(I, Hd, horizon, L)."""
    B: int
    W: int
    I: int
    Hd: int
    horizon: int
    L: int

    def make(self, lib):
        return lib.LSTMForecaster(self.I, self.Hd, self.horizon, self.L)

    def build(self, candidate, reference):
        g = self.generator()
        cand, ref, sd = kit.twins(self.make, candidate, reference, g)
        return cand, ref, sd, torch.randn(self.B, self.W, self.I, generator=g, dtype=f64), g


FEW = 12  # each example builds two float64 LSTMs
nets = kit.builds(Net, B=st.integers(1, 4), W=st.integers(1, 6), I=st.integers(1, 3), Hd=st.integers(1, 5),
                  horizon=st.integers(1, 4), L=st.integers(1, 3))


def lstm_spec(sd: dict, x: torch.Tensor, layers: int) -> torch.Tensor:
    """An LSTM step by step (gates i, f, g, o), h_0 = c_0 = 0; the head on the top layer's last hidden state."""
    for l in range(layers):
        w_ih, w_hh, b_ih, b_hh = (sd[f"lstm.{n}_l{l}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        h = c = x.new_zeros(x.shape[0], w_hh.shape[1])
        states = []
        for t in range(x.shape[1]):
            i, f, g, o = (x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=1)  # 4 x (B, Hd)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            states.append(h)
        x = torch.stack(states, 1)  # (B, W, Hd)
    return x[:, -1] @ sd["head.weight"].T + sd["head.bias"]


class Hist(kit.Case):
    """Raw history (B, W) of a series with level `level` and scale `scale`, forecast `horizon` steps ahead."""
    B: int
    W: int
    horizon: int

    def inputs(self):
        g = self.generator()
        mean, std = 10 * torch.randn((), generator=g, dtype=f64), 0.5 + 3 * torch.rand((), generator=g, dtype=f64)
        return mean + std * torch.randn(self.B, self.W, generator=g, dtype=f64), mean, std


hists = kit.builds(Hist, B=st.integers(1, 4), W=st.integers(1, 6), horizon=st.integers(1, 4))


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(splits(), dtype=st.sampled_from([torch.float32, f64]))
def test_split_shapes(candidate, case, dtype):
    case.call(candidate, case.series(dtype))


@pytest.mark.category("shape")
@given_cases(nets, max_examples=FEW)
def test_forecaster_shape_and_parameters(candidate, reference, case):
    x = torch.randn(case.B, case.W, case.I, generator=case.generator())
    kit.assert_shape(case.make(candidate)(x), (case.B, case.horizon), "forecast", dtype=torch.float32)
    kit.assert_state_shapes(case.make(candidate), case.make(reference), "LSTMForecaster (lstm: nn.LSTM, head: nn.Linear)")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(splits())
def test_split_matches_the_definition(candidate, case):
    got = case.call(candidate, series := case.series())
    kit.assert_outputs_close(got, split_spec(series, case.n_val), list(case.shapes()), "the first T - n_val steps "
                             "train, the rest validate, both standardised with the train part's mean and population std")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("oracle", ["reference", "a step-by-step LSTM"])
@given_cases(nets, max_examples=FEW)
def test_forecaster_matches(candidate, reference, case, oracle):
    cand, ref, sd, x, _ = case.build(candidate, reference)
    assert_close(cand(x), ref(x) if oracle == "reference" else lstm_spec(sd, x, case.L), f"forecast vs {oracle}")


@pytest.mark.category("equivalence")
@given_cases(hists)
def test_forecast_in_the_series_units(candidate, case):
    """forecast() around a stand-in model (a small LSTM): standardise the history, predict, map back."""
    history, mean, std = case.inputs()
    model = candidate.lib.support("stand_in", case.horizon, case.data_seed % 1000)
    ref_model = support.stand_in(case.horizon, case.data_seed % 1000)  # the same weights, here
    expected = ref_model(((history - mean) / std)[..., None]).detach() * std + mean
    assert_close(candidate.forecast(model, history, mean, std), expected, "forecast vs model((history - mean) / std) "
                 "* std + mean")


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
WINDOW, HORIZON, N_VAL, TRAIN = 16, 4, 80, dict(steps=100, lr=1e-2, batch_size=32)


def windows(series):  # (T,) -> (N, WINDOW), (N, HORIZON): every span of WINDOW + HORIZON steps, in time order
    spans = series.unfold(0, WINDOW + HORIZON, 1)
    return spans[:, :WINDOW], spans[:, WINDOW:]


@pytest.mark.category("convergence")
def test_learns_a_noisy_sine(candidate, reference, seed, artifacts):
    """10 + 3 sin(...) + N(0, 0.2^2) over 300 steps: your split and standardisation, your LSTM trained on the train
    part's windows, your forecast() on the validation part's raw windows: the MSE there must be below 0.25 (the
    series' variance is about 4.5; the noise alone gives 0.04)."""
    for run in range(2):
        s = seed * 1000 + run
        series = support.noisy_sine(300, kit.generator(s))
        train_z, _, mean, std = Split(300, 0, N_VAL).call(candidate, series)
        X, Y = windows(train_z)
        model, ref_model = kit.same_init(candidate.LSTMForecaster(1, 16, HORIZON),
                                         lambda: reference.LSTMForecaster(1, 16, HORIZON), s)
        losses = candidate.lib.fit(model, X[..., None], Y, seed=s, loss="mse", **TRAIN,
                                       _timeout_factor=kit.TRAIN_TIMEOUT_FACTOR)["losses"]
        history, target = windows(series[-N_VAL:])  # raw units
        mse = float(((kit.assert_shape(candidate.forecast(model, history, mean, std), target.shape, "forecast",
                                       dtype=torch.float32) - target) ** 2).mean())
        if run == 0 or mse >= 0.25:
            ref_losses = training.fit(ref_model, X[..., None], Y, seed=s, loss="mse", **TRAIN)["losses"]
            artifacts.setdefault("loss_curve", {"candidate": losses, "reference": ref_losses})
            ref_forecast = reference.forecast(ref_model, history, *split_spec(series, N_VAL)[2:]).detach()
        assert mse < 0.25, (f"after {TRAIN['steps']} Adam steps (data seed {s}) your pipeline's validation mean "
                            f"squared error, in the series' units, is {mse:.4f}; the reference's, from the same "
                            f"initial weights, is {float(((ref_forecast - target) ** 2).mean()):.4f}; below 0.25 "
                            "is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(splits())
def test_validation_data_never_leaks_into_the_statistics(candidate, case):
    """Replace the validation part by other values: train_z, mean and std must not move at all."""
    series = case.series()
    changed = torch.cat([series[:case.T - case.n_val], 3 * case.series(offset=1)[case.T - case.n_val:] + 7])
    before, after = case.call(candidate, series), case.call(candidate, changed)
    for name, b, a in zip(case.shapes(), before, after):
        if name != "val_z":
            assert_equal(a, b, f"{name} after changing only the validation part (it must come from train data alone)")
    assert_close(after[1], (changed[case.T - case.n_val:] - after[2]) / after[3], "val_z vs (val - mean) / std with "
                 "the returned (training) statistics")


@pytest.mark.category("property")
@given_cases(splits())
def test_train_part_is_standardised(candidate, case):
    train_z = case.call(candidate, case.series())[0]
    assert_close(train_z.mean(0), torch.zeros_like(train_z[0]), "mean of train_z over time", atol=1e-9)
    assert_close(train_z.std(0, correction=0), torch.ones_like(train_z[0]), "population std of train_z over time")


@pytest.mark.category("property")
@given_cases(hists, a=st.floats(0.2, 5.0), b=st.floats(-20, 20))
def test_forecasts_follow_a_change_of_units(candidate, case, a, b):
    """Series in other units (a * y + b, its statistics a * mean + b and a * std): forecasts a * f + b."""
    history, mean, std = case.inputs()
    model = candidate.lib.support("stand_in", case.horizon, case.data_seed % 1000)
    f = candidate.forecast(model, history, mean, std)
    assert_close(candidate.forecast(model, a * history + b, a * mean + b, a * std), a * f + b,
                 f"forecast in units a * y + b (a={a:.3g}, b={b:.3g}) vs a * forecast + b")


@pytest.mark.category("property")
def test_calls_do_not_modify_their_inputs(candidate, seed):
    series = Split(9, 2, 3, data_seed=seed).series(torch.float32)
    kit.assert_inputs_unchanged(candidate.split_and_standardize, {"series": series, "n_val": 3}, None,
                                "split_and_standardize")
    history, mean, std = Hist(2, 5, 3, data_seed=seed).inputs()
    kit.assert_inputs_unchanged(candidate.forecast, {"model": candidate.lib.support("stand_in", 3, 0),
                                "history": history, "mean": mean, "std": std}, None, "forecast")
    kit.assert_inputs_unchanged(candidate.LSTMForecaster(2, 4, 3), {"x": series[None]}, None, "forward")
