"""Suite for 25_attention_pooling: learned-query attention pooling and a BiLSTM + attention classifier vs a loop
spec, nn.LSTM run on each sequence alone and the reference; gradients, a keyword task, padding. mask (B, T) bool:
True = a REAL token (unlike nn.MultiheadAttention's key_padding_mask); the classifier pads from `lengths`."""
import pytest
import torch
from hypothesis import strategies as st
from torch import nn

from grader import kit
from grader.kit import assert_equal, assert_outputs_close, f64, given_cases

support = kit.exercise_support(__file__)
POOLED, LOGITS = ("pooled", "weights"), ("logits", "weights")  # the outputs of each module


class Pool(kit.Case):
    """h (B, T, D) through AttentionPooling(D, hidden); use_mask: random holes, >= 1 real token per row; else None."""

    B: int
    T: int
    D: int
    hidden: int
    use_mask: bool
    data_seed: int

    def inputs(self, g, dtype=f64):
        h = torch.randn(self.B, self.T, self.D, generator=g, dtype=dtype)
        mask = torch.rand(self.B, self.T, generator=g) < 0.6
        mask[torch.arange(self.B), torch.randint(self.T, (self.B,), generator=g)] = True
        return h, mask if self.use_mask else None

    def build(self, candidate, reference, dtype=f64, query_scale=4.0):
        """cand, ref, their weights (a query large enough for peaked weights), h, mask, the generator."""
        twins = kit.twins(lambda lib: lib.AttentionPooling(self.D, self.hidden), candidate, reference,
                          g := self.generator(), dtype=dtype, scales={"query": query_scale})
        return *twins, *self.inputs(g, dtype), g

    def joined(self, candidate, reference):
        """support.JoinedPooling ([pooled, weights]) on both sides, its args, a cotangent (none on padded weights)."""
        cand, ref, sd, h, mask, g = self.build(candidate, reference)
        grad_out = torch.randn(self.B, self.D + self.T, generator=g, dtype=f64)
        grad_out[:, self.D:] *= mask
        return (candidate.lib.support("JoinedPooling", cand), support.JoinedPooling(ref), {"h": h, "mask": mask},
                grad_out, {f"pooling.{k}": v for k, v in sd.items()}, g)


class Clf(kit.Case):
    """BiLSTMAttentionClassifier(V, E, H, C, pad_idx) on B sentences padded to T (lengths 1..T, unsorted)."""

    B: int
    T: int
    V: int
    E: int
    H: int
    C: int
    pad_idx: int
    data_seed: int

    def inputs(self, g, lengths=None):
        lengths = torch.randint(1, self.T + 1, (self.B,), generator=g) if lengths is None else lengths
        tokens = torch.randint(self.V - 1, (self.B, self.T), generator=g)
        tokens = tokens + (tokens >= self.pad_idx).long()  # real tokens are never pad_idx
        return tokens.masked_fill(torch.arange(self.T) >= lengths[:, None], self.pad_idx), lengths

    def make(self, lib):
        return lib.BiLSTMAttentionClassifier(self.V, self.E, self.H, self.C, self.pad_idx)

    def build(self, candidate, reference):
        twins = kit.twins(self.make, candidate, reference, g := self.generator(),
                          scales={"lstm.weight_*": 1.5, "pooling.query": 6.0})
        return *twins, *self.inputs(g), g


def pools(use_mask=st.booleans()):
    return st.builds(Pool, B=st.integers(1, 3), T=st.integers(1, 6), D=st.integers(1, 5), hidden=st.integers(1, 5),
                     use_mask=use_mask, data_seed=kit.data_seeds)


@st.composite
def classifiers(draw):
    V = draw(st.integers(2, 7))
    B, T, E, H, C = (draw(st.integers(1, n)) for n in (5, 6, 3, 3, 3))
    return Clf(B, T, V, E, H, C, pad_idx=draw(st.integers(0, V - 1)), data_seed=draw(kit.data_seeds))


def pool(m, h, mask, dtype=f64, finite=False):
    shapes = {"pooled": (h.shape[0], h.shape[2]), "weights": h.shape[:2]}
    return kit.unpack(m(h, mask), shapes, dtype, "AttentionPooling.forward", finite=finite)


def classify(m, case, tokens, lengths, dtype=f64, finite=False):
    shapes = {"logits": (case.B, case.C), "weights": tokens.shape}
    return kit.unpack(m(tokens, lengths), shapes, dtype, "BiLSTMAttentionClassifier.forward", finite=finite)


def pool_spec(sd: dict, h, mask):
    """The definition row by row in float64: softmax over the real t of tanh(W h_t + b) . q (no real token: 0)."""
    pooled, weights = torch.zeros(h.shape[0], h.shape[2], dtype=f64), torch.zeros(h.shape[:2], dtype=f64)
    for b, real in enumerate(torch.ones(h.shape[:2], dtype=torch.bool) if mask is None else mask):
        if real.any():
            scores = torch.tanh(h[b, real] @ sd["proj.weight"].T + sd["proj.bias"]) @ sd["query"]  # (real tokens,)
            weights[b, real] = torch.softmax(scores, 0)
            pooled[b] = weights[b] @ h[b]
    return pooled, weights


def one_sequence_oracle(sd: dict, case: Clf, tokens, lengths):
    """Each sequence ALONE (no padding anywhere) through nn.LSTM, the loop pooling spec and the head (unpacked, a
    BiLSTM's backward direction would start on the pad tokens)."""
    lstm = nn.LSTM(case.E, case.H, batch_first=True, bidirectional=True).to(f64)
    lstm.load_state_dict({k.removeprefix("lstm."): v for k, v in sd.items() if k.startswith("lstm.")})
    pool_sd = {k.removeprefix("pooling."): v for k, v in sd.items() if k.startswith("pooling.")}
    logits, weights = torch.zeros(case.B, case.C, dtype=f64), torch.zeros(case.B, case.T, dtype=f64)
    with torch.no_grad():
        for b, L in enumerate(lengths.tolist()):
            pooled, w = pool_spec(pool_sd, lstm(sd["embedding.weight"][tokens[b, :L]][None])[0], None)
            logits[b], weights[b, :L] = sd["head.weight"] @ pooled[0] + sd["head.bias"], w[0]
    return logits, weights


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(pools())
def test_pooling_shapes_and_dtype(candidate, case):
    pool(candidate.AttentionPooling(case.D, case.hidden), *case.inputs(case.generator(), torch.float32), torch.float32,
         finite=True)


@pytest.mark.category("shape")
@given_cases(classifiers())
def test_classifier_shapes_and_dtype(candidate, case):
    classify(case.make(candidate), case, *case.inputs(case.generator()), torch.float32, finite=True)


@pytest.mark.category("shape")
def test_parameters_follow_the_interface(candidate, reference):
    makers = {"AttentionPooling(6, 4)": lambda lib: lib.AttentionPooling(6, 4),
              "AttentionPooling(6) (hidden = dim)": lambda lib: lib.AttentionPooling(6),
              "BiLSTMAttentionClassifier(9, 5, 3, 4, pad_idx=2)": Clf(1, 1, 9, 5, 3, 4, 2, 0).make}
    for what, make in makers.items():
        kit.assert_state_shapes(make(candidate), make(reference), what)
    fresh = candidate.BiLSTMAttentionClassifier(9, 5, 3, 4, 2).state_dict()["embedding.weight"][2]
    assert_equal(fresh, torch.zeros(5), "embedding row pad_idx=2 of a fresh model (nn.Embedding(padding_idx=2): 0)")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@pytest.mark.parametrize("vs", ["the loop definition", "reference"])
@given_cases(pools())
def test_pooling_matches(candidate, reference, vs, case):
    cand, ref, sd, h, mask, _ = case.build(candidate, reference)
    assert_outputs_close(pool(cand, h, mask), pool_spec(sd, h, mask) if vs == "the loop definition" else ref(h, mask),
                         POOLED, vs)


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("vs", ["reference", "each sequence run alone through nn.LSTM"])
@given_cases(classifiers())
def test_classifier_matches(candidate, reference, vs, case):
    cand, ref, sd, tokens, lengths, _ = case.build(candidate, reference)
    expected = ref(tokens, lengths) if vs == "reference" else one_sequence_oracle(sd, case, tokens, lengths)
    assert_outputs_close(classify(cand, case, tokens, lengths), expected, LOGITS, f"{vs} ({lengths=})")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(pools(use_mask=st.just(True)))
def test_pooling_gradients_match_reference(candidate, reference, case):
    fn, oracle, args, grad_out, _, _ = case.joined(candidate, reference)
    kit.check_gradients(candidate, fn, oracle, args, grad_output=grad_out)


@pytest.mark.category("gradient")
def test_pooling_gradients_match_finite_differences(candidate, reference, seed):
    fn, _, args, grad_out, sd, g = Pool(3, 5, 4, 3, True, seed).joined(candidate, reference)
    kit.check_finite_differences(candidate, fn, args, g=g, grad_output=grad_out, state_dict=sd)


@pytest.mark.category("gradient")
@given_cases(classifiers())
def test_classifier_gradients_match_reference(candidate, reference, case):
    cand, ref, _, tokens, lengths, g = case.build(candidate, reference)
    classify(cand, case, tokens, lengths)  # shapes first, for a clear message
    grad_out = torch.randn(case.B, case.C + case.T, generator=g, dtype=f64)
    grad_out[:, case.C:] *= torch.arange(case.T) < lengths[:, None]  # none on the (exactly 0) weights of padding
    kit.check_gradients(candidate, candidate.lib.support("JoinedClassifier", cand), support.JoinedClassifier(ref),
                        {"tokens": tokens, "lengths": lengths}, grad_output=grad_out)


# -- convergence -----------------------------------------------------------------------------
VOCAB, MAX_LEN, EMBED, HIDDEN, CLASSES = 16, 12, 8, 8, 3
MODEL = (VOCAB, EMBED, HIDDEN, CLASSES, 0)  # vocab_size, embed_dim, hidden_size, num_classes, pad_idx


@pytest.mark.category("convergence")
def test_learns_a_keyword_task(candidate, reference, seed, artifacts):
    """Class k if keyword k (1 or 2) occurs anywhere in a sentence of 2..12 tokens, else 0: find one token anywhere."""
    def models(s, run):
        return kit.same_init(candidate.lib.support("packed_classifier", candidate.BiLSTMAttentionClassifier(*MODEL)),
                             lambda: support.Packed(reference.BiLSTMAttentionClassifier(*MODEL)), s)

    kit.check_convergence(
        candidate, artifacts, seed, models=models, runs=2, threshold=0.95, train=dict(steps=40, lr=2e-2, batch_size=64),
        task=lambda g: (*support.keyword_task(1024, MAX_LEN, VOCAB, g), *support.keyword_task(512, MAX_LEN, VOCAB, g)),
        subject="your classifier", goal="on the keyword task")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(pools(use_mask=st.just(True)))
def test_pooling_masked_weights_are_zero_and_rows_sum_to_one(candidate, reference, case):
    cand, _, _, h, mask, _ = case.build(candidate, reference)
    kit.assert_attention_weights(pool(cand, h, mask)[1], mask, "weights (mask False: padding)")


@pytest.mark.category("property")
@given_cases(pools(use_mask=st.just(True)), extra=st.integers(1, 3))
def test_pooling_appended_padding_changes_nothing(candidate, reference, case, extra):
    cand, _, _, h, mask, g = case.build(candidate, reference)
    kit.assert_appending_changes_nothing(lambda h, mask: pool(cand, h, mask), {"h": h, "mask": mask},
                                         {"h": None, "mask": False}, extra, g, what="padded slots (junk h, mask False)")


@pytest.mark.category("property")
@given_cases(classifiers(), extra=st.integers(1, 3))
def test_classifier_padding_invariance(candidate, reference, case, extra):
    """Pad columns appended (lengths unchanged) change nothing; padding gets weight exactly 0, rows sum to 1."""
    cand, _, _, tokens, lengths, g = case.build(candidate, reference)
    kit.assert_appending_changes_nothing(lambda tokens: classify(cand, case, tokens, lengths), {"tokens": tokens},
                                         {"tokens": case.pad_idx}, extra, g, what=f"pad tokens ({lengths=})")
    weights = classify(cand, case, torch.cat([tokens, torch.full((case.B, extra), case.pad_idx)], 1), lengths)[1]
    kit.assert_attention_weights(weights, torch.arange(case.T + extra) < lengths[:, None], "classifier weights "
                                 f"(t >= lengths is padding) after appending {extra} pad tokens")


@pytest.mark.category("property")
def test_classifier_rows_do_not_depend_on_batch_order(candidate, reference, seed):
    """Sort-by-length-then-unsort bugs show here: permuting the batch must permute the outputs."""
    case = Clf(6, 7, 7, 3, 3, 3, 0, seed)
    cand, _, _, _, _, g = case.build(candidate, reference)
    tokens, lengths = case.inputs(g, lengths=torch.tensor([2, 7, 1, 5, 3, 6]))  # the sort is no involution
    before = classify(cand, case, tokens, lengths)
    for perm in (torch.randperm(case.B, generator=g) for _ in range(2)):
        assert_outputs_close(classify(cand, case, tokens[perm], lengths[perm]), [t[perm] for t in before], LOGITS,
                             f"the outputs permuted the same way (batch permuted by {perm.tolist()})")


@pytest.mark.category("property")
def test_pooling_single_real_token(candidate, reference, seed):
    """A row with one real token gives it weight 1 and pools exactly its vector, even at large scores elsewhere."""
    cand, _, _, h, _, g = Pool(4, 6, 3, 4, True, seed).build(candidate, reference, query_scale=100.0)
    one = torch.arange(6) == torch.randint(6, (4, 1), generator=g)  # (B, T): one real token per row
    assert_outputs_close(pool(cand, h, one), (h[one], one.double()), POOLED,
                         f"that token's h and weight 1 (the one real token at {one.int().argmax(1).tolist()})")


@pytest.mark.category("property")
def test_pooling_all_padding_row_gives_zeros(candidate, reference, seed):
    """A row with no real token: weights and pooled all 0 (no NaN), gradients finite and equal to the reference's."""
    fn, oracle, args, grad_out, _, _ = Pool(3, 5, 4, 3, True, seed).joined(candidate, reference)
    args["mask"][1] = False
    grad_out[1, 4:] = 0.0
    got = kit.check_gradients(candidate, fn, oracle, args, grad_output=grad_out)
    assert_equal(got["output"][1], torch.zeros(4 + 5, dtype=f64), "[pooled, weights] of the all-padding row 1")


@pytest.mark.category("property")
def test_pooling_stable_for_large_scores(candidate, reference, seed):
    """|score| <= sum |q|: with q ~1e3, exp() overflows in float32 unless the softmax subtracts the row maximum."""
    cand, ref, _, h, mask, _ = Pool(3, 6, 4, 5, True, seed).build(candidate, reference, torch.float32, 2000.0)
    # float32 vs float64 through scores ~1e3: agreement to 1e-3 is far tighter than any overflow (inf, NaN).
    assert_outputs_close(pool(cand, h, mask, torch.float32), [t.float() for t in ref.double()(h.double(), mask)],
                         POOLED, "the float64 reference at scores ~1e3 (float32)", rtol=1e-3, atol=1e-3)


@pytest.mark.category("property")
def test_forward_does_not_modify_its_inputs(candidate, seed):
    h, mask = Pool(2, 5, 3, 4, True, seed).inputs(kit.generator(seed), torch.float32)
    kit.assert_inputs_unchanged(candidate.AttentionPooling(3, 4), {"h": h, "mask": mask}, what="AttentionPooling")
    tokens, lengths = (clf := Clf(3, 5, 6, 3, 2, 2, 0, seed)).inputs(kit.generator(seed))
    kit.assert_inputs_unchanged(clf.make(candidate), {"tokens": tokens, "lengths": lengths}, what="the classifier")
