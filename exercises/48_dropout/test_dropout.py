"""Suite for 48_dropout: `dropout`, `channel_dropout` and the `Dropout` layer, masks drawn from a torch.Generator: masks
are compared bit for bit with the reference (the README pins the draw); other checks read the mask off the output."""
import pytest
import torch
from hypothesis import strategies as st

from grader import kit, training
from grader.kit import assert_close, assert_equal, assert_finite, f64, given_cases, remote_generator as remote_gen

support = kit.exercise_support(__file__)
FUNCTIONS, DIMS = ["dropout", "channel_dropout"], st.lists(st.integers(1, 5), max_size=4).map(tuple)  # 0-d to 4-d


class Drop(kit.Case):
    # fn(x, p, training, generator): x of `dims` (padded to (N, C, *) for channel_dropout), values ±[0.5, 1.5)
    fn: str
    dims: tuple
    p: float
    dtype: torch.dtype
    data_seed: int
    mask_seed: int

    @property
    def shape(self) -> tuple:
        return self.dims if self.fn == "dropout" else self.dims + (2, 3)[len(self.dims):]

    def x(self, offset: int = 0) -> torch.Tensor:
        return nonzero_input(self.shape, self.generator(offset), self.dtype)

    def call(self, candidate, x, training=True, gen=None, p=None):
        gen = gen or remote_gen(candidate, self.mask_seed)
        return getattr(candidate, self.fn)(x, self.p if p is None else p, training, gen)


def drops(fn=st.sampled_from(FUNCTIONS), p=st.floats(0.05, 0.95), dtype=st.sampled_from([torch.float32, f64])):
    return st.builds(Drop, fn, DIMS, p, dtype, kit.data_seeds, kit.data_seeds)


def nonzero_input(shape, g, dtype=f64) -> torch.Tensor:  # never 0: an output of exactly 0 means "dropped"
    sign = torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0).to(dtype)
    return (0.5 + torch.rand(shape, generator=g, dtype=dtype)) * sign


def assert_dropout_output(out, x, p, name) -> torch.Tensor:
    out = assert_finite(kit.assert_shape(out, x.shape, name, dtype=x.dtype), name)
    assert_close(out, torch.where(out != 0, x / (1 - p), 0.0), f"{name}: every element must be 0 or x / (1 - p)")
    return out


def assert_rate(dropped: float, p: float, n: int, what: str) -> None:
    bound = 6 * (p * (1 - p) / n) ** 0.5
    assert abs(dropped - p) <= bound, f"{what}: p={p} dropped {dropped:.4f} of {n}; expected p ± {bound:.4f} (6 sd)"


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@pytest.mark.parametrize("fn", FUNCTIONS)
@given_cases(drops(), replace=("fn",), training=st.booleans())
def test_output_shape_and_dtype(candidate, fn, case, training):
    assert_finite(kit.assert_shape(case.call(candidate, case.x(), training), case.shape, dtype=case.dtype))


@pytest.mark.category("shape")
def test_dropout_layer_has_no_parameters(candidate):
    kit.assert_state_shapes(candidate.Dropout(0.3), {}, "Dropout(0.3)")
    kit.assert_trainable(candidate, candidate.Dropout(0.3), [torch.ones(2, 3)], {}, "Dropout(0.3)")


# -- equivalence (exact masks) ---------------------------------------------------------------
@pytest.mark.category("equivalence")
@pytest.mark.parametrize("fn", FUNCTIONS)
@given_cases(drops(), replace=("fn",))
def test_masks_match_reference_given_the_generator(candidate, reference, fn, case):
    ref_gen, gen = kit.generator(case.mask_seed), remote_gen(candidate, case.mask_seed)  # two calls on one generator
    for i in (1, 2):
        expected, got = getattr(reference, fn)(x := case.x(i), case.p, True, ref_gen), case.call(candidate, x, gen=gen)
        assert_equal(got != 0, expected != 0, f"mask (True = kept) of call {i} (README: keep = u < 1 - p)")
        assert_close(got, expected, f"output of call {i} vs reference")
    assert_equal(gen.get_state(), ref_gen.get_state(), "generator state after two calls (one torch.rand each)")


@pytest.mark.category("equivalence")
@given_cases(drops(fn=st.just("dropout")))
def test_dropout_layer_matches_reference(candidate, reference, case):
    x, ref = case.x(), reference.Dropout(case.p, generator=kit.generator(case.mask_seed))
    layer = candidate.Dropout(case.p, generator=remote_gen(candidate, case.mask_seed))
    for step in (1, 2):
        assert_close(layer(x), ref(x), f"Dropout output in train mode, call {step}, vs reference")
    assert_equal(layer.eval()(x), x, "Dropout output after .eval() (must be x)")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@pytest.mark.parametrize("fn", FUNCTIONS)
@given_cases(drops(), replace=("fn",), training=st.booleans())
def test_backward_uses_the_forward_mask(candidate, fn, case, training):
    grad_out = torch.randn(case.shape, generator=case.generator(1), dtype=case.dtype)
    args = [case.x(), case.p, training, remote_gen(candidate, case.mask_seed)]
    got = candidate.lib.grads(getattr(candidate, fn), args, {}, grad_out)
    out = kit.assert_shape(got["output"], case.shape, dtype=case.dtype)
    expected = torch.where(out != 0, grad_out / (1 - case.p), 0.0) if training else grad_out
    assert_close(kit.require_gradients({"x": got["input_grads"][0]})["x"], expected, f"gradient w.r.t. x (training="
                 f"{training}): grad_out * keep / (1 - p) with the forward pass's mask (grad_out in eval mode)")


@pytest.mark.category("gradient")
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_gradients_match_finite_differences(candidate, seed, fn):
    reseeded = candidate.lib.support("reseeded", getattr(candidate, fn), seed + 17)  # one mask: the output is linear
    x = nonzero_input((3, 4, 5), kit.generator(seed))
    kit.check_finite_differences(candidate, reseeded, {"x": x, "p": 0.4, "training": True}, g=kit.generator(seed + 1))


# -- convergence -----------------------------------------------------------------------------
@pytest.mark.category("convergence")
def test_trains_a_network_with_dropout(candidate, reference, seed, artifacts):
    # your Dropout in an MLP: the reference's losses and eval-mode logits, >= 90% held-out accuracy, on 3 data sets
    train = dict(steps=80, lr=1e-2, batch_size=64)
    for s in (seed * 1000 + run for run in range(3)):
        (x, y), (x_test, y_test) = support.rings(512, g := kit.generator(s)), support.rings(512, g)
        gen, ref_gen = remote_gen(candidate, s), kit.generator(s)  # the same masks on both sides
        model, ref_model = kit.same_init(candidate.lib.support("mlp", [candidate.Dropout(0.2, generator=gen)] * 2),
                                         lambda: support.mlp([reference.Dropout(0.2, generator=ref_gen)] * 2), s)
        ref_losses = training.fit(ref_model, x, y, seed=s, **train)["losses"]
        losses = kit.fit_and_check(candidate, model, x, y, seed=s, **train)
        artifacts.setdefault("loss_curve", {"candidate": losses, "reference": ref_losses})
        with kit.about(f"data seed {s}; float64 and the same masks: a right dropout differs by rounding only"):
            assert_close(torch.tensor(losses, dtype=f64), torch.tensor(ref_losses, dtype=f64),
                         "training losses per step vs the reference's", rtol=1e-6, atol=1e-9)
            logits = kit.assert_shape(model(x_test), (512, 2), "eval-mode logits on the held-out set", dtype=f64)
            assert_close(logits, ref_model(x_test).detach(), "eval-mode logits vs reference", rtol=1e-6, atol=1e-9)
        assert (acc := kit.accuracy(logits, y_test)) >= 0.9, (f"after {train['steps']} Adam steps (data seed {s}) your"
                                                              f" network gets {acc:.1%} held-out; 90% is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@pytest.mark.parametrize("fn", FUNCTIONS)
@given_cases(drops(p=st.sampled_from([0.0, 0.3, 0.5, 1.0]), dtype=st.just(f64)), replace=("fn",))
def test_eval_mode_is_the_identity(candidate, fn, case):
    assert_equal(case.call(candidate, x := case.x(), False), x, "output with training=False (must be x unchanged)")


@pytest.mark.category("property")
@pytest.mark.parametrize("fn", FUNCTIONS)
@given_cases(drops(), replace=("fn",))
def test_p_zero_keeps_everything_and_p_one_drops_everything(candidate, fn, case):
    assert_equal(case.call(candidate, x := case.x(), p=0.0), x, "output at p=0 (nothing dropped, scale 1: must be x)")
    got = assert_finite(case.call(candidate, x, p=1.0), "output at p=1 (x * 0 / (1 - 1) is 0/0 = NaN: special-case it)")
    assert_equal(got, torch.zeros_like(x), "output at p=1 (everything is dropped)")


@pytest.mark.category("property")
def test_dropout_statistics(candidate, seed):
    for p in (0.1, 0.25, 0.5, 0.8):
        x = 0.5 + torch.rand(100_000, generator=kit.generator(seed * 10 + int(10 * p)), dtype=f64)  # > 0: no cancelling
        out = assert_dropout_output(candidate.dropout(x, p, True, remote_gen(candidate, seed)), x, p, f"p={p}")
        assert_rate(1 - float((out != 0).double().mean()), p, x.numel(), "dropout")
        bound = 6 * (float((x ** 2).sum()) * p / (1 - p)) ** 0.5 / x.numel()
        assert abs(float(out.mean() - x.mean())) <= bound, (f"mean of dropout(x), p={p}: {float(out.mean()):.4f}, of "
                                                            f"x {float(x.mean()):.4f}: not within {bound:.4f} (6 sd)")


@pytest.mark.category("property")
def test_channel_dropout_drops_whole_channels(candidate, seed):
    for p in (0.2, 0.5):
        x = nonzero_input((64, 48, 3, 2), kit.generator(seed * 10 + int(10 * p)))  # N = 64 samples, C = 48 channels
        out = candidate.channel_dropout(x, p, True, remote_gen(candidate, seed))
        k = (assert_dropout_output(out, x, p, f"channel_dropout output (p={p})") != 0).flatten(2)  # (N, C, positions)
        assert_equal(k.all(-1), k.any(-1), f"channels kept whole (p={p}): all or none of each x[n, c] is kept")
        assert_rate(1 - float(k[..., 0].double().mean()), p, 64 * 48, "channel_dropout")
        differs = float((k[..., 0] != k[:1, :, 0]).double().mean())  # expected 2p(1-p) * (N-1)/N
        assert differs >= p * (1 - p), (f"the samples' channel masks agree with sample 0's on {1 - differs:.1%} "
                                        f"(p={p}), independent ones on {1 - 2 * p * (1 - p):.0%}: draw an (N, C) mask")


@pytest.mark.category("property")
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_the_generator_decides_the_mask(candidate, seed, fn):
    case = Drop(fn, (4, 16, 5), 0.5, f64, seed, 1000 + seed)
    x, gen = case.x(), remote_gen(candidate, 1000 + seed)
    first = case.call(candidate, x, gen=gen) != 0
    assert_equal(case.call(candidate, x) != 0, first, "mask from a second generator with the same seed")
    for name, other in (("a second call with one generator", gen), ("another seed", remote_gen(candidate, seed))):
        assert not torch.equal(case.call(candidate, x, gen=other) != 0, first), (
            f"the mask of {name} equals the first: each draw must advance the generator it is given")


@pytest.mark.category("property")
def test_rejects_p_outside_0_1(candidate):
    x = torch.ones(2, 3, 4)
    for p in (-0.1, 1.5):
        kit.expect_raises(lambda: candidate.dropout(x, p, True), "ValueError", f"dropout with p={p}")
        kit.expect_raises(lambda: candidate.channel_dropout(x, p, True), "ValueError", f"channel_dropout with p={p}")
        kit.expect_raises(lambda: candidate.Dropout(p), "ValueError", f"Dropout({p})")


@pytest.mark.category("property")
def test_dropout_layer_follows_train_and_eval(candidate, seed):
    x = nonzero_input((8, 20), kit.generator(seed), torch.float32)
    model = candidate.lib.make("torch.nn.Sequential", candidate.Dropout(0.5, generator=remote_gen(candidate, seed)))
    assert_equal(model.eval()(x), x, "output of nn.Sequential(Dropout(0.5)) after model.eval() (must be x)")
    out = assert_dropout_output(model.train()(x), x, 0.5, "output of nn.Sequential(Dropout(0.5)) after model.train()")
    assert not bool((out != 0).all()), "nn.Sequential(Dropout(0.5)) after model.train() dropped none of 160 elements"


@pytest.mark.category("property")
def test_does_not_modify_its_input(candidate, seed):
    x = nonzero_input((3, 4, 5), kit.generator(seed), torch.float32)
    for fn in FUNCTIONS:
        kit.assert_inputs_unchanged(getattr(candidate, fn), {"x": x, "p": 0.5, "training": True,
                                                             "generator": remote_gen(candidate, seed)}, {}, fn)
