"""Suite for 11_seq2seq: a GRU encoder-decoder vs the reference and a per-sentence nn.GRU oracle (weights transplanted,
float64); teacher forcing, the loss over real target positions, greedy decoding with EOS, source padding invariance."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import nn

from grader import kit
from grader.kit import assert_close, assert_equal, assert_shape, f64, given_cases

support = kit.exercise_support(__file__)
IDS = [(0, 1, 2), (2, 0, 1)]  # (pad_id, bos_id, eos_id); real tokens are 3..V-1
FEW = 5  # hypothesis examples per test (each builds two models)


def c(t):  # a slice as its own contiguous tensor (the transport refuses odd strides)
    return t.clone(memory_format=torch.contiguous_format)


class S2S(kit.Case):
    """Seq2Seq(Vs, Vt, E, H, N, *ids) on B sources of 1..S tokens right-padded to S (lengths in src_lengths) and
    targets of 1..T tokens (the last real one EOS), right-padded with pad_id."""
    B: int
    S: int
    T: int
    Vs: int
    Vt: int
    E: int
    H: int
    N: int
    ids: tuple

    def make(self, lib, eos=None):
        pad, bos, e = self.ids
        return lib.Seq2Seq(self.Vs, self.Vt, self.E, self.H, self.N, pad_id=pad, bos_id=bos, eos_id=e if eos is None
                           else eos)

    def inputs(self, g):
        (pad, _, eos), B, S, T = self.ids, self.B, self.S, self.T
        src_len, tgt_len = torch.randint(1, S + 1, (B,), generator=g), torch.randint(1, T + 1, (B,), generator=g)
        src = (pad + torch.randint(1, self.Vs, (B, S), generator=g)) % self.Vs  # never pad_id
        src = torch.where(torch.arange(S) < src_len[:, None], src, pad)  # (B, S)
        tgt = torch.randint(3, self.Vt, (B, T), generator=g)
        tgt = torch.where(torch.arange(T) < tgt_len[:, None] - 1, tgt, pad)  # (B, T)
        tgt[torch.arange(B), tgt_len - 1] = eos
        return src, src_len, tgt

    def build(self, candidate, reference, **weights):
        twins = kit.twins(self.make, candidate, reference, g := self.generator(), **weights)
        return *twins, *self.inputs(g), g

    def real(self, tgt):  # (B, T, 1): the graded positions (real tokens and EOS)
        return (tgt != self.ids[0])[..., None]

    def grad_output(self, tgt, g):  # N(0, 1) at the graded positions, 0 at padding (padding_idx is allowed)
        return torch.randn(*tgt.shape, self.Vt, generator=g, dtype=f64) * self.real(tgt)


def cases(B=st.integers(1, 4), T=st.integers(1, 5), H=st.integers(1, 5)):
    return kit.builds(S2S, B=B, S=st.integers(1, 5), T=T, Vs=st.integers(3, 7), Vt=st.integers(4, 7),
                      E=st.integers(1, 4), H=H, N=st.integers(1, 2), ids=st.sampled_from(IDS))


def oracle(sd, case, src, src_len, tgt, max_len=0):
    """One sentence at a time, unpadded, through nn.GRU with the transplanted weights: teacher-forced logits (B, T, V)
    and the raw greedy tokens (B, max_len), never stopped at EOS."""
    def gru(name):
        m = nn.GRU(case.E, case.H, case.N, batch_first=True).double()
        m.load_state_dict({k[len(name) + 1:]: v for k, v in sd.items() if k.startswith(name + ".")})
        return m
    enc, dec, out = gru("encoder"), gru("decoder"), lambda s: s @ sd["out.weight"].T + sd["out.bias"]
    bos, logits, raw = case.ids[1], [], []
    with torch.no_grad():
        for b in range(case.B):
            _, h = enc(sd["src_embedding.weight"][src[b, :src_len[b]]][None])  # (N, 1, H) after the last real token
            dec_in = torch.cat([torch.tensor([bos]), tgt[b, :-1]])  # BOS, then the target shifted right
            logits.append(out(dec(sd["tgt_embedding.weight"][dec_in][None], h)[0][0]))
            prev, row = bos, []
            for _ in range(max_len):
                s, h = dec(sd["tgt_embedding.weight"][[prev]][None], h)
                row.append(prev := int(out(s[0, 0]).argmax()))
            raw.append(row)
    return torch.stack(logits), torch.tensor(raw, dtype=torch.int64).view(case.B, max_len)


def before_eos(tokens, eos):  # (B, L) bool: True up to and including each row's first EOS
    hit = (tokens == eos).long()
    return hit.cumsum(1) - hit == 0


def decode(model, src, src_len, max_len):
    return assert_shape(model.greedy_decode(src, src_len, max_len), (src.shape[0], max_len),
                        f"greedy_decode(src, src_lengths, max_len={max_len})", dtype=torch.int64)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(cases(), max_examples=FEW)
def test_output_shapes_and_dtypes(candidate, case):
    m, (src, src_len, tgt) = case.make(candidate), case.inputs(case.generator())
    assert_shape(m(src, src_len, tgt), (case.B, case.T, case.Vt), "forward logits", dtype=torch.float32)
    assert_shape(m.encode(src, src_len), (case.N, case.B, case.H), "encode", dtype=torch.float32)
    assert_shape(m.loss(src, src_len, tgt), (), "loss", dtype=torch.float32)
    decode(m, src, src_len, case.T)


@pytest.mark.category("shape")
def test_state_dict_follows_the_interface(candidate, reference):
    for n in (1, 2):
        kit.assert_state_shapes(candidate.Seq2Seq(5, 7, 3, 4, n), reference.Seq2Seq(5, 7, 3, 4, n).state_dict(),
                                f"Seq2Seq(5, 7, 3, 4, num_layers={n})")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(cases(), max_examples=FEW)
def test_forward_matches_oracle_and_reference(candidate, reference, case):
    cand, ref, sd, src, src_len, tgt, _ = case.build(candidate, reference)
    assert_close(cand.encode(src, src_len), ref.encode(src, src_len), "encode: final state (N, B, H) vs reference")
    logits, real = cand(src, src_len, tgt), case.real(tgt)
    assert_close(logits, oracle(sd, case, src, src_len, tgt)[0], "teacher-forced logits vs nn.GRU run on each "
                 "sentence alone, fed BOS then tgt[:, t-1]", where=real)
    assert_close(logits, ref(src, src_len, tgt).detach(), "teacher-forced logits vs reference", where=real)


@pytest.mark.category("equivalence")
@given_cases(cases(T=st.integers(2, 5)), max_examples=FEW)
def test_loss_ignores_padding(candidate, reference, case):
    cand, ref, sd, src, src_len, tgt, _ = case.build(candidate, reference)
    logits = oracle(sd, case, src, src_len, tgt)[0]
    expected = F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=case.ids[0])
    assert_close(cand.loss(src, src_len, tgt), expected, "loss vs the mean cross-entropy over real target positions")


def informative_eos(raw: torch.Tensor, excluded) -> list[int]:
    """Tokens that, taken as EOS, end a row which would go on with another token and end a row while another row
    goes on (else either): only then do padding after EOS and stopping row by row show in the tokens."""
    rows, shows = raw.tolist(), {}
    for row in rows:
        for p, t in enumerate(row[:-1]):
            if t not in row[:p] and t not in excluded:
                goes_on = row[p + 1] != t
                other_goes_on = any(t not in other[:p + 2] for other in rows)
                shows[t] = max(shows.get(t, 0), goes_on + other_goes_on)
    best = max(shows.values(), default=0)
    return sorted(t for t, n in shows.items() if n == best and n > 0)


@pytest.mark.category("equivalence")
@given_cases(cases(B=st.integers(2, 4), H=st.integers(3, 5)), max_len=st.integers(1, 8), data=st.data(),
             max_examples=FEW)  # B >= 2: a row that finishes early must not stop the others
def test_greedy_decode_matches_oracle_and_reference(candidate, reference, case, max_len, data):
    """eos_id is a token the model really emits, so rows stop at different steps and must then pad. The decoder's
    recurrent weights are tripled: the tokens depend on the state carried from step to step."""
    _, _, sd, src, src_len, tgt, _ = case.build(candidate, reference, scales={"decoder.weight_hh_l*": 3.0})
    raw = oracle(sd, case, src, src_len, tgt, max_len)[1]
    telling = informative_eos(raw, case.ids[:2])  # tokens a row emits and then moves on from
    eos = (data.draw(st.sampled_from(telling), label="eos_id") if telling else
           int(raw[data.draw(st.integers(0, case.B - 1)), data.draw(st.integers(0, max_len - 1))]))
    if eos in case.ids[:2]:  # never pad_id, nor bos_id (an odd configuration, not the point here)
        eos = case.ids[2]
    cand, ref = (kit.load(case.make(lib, eos), sd, f64) for lib in (candidate, reference))
    got, expected = decode(cand, src, src_len, max_len), raw.masked_fill(~before_eos(raw, eos), case.ids[0])
    assert_equal(got, expected, f"greedy tokens (eos_id={eos}) vs an nn.GRU loop on each sentence, feeding back the "
                 "argmax and padding after EOS")
    assert_equal(got, ref.greedy_decode(src, src_len, max_len), "greedy tokens vs reference")
    own = cand(src, src_len, got).argmax(-1)  # your forward, teacher-forced on your own tokens
    assert_equal(torch.where(before_eos(got, eos), own, got), got, "greedy tokens (up to EOS) vs the argmax of your "
                 "forward teacher-forced on them")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(cases(T=st.integers(1, 4)), max_examples=FEW)
def test_gradients_match_reference(candidate, reference, case):
    cand, ref, _, src, src_len, tgt, g = case.build(candidate, reference)
    kit.check_gradients(candidate, cand, ref, {"src": src, "src_lengths": src_len, "tgt": tgt}, g=g,
                        where=case.real(tgt), grad_output=case.grad_output(tgt, g))


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, reference, seed):
    case = S2S(3, 4, 3, 5, 6, 3, 4, 2, IDS[0], data_seed=seed)
    cand, _, sd, src, src_len, tgt, g = case.build(candidate, reference)
    kit.check_finite_differences(candidate, cand, {"src": src, "src_lengths": src_len, "tgt": tgt}, g=g, state_dict=sd,
                                 grad_output=case.grad_output(tgt, g))


# -- convergence -----------------------------------------------------------------------------
VOCAB, MAX_SRC, SIZES = 8, 4, (8, 8, 16, 48)  # tokens 3..7, sources of 1..4 tokens; Seq2Seq(V, V, E=16, H=48)


@pytest.mark.category("convergence")
def test_learns_to_reverse_short_sequences(candidate, reference, seed, artifacts):
    def models(s, run):
        model = candidate.lib.support("build_reverser", candidate.Seq2Seq(*SIZES), MAX_SRC)
        return kit.same_init(model, lambda: support.build_reverser(reference.Seq2Seq(*SIZES), MAX_SRC), s)

    def exact(model, x, y):  # share of held-out sources whose greedy decoding is exactly the reversal, EOS, padding
        ys = assert_shape(model.decode(x), y.shape, "greedy_decode on held-out sources", dtype=torch.int64)
        return float((ys == y.masked_fill(y == -100, support.PAD)).all(1).double().mean())

    kit.check_convergence(candidate, artifacts, seed, models=models, runs=1, threshold=0.7, evaluate=exact,
                          train=dict(steps=80, lr=2e-2, batch_size=64), subject="your greedy decoding",
                          task=lambda g: (*support.reverse_task(1024, MAX_SRC, VOCAB, g),
                                          *support.reverse_task(256, MAX_SRC, VOCAB, g)),
                          goal="as exact reversals (teacher-forced training, then greedy decoding)")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(cases(), extra=st.integers(1, 3), max_examples=FEW)
def test_source_padding_changes_nothing(candidate, reference, case, extra):
    cand, _, _, src, src_len, tgt, g = case.build(candidate, reference)
    for fn in (lambda src: cand.encode(src, src_len), lambda src: cand(src, src_len, tgt)):
        kit.assert_appending_changes_nothing(fn, {"src": src}, {"src": case.Vs - 1}, extra, g,
                                             what=f"source positions past src_lengths (holding token {case.Vs - 1})")
        kit.assert_ignores(fn, src, torch.arange(case.S) >= src_len[:, None], g, what="source tokens past src_lengths",
                           fresh=lambda shape: torch.randint(case.Vs, shape, generator=g))


@pytest.mark.category("property")
@given_cases(cases(B=st.integers(2, 4)), max_examples=FEW)
def test_each_sentence_is_decoded_independently_of_the_batch(candidate, reference, case):
    cand, _, _, src, src_len, tgt, _ = case.build(candidate, reference)
    logits, ys = cand(src, src_len, tgt), decode(cand, src, src_len, case.T)
    for b in range(case.B):
        alone = (c(src[b:b + 1, :src_len[b]]), src_len[b:b + 1].clone())
        what = f"sentence {b} (source length {int(src_len[b])}) in a padded batch of {case.B} vs alone"
        assert_close(logits[b:b + 1], cand(*alone, c(tgt[b:b + 1])), f"logits of {what}", where=case.real(tgt)[b:b + 1])
        assert_equal(ys[b:b + 1], decode(cand, *alone, case.T), f"greedy tokens of {what}")


@pytest.mark.category("property")
def test_methods_do_not_modify_inputs(candidate, seed):
    case = S2S(3, 4, 3, 5, 6, 3, 4, 1, IDS[0], data_seed=seed)
    m, (src, src_len, tgt) = case.make(candidate), case.inputs(case.generator())
    for name, args in (("forward", (src, src_len, tgt)), ("loss", (src, src_len, tgt)), ("encode", (src, src_len)),
                       ("greedy_decode", (src, src_len, 4))):
        names = ("src", "src_lengths", "tgt" if len(args) == 3 and name != "greedy_decode" else "max_len")
        kit.assert_inputs_unchanged(m if name == "forward" else getattr(m, name), dict(zip(names, args)), what=name)
