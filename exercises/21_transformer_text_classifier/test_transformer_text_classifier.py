"""Suite for 21_transformer_text_classifier: masked_mean (its mask: True = a REAL token) and the classifier."""
import pytest
import torch
from hypothesis import strategies as st
from torch import nn

from grader import kit
from grader.kit import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, f64, given_cases

support = kit.exercise_support(__file__)


class Pool(kit.Case):
    """masked_mean of x (B, T, D) under a mask (True = real, ~60%; row 0 with one real token when T > 1)."""

    B: int
    T: int
    D: int
    data_seed: int

    def inputs(self, dtype=f64, min_real=1):  # x, mask (each row: at least min_real real tokens), the generator
        g = self.generator()
        x = torch.randn(self.B, self.T, self.D, generator=g, dtype=dtype)
        mask = torch.rand(self.B, self.T, generator=g) < 0.6
        mask[torch.arange(self.B), torch.randint(self.T, (self.B,), generator=g)] |= bool(min_real)
        # row 0: one real token when T > 1 (the edge where pooling is that token)
        mask[0] = torch.arange(self.T) == torch.randint(self.T, (1,), generator=g) if self.T > 1 else mask[0]
        return x, mask, g

    def pool(self, candidate, x, mask, name="masked_mean(x, mask)"):
        return assert_shape(candidate.masked_mean(x, mask), (self.B, self.D), name, x.dtype)


def pools():
    return st.builds(Pool, st.integers(1, 4), st.integers(1, 7), st.integers(1, 5), kit.data_seeds)


def loop_mean(x, mask):
    """masked_mean by definition, one row at a time: the mean of its real positions (zeros when it has none)."""
    return torch.stack([x[b, real].mean(0) if real.any() else x.new_zeros(x.shape[2]) for b, real in enumerate(mask)])


class Clf(kit.Case):
    """A batch (B, T) right-padded with pad_idx (row 0 of length 1 when B > 1) through TransformerClassifier(**cfg)."""

    B: int
    T: int
    cfg: dict
    data_seed: int

    def tokens(self, g):  # (B, T) int64: row lengths uniform in 1..T, real ids anything but pad_idx
        real = torch.randint(self.cfg["vocab_size"] - 1, (self.B, self.T), generator=g)
        lengths = torch.randint(1, self.T + 1, (self.B, 1), generator=g)
        lengths[0] = 1 if self.B > 1 else lengths[0]
        real = real + (real >= self.cfg["pad_idx"]).long()  # skip pad_idx
        return real.masked_fill(torch.arange(self.T) >= lengths, self.cfg["pad_idx"])

    def build(self, candidate, reference, train=False):  # the same random float64 weights; eval mode unless train
        g = self.generator()
        cand, ref, sd = kit.twins(lambda lib: lib.TransformerClassifier(**self.cfg), candidate, reference, g)
        return cand.train(train), ref.train(train), sd, self.tokens(g), g

    def logits(self, module, tokens, dtype=f64, name="logits"):
        return assert_shape(module(tokens), (tokens.shape[0], self.cfg["num_classes"]), name, dtype)


@st.composite
def classifiers(draw, extra=0):  # d_model = nhead * head_dim, max_len = T + spare (+ extra), any pad_idx
    n = lambda name, lo, hi: draw(st.integers(lo, hi), label=name)  # noqa: E731
    B, T, vocab, nhead = n("B", 1, 3), n("T", 1, 6), n("vocab", 2, 9), n("nhead", 1, 2)
    cfg = dict(vocab_size=vocab, d_model=nhead * n("head_dim", 1, 3), nhead=nhead, num_layers=n("num_layers", 1, 2),
               dim_ff=n("dim_ff", 1, 6), num_classes=n("num_classes", 1, 4), max_len=T + n("spare", 0, 4) + extra,
               pad_idx=n("pad_idx", 0, vocab - 1), dropout=0.0)
    return Clf(B, T, cfg, draw(kit.data_seeds, label="data_seed"))


def plain_model(cfg: dict) -> nn.ModuleDict:
    """torch's own modules under the interface's names (the oracle; no masking, no pooling)."""
    layer = nn.TransformerEncoderLayer(cfg["d_model"], cfg["nhead"], cfg["dim_ff"], dropout=0.0, batch_first=True)
    return nn.ModuleDict(dict(
        embedding=nn.Embedding(cfg["vocab_size"], cfg["d_model"], padding_idx=cfg["pad_idx"]),
        pos_embedding=nn.Embedding(cfg["max_len"], cfg["d_model"]),
        encoder=nn.TransformerEncoder(layer, cfg["num_layers"], enable_nested_tensor=False),
        classifier=nn.Linear(cfg["d_model"], cfg["num_classes"])))


@torch.no_grad()
def unpadded_loop_logits(cfg: dict, sd: dict, tokens) -> torch.Tensor:
    """The definition, one sequence at a time: drop its padding, embed, torch's encoder with NO mask, mean, classify."""
    m = kit.load(plain_model(cfg).eval(), sd, f64)
    rows = [row[row != cfg["pad_idx"]] for row in tokens]  # each sequence without its padding, (L,)
    xs = [m["embedding"](r)[None] + m["pos_embedding"](torch.arange(len(r))) for r in rows]  # (1, L, D) each
    return torch.stack([m["classifier"](m["encoder"](x).mean(dim=1))[0] for x in xs])  # (B, C)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(pools(), dtype=st.sampled_from([torch.float32, f64]))
def test_masked_mean_shape_and_dtype(candidate, case, dtype):
    assert_finite(case.pool(candidate, *case.inputs(dtype)[:2]), "masked_mean(x, mask)")


@pytest.mark.category("shape")
@given_cases(classifiers())
def test_logits_shape_and_dtype(candidate, case):
    model = candidate.TransformerClassifier(**case.cfg).eval()
    assert_finite(case.logits(model, case.tokens(case.generator()), torch.float32), "float32 logits of a new model")


SMALL = dict(vocab_size=11, d_model=6, nhead=2, num_layers=1, dim_ff=7, num_classes=5, max_len=13, pad_idx=4, dropout=0.0)


@pytest.mark.category("shape")
@pytest.mark.parametrize("num_layers", [1, 2])
def test_state_dict_follows_the_interface(candidate, num_layers):
    cfg = dict(SMALL, num_layers=num_layers)
    kit.assert_state_shapes(candidate.TransformerClassifier(**cfg), plain_model(cfg), f"TransformerClassifier({cfg})")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(pools())
def test_masked_mean_matches_loop(candidate, case):
    x, mask, _ = case.inputs()
    assert_close(case.pool(candidate, x, mask), loop_mean(x, mask), "masked_mean vs the loop definition")


@pytest.mark.category("equivalence")
@given_cases(classifiers())
def test_logits_match_unpadded_loop(candidate, reference, case):
    cand, _, sd, tokens, _ = case.build(candidate, reference)
    lengths = (tokens != case.cfg["pad_idx"]).sum(1).tolist()
    assert_close(case.logits(cand, tokens), unpadded_loop_logits(case.cfg, sd, tokens), "float64 eval logits vs "
                 f"torch's encoder run on each sequence without its padding (lengths {lengths})")


@pytest.mark.category("equivalence")
@given_cases(classifiers())
def test_logits_match_reference(candidate, reference, case):
    cand, ref, _, tokens, _ = case.build(candidate, reference)
    assert_close(case.logits(cand, tokens), ref(tokens).detach(), "float64 eval logits vs reference")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(pools())
def test_masked_mean_gradient(candidate, case):
    """d out[b] / d x[b, t] = 1 / (number of real tokens) at real positions, exactly 0 at padding."""
    x, mask, g = case.inputs()
    got = kit.check_gradients(candidate, candidate.masked_mean, loop_mean, {"x": x, "mask": mask}, g=g)
    assert_equal(got["input_grads"][0][~mask], torch.zeros_like(x)[~mask], "gradient at padded positions (exactly 0)")


@pytest.mark.category("gradient")
@given_cases(classifiers())
def test_parameter_gradients_match_reference(candidate, reference, case):
    cand, ref, _, tokens, g = case.build(candidate, reference, train=True)  # dropout=0: train mode is deterministic
    kit.check_gradients(candidate, cand, ref, {"tokens": tokens}, g=g)


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, reference, seed):
    cfg = dict(vocab_size=7, d_model=4, nhead=2, num_layers=2, dim_ff=5, num_classes=3, max_len=6, pad_idx=2, dropout=0.0)
    cand, _, sd, tokens, g = Clf(3, 5, cfg, seed).build(candidate, reference, train=True)
    # the pad row's gradient is 0 by design (padding_idx), and the logits never depend on it
    kit.check_finite_differences(candidate, cand, {"tokens": tokens}, g=g, state_dict=sd)


# -- convergence -----------------------------------------------------------------------------
VOCAB, WIDTH, PAD = 16, 12, 7
KEYWORD_MODEL = dict(SMALL, vocab_size=VOCAB, d_model=16, dim_ff=32, num_classes=3, max_len=16, pad_idx=PAD)


@pytest.mark.category("convergence")
def test_learns_a_keyword_task(candidate, reference, seed, artifacts):
    """Which keyword (token 1, 2 or none) is among 1..12 real tokens; trained padded to 12, tested padded to 16."""
    kit.check_convergence(
        candidate, artifacts, seed, runs=2, threshold=0.95, train=dict(steps=60, lr=1e-2, batch_size=64),
        models=lambda s, run: kit.same_init(candidate.TransformerClassifier(**KEYWORD_MODEL),
                                            lambda: reference.TransformerClassifier(**KEYWORD_MODEL), s),
        task=lambda g: (*support.keyword_task(1024, WIDTH, 1, WIDTH, VOCAB, PAD, g),
                        *support.keyword_task(512, 16, 1, WIDTH, VOCAB, PAD, g)),
        subject="your classifier", goal="at telling which keyword a sentence contains")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(classifiers(extra=4), extra=st.integers(1, 4), mode=st.sampled_from(["eval", "train (dropout=0)"]))
def test_appending_padding_never_changes_logits(candidate, reference, case, extra, mode):
    cand, _, _, tokens, _ = case.build(candidate, reference, train=mode != "eval")
    padded = torch.cat([tokens, torch.full((case.B, extra), case.cfg["pad_idx"])], dim=1)
    assert_close(case.logits(cand, padded), case.logits(cand, tokens), f"{mode} logits after appending {extra} pads")


@pytest.mark.category("property")
@given_cases(pools())
def test_masked_mean_ignores_padded_values(candidate, case):
    x, mask, g = case.inputs()
    kit.assert_ignores(lambda x: case.pool(candidate, x, mask), x, ~mask[..., None], g, what="the padded values "
                       "(junk of size 1e3)", fresh=lambda shape: 1e3 * torch.randn(shape, generator=g, dtype=f64))


@pytest.mark.category("property")
@given_cases(pools())
def test_masked_mean_all_padding_rows_are_zero(candidate, case):
    """A row with no real token has no mean: it must come back as zeros (finite), not nan."""
    x, mask, _ = case.inputs(min_real=0)
    mask[-1] = False
    out, expected, empty = case.pool(candidate, x, mask), loop_mean(x, mask), ~mask.any(1)
    assert_equal(out[empty], expected[empty], f"masked_mean of the rows {empty.nonzero().flatten().tolist()} that have "
                 "no real token (zeros)")
    assert_close(out[~empty], expected[~empty], "masked_mean of the other rows")


@pytest.mark.category("property")
@pytest.mark.parametrize("pad_idx", [0, 5])
def test_pad_embedding_row_starts_at_zero(candidate, pad_idx):
    weight = candidate.TransformerClassifier(**dict(SMALL, pad_idx=pad_idx)).state_dict()["embedding.weight"]
    assert_equal(weight[pad_idx], torch.zeros(6), f"row pad_idx={pad_idx} of a new embedding.weight "
                 "(nn.Embedding(..., padding_idx=pad_idx) starts it at 0)")
    if not weight[torch.arange(11) != pad_idx].abs().sum() > 0:
        raise Mismatch("embedding.weight of a new model is all zeros: only the pad row should be")
