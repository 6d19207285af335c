"""Suite for 40_lstm_language_model: batchify, get_batch vs plain loops; the model vs nn.LSTM & co.; train_epoch step by
step vs the reference (state carried, detached); perplexity vs exp(mean CE) of the whole stream in one pass."""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import nn

from grader import kit
from grader.kit import Mismatch, assert_close, assert_equal, assert_shape, f64, given_cases

support = kit.exercise_support(__file__)


class LM(kit.Case):
    """A model (V, E, H, layers) and a batchified stream data (S, B) of tokens, cut in windows of bptt."""

    V: int
    E: int
    H: int
    layers: int
    S: int
    B: int
    bptt: int

    def build(self, candidate, reference, **weights):
        g = self.generator()
        make = lambda lib: lib.LSTMLanguageModel(self.V, self.E, self.H, self.layers)  # noqa: E731
        cand, ref, sd = kit.twins(make, candidate, reference, g, **weights)
        return cand, ref, sd, torch.randint(self.V, (self.S, self.B), generator=g), g

    def state(self, g, dtype=f64):  # a random (h0, c0), each (layers, B, H)
        return tuple(torch.randn(self.layers, self.B, self.H, generator=g, dtype=dtype) for _ in "hc")


def lms(S=st.integers(2, 9), bptt=st.integers(1, 10), B=st.integers(1, 3)):
    return kit.builds(LM, V=st.integers(2, 7), E=st.integers(1, 4), H=st.integers(1, 4), layers=st.integers(1, 2),
                      S=S, B=B, bptt=bptt)


@torch.no_grad()
def oracle(sd: dict, case: LM, tokens, hidden):
    """torch's own layers loaded with the same weights (the time-first layout of nn.LSTM)."""
    enc, dec = nn.Embedding(case.V, case.E, dtype=f64), nn.Linear(case.H, case.V, dtype=f64)
    rnn = nn.LSTM(case.E, case.H, case.layers, dtype=f64)
    for prefix, layer in (("encoder.", enc), ("rnn.", rnn), ("decoder.", dec)):
        layer.load_state_dict({k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)})
    out, (h, c) = rnn(enc(tokens), hidden)
    return dec(out), h, c


def number(value, name: str) -> torch.Tensor:
    if type(value) is not float or not math.isfinite(value):
        raise Mismatch(f"{name}: expected a finite Python float, got {type(value).__name__} {value!r}")
    return torch.tensor(value, dtype=f64)


def one_epoch(candidate, reference, case, opt="sgd", lr=0.5, clip=None):
    cand, ref, _, data, _ = case.build(candidate, reference)
    opts = candidate.lib.support("make_optimizer", cand, opt, lr), support.make_optimizer(ref, opt, lr)
    got = candidate.train_epoch(cand, data, case.bptt, opts[0], clip)
    return cand, ref, (number(got, "train_epoch's loss"), reference.train_epoch(ref, data, case.bptt, opts[1], clip)), opts


# -- shape ------------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(lms(), L=st.integers(1, 5), max_examples=15)
def test_model_output_and_state_shapes(candidate, case, L):
    m = candidate.LSTMLanguageModel(case.V, case.E, case.H, case.layers)
    state = (case.layers, case.B, case.H)
    for i, t in enumerate(m.init_hidden(case.B)):
        assert_equal(t, torch.zeros(state), f"init_hidden({case.B})[{i}]")
    logits, (h, c) = m(torch.randint(case.V, (L, case.B), generator=case.generator()), m.init_hidden(case.B))
    assert_shape(logits, (L, case.B, case.V), "logits (L, B, V)", dtype=torch.float32)
    assert_shape(h, state, "h_n (layers, B, H)", dtype=torch.float32), assert_shape(c, state, "c_n (layers, B, H)")


@pytest.mark.category("shape")
@pytest.mark.parametrize("layers", [1, 3])
def test_parameters_follow_the_interface(candidate, reference, layers):
    kit.assert_state_shapes(candidate.LSTMLanguageModel(9, 5, 6, layers), reference.LSTMLanguageModel(9, 5, 6, layers),
                            f"LSTMLanguageModel(9, 5, 6, {layers}): encoder.*, rnn.* (nn.LSTM's names), decoder.*")


# -- equivalence ------------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(lms(S=st.integers(1, 9), B=st.integers(1, 6)), extra=st.integers(0, 5))
def test_batchify_matches_a_loop(candidate, case, extra):
    bsz, data = case.B, torch.randperm(case.S * case.B + extra, generator=case.generator()) + 10  # all distinct
    S = len(data) // bsz
    expected = torch.tensor([[int(data[j * S + r]) for j in range(bsz)] for r in range(S)]).reshape(S, bsz)
    assert_equal(candidate.batchify(data, bsz), expected, f"batchify(data of {len(data)} tokens, bsz={bsz})")


@pytest.mark.category("equivalence")
@given_cases(lms(S=st.integers(2, 12), bptt=st.integers(1, 14)), data=st.data())
def test_get_batch_matches_a_loop(candidate, case, data):
    i = data.draw(st.integers(0, case.S - 2), label="i")
    source = torch.randperm(case.S * case.B, generator=case.generator()).reshape(case.S, case.B)
    L = min(case.bptt, case.S - 1 - i)
    inp, target = candidate.get_batch(source, i, case.bptt)
    what = f"get_batch(source {tuple(source.shape)}, i={i}, bptt={case.bptt})"
    assert_equal(inp, torch.tensor([[int(source[i + t, b]) for b in range(case.B)] for t in range(L)]), f"input of {what}")
    assert_equal(target, source[i + 1: i + 1 + L], f"target of {what} (the input shifted one step later)")


@pytest.mark.category("equivalence")
@given_cases(lms(), given=st.booleans(), max_examples=15)
def test_model_matches_torch_layers(candidate, reference, case, given):
    cand, _, sd, tokens, g = case.build(candidate, reference)
    hidden = case.state(g) if given else None
    logits, (h, c) = cand(tokens, hidden)
    want, want_h, want_c = oracle(sd, case, tokens, hidden)
    assert_close(F.log_softmax(assert_shape(logits, want.shape, "logits"), -1), F.log_softmax(want, -1),
                 "log_softmax(logits) vs nn.Embedding + nn.LSTM + nn.Linear")
    assert_close(h, want_h, "h_n vs nn.LSTM"), assert_close(c, want_c, "c_n vs nn.LSTM")


SHORT_LAST_WINDOW = LM(7, 3, 4, 1, 9, 2, 3)  # 8 target rows in windows of 3, 3 and 2


@pytest.mark.category("equivalence")
@given_cases(lms(), max_examples=15)
def test_perplexity_is_exp_of_mean_cross_entropy(candidate, reference, case):
    """The drawn case, then one whose last window is short; a large decoder makes the tokens' losses differ, so
    a short window weighted like a full one shows."""
    for c in (case, SHORT_LAST_WINDOW.replace(data_seed=case.data_seed)):
        cand, _, sd, data, _ = c.build(candidate, reference, scales={"decoder.weight": 4.0})
        got = number(candidate.perplexity(cand, data, c.bptt), "perplexity")
        windows = [min(c.bptt, c.S - 1 - i) for i in range(0, c.S - 1, c.bptt)]
        logits, _, _ = oracle(sd, c, data[:-1], None)  # (S - 1, B, V): the state carried from zeros is one pass
        assert_close(got, F.cross_entropy(logits.reshape(-1, c.V), data[1:].reshape(-1)).exp(),
                     f"perplexity vs exp(mean CE over all {(c.S - 1) * c.B} targets) with windows of {windows} rows "
                     f"({c})")


@pytest.mark.category("equivalence")
@given_cases(lms(S=st.integers(2, 8), bptt=st.integers(1, 4)), clip=st.sampled_from([None, 0.05]), max_examples=8)
def test_one_epoch_matches_reference(candidate, reference, case, clip):
    cand, ref, (got, expected), _ = one_epoch(candidate, reference, case, clip=clip)
    # clip_grad_norm_ scales by clip / (norm + 1e-6); a hand-written clip by clip / norm is as right: 1e-6 relative apart
    tol, got_sd = ({} if clip is None else {"rtol": 1e-5, "atol": 1e-8}), cand.state_dict()
    for name, value in ref.state_dict().items():
        assert_close(got_sd.get(name), value, f"{name} after one epoch of SGD (clip={clip}) vs the reference", **tol)
    assert_close(got, torch.tensor(expected, dtype=f64), "train_epoch's mean loss per target token vs the reference")


# -- gradient ---------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(lms(), max_examples=15)
def test_gradients_match_reference(candidate, reference, case):
    cand, ref, _, tokens, g = case.build(candidate, reference)
    h0, c0 = case.state(g)
    kit.check_gradients(candidate, candidate.lib.support("flat", cand), support.flat(ref),
                        {"tokens": tokens, "h0": h0, "c0": c0}, g=g, against="reference")


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, reference, seed):
    case = LM(5, 3, 4, 2, 4, 2, 4, data_seed=seed)
    cand, _, sd, tokens, g = case.build(candidate, reference)
    h0, c0 = case.state(g)
    kit.check_finite_differences(candidate, candidate.lib.support("flat", cand), {"tokens": tokens, "h0": h0, "c0": c0},
                                 g=g, state_dict={f"model.{k}": v for k, v in sd.items()})


@pytest.mark.category("gradient")
@given_cases(lms(S=st.integers(4, 9), bptt=st.integers(1, 3)), max_examples=6)
def test_each_step_sees_only_its_window_gradient(candidate, reference, case):
    """Window k starts from the carried (h, c) values, detached: its gradient stops there."""
    _, _, _, (got_opt, ref_opt) = one_epoch(candidate, reference, case, opt="adam", lr=0.05)
    got, expected = candidate.lib.support("step_grads", got_opt), support.step_grads(ref_opt)
    if len(got) != len(expected):
        raise Mismatch(f"optimizer.step() ran {len(got)} times in an epoch of {len(expected)} windows")
    for k, (gk, ek) in enumerate(zip(got, expected), start=1):
        for name, grad in ek.items():
            kit.require_gradients({name: gk.get(name)})
            assert_close(gk[name], grad, f"gradient of {name} at step {k} (window {k}'s loss alone, from the carried "
                         "hidden state, detached)")


# -- convergence ------------------------------------------------------------------------------
@pytest.mark.category("convergence")
def test_overfits_a_tiny_corpus(candidate, reference, seed, artifacts):
    """A repeated random motif of 7 tokens (some repeat): chance perplexity 12, after learning about 1."""
    for s in (seed * 1000, seed * 1000 + 1):
        data = reference.batchify(support.periodic_corpus(164, 7, 12, kit.generator(s)), 4)  # (41, 4)
        cand, ref = kit.same_init(candidate.LSTMLanguageModel(12, 16, 32), lambda: reference.LSTMLanguageModel(12, 16, 32), s)
        opt = candidate.lib.support("make_optimizer", cand, "adam", 0.03)
        losses = [number(candidate.train_epoch(cand, data, 10, opt, 1.0), "train_epoch's loss") for _ in range(20)]
        ppl = reference.perplexity(kit.load(reference.LSTMLanguageModel(12, 16, 32), cand.state_dict()), data, 10)  # here
        if s == seed * 1000 or not ppl <= 1.5:
            opt = support.make_optimizer(ref, "adam", 0.03)
            artifacts["loss_curve"] = {"candidate": [float(v) for v in losses],
                                       "reference": [reference.train_epoch(ref, data, 10, opt, 1.0) for _ in range(20)]}
        if not ppl <= 1.5:
            raise Mismatch(f"after 20 epochs of train_epoch (Adam, lr 0.03, data seed {s}) your model's perplexity on "
                           f"its training corpus is {ppl:.3f}; the reference from the "
                           f"same weights reaches {reference.perplexity(ref, data, 10):.3f}; at most 1.5 is required (chance: 12)")


# -- properties -------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(lms(S=st.integers(2, 6)), cut=st.integers(1, 5), max_examples=15)
def test_carrying_the_state_equals_one_long_pass(candidate, reference, case, cut):
    """forward(x[:cut], state) then forward(x[cut:], its final state) is forward(x, state)."""
    cand, _, _, tokens, g = case.build(candidate, reference)
    cut, hidden = min(cut, case.S - 1), case.state(g)
    whole, (h, c) = cand(tokens, hidden)
    first, carried = cand(tokens[:cut], hidden)
    second, (h2, c2) = cand(tokens[cut:], carried)
    assert_close(torch.cat([first, second]), whole, f"logits of rows [:{cut}] then [{cut}:] with the state carried")
    assert_close(h2, h, "h_n after two calls vs one"), assert_close(c2, c, "c_n after two calls vs one")


@pytest.mark.category("property")
@given_cases(lms(), max_examples=15)
def test_uniform_model_has_perplexity_vocab_size(candidate, reference, case):
    cand, _, sd, data, _ = case.build(candidate, reference)
    cand.load_state_dict({**sd, "decoder.weight": 0 * sd["decoder.weight"], "decoder.bias": 0 * sd["decoder.bias"]})
    got = number(candidate.perplexity(cand, data, case.bptt), "perplexity")
    assert_close(got, torch.tensor(float(case.V), dtype=f64), f"perplexity of a model with a zero decoder (p = 1 / V = 1 / {case.V})")
