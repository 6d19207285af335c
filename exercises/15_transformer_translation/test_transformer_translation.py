"""Suite for 15_transformer_translation (masks as nn.Transformer's; logits graded where tgt_in != pad_idx)."""
import math

import pytest
import torch
from hypothesis import strategies as st

from grader import kit
from grader.kit import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, f64, given_cases

support = kit.exercise_support(__file__)
FEW = 10  # hypothesis examples per test where each builds two small transformers


class Tr(kit.Case):
    """src (B, S) and tgt_in (B, T) (BOS first), right-padded with pad_idx, through Seq2SeqTransformer(**cfg)."""

    B: int
    S: int
    T: int
    cfg: dict

    pad = property(lambda self: self.cfg["pad_idx"])
    bos = property(lambda self: (self.pad + 1) % self.cfg["tgt_vocab"])

    def pair(self, g):  # src (B, S), tgt_in (B, T) starting with BOS
        return (support.right_padded(self.B, self.S, self.cfg["src_vocab"], self.pad, g),
                support.right_padded(self.B, self.T, self.cfg["tgt_vocab"], self.pad, g, first=self.bos))

    def build(self, candidate, reference):
        """Candidate and reference in float64, eval mode, the same random weights (the exact sin/cos table)."""
        g = self.generator()
        cand, ref, sd = kit.twins(lambda lib: lib.Seq2SeqTransformer(**self.cfg), candidate, reference, g, bias_std=0.3)
        return cand.eval(), ref.eval(), sd, *self.pair(g), g

    def logits(self, model, src, tgt_in, dtype=f64):
        return assert_shape(model(src, tgt_in), (*tgt_in.shape, self.cfg["tgt_vocab"]), "logits", dtype=dtype)

    def real(self, tgt_in):  # (B, T, 1): the graded target positions
        return (tgt_in != self.pad)[..., None]

    def decode(self, lib, model, src, eos):  # greedy_decode of lib (yours or the reference's): max_len = T steps
        return assert_shape(lib.greedy_decode(model, src, self.bos, eos, self.T), (self.B, self.T), "greedy_decode "
                            f"tokens (bos_idx={self.bos}, eos_idx={eos}, max_len={self.T})", dtype=torch.int64)


def translations():  # B, S, T; support.config(src_vocab, tgt_vocab, nhead, head_dim, layers, pad_idx)
    """d_model = nhead * head_dim: even (sin/cos pairs) and >= 4 (a LayerNorm over 2 features keeps only a sign)."""
    cfgs = st.builds(support.config, *map(st.integers, (4, 4, 1), (9, 9, 2)), st.sampled_from([4, 6]),
                     st.integers(1, 2), st.integers(0, 2))
    return st.builds(Tr, *map(st.integers, (1, 1, 1), (3, 6, 6)), cfgs, data_seed=kit.data_seeds)


def decodings(steps=st.integers(2, 8), pad_idx=st.integers(0, 2)):  # B rows, S source tokens, T steps; vocab 6 -> 7
    cfgs = pad_idx.map(lambda pad: support.config(6, 7, 2, 4, 1, pad))
    return st.builds(Tr, st.integers(1, 4), st.integers(1, 6), steps, cfgs, data_seed=kit.data_seeds)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(translations(), max_examples=FEW)
def test_output_shape_and_dtype(candidate, case):
    src, tgt_in = case.pair(case.generator())
    assert_finite(case.logits(candidate.Seq2SeqTransformer(**case.cfg), src, tgt_in, dtype=torch.float32), "logits")


@pytest.mark.category("shape")
def test_state_dict_follows_the_interface(candidate, reference):
    cfg = support.config(7, 9, 2, 4, 2, 0, d_ff=12)
    kit.assert_state_shapes(candidate.Seq2SeqTransformer(**cfg), reference.Seq2SeqTransformer(**cfg), str(cfg))


@pytest.mark.category("shape")
@given_cases(decodings(steps=st.integers(1, 6), pad_idx=st.just(0)), max_examples=FEW)
def test_greedy_decode_shape_and_dtype(candidate, reference, case):
    cand, _, _, src, _, _ = case.build(candidate, reference)
    ys = case.decode(candidate, cand, src, eos=2)  # bos_idx = 1 (pad_idx = 0)
    assert_equal(ys[:, 0], torch.ones(case.B, dtype=torch.int64), "greedy_decode column 0 (must be bos_idx=1)")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(translations())
def test_make_masks_match_reference(candidate, reference, case):
    src, tgt_in = case.pair(case.generator())
    shapes = dict(src_padding_mask=(case.B, case.S), tgt_padding_mask=(case.B, case.T), tgt_mask=(case.T, case.T))
    got = kit.unpack(candidate.make_masks(src, tgt_in, case.pad), shapes, torch.bool, "make_masks")
    kit.assert_outputs_close(got, reference.make_masks(src, tgt_in, case.pad), shapes, "reference (True = blocked)")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("d_model, max_len", [(4, 7), (8, 16), (12, 33)])
def test_positional_table_is_the_sinusoid(candidate, d_model, max_len):
    cfg = dict(support.config(5, 5, 2, d_model // 2, 1, 0, d_ff=8), max_len=max_len)
    pe = candidate.Seq2SeqTransformer(**cfg).state_dict().get("positional_encoding.pe")
    assert_shape(pe, (max_len, d_model), "state_dict['positional_encoding.pe'] (a persistent buffer)")
    # the spec, written from the formula: PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...)
    angles = [[pos / 10000 ** (i / d_model) for i in range(0, d_model, 2)] for pos in range(max_len)]
    sinusoid = torch.tensor([[f(a) for a in row for f in (math.sin, math.cos)] for row in angles], dtype=f64)
    assert_close(pe.double(), sinusoid, f"positional_encoding.pe (d_model={d_model}) vs "
                 "sin at even, cos at odd features (float32 storage allowed)", rtol=1e-5, atol=1e-6)


@pytest.mark.category("equivalence")
@given_cases(translations(), max_examples=FEW)
def test_forward_matches_reference(candidate, reference, case):
    cand, ref, _, src, tgt_in, _ = case.build(candidate, reference)
    assert_close(case.logits(cand, src, tgt_in), ref(src, tgt_in).detach(), "logits at real target positions vs "
                 "reference (same state_dict, float64)", where=case.real(tgt_in))


@pytest.mark.category("equivalence")
@given_cases(decodings(), eos_step=st.integers(1, 4), max_examples=FEW)
def test_greedy_decode_matches_reference(candidate, reference, case, eos_step):
    """EOS is chosen among the tokens the model really emits, so rows do finish (and must pad)."""
    cand, ref, _, src, _, _ = case.build(candidate, reference)
    eos = int(case.decode(reference, ref, src, eos=-1)[0, min(eos_step, case.T - 1)])
    expected = case.decode(reference, ref, src, eos)
    assert_equal(case.decode(candidate, cand, src, eos), expected, f"greedy_decode tokens (eos_idx={eos}) vs "
                 f"reference; reference rows: {expected.tolist()}")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(translations(), max_examples=FEW)
def test_gradients_match_reference(candidate, reference, case):
    cand, ref, _, src, tgt_in, g = case.build(candidate, reference)
    real = case.real(tgt_in)  # only real target positions are graded, so only they send gradients back
    grad_out = torch.randn(*tgt_in.shape, case.cfg["tgt_vocab"], generator=g, dtype=f64) * real
    kit.check_gradients(candidate, cand, ref, dict(src=src, tgt_in=tgt_in), grad_output=grad_out, where=real)


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, reference, seed):
    case = Tr(2, 4, 3, support.config(5, 6, 2, 2, 1, 0, d_ff=6), data_seed=seed)
    cand, _, sd, src, tgt_in, g = case.build(candidate, reference)
    grad_out = torch.randn(2, 3, 6, generator=g, dtype=f64) * case.real(tgt_in)
    kit.check_finite_differences(candidate, cand, {"src": src, "tgt_in": tgt_in}, g=g, grad_output=grad_out,
                                 state_dict=sd, hold=["positional_encoding.pe"])


# -- convergence -----------------------------------------------------------------------------
VOCAB, SRC_MAX = 8, 5  # tokens 3..7 (0 PAD, 1 BOS, 2 EOS); sentences of 3..5 tokens
COPIER = support.config(VOCAB, VOCAB, 2, 16, 1, support.PAD, d_ff=64)
TRAIN = dict(steps=150, lr=1e-2, batch_size=32)


@pytest.mark.category("convergence")
def test_learns_to_copy_the_source(candidate, reference, seed, artifacts):
    """Teacher-forced on BOS + source -> source + EOS; greedy_decode must then reproduce held-out sources."""
    # without the causal mask the decoder learns to read its next input (teacher forcing high, greedy decoding 0%)
    s, g = seed * 1000, kit.generator(seed * 1000)
    (x_train, y_train), (x_test, y_test) = (support.copy_task(n, SRC_MAX, VOCAB, g) for n in (1024, 256))
    with kit.seeded(s):  # the reference's initial weights, embeddings / sqrt(d_model) (forward scales them back)
        init = reference.Seq2SeqTransformer(**COPIER).state_dict()
    init = {k: v / math.sqrt(COPIER["d_model"]) if "tok_emb" in k else v for k, v in init.items()}
    model = kit.load(candidate.Seq2SeqTransformer(**COPIER), init)
    copier = candidate.lib.support("build_copier", model)
    artifacts["loss_curve"] = {"candidate": kit.fit_and_check(candidate, copier, x_train, y_train, seed=s, **TRAIN)}
    accuracy = kit.accuracy(assert_shape(copier(x_test), (256, SRC_MAX + 1, VOCAB), "teacher-forced logits"), y_test)
    ys = assert_shape(candidate.greedy_decode(model, x_test, support.BOS, support.EOS, SRC_MAX + 2),
                      (256, SRC_MAX + 2), "greedy_decode tokens")
    # exact: the whole row is BOS, source, EOS, PAD...
    exact = float((ys == torch.cat([torch.full((256, 1), support.BOS), y_test], dim=1)).all(-1).double().mean())
    assert accuracy >= 0.9 and exact >= 0.6, (
        f"after {TRAIN['steps']} Adam steps (data seed {s}, the reference's initial weights) your model reaches "
        f"{accuracy:.1%} teacher-forced token accuracy (>= 90% required); greedy_decode reproduces {exact:.1%} of "
        f"held-out sources (>= 60%; the reference: 77% to 100%), e.g. {x_test[0].tolist()} -> {ys[0].tolist()}")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(translations(), data=st.data(), max_examples=FEW)
def test_changing_a_target_token_leaves_earlier_logits_unchanged(candidate, reference, case, data):
    cand, _, _, src, tgt_in, _ = case.build(candidate, reference)
    tgt_in = torch.where(tgt_in == case.pad, case.bos, tgt_in)  # no padding here
    j = data.draw(st.integers(0, case.T - 1), label="changed target position j")
    other = torch.where(tgt_in == case.bos, (case.bos + 1) % case.cfg["tgt_vocab"], case.bos)  # never pad_idx = bos - 1
    changed = torch.where(torch.arange(case.T) == j, other, tgt_in)  # another real token at j in every row
    before, after = case.logits(cand, src, tgt_in), case.logits(cand, src, changed)
    assert_close(after[:, :j], before[:, :j], f"logits at target positions < {j} after changing only tgt_in[:, {j}] "
                 "(the future leaks into the past)")
    if float((after[:, j] - before[:, j]).abs().max()) < 1e-9:
        raise Mismatch(f"logits at position {j} do not change with tgt_in[:, {j}]: a position must see its own token")


@pytest.mark.category("property")
@given_cases(translations(), extra=st.integers(1, 3), max_examples=FEW)
def test_appending_source_padding_changes_nothing(candidate, reference, case, extra):
    cand, _, _, src, tgt_in, _ = case.build(candidate, reference)
    longer = torch.cat([src, torch.full((case.B, extra), case.pad)], dim=1)
    assert_close(case.logits(cand, longer, tgt_in), case.logits(cand, src, tgt_in), f"logits at real target positions "
                 f"after appending {extra} pad tokens to the source (must be invisible)", where=case.real(tgt_in))


@pytest.mark.category("property")
@given_cases(translations(), max_examples=FEW)
def test_each_sentence_is_translated_independently_of_the_batch(candidate, reference, case):
    """A sentence in a padded batch gives what it gives alone, trimmed of its padding."""
    cand, _, _, src, tgt_in, _ = case.build(candidate, reference)
    batch = case.logits(cand, src, tgt_in)
    for b, (s_len, t_len) in enumerate(zip((src != case.pad).sum(1).tolist(), (tgt_in != case.pad).sum(1).tolist())):
        alone = case.logits(cand, src[b:b + 1, :s_len].clone(), tgt_in[b:b + 1, :t_len].clone())
        assert_close(batch[b:b + 1, :t_len], alone, f"logits of sentence {b} in a padded batch of {case.B} vs alone")


@pytest.mark.category("property")
@given_cases(decodings(), max_examples=FEW)
def test_greedy_decode_follows_your_own_forward(candidate, reference, case):
    """Column t is the argmax of forward(src, ys[:, :t]) at the last position until the row's EOS; then pad_idx."""
    cand, ref, _, src, _, _ = case.build(candidate, reference)
    bos, pad, eos = case.bos, case.pad, int(case.decode(reference, ref, src, -1)[-1, 1])  # eos: emitted
    ys = case.decode(candidate, cand, src, eos)
    for b, row in enumerate(ys.tolist()):
        assert row[0] == bos, f"row {b}: greedy_decode must start with bos_idx={bos}, got {row}"
        for t in range(1, case.T):
            logits = case.logits(cand, src[b:b + 1].clone(), ys[b:b + 1, :t].clone())[0, -1]
            want = pad if eos in row[1:t] else int(logits.argmax())  # after EOS: pad_idx
            assert row[t] == want, (f"row {b} = {row}: column {t} should be {want} (pad_idx={pad} after eos_idx={eos}, "
                                    f"else the argmax of your forward at the last position of tgt_in={row[:t]})")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_inputs(candidate, seed):
    case = Tr(3, 5, 4, support.config(6, 7, 2, 2, 1, 0), data_seed=seed)
    inputs = dict(zip(("src", "tgt_in"), case.pair(case.generator())))
    kit.assert_inputs_unchanged(candidate.Seq2SeqTransformer(**case.cfg), inputs, what="forward")
