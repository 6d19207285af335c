"""Suite for 68_textcnn: TextCNN vs the reference and a plain loop over windows (weights transplanted, float64,
eval mode); gradients; a keyword task; short inputs right-padded with padding_idx; max-over-time; dropout."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import nn

from grader import kit
from grader.kit import assert_close, assert_equal, assert_finite, assert_shape, f64, given_cases


class Net(kit.Case):
    """Tokens (B, L), rows right-padded with pad (row 0 of length 1), through TextCNN(vocab, E, F, kernels, C, p, pad)."""

    B: int
    L: int
    vocab: int
    E: int
    F: int
    kernels: tuple
    C: int
    pad: int

    def args(self, p=0.5, C=None):
        return self.vocab, self.E, self.F, self.kernels, C or self.C, p, self.pad

    def tokens(self, g, L=None, pads=True):  # real ids: anything but pad
        L = L or self.L
        real = torch.randint(self.vocab - 1, (self.B, L), generator=g)
        real = real + (real >= self.pad).long()  # skip pad
        lengths = torch.randint(1, L + 1, (self.B, 1), generator=g)
        lengths[0] = 1
        return real.masked_fill(torch.arange(L) >= lengths, self.pad) if pads else real

    def build(self, candidate, reference, p=0.5, train=False, C=None, identity_fc=False, fc_bias=0.0):
        """Candidate and reference (float64, eval unless train) with one random state dict (its padding row
        zero, as nn.Embedding keeps it; with identity_fc the logits are the pooled features + fc_bias), tokens, g."""
        g = self.generator()
        with kit.seeded(0):
            ref = reference.TextCNN(*self.args(p, C))
        sd = kit.random_state_dict(ref, g)
        sd["embedding.weight"][self.pad] = 0.0
        if identity_fc:
            sd["fc.weight"], sd["fc.bias"] = torch.eye(C, dtype=f64), torch.full((C,), fc_bias, dtype=f64)
        cand = kit.load(candidate.TextCNN(*self.args(p, C)), sd, f64).train(train)
        return cand, kit.load(ref, sd, f64).train(train), sd, self.tokens(g), g

    def logits(self, module, tokens, name="logits", C=None):
        return assert_shape(module(tokens), (tokens.shape[0], C or self.C), name, f64)


@st.composite
def nets(draw, L=st.integers(1, 7)):  # kernel sizes unsorted, repeats allowed; any padding_idx
    n = lambda name, lo, hi: draw(st.integers(lo, hi), label=name)  # noqa: E731
    vocab = n("vocab", 2, 9)
    kernels = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3), label="kernel_sizes"))
    return Net(n("B", 1, 3), draw(L, label="L"), vocab, n("E", 1, 4), n("F", 1, 3), kernels, n("C", 1, 3),
               n("pad", 0, vocab - 1), data_seed=draw(kit.data_seeds, label="data_seed"))


def loop_features(sd, tokens, kernels, pad):
    """The definition: right-pad to max(kernels) with pad; for each kernel, filter and window start t,
    score = <W_f, window t> + b_f; ReLU; the max over t; blocks concatenated in kernels order."""
    tokens = torch.cat([tokens, torch.full((len(tokens), max(kernels) - tokens.shape[1]), pad)], 1) \
        if tokens.shape[1] < max(kernels) else tokens
    x = sd["embedding.weight"][tokens]  # (B, L, E)
    feats = []
    for i, k in enumerate(kernels):
        W, b = sd[f"convs.{i}.weight"], sd[f"convs.{i}.bias"]  # (F, E, k), (F,)
        scores = [torch.einsum("bke,fek->bf", x[:, t:t + k], W) + b for t in range(x.shape[1] - k + 1)]
        feats.append(torch.stack(scores, -1).relu().max(-1).values)  # (B, F)
    return torch.cat(feats, 1)  # (B, F * len(kernels))


def loop_logits(sd, tokens, case):
    return F.linear(loop_features(sd, tokens, case.kernels, case.pad), sd["fc.weight"], sd["fc.bias"])


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(nets())
def test_logits_shape_and_dtype(candidate, case):
    model = candidate.TextCNN(*case.args()).eval()
    tokens = case.tokens(case.generator())
    assert_finite(assert_shape(model(tokens), (case.B, case.C), "logits of a new model", torch.float32))


@pytest.mark.category("shape")
@pytest.mark.parametrize("kernels", [(3,), (2, 4, 3)])
def test_state_dict_follows_the_interface(candidate, kernels):
    plain = nn.ModuleDict(dict(embedding=nn.Embedding(11, 6), fc=nn.Linear(5 * len(kernels), 3),
                               convs=nn.ModuleList(nn.Conv1d(6, 5, k) for k in kernels)))
    kit.assert_state_shapes(candidate.TextCNN(11, 6, 5, kernels, 3, 0.5, 2), plain,
                            f"TextCNN(11, 6, 5, {kernels}, 3, 0.5, 2)")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(nets())
def test_logits_match_loop_definition(candidate, reference, case):
    cand, _, sd, tokens, _ = case.build(candidate, reference)
    assert_close(case.logits(cand, tokens), loop_logits(sd, tokens, case), "float64 eval logits vs the loop over "
                 f"windows (tokens {tokens.tolist()})")


@pytest.mark.category("equivalence")
@given_cases(nets(), max_examples=15)
def test_logits_match_reference(candidate, reference, case):
    cand, ref, _, tokens, _ = case.build(candidate, reference)
    assert_close(case.logits(cand, tokens), ref(tokens).detach(), f"float64 eval logits vs reference (tokens "
                 f"{tokens.tolist()})")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(nets(), max_examples=15)
def test_gradients_match_reference(candidate, reference, case):
    """Every parameter's gradient, in train mode with dropout 0; the padding row's is 0 (padding_idx)."""
    cand, ref, _, tokens, g = case.build(candidate, reference, p=0.0, train=True)
    kit.check_gradients(candidate, cand, ref, {"tokens": tokens}, g=g)


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, reference, seed):
    case = Net(3, 6, 7, 3, 2, (2, 3), 3, 0, data_seed=seed)
    cand, _, sd, _, g = case.build(candidate, reference, p=0.0, train=True)
    # no padding token in the input: the padding row's gradient is 0 by design (padding_idx)
    kit.check_finite_differences(candidate, cand, {"tokens": case.tokens(g, pads=False)}, g=g, state_dict=sd)


# -- convergence -----------------------------------------------------------------------------
VOCAB, PAD, KEYWORD = 12, 3, 5
KEYWORD_MODEL = (VOCAB, 8, 8, (2, 3), 2, 0.2, PAD)


def keyword_task(n, width, g):
    """tokens (n, width), rows of length 1..width right-padded with PAD; label 1 iff KEYWORD is among the real tokens."""
    fillers = torch.tensor([t for t in range(VOCAB) if t not in (PAD, KEYWORD)])
    tokens = fillers[torch.randint(len(fillers), (n, width), generator=g)]  # (n, width)
    lengths = torch.randint(1, width + 1, (n, 1), generator=g)  # (n, 1)
    labels = torch.randint(2, (n,), generator=g)  # (n,)
    where = (torch.rand(n, 1, generator=g) * lengths).long()  # (n, 1) a real position
    tokens = torch.where((torch.arange(width) == where) & (labels[:, None] == 1), KEYWORD, tokens)
    return tokens.masked_fill(torch.arange(width) >= lengths, PAD), labels


@pytest.mark.category("convergence")
def test_learns_a_keyword_task(candidate, reference, seed, artifacts):
    """Label 1 iff a keyword appears anywhere: trained on rows padded to 12, tested on rows padded to 20."""
    kit.check_convergence(
        candidate, artifacts, seed, runs=2, threshold=0.95, train=dict(steps=40, lr=3e-2, batch_size=64),
        models=lambda s, run: kit.same_init(candidate.TextCNN(*KEYWORD_MODEL),
                                            lambda: reference.TextCNN(*KEYWORD_MODEL), s),
        task=lambda g: (*keyword_task(1024, 12, g), *keyword_task(512, 20, g)),
        subject="your TextCNN", goal="at telling whether a sentence contains the keyword")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(nets(L=st.just(1)), max_examples=15, data=st.data())
def test_short_inputs_are_right_padded_to_the_widest_kernel(candidate, reference, case, data):
    cand, _, _, _, g = case.build(candidate, reference)
    L = data.draw(st.integers(1, max(max(case.kernels) - 1, 1)), label="L")
    tokens = case.tokens(g, L=L, pads=False)
    padded = torch.cat([tokens, torch.full((case.B, max(case.kernels) - L), case.pad)], 1)
    assert_close(case.logits(cand, tokens), case.logits(cand, padded), f"logits of tokens {tokens.tolist()} vs "
                 f"of the same right-padded with padding_idx={case.pad} to max(kernel_sizes)")


@pytest.mark.category("property")
@given_cases(nets(L=st.integers(1, 4)), max_examples=15, extra=st.lists(st.integers(0, 3), min_size=4, max_size=4))
def test_padding_around_a_sentence_does_not_matter(candidate, reference, case, extra):
    """Max-over-time: with at least K - 1 pads before and K after a sentence (K the widest kernel), the windows
    seen are the same set whatever the amount of padding, so the logits are too (a mean over windows is not)."""
    cand, _, _, _, g = case.build(candidate, reference)
    tokens, K = case.tokens(g, pads=False), max(case.kernels)
    pads = lambda n: torch.full((case.B, n), case.pad)  # noqa: E731
    a, b = (torch.cat([pads(K - 1 + p), tokens, pads(K + q)], 1) for p, q in (extra[:2], extra[2:]))
    assert_close(case.logits(cand, b), case.logits(cand, a), f"logits of {b.tolist()} vs of {a.tolist()}")


@pytest.mark.category("property")
@given_cases(nets(), max_examples=15)
def test_features_follow_the_order_of_kernel_sizes(candidate, reference, case):
    """With fc = identity the logits are the pooled features: block i (num_filters wide) from convs[i]."""
    C = case.F * len(case.kernels)
    cand, _, sd, tokens, _ = case.build(candidate, reference, C=C, identity_fc=True)
    assert_close(case.logits(cand, tokens, "features", C), loop_features(sd, tokens, case.kernels, case.pad),
                 f"features (fc = identity) vs the loop's, blocks for kernel_sizes={case.kernels}")


@pytest.mark.category("property")
def test_dropout_acts_on_the_features_in_training_only(candidate, reference, seed):
    """fc = identity + 3: eval gives the features + 3; train (p = 0.5) zeroes each feature with probability p
    and scales the rest by 2, before fc (dropout on the logits would drop the bias too)."""
    case = Net(64, 7, 9, 3, 4, (2, 3), 8, 4, data_seed=seed)
    cand, _, sd, tokens, _ = case.build(candidate, reference, p=0.5, C=8, identity_fc=True, fc_bias=3.0)
    feats = loop_features(sd, tokens, case.kernels, case.pad)
    assert_close(case.logits(cand, tokens, "eval features", 8) - 3, feats, "eval-mode features (dropout off)")
    train = case.logits(cand.train(), tokens, "train features", 8) - 3
    on = feats > 0  # a feature that is 0 stays 0 either way
    kept = train != 0
    assert_close(train[on & kept], 2 * feats[on & kept], "train-mode features not dropped vs 2 x eval features")
    kit.assert_rate(~kept[on], 0.5, "share of positive features dropout(p=0.5) zeroed in train mode")
    assert_equal(train[~on], feats[~on], "train-mode features that are 0 in eval mode")
