"""Suite for 42_packed_sequences: pad_batch, and LSTMEncoder (embedding + nn.LSTM over a PackedSequence)
against nn.LSTM run on each sequence alone; gradients, a classifier that learns, padding invariance and
the batch order."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import nn

from grader import kit
from grader.kit import assert_close, assert_shape, f64, given_cases

support = kit.exercise_support(__file__)


class Seqs(kit.Case):
    """B sequences of the given lengths: token ids (D = 0) or (L_i, D) floats, padded with `value`."""
    lengths: tuple
    D: int
    value: float

    def sequences(self):
        g = self.generator()
        if self.D == 0:  # ids in 0..3 with the padding value among them: a real token may equal it
            return [torch.randint(4, (n,), generator=g) for n in self.lengths]
        return [torch.randn(n, self.D, generator=g, dtype=f64) for n in self.lengths]

    def expected(self, seqs):
        padded = seqs[0].new_full((len(seqs), max(self.lengths), *seqs[0].shape[1:]), self.value)
        for i, s in enumerate(seqs):
            padded[i, : len(s)] = s
        return padded, torch.tensor(self.lengths)


seqs = kit.builds(Seqs, lengths=st.lists(st.integers(1, 6), min_size=1, max_size=5).map(tuple),
                  D=st.integers(0, 3), value=st.sampled_from([0, 3, -1]))


class Enc(kit.Case):
    """tokens (B, max(lengths) + extra) of ids < V through LSTMEncoder(V, E, H, layers, bidirectional)."""
    lengths: tuple
    extra: int
    V: int
    E: int
    H: int
    layers: int
    bi: bool

    def inputs(self, g):
        width = max(self.lengths) + self.extra
        return torch.randint(self.V, (len(self.lengths), width), generator=g), torch.tensor(self.lengths)

    def build(self, candidate, reference):
        g = self.generator()
        cand, ref, sd = kit.twins(lambda lib: lib.LSTMEncoder(self.V, self.E, self.H, self.layers, self.bi),
                                  candidate, reference, g)
        return cand, ref, sd, *self.inputs(g), g

    @property
    def padding(self):  # (B, width) bool: True at padding positions
        return torch.arange(max(self.lengths) + self.extra) >= torch.tensor(self.lengths)[:, None]


LENGTHS = st.one_of(st.lists(st.integers(1, 5), min_size=1, max_size=4),  # unsorted, B = 1 ...
                    st.builds(lambda n, B: [n] * B, st.integers(1, 4), st.integers(2, 3))).map(tuple)  # all equal


def encs(lengths=LENGTHS, bi=st.booleans()):
    return kit.builds(Enc, lengths=lengths, extra=st.integers(0, 2), V=st.integers(1, 7), E=st.integers(1, 4),
                      H=st.integers(1, 4), layers=st.integers(1, 2), bi=bi)


def outputs_of(case: Enc, result):
    """The encoder's (outputs, final), each checked for its shape and dtype."""
    D, (B, width) = 1 + case.bi, case.padding.shape
    return kit.unpack(result, {"outputs": (B, width, D * case.H), "final": (B, D * case.H)}, f64, "forward")


def run_alone(sd: dict, case: Enc, tokens, lengths):
    """The oracle: nn.LSTM (same weights) on each sequence alone, a batch of one without padding."""
    lstm = nn.LSTM(case.E, case.H, case.layers, batch_first=True, bidirectional=case.bi, dtype=f64)
    lstm.load_state_dict({k[len("lstm."):]: v for k, v in sd.items() if k.startswith("lstm.")})
    D = 1 + case.bi
    outputs, finals = torch.zeros(*tokens.shape, D * case.H, dtype=f64), []
    for b, n in enumerate(lengths.tolist()):
        out, (h_n, _) = lstm(F.embedding(tokens[b: b + 1, :n], sd["embedding.weight"]))  # (1, n, D * H)
        outputs[b, :n] = out[0]
        finals.append(torch.cat(list(h_n[-D:, 0])))  # the last layer: [forward, backward]
    return outputs.detach(), torch.stack(finals).detach()


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(seqs, max_examples=15)
def test_pad_batch_shapes_and_dtypes(candidate, case):
    s = case.sequences()
    padded, lengths = candidate.pad_batch(s, case.value)
    assert_shape(padded, (len(s), max(case.lengths), *s[0].shape[1:]), "padded", dtype=s[0].dtype)
    assert_shape(lengths, (len(s),), "lengths", dtype=torch.int64)


@pytest.mark.category("shape")
@given_cases(encs(), max_examples=6)
def test_encoder_output_shapes(candidate, reference, case):
    cand, _, _, tokens, lengths, _ = case.build(candidate, reference)
    outputs_of(case, cand(tokens, lengths))


@pytest.mark.category("shape")
@pytest.mark.parametrize("layers, bi", [(1, False), (2, True)])
def test_parameters_follow_the_interface(candidate, reference, layers, bi):
    kit.assert_state_shapes(candidate.LSTMEncoder(9, 3, 5, layers, bi), reference.LSTMEncoder(9, 3, 5, layers, bi),
                            f"LSTMEncoder(9, 3, 5, num_layers={layers}, bidirectional={bi}) (embedding, lstm)")


# -- the method: packing (a property) ----------------------------------------------------------
@pytest.mark.category("property")
@pytest.mark.parametrize("bi", [False, True])
def test_the_batch_goes_through_lstm_once_packed(candidate, reference, seed, bi):
    cand, _, _, tokens, lengths, _ = Enc((2, 5, 1, 5), 1, 6, 3, 4, 2, bi, data_seed=seed).build(candidate, reference)
    kit.assert_same(candidate.lib.support("lstm_calls", cand, tokens, lengths), ["packed 4"],
                    "the calls of self.lstm (lengths 2, 5, 1, 5)", "one call on a PackedSequence of the whole batch")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(seqs, max_examples=15)
def test_pad_batch_values(candidate, case):
    s = case.sequences()
    got, expected = candidate.pad_batch(s, case.value), case.expected(s)
    kit.assert_outputs_close(got, expected, ("padded", "lengths"), f"the sequences padded with {case.value}")


@pytest.mark.category("equivalence")
@given_cases(encs(), max_examples=10)  # each example builds two encoders
def test_matches_each_sequence_run_alone(candidate, reference, case):
    cand, _, sd, tokens, lengths, _ = case.build(candidate, reference)
    kit.assert_outputs_close(outputs_of(case, cand(tokens, lengths)), run_alone(sd, case, tokens, lengths),
                             ("outputs (0 at padding)", "final hidden"), "nn.LSTM on each sequence alone")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(encs(), max_examples=4)  # a backward pass on both sides per example
def test_gradients_match_reference(candidate, reference, case):
    cand, ref, _, tokens, lengths, _ = case.build(candidate, reference)
    kit.check_gradients(candidate, candidate.lib.support("flat", cand), support.flat(ref),
                        {"tokens": tokens, "lengths": lengths}, g=case.generator(1), against="reference")


@pytest.mark.category("gradient")
@pytest.mark.parametrize("bi", [False, True])
def test_gradients_match_finite_differences(candidate, reference, seed, bi):
    case = Enc((3, 1, 4), 1, 5, 2, 3, 2, bi, data_seed=seed)
    cand, _, sd, tokens, lengths, g = case.build(candidate, reference)
    kit.check_finite_differences(candidate, candidate.lib.support("flat", cand), {"tokens": tokens, "lengths": lengths},
                                 g=g, state_dict={f"encoder.{k}": v for k, v in sd.items()})


# -- convergence -----------------------------------------------------------------------------
VOCAB, EMBED, HIDDEN = 12, 8, 12


@pytest.mark.category("convergence")
def test_classifier_learns_the_last_sentiment_word(candidate, reference, seed, artifacts):
    """A text classifier on your final hidden state: no sentiment word, or the last one is good / bad.
    The padding after each sentence holds random words, sentiment words included (chance: about 1/3)."""
    def models(s, run):  # run 0: one direction, run 1: bidirectional
        cfg, features = (VOCAB, EMBED, HIDDEN, 1, run == 1), HIDDEN * (1 + run)
        return kit.same_init(candidate.lib.support("build_classifier", candidate.LSTMEncoder(*cfg), features, 3),
                             lambda: support.build_classifier(reference.LSTMEncoder(*cfg), features, 3), s)

    kit.check_convergence(
        candidate, artifacts, seed, models=models, runs=2, threshold=0.9, train=dict(steps=30, lr=3e-2, batch_size=32),
        subject="your encoder", goal="at the last sentiment word (run 0 one-directional, run 1 bidirectional)",
        task=lambda g: (*support.last_sentiment_task(1024, 10, 10, VOCAB, g),
                        *support.last_sentiment_task(512, 14, 10, VOCAB, g)))


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(encs(), max_examples=8)
def test_padding_tokens_are_ignored(candidate, reference, case):
    cand, _, _, tokens, lengths, g = case.build(candidate, reference)
    for k in range(2):
        kit.assert_ignores(lambda t: outputs_of(case, cand(t, lengths))[k], tokens, case.padding, g,
                           what="the padding tokens", fresh=lambda shape: torch.randint(case.V, shape, generator=g))


@pytest.mark.category("property")
@given_cases(encs(), more=st.integers(1, 3), max_examples=8)
def test_appending_padding_changes_nothing(candidate, reference, case, more):
    cand, _, _, tokens, lengths, g = case.build(candidate, reference)
    outputs, final = outputs_of(case, cand(tokens, lengths))
    wider = case.replace(extra=case.extra + more)
    longer = torch.cat([tokens, torch.randint(case.V, (len(lengths), more), generator=g)], 1)
    outputs2, final2 = outputs_of(wider, cand(longer, lengths))
    what = f"after appending {more} padding tokens to every row"
    assert_close(outputs2, torch.cat([outputs, outputs.new_zeros(len(lengths), more, outputs.shape[-1])], 1),
                 f"outputs {what} (0 on the new positions)")
    assert_close(final2, final, f"final hidden {what}")


@pytest.mark.category("property")
@given_cases(encs(lengths=st.lists(st.integers(1, 5), min_size=2, max_size=5).map(tuple)), max_examples=8)
def test_permuting_the_batch_permutes_the_results(candidate, reference, case):
    cand, _, _, tokens, lengths, g = case.build(candidate, reference)
    perm = torch.randperm(len(lengths), generator=g)
    outputs, final = outputs_of(case, cand(tokens, lengths))
    permuted = case.replace(lengths=tuple(lengths[perm].tolist()))
    got = outputs_of(permuted, cand(tokens[perm], lengths[perm]))
    kit.assert_outputs_close(got, (outputs[perm], final[perm]), ("outputs", "final hidden"),
                             f"the results permuted: rows reordered by {perm.tolist()}")
