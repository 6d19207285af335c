"""Suite for 48_dropout: inverted `dropout`, `channel_dropout` (whole channels, as nn.Dropout2d)
and the `Dropout` layer, with masks drawn from a torch.Generator so that every mask is known.

Masks are compared bit for bit with the reference given the same generator state (the README
pins down the draw). The other checks do not depend on how the mask is drawn: they read it off
the output (inputs never contain 0): values, scaling, statistics with seeded bounds, the
gradient (the mask of the forward pass, divided by 1 - p), train/eval behaviour and edge cases.

`candidate` is the submission in a sandboxed worker; `reference` runs here. Generators for the
candidate are built in the worker (`candidate.lib.make("torch.Generator")`).
"""
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from grader import training
from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.gradcheck import check_directional_derivatives
from grader.proxy import CandidateError
from grader.testing import generator, seeded, fit_and_check

f64 = torch.float64
FUNCTIONS = ["dropout", "channel_dropout"]

shapes = st.lists(st.integers(1, 5), min_size=0, max_size=4).map(tuple)
channel_shapes = st.lists(st.integers(1, 5), min_size=2, max_size=4).map(tuple)
probabilities = st.floats(0.05, 0.95)
common = dict(p=probabilities, data_seed=st.integers(0, 2**32 - 1), mask_seed=st.integers(0, 2**63 - 1),
              dtype=st.sampled_from([torch.float32, f64]))


# -- helpers ---------------------------------------------------------------------------------
def nonzero_input(shape, g, dtype=f64) -> torch.Tensor:
    """Values in ±[0.5, 1.5): never 0, so an output of exactly 0 means "dropped"."""
    magnitude = 0.5 + torch.rand(shape, generator=g, dtype=dtype)
    sign = torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0).to(dtype)
    return magnitude * sign


def remote_generator(candidate, seed: int):
    """A torch.Generator living in the worker, seeded with `seed` (a handle to pass to the candidate)."""
    return candidate.lib.make("torch.Generator").manual_seed(seed)


def kept(out: torch.Tensor) -> torch.Tensor:
    """The mask read off an output: True where the element survived (inputs are never 0)."""
    return out != 0


def call(candidate, fn: str, x, p, training=True, gen=None):
    return getattr(candidate, fn)(x, p, training, gen)


def shape_strategy(fn):
    return channel_shapes if fn == "channel_dropout" else shapes


def assert_dropout_output(out, x, p, name) -> torch.Tensor:
    """Every element is either exactly 0 or x / (1 - p)."""
    out = assert_shape(out, x.shape, name, dtype=x.dtype)
    assert_finite(out, name)
    assert_close(out, torch.where(kept(out), x / (1 - p), torch.zeros_like(x)),
                 f"{name}: every element must be 0 (dropped) or x / (1 - p) = x * {1 / (1 - p):.4g} (kept)")
    return out


def assert_whole_channels(out, name):
    """channel_dropout: within each x[n, c] every element is dropped, or none is."""
    k = kept(out).flatten(2)  # (N, C, positions)
    mixed = k.any(-1) & ~k.all(-1)
    if mixed.any():
        n, c = (int(i) for i in mixed.nonzero()[0])
        raise Mismatch(f"{name}: channel x[{n}, {c}] is partly dropped ({int(k[n, c].sum())} of {k.shape[-1]} "
                       "elements kept); channel dropout keeps or drops a whole channel")


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@pytest.mark.parametrize("fn", FUNCTIONS)
@given(data=st.data(), **common, training=st.booleans())
def test_output_shape_and_dtype(candidate, fn, data, p, data_seed, mask_seed, dtype, training):
    shape = data.draw(shape_strategy(fn), label="shape of x")
    x = nonzero_input(shape, generator(data_seed), dtype)
    out = call(candidate, fn, x, p, training, remote_generator(candidate, mask_seed))
    assert_shape(out, shape, f"{fn} output for x of shape {shape}", dtype=dtype)
    assert_finite(out, f"{fn} output")


@pytest.mark.category("shape")
def test_dropout_layer_has_no_parameters(candidate):
    """A dropout layer holds p and a generator, but no parameters or buffers."""
    layer = candidate.Dropout(0.3)
    state = layer.state_dict()
    assert state == {}, f"Dropout(0.3).state_dict() should be empty, got keys {sorted(state)}"
    count = candidate.lib.grads(layer, [torch.ones(2, 3)])["param_grads"]
    assert count == {}, f"Dropout(0.3) should have no parameters, got {sorted(count)}"


# -- equivalence (exact masks) ---------------------------------------------------------------
@pytest.mark.category("equivalence")
@pytest.mark.parametrize("fn", FUNCTIONS)
@given(data=st.data(), **common)
def test_masks_match_reference_given_the_generator(candidate, reference, fn, data, p, data_seed, mask_seed, dtype):
    """Two successive calls with one generator: the same masks as the reference (README: the
    draw), the same values, and the generator left in the same state (exactly one draw a call)."""
    shape = data.draw(shape_strategy(fn), label="shape of x")
    g = generator(data_seed)
    x1, x2 = nonzero_input(shape, g, dtype), nonzero_input(shape, g, dtype)
    ref_gen, gen = torch.Generator().manual_seed(mask_seed), remote_generator(candidate, mask_seed)
    for i, x in enumerate((x1, x2), 1):
        expected = getattr(reference, fn)(x, p, True, ref_gen)
        got = assert_shape(call(candidate, fn, x, p, True, gen), shape, f"{fn} output", dtype=dtype)
        assert_equal(kept(got), kept(expected), f"{fn} mask (True = kept) of call {i} with a generator seeded "
                     f"{mask_seed}, p={p:.4g} (README: keep = torch.rand(shape, generator=g) < 1 - p)")
        assert_close(got, expected, f"{fn} output of call {i} vs reference")
    assert_equal(gen.get_state(), ref_gen.get_state(), f"generator state after two calls of {fn} (one "
                 "torch.rand of the mask's shape per call, nothing more)")


@pytest.mark.category("equivalence")
@given(**common, shape=shapes)
def test_dropout_layer_matches_reference(candidate, reference, p, data_seed, mask_seed, dtype, shape):
    """Dropout(p, generator) in train() mode draws like dropout(); in eval() mode it is the identity."""
    g = generator(data_seed)
    x = nonzero_input(shape, g, dtype)
    ref = reference.Dropout(p, generator=torch.Generator().manual_seed(mask_seed))
    layer = candidate.Dropout(p, generator=remote_generator(candidate, mask_seed))
    for step in range(2):
        assert_close(layer(x), ref(x), f"Dropout({p:.4g}) output in train mode, call {step + 1}, vs reference")
    layer.eval()
    assert_equal(layer(x), x, f"Dropout({p:.4g}) output after .eval() (must be x)")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@pytest.mark.parametrize("fn", FUNCTIONS)
@given(data=st.data(), **common, training=st.booleans())
def test_backward_uses_the_forward_mask(candidate, fn, data, p, data_seed, mask_seed, dtype, training):
    """d out / d x = keep / (1 - p) with the mask of the forward pass (read off its output);
    the identity in eval mode."""
    shape = data.draw(shape_strategy(fn), label="shape of x")
    g = generator(data_seed)
    x = nonzero_input(shape, g, dtype)
    grad_out = torch.randn(shape, generator=g, dtype=dtype)
    got = candidate.lib.grads(getattr(candidate, fn), [x, p, training, remote_generator(candidate, mask_seed)],
                              {}, grad_out)
    out = assert_shape(got["output"], shape, f"{fn} output", dtype=dtype)
    grad = got["input_grads"][0]
    if grad is None:
        raise Mismatch(f"gradient w.r.t. x: none reached x through {fn} (detached, or built under no_grad?)")
    if training:
        expected = torch.where(kept(out), grad_out / (1 - p), torch.zeros_like(grad_out))
        assert_close(grad, expected, f"gradient w.r.t. x of {fn} (p={p:.4g}, train): must be grad_out * keep / (1 - p) "
                     "with the mask of this forward pass (a new mask in backward gives a different one)")
    else:
        assert_close(grad, grad_out, f"gradient w.r.t. x of {fn} in eval mode (identity: must equal grad_out)")


@pytest.mark.category("gradient")
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_gradients_match_finite_differences(candidate, seed, fn):
    """A generator re-seeded before each call gives the same mask every time: the output is then a
    linear function of x, and its gradient must agree with central differences."""
    g = generator(seed)
    x = nonzero_input((3, 4, 5), g)
    grad_out = torch.randn(3, 4, 5, generator=g, dtype=f64)
    mask_seed = seed + 17

    def forward(point):
        return call(candidate, fn, point["x"], 0.4, True, remote_generator(candidate, mask_seed))

    got = candidate.lib.grads(getattr(candidate, fn), [x, 0.4, True, remote_generator(candidate, mask_seed)],
                              {}, grad_out)
    if got["input_grads"][0] is None:
        raise Mismatch(f"no gradient reached x through {fn}")
    check_directional_derivatives(forward, {"x": x}, {"x": got["input_grads"][0]}, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
HIDDEN, P_TRAIN = 32, 0.2
TRAIN = dict(steps=80, lr=1e-2, batch_size=64)


def rings(n: int, g: torch.Generator):
    """Class 0 on a disk of radius 0.5, class 1 on the annulus 1 < r < 1.5 (no line separates them)."""
    label = torch.randint(2, (n,), generator=g)
    radius = torch.where(label == 1, 1.0 + 0.5 * torch.rand(n, generator=g), 0.5 * torch.rand(n, generator=g).sqrt())
    angle = 2 * math.pi * torch.rand(n, generator=g)
    return torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1).to(f64), label  # (n, 2), (n,)


def reference_mlp(reference, mask_seed: int) -> nn.Sequential:
    gen = torch.Generator().manual_seed(mask_seed)
    return nn.Sequential(nn.Linear(2, HIDDEN), nn.ReLU(), reference.Dropout(P_TRAIN, generator=gen),
                         nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), reference.Dropout(P_TRAIN, generator=gen),
                         nn.Linear(HIDDEN, 2)).to(f64)


def candidate_mlp(candidate, mask_seed: int):
    """The same network built in the worker around the candidate's Dropout layers."""
    make, gen = candidate.lib.make, remote_generator(candidate, mask_seed)
    layers = [make("torch.nn.Linear", 2, HIDDEN), make("torch.nn.ReLU"), candidate.Dropout(P_TRAIN, generator=gen),
              make("torch.nn.Linear", HIDDEN, HIDDEN), make("torch.nn.ReLU"), candidate.Dropout(P_TRAIN, generator=gen),
              make("torch.nn.Linear", HIDDEN, 2)]
    return make("torch.nn.Sequential", *layers).double()


@pytest.mark.category("convergence")
def test_trains_a_network_with_dropout(candidate, reference, seed, artifacts):
    """An MLP with two of your Dropout layers trains on two concentric rings exactly as with the
    reference's (same masks, so the same losses), then predicts in eval mode without dropout."""
    for run in range(3):
        s = seed * 1000 + run
        g = generator(s)
        x_train, y_train = rings(512, g)
        x_test, y_test = rings(512, g)
        with seeded(s):
            ref_model = reference_mlp(reference, s)
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}
        ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]

        model = candidate_mlp(candidate, s)
        model.load_state_dict(init)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        # float64 throughout: a correct dropout differs from the reference by rounding only
        assert_close(torch.tensor(losses, dtype=f64), torch.tensor(ref_losses, dtype=f64),
                     f"training losses per step with your Dropout vs the reference's (data seed {s}, same masks)",
                     rtol=1e-6, atol=1e-9)
        logits = assert_shape(model(x_test), (512, 2), "eval-mode logits on the held-out set", dtype=f64)
        with torch.no_grad():
            expected = ref_model(x_test)
        assert_close(logits, expected, f"eval-mode logits after training vs the reference (data seed {s}; in eval "
                     "mode dropout is the identity)", rtol=1e-6, atol=1e-9)
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        assert accuracy >= 0.9, (f"after {TRAIN['steps']} Adam steps with dropout p={P_TRAIN} (data seed {s}) your "
                                 f"network gets {accuracy:.1%} of held-out points right in eval mode; at least 90% "
                                 "is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@pytest.mark.parametrize("fn", FUNCTIONS)
@given(data=st.data(), p=st.sampled_from([0.0, 0.3, 0.5, 1.0]), data_seed=common["data_seed"],
       mask_seed=common["mask_seed"])
def test_eval_mode_is_the_identity(candidate, fn, data, p, data_seed, mask_seed):
    """training=False returns x unchanged, for every p (p = 1 included)."""
    shape = data.draw(shape_strategy(fn), label="shape of x")
    x = nonzero_input(shape, generator(data_seed))
    got = call(candidate, fn, x, p, False, remote_generator(candidate, mask_seed))
    assert_equal(got, x, f"{fn}(x, p={p}, training=False) (must return x unchanged)")


@pytest.mark.category("property")
@pytest.mark.parametrize("fn", FUNCTIONS)
@given(data=st.data(), data_seed=common["data_seed"], mask_seed=common["mask_seed"], dtype=common["dtype"])
def test_p_zero_keeps_everything_and_p_one_drops_everything(candidate, fn, data, data_seed, mask_seed, dtype):
    shape = data.draw(shape_strategy(fn), label="shape of x")
    x = nonzero_input(shape, generator(data_seed), dtype)
    assert_equal(call(candidate, fn, x, 0.0, True, remote_generator(candidate, mask_seed)), x,
                 f"{fn}(x, p=0.0, training=True) (nothing is dropped and the scale is 1: must be x)")
    got = assert_shape(call(candidate, fn, x, 1.0, True, remote_generator(candidate, mask_seed)), shape,
                       f"{fn} output at p=1", dtype=dtype)
    assert_finite(got, f"{fn}(x, p=1.0, training=True) (x * 0 / (1 - 1) is 0/0 = NaN: special-case p = 1)")
    assert_equal(got, torch.zeros_like(x), f"{fn}(x, p=1.0, training=True) (everything is dropped)")


@pytest.mark.category("property")
def test_dropout_statistics(candidate, seed):
    """On 100,000 elements, for several p: the share of zeros is p, the survivors are x / (1 - p),
    and the mean is preserved: E[dropout(x)] = x. Bounds are 6 standard deviations (a correct
    dropout fails them about once in 10^8 seeds; a scaling or a keep probability that is wrong by
    0.1 is far outside)."""
    n = 100_000
    for p in (0.1, 0.25, 0.5, 0.8):
        g = generator(seed * 10 + int(10 * p))
        x = 0.5 + torch.rand(n, generator=g, dtype=f64)  # positive: the mean cannot cancel out
        out = assert_dropout_output(call(candidate, "dropout", x, p, True, remote_generator(candidate, seed)), x, p,
                                    f"dropout output (p={p})")
        dropped = 1 - float(kept(out).double().mean())
        bound = 6 * math.sqrt(p * (1 - p) / n)
        assert abs(dropped - p) <= bound, (f"dropout with p={p} zeroed {dropped:.4f} of {n} elements; expected "
                                           f"p={p} ± {bound:.4f} (6 standard deviations)")
        mean_bound = 6 * math.sqrt(float((x ** 2).sum()) * p / (1 - p)) / n
        got_mean, want_mean = float(out.mean()), float(x.mean())
        assert abs(got_mean - want_mean) <= mean_bound, (
            f"mean of dropout(x) with p={p} is {got_mean:.4f}, mean of x is {want_mean:.4f}; inverted dropout keeps "
            f"the mean (survivors scaled by 1 / (1 - p)) to within {mean_bound:.4f} (6 standard deviations)")


@pytest.mark.category("property")
def test_channel_dropout_drops_whole_channels(candidate, seed):
    """Every channel x[n, c] is dropped or kept whole; about p of the N*C channels are dropped,
    and each sample draws its own channels (not one channel mask for the whole batch)."""
    N, C = 64, 48
    for p in (0.2, 0.5):
        g = generator(seed * 10 + int(10 * p))
        x = nonzero_input((N, C, 3, 2), g)
        out = assert_dropout_output(call(candidate, "channel_dropout", x, p, True, remote_generator(candidate, seed)),
                                    x, p, f"channel_dropout output (p={p})")
        assert_whole_channels(out, f"channel_dropout output (p={p})")
        channel_kept = kept(out)[:, :, 0, 0]  # (N, C)
        dropped = 1 - float(channel_kept.double().mean())
        bound = 6 * math.sqrt(p * (1 - p) / (N * C))
        assert abs(dropped - p) <= bound, (f"channel_dropout with p={p} dropped {dropped:.4f} of {N * C} channels; "
                                           f"expected p={p} ± {bound:.4f} (6 standard deviations)")
        differs = float((channel_kept != channel_kept[:1]).double().mean())  # expected 2p(1-p) * (N-1)/N
        assert differs >= p * (1 - p), (
            f"channel masks of the samples agree with sample 0's on {1 - differs:.1%} of the channels (p={p}); "
            f"independent masks would agree on about {1 - 2 * p * (1 - p):.0%}: draw one mask per sample and "
            "channel, (N, C)")


@pytest.mark.category("property")
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_the_generator_decides_the_mask(candidate, seed, fn):
    """Two generators with the same seed give the same mask; one generator called twice gives
    a new mask; another seed gives another mask; the global RNG plays no part."""
    g = generator(seed)
    x = nonzero_input((4, 16, 5), g)
    first = kept(call(candidate, fn, x, 0.5, True, remote_generator(candidate, 1000 + seed)))
    same_seed = kept(call(candidate, fn, x, 0.5, True, remote_generator(candidate, 1000 + seed)))
    assert_equal(same_seed, first, f"{fn} mask from a second generator with the same seed")
    gen = remote_generator(candidate, 1000 + seed)
    call(candidate, fn, x, 0.5, True, gen)
    second_call = kept(call(candidate, fn, x, 0.5, True, gen))
    other_seed = kept(call(candidate, fn, x, 0.5, True, remote_generator(candidate, 2000 + seed)))
    for name, mask in (("the second call with one generator", second_call),
                       ("a generator with another seed", other_seed)):
        if torch.equal(mask, first):
            raise Mismatch(f"{fn}: the mask of {name} equals the first mask: each draw must advance the generator "
                           "it is given (and use it, not the global RNG)")


@pytest.mark.category("property")
def test_rejects_p_outside_0_1(candidate):
    x = torch.ones(2, 3, 4)
    for bad_p in (-0.1, 1.5):
        for what, run in (("dropout", lambda: candidate.dropout(x, bad_p, True)),
                          ("channel_dropout", lambda: candidate.channel_dropout(x, bad_p, True)),
                          ("Dropout", lambda: candidate.Dropout(bad_p))):
            try:
                run()
            except CandidateError as e:
                if e.remote_type != "ValueError":
                    raise Mismatch(f"{what} with p={bad_p} raised {e.remote_type or e.kind}; "
                                   "expected ValueError") from None
            else:
                raise Mismatch(f"{what} with p={bad_p} did not raise; p must be in [0, 1] (raise ValueError)")


@pytest.mark.category("property")
def test_dropout_layer_follows_train_and_eval(candidate, seed):
    """Inside an nn.Sequential: model.train() turns your Dropout on, model.eval() turns it off."""
    g = generator(seed)
    x = nonzero_input((8, 20), g, torch.float32)
    layer = candidate.Dropout(0.5, generator=remote_generator(candidate, seed))
    model = candidate.lib.make("torch.nn.Sequential", layer)
    model.eval()
    assert_equal(model(x), x, "output of nn.Sequential(Dropout(0.5)) after model.eval() (must be x)")
    model.train()
    out = assert_dropout_output(model(x), x, 0.5, "output of nn.Sequential(Dropout(0.5)) after model.train()")
    if bool(kept(out).all()):
        raise Mismatch("nn.Sequential(Dropout(0.5)) after model.train() dropped none of 160 elements")


@pytest.mark.category("property")
def test_does_not_modify_its_input(candidate, seed):
    x = nonzero_input((3, 4, 5), generator(seed), torch.float32)
    for fn in FUNCTIONS:
        _, args_after, _ = getattr(candidate, fn).call_checked(x, 0.5, True, remote_generator(candidate, seed))
        assert_unchanged(args_after[0], x, f"x after {fn} (modified in place)")
