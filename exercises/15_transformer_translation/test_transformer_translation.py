"""Suite for 15_transformer_translation: a Seq2SeqTransformer on nn.Transformer (embeddings scaled by
sqrt(d_model), sinusoidal positions, causal and padding masks derived from pad_idx, a generator)
and greedy decoding, against the reference with the same state_dict in float64, plus gradients,
a copy task learned end to end, and the properties translation needs (causality, padding
invariance, consistent decoding).

`candidate` is the submission in a sandboxed worker; `reference` runs here. Masks follow
nn.Transformer: bool True = may NOT attend. Logits are compared at REAL target positions only
(tgt_in != pad_idx): what a padded query position outputs is not defined by the task.
"""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.gradcheck import check_directional_derivatives
from grader.testing import exercise_support, generator, seeded, fit_and_check

support = exercise_support(__file__)
f64 = torch.float64

# model sizes: d_model = nhead * head_dim (even, for the sin/cos pairs; >= 4, since a LayerNorm over
# 2 features keeps only a sign); inputs: B, S, T
sizes = dict(
    B=st.integers(1, 3), S=st.integers(1, 6), T=st.integers(1, 6),
    src_vocab=st.integers(4, 9), tgt_vocab=st.integers(4, 9),
    nhead=st.integers(1, 2), head_dim=st.sampled_from([4, 6]), layers=st.integers(1, 2),
    pad_idx=st.integers(0, 2), data_seed=st.integers(0, 2**32 - 1),
)
MAX_LEN = 16  # the positional table's length in every test model
FEW = settings(max_examples=10)  # each example builds two small transformers


# -- helpers ---------------------------------------------------------------------------------
def config(src_vocab, tgt_vocab, nhead, head_dim, layers, pad_idx, d_ff=None):
    d_model = nhead * head_dim
    return dict(src_vocab=src_vocab, tgt_vocab=tgt_vocab, d_model=d_model, nhead=nhead,
                num_encoder_layers=layers, num_decoder_layers=layers, dim_feedforward=d_ff or 2 * d_model + 1,
                dropout=0.0, max_len=MAX_LEN, pad_idx=pad_idx)


def random_state_dict(reference, cfg, g) -> dict:
    """The reference's own initialisation (xavier for nn.Transformer, N(0, 1) embeddings) in float64,
    with every bias and LayerNorm perturbed so that they matter. The positional table is the
    reference's (exact sin/cos values)."""
    with seeded(int(torch.randint(2**31, (1,), generator=g))):
        ref = reference.Seq2SeqTransformer(**cfg)
    sd = {k: v.to(f64) for k, v in ref.state_dict().items()}
    for k, v in sd.items():
        if v.dim() == 1:
            sd[k] = v + 0.3 * torch.randn(v.shape, generator=g, dtype=f64)
    return sd


def build(candidate, reference, cfg, g):
    """The candidate and the reference, in float64 and eval mode, with the same state_dict."""
    sd = random_state_dict(reference, cfg, g)
    ref = reference.Seq2SeqTransformer(**cfg).to(f64)
    ref.load_state_dict(sd)
    ref.eval()
    cand = candidate.Seq2SeqTransformer(**cfg).to(f64)
    cand.load_state_dict(sd)
    cand.eval()
    return cand, ref, sd


def right_padded(B, L, vocab, pad_idx, g, first=None):
    """(B, L) tokens that are never pad_idx, then right padding: every row keeps >= 1 real token.
    `first` fixes column 0 (e.g. BOS)."""
    real = torch.randint(vocab - 1, (B, L), generator=g)
    real = real + (real >= pad_idx).long()  # skip pad_idx: values in [0, vocab) \ {pad_idx}
    if first is not None:
        real[:, 0] = first
    lengths = torch.randint(1, L + 1, (B,), generator=g)
    return torch.where(torch.arange(L) < lengths[:, None], real, pad_idx)


def bos_for(tgt_vocab, pad_idx):
    return (pad_idx + 1) % tgt_vocab


def random_pair(B, S, T, src_vocab, tgt_vocab, pad_idx, g):
    """src (B, S) and tgt_in (B, T), both right-padded; tgt_in starts with BOS."""
    src = right_padded(B, S, src_vocab, pad_idx, g)
    tgt_in = right_padded(B, T, tgt_vocab, pad_idx, g, first=bos_for(tgt_vocab, pad_idx))
    return src, tgt_in


def real_positions(tgt_in, pad_idx):
    """(B, T, 1) bool: the target positions whose logits are graded."""
    return (tgt_in != pad_idx)[..., None]


def logits_of(model, src, tgt_in, V, name="logits"):
    B, T = tgt_in.shape
    return assert_shape(model(src, tgt_in), (B, T, V), name)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@FEW
@given(**sizes)
def test_output_shape_and_dtype(candidate, B, S, T, src_vocab, tgt_vocab, nhead, head_dim, layers, pad_idx,
                                data_seed):
    g = generator(data_seed)
    cfg = config(src_vocab, tgt_vocab, nhead, head_dim, layers, pad_idx)
    m = candidate.Seq2SeqTransformer(**cfg)
    src, tgt_in = random_pair(B, S, T, src_vocab, tgt_vocab, pad_idx, g)
    y = assert_shape(m(src, tgt_in), (B, T, tgt_vocab), "logits", dtype=torch.float32)
    assert_finite(y, "logits")


@pytest.mark.category("shape")
def test_state_dict_follows_the_interface(candidate, reference):
    cfg = config(src_vocab=7, tgt_vocab=9, nhead=2, head_dim=4, layers=2, pad_idx=0, d_ff=12)
    got = {k: tuple(v.shape) for k, v in candidate.Seq2SeqTransformer(**cfg).state_dict().items()}
    expected = {k: tuple(v.shape) for k, v in reference.Seq2SeqTransformer(**cfg).state_dict().items()}
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    wrong = {k: (got[k], expected[k]) for k in set(got) & set(expected) if got[k] != expected[k]}
    if missing or extra or wrong:
        raise Mismatch(f"state_dict does not follow the interface for {cfg}: missing {missing}; unexpected "
                       f"{extra}; wrong shapes (yours, expected) {wrong}")


@pytest.mark.category("shape")
@FEW
@given(B=st.integers(1, 3), S=st.integers(1, 5), steps=st.integers(1, 6), data_seed=st.integers(0, 2**32 - 1))
def test_greedy_decode_shape_and_dtype(candidate, reference, B, S, steps, data_seed):
    g = generator(data_seed)
    cfg = config(6, 7, 2, 2, 1, 0)
    cand, _, _ = build(candidate, reference, cfg, g)
    src = right_padded(B, S, 6, 0, g)
    ys = assert_shape(candidate.greedy_decode(cand, src, 1, 2, steps), (B, steps), f"greedy_decode(max_len={steps})",
                      dtype=torch.int64)
    assert_equal(ys[:, 0], torch.ones(B, dtype=torch.int64), "greedy_decode column 0 (must be bos_idx=1)")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(B=st.integers(1, 3), S=st.integers(1, 6), T=st.integers(1, 6), pad_idx=st.integers(0, 3),
       data_seed=st.integers(0, 2**32 - 1))
def test_make_masks_match_reference(candidate, reference, B, S, T, pad_idx, data_seed):
    g = generator(data_seed)
    src, tgt_in = random_pair(B, S, T, 6, 6, pad_idx, g)
    got = candidate.make_masks(src, tgt_in, pad_idx)
    if not isinstance(got, tuple) or len(got) != 3:
        raise Mismatch(f"make_masks must return a tuple (src_padding_mask, tgt_padding_mask, tgt_mask), got "
                       f"{type(got).__name__}" + (f" of length {len(got)}" if isinstance(got, tuple) else ""))
    expected = reference.make_masks(src, tgt_in, pad_idx)
    for name, a, e in zip(("src_padding_mask", "tgt_padding_mask", "tgt_mask (causal, True = future)"), got, expected):
        assert_shape(a, e.shape, name, dtype=torch.bool)
        assert_equal(a, e, f"{name} (pad_idx={pad_idx})")


def sinusoid_oracle(max_len, d_model):
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...), written from the formula."""
    pe = torch.zeros(max_len, d_model, dtype=f64)
    for pos in range(max_len):
        for i in range(0, d_model, 2):
            angle = pos / 10000 ** (i / d_model)
            pe[pos, i], pe[pos, i + 1] = math.sin(angle), math.cos(angle)
    return pe


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("d_model, max_len", [(4, 7), (8, 16), (12, 33)])
def test_positional_table_is_the_sinusoid(candidate, d_model, max_len):
    cfg = dict(src_vocab=5, tgt_vocab=5, d_model=d_model, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
               dim_feedforward=8, dropout=0.0, max_len=max_len, pad_idx=0)
    sd = candidate.Seq2SeqTransformer(**cfg).state_dict()
    if "positional_encoding.pe" not in sd:
        raise Mismatch("state_dict has no 'positional_encoding.pe' (a persistent buffer (max_len, d_model))")
    pe = assert_shape(sd["positional_encoding.pe"], (max_len, d_model), "positional_encoding.pe")
    # float32 storage is allowed: the float32 tolerance
    assert_close(pe.double(), sinusoid_oracle(max_len, d_model), f"positional_encoding.pe (d_model={d_model}) vs "
                 "sin at even, cos at odd features", rtol=1e-5, atol=1e-6)


@pytest.mark.category("equivalence")
@FEW
@given(**sizes)
def test_forward_matches_reference(candidate, reference, B, S, T, src_vocab, tgt_vocab, nhead, head_dim, layers,
                                   pad_idx, data_seed):
    g = generator(data_seed)
    cfg = config(src_vocab, tgt_vocab, nhead, head_dim, layers, pad_idx)
    cand, ref, _ = build(candidate, reference, cfg, g)
    src, tgt_in = random_pair(B, S, T, src_vocab, tgt_vocab, pad_idx, g)
    expected = ref(src, tgt_in).detach()
    assert_close(logits_of(cand, src, tgt_in, tgt_vocab), expected,
                 "logits at real target positions vs reference (same state_dict, float64)",
                 where=real_positions(tgt_in, pad_idx))


@pytest.mark.category("equivalence")
@FEW
@given(B=st.integers(1, 4), S=st.integers(1, 6), steps=st.integers(2, 8), eos_step=st.integers(1, 4),
       pad_idx=st.integers(0, 2), data_seed=st.integers(0, 2**32 - 1))
def test_greedy_decode_matches_reference(candidate, reference, B, S, steps, eos_step, pad_idx, data_seed):
    """EOS is chosen among the tokens the model really emits, so rows do finish (and must pad)."""
    g = generator(data_seed)
    V = 7
    cfg = config(6, V, 2, 4, 1, pad_idx)
    cand, ref, sd = build(candidate, reference, cfg, g)
    bos = bos_for(V, pad_idx)
    src = right_padded(B, S, 6, pad_idx, g)
    free = reference.greedy_decode(ref, src, bos, -1, steps)  # no EOS: what the model emits
    eos = int(free[0, min(eos_step, steps - 1)])
    expected = reference.greedy_decode(ref, src, bos, eos, steps)
    got = assert_shape(candidate.greedy_decode(cand, src, bos, eos, steps), (B, steps), "greedy_decode tokens",
                       dtype=torch.int64)
    assert_equal(got, expected, f"greedy_decode(bos_idx={bos}, eos_idx={eos}, max_len={steps}, pad_idx={pad_idx}) "
                 f"tokens vs reference; reference rows: {expected.tolist()}")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@FEW
@given(**sizes)
def test_gradients_match_reference(candidate, reference, B, S, T, src_vocab, tgt_vocab, nhead, head_dim, layers,
                                   pad_idx, data_seed):
    g = generator(data_seed)
    cfg = config(src_vocab, tgt_vocab, nhead, head_dim, layers, pad_idx)
    cand, ref, _ = build(candidate, reference, cfg, g)
    src, tgt_in = random_pair(B, S, T, src_vocab, tgt_vocab, pad_idx, g)
    # only real target positions are graded, so only they send gradients back
    grad_out = torch.randn(B, T, tgt_vocab, generator=g, dtype=f64) * real_positions(tgt_in, pad_idx)
    got = candidate.lib.grads(cand, [src, tgt_in], {}, grad_out)
    ref.zero_grad(set_to_none=True)
    ref(src, tgt_in).backward(grad_out)
    for name, p in ref.named_parameters():
        if got["param_grads"].get(name) is None:
            if p.grad is None or not bool(p.grad.any()):
                continue  # e.g. nothing reaches it with these sizes
            raise Mismatch(f"gradient w.r.t. {name}: no gradient reached this parameter")
        expected = p.grad if p.grad is not None else torch.zeros_like(p)
        assert_close(got["param_grads"][name], expected, f"gradient w.r.t. {name}")


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, reference, seed):
    g = generator(seed)
    B, S, T = 2, 4, 3
    cfg = config(5, 6, 2, 2, 1, 0, d_ff=6)
    cand, _, sd = build(candidate, reference, cfg, g)
    src, tgt_in = random_pair(B, S, T, 5, 6, 0, g)
    grad_out = torch.randn(B, T, 6, generator=g, dtype=f64) * real_positions(tgt_in, 0)
    got = candidate.lib.grads(cand, [src, tgt_in], {}, grad_out)
    params = {k: v for k, v in sd.items() if k in got["param_grads"]}
    missing = [k for k, v in got["param_grads"].items() if v is None and k in params]
    if not params or missing:
        raise Mismatch(f"no gradient reached {missing or 'any parameter'} (detached, computed under no_grad?)")

    def forward(point):
        cand.load_state_dict({**sd, **point})
        return cand(src, tgt_in)

    check_directional_derivatives(forward, params, got["param_grads"], grad_out, g)


# -- convergence -----------------------------------------------------------------------------
VOCAB, SRC_MAX, D_MODEL = 8, 5, 32  # tokens 3..7 (0 PAD, 1 BOS, 2 EOS); sentences of 3..5 tokens
TRAIN = dict(steps=150, lr=1e-2, batch_size=32)


def copier_config():
    return dict(src_vocab=VOCAB, tgt_vocab=VOCAB, d_model=D_MODEL, nhead=2, num_encoder_layers=1,
                num_decoder_layers=1, dim_feedforward=2 * D_MODEL, dropout=0.0, max_len=MAX_LEN,
                pad_idx=support.PAD)


@pytest.mark.category("convergence")
def test_learns_to_copy_the_source(candidate, reference, seed, artifacts):
    """Teacher-forced on (BOS + source -> source + EOS), then greedy_decode must reproduce held-out
    sources. Without the causal mask the decoder learns to read its next input (teacher-forced accuracy
    high, greedy decoding 0%); without the memory padding mask, decoding attends to padded memory."""
    s = seed * 1000
    g = generator(s)
    x_train, y_train = support.copy_task(1024, SRC_MAX, VOCAB, g)
    x_test, y_test = support.copy_task(256, SRC_MAX, VOCAB, g)
    with seeded(s):
        init_model = reference.Seq2SeqTransformer(**copier_config())
    init = init_model.state_dict()
    for k in ("src_tok_emb.weight", "tgt_tok_emb.weight"):
        init[k] = init[k] / math.sqrt(D_MODEL)  # x sqrt(d_model) in forward brings them to unit size

    model = candidate.Seq2SeqTransformer(**copier_config())
    model.load_state_dict(init)
    copier = candidate.lib.support("build_copier", model)
    losses = fit_and_check(candidate, copier, x_train, y_train, seed=s, **TRAIN)
    artifacts["loss_curve"] = {"candidate": losses}
    logits = assert_shape(copier(x_test), (256, SRC_MAX + 1, VOCAB), "teacher-forced logits")
    token_accuracy = float((logits.argmax(-1) == y_test).double().mean())
    ys = assert_shape(candidate.greedy_decode(model, x_test, support.BOS, support.EOS, SRC_MAX + 2),
                      (256, SRC_MAX + 2), "greedy_decode tokens")
    wanted = torch.cat([torch.full((256, 1), support.BOS), y_test], dim=1)  # BOS, source, EOS, PAD...
    exact = float((ys == wanted).all(-1).double().mean())
    assert token_accuracy >= 0.9 and exact >= 0.6, (
        f"after {TRAIN['steps']} Adam steps (data seed {s}, the reference's initial weights) your model reaches "
        f"{token_accuracy:.1%} teacher-forced token accuracy (>= 90% required) and greedy_decode reproduces "
        f"{exact:.1%} of held-out sources exactly (>= 60% required; the reference reaches 77% to 100% over data "
        f"seeds); e.g. source {x_test[0].tolist()} -> decoded {ys[0].tolist()}, wanted {wanted[0].tolist()}")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@FEW
@given(**sizes, data=st.data())
def test_changing_a_target_token_leaves_earlier_logits_unchanged(candidate, reference, B, S, T, src_vocab,
                                                                 tgt_vocab, nhead, head_dim, layers, pad_idx,
                                                                 data_seed, data):
    g = generator(data_seed)
    cfg = config(src_vocab, tgt_vocab, nhead, head_dim, layers, pad_idx)
    cand, _, _ = build(candidate, reference, cfg, g)
    src = right_padded(B, S, src_vocab, pad_idx, g)
    tgt_in = right_padded(B, T, tgt_vocab, pad_idx, g, first=bos_for(tgt_vocab, pad_idx))
    tgt_in[:, :] = torch.where(tgt_in == pad_idx, bos_for(tgt_vocab, pad_idx), tgt_in)  # no padding here
    j = data.draw(st.integers(0, T - 1), label="changed target position j")
    # a different real token at j in every row: step through the non-pad values by r
    r = data.draw(st.integers(1, tgt_vocab - 2), label="token shift r")
    old = tgt_in[:, j]
    index = old - (old > pad_idx).long()  # position among the tgt_vocab - 1 non-pad values
    index = (index + r) % (tgt_vocab - 1)
    changed = tgt_in.clone()
    changed[:, j] = index + (index >= pad_idx).long()
    before = logits_of(cand, src, tgt_in, tgt_vocab)
    after = logits_of(cand, src, changed, tgt_vocab)
    assert_close(after[:, :j], before[:, :j], f"logits at target positions < {j} after changing only tgt_in[:, {j}] "
                 f"(the future leaks into the past)")
    diff = float((after[:, j] - before[:, j]).abs().max())
    if diff < 1e-9:
        raise Mismatch(f"logits at position {j} do not change when tgt_in[:, {j}] changes (max change {diff:.3g}): "
                       f"a position must see its own input token")


@pytest.mark.category("property")
@FEW
@given(**sizes, extra=st.integers(1, 3))
def test_appending_source_padding_changes_nothing(candidate, reference, B, S, T, src_vocab, tgt_vocab, nhead,
                                                  head_dim, layers, pad_idx, data_seed, extra):
    g = generator(data_seed)
    cfg = config(src_vocab, tgt_vocab, nhead, head_dim, layers, pad_idx)
    cand, _, _ = build(candidate, reference, cfg, g)
    src, tgt_in = random_pair(B, S, T, src_vocab, tgt_vocab, pad_idx, g)
    src_long = torch.cat([src, torch.full((B, extra), pad_idx)], dim=1)
    before = logits_of(cand, src, tgt_in, tgt_vocab)
    after = logits_of(cand, src_long, tgt_in, tgt_vocab)
    assert_close(after, before, f"logits at real target positions after appending {extra} pad_idx={pad_idx} tokens "
                 f"to the source (padding must be invisible)", where=real_positions(tgt_in, pad_idx))


@pytest.mark.category("property")
@FEW
@given(**sizes)
def test_each_sentence_is_translated_independently_of_the_batch(candidate, reference, B, S, T, src_vocab,
                                                                 tgt_vocab, nhead, head_dim, layers, pad_idx,
                                                                 data_seed):
    """A sentence in a padded batch gives what it gives alone, trimmed of its padding."""
    g = generator(data_seed)
    cfg = config(src_vocab, tgt_vocab, nhead, head_dim, layers, pad_idx)
    cand, _, _ = build(candidate, reference, cfg, g)
    src, tgt_in = random_pair(B, S, T, src_vocab, tgt_vocab, pad_idx, g)
    batch = logits_of(cand, src, tgt_in, tgt_vocab)
    for b in range(B):
        s_len, t_len = int((src[b] != pad_idx).sum()), int((tgt_in[b] != pad_idx).sum())
        alone = logits_of(cand, src[b:b + 1, :s_len].clone(), tgt_in[b:b + 1, :t_len].clone(), tgt_vocab)
        assert_close(batch[b:b + 1, :t_len], alone, f"logits of sentence {b} in a padded batch of {B} vs alone")


@pytest.mark.category("property")
@FEW
@given(B=st.integers(1, 4), S=st.integers(1, 6), steps=st.integers(2, 8), pad_idx=st.integers(0, 2),
       data_seed=st.integers(0, 2**32 - 1))
def test_greedy_decode_follows_your_own_forward(candidate, reference, B, S, steps, pad_idx, data_seed):
    """Column t is the argmax of forward(src, ys[:, :t]) at the last position, until the row's EOS;
    after EOS every column is pad_idx."""
    g = generator(data_seed)
    V = 7
    cfg = config(6, V, 2, 4, 1, pad_idx)
    cand, ref, _ = build(candidate, reference, cfg, g)
    bos = bos_for(V, pad_idx)
    src = right_padded(B, S, 6, pad_idx, g)
    eos = int(reference.greedy_decode(ref, src, bos, -1, steps)[-1, 1])  # a token the model does emit
    ys = assert_shape(candidate.greedy_decode(cand, src, bos, eos, steps), (B, steps), "greedy_decode tokens",
                      dtype=torch.int64)
    for b in range(B):
        row = ys[b].tolist()
        assert row[0] == bos, f"row {b}: greedy_decode must start with bos_idx={bos}, got {row}"
        for t in range(1, steps):
            prefix = ys[b:b + 1, :t].clone()
            if eos in row[1:t]:
                assert row[t] == pad_idx, (f"row {b} = {row}: after eos_idx={eos} every position must be "
                                           f"pad_idx={pad_idx}, position {t} is {row[t]}")
                continue
            logits = logits_of(cand, src[b:b + 1].clone(), prefix, V)[0, -1]
            best = int(logits.argmax())
            assert row[t] == best, (f"row {b} = {row}: position {t} should be the argmax of your forward's logits "
                                    f"at the last position of tgt_in={prefix[0].tolist()}, which is {best} "
                                    f"(logits {[round(float(v), 3) for v in logits]})")


@pytest.mark.category("property")
def test_forward_does_not_modify_its_inputs(candidate, seed):
    g = generator(seed)
    cfg = config(6, 7, 2, 2, 1, 0)
    m = candidate.Seq2SeqTransformer(**cfg)
    src, tgt_in = random_pair(3, 5, 4, 6, 7, 0, g)
    _, args_after, _ = m.call_checked(src, tgt_in)
    assert_unchanged(args_after[0], src, "src after forward (modified in place)")
    assert_unchanged(args_after[1], tgt_in, "tgt_in after forward (modified in place)")
