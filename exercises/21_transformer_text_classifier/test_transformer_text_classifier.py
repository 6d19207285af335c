"""Suite for 21_transformer_text_classifier: masked_mean against a plain loop, and the classifier
against the reference and against a per-sequence oracle that strips the padding and runs torch's
own nn.TransformerEncoder with no mask at all; gradients; a keyword task; padding invariance.

`candidate` is the submission in a sandboxed worker; `reference` runs here. Conventions:
masked_mean's mask (B, T) bool is True = a REAL token (the opposite of nn.TransformerEncoder's
src_key_padding_mask, where True = padding); the classifier derives it as tokens != pad_idx.
Sequences are right-padded and every row of `tokens` has at least one real token.
"""
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from grader import training
from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape
from grader.gradcheck import check_directional_derivatives
from grader.testing import assert_grads_close, exercise_support, generator, seeded, fit_and_check

support = exercise_support(__file__)
f64 = torch.float64

mean_sizes = dict(B=st.integers(1, 4), T=st.integers(1, 7), D=st.integers(1, 5), data_seed=st.integers(0, 2**32 - 1))
# Classifier configurations: d_model = nhead * head_dim; pad_idx anywhere in the vocabulary.
model_sizes = dict(
    B=st.integers(1, 3), T=st.integers(1, 6), vocab=st.integers(2, 9), nhead=st.integers(1, 2),
    head_dim=st.integers(1, 3), num_layers=st.integers(1, 2), dim_ff=st.integers(1, 6),
    num_classes=st.integers(1, 4), spare=st.integers(0, 4), pad_choice=st.integers(0, 100),
    data_seed=st.integers(0, 2**32 - 1),
)


# -- helpers ---------------------------------------------------------------------------------
def random_mask(B, T, g, min_real: int = 1):
    """(B, T) bool, True = real; ~60% real, every row with at least `min_real` (0 or 1) True, and
    row 0 with exactly one real token when T > 1 (the edge where pooling = that token)."""
    mask = torch.rand(B, T, generator=g) < 0.6
    if min_real:
        mask[torch.arange(B), torch.randint(T, (B,), generator=g)] = True
    if T > 1:
        mask[0] = False
        mask[0, torch.randint(T, (1,), generator=g)] = True
    return mask


def loop_mean(x, mask):
    """masked_mean by definition, one row and one position at a time (zeros for no real token)."""
    B, T, D = x.shape
    out = torch.zeros(B, D, dtype=x.dtype)
    for b in range(B):
        real = [t for t in range(T) if bool(mask[b, t])]
        for t in real:
            out[b] += x[b, t]
        if real:
            out[b] /= len(real)
    return out


def config(vocab, nhead, head_dim, num_layers, dim_ff, num_classes, max_len, pad_idx, dropout=0.0):
    return dict(vocab_size=vocab, d_model=nhead * head_dim, nhead=nhead, num_layers=num_layers, dim_ff=dim_ff,
                num_classes=num_classes, max_len=max_len, pad_idx=pad_idx, dropout=dropout)


def random_state_dict(cfg: dict, g) -> dict:
    """Random float64 weights for every parameter: matrices ~ N(0, 1/fan_in), biases N(0, 0.5^2),
    LayerNorm gains 1 + N(0, 0.3^2), embeddings N(0, 1) -- the pad row too (it must never matter)."""
    with seeded(0):
        names = {k: v.shape for k, v in plain_model(cfg).state_dict().items()}
    sd = {}
    for name, shape in names.items():
        z = torch.randn(shape, generator=g, dtype=f64)
        if "embedding" in name:
            sd[name] = z
        elif "norm" in name and name.endswith("weight"):
            sd[name] = 1.0 + 0.3 * z
        elif name.endswith("weight"):
            sd[name] = z / shape[1] ** 0.5
        else:
            sd[name] = 0.5 * z
    return sd


def plain_model(cfg: dict) -> nn.ModuleDict:
    """torch's own modules under the interface's names (the oracle; no masking, no pooling)."""
    layer = nn.TransformerEncoderLayer(cfg["d_model"], cfg["nhead"], dim_feedforward=cfg["dim_ff"], dropout=0.0,
                                       batch_first=True)
    return nn.ModuleDict(dict(
        embedding=nn.Embedding(cfg["vocab_size"], cfg["d_model"], padding_idx=cfg["pad_idx"]),
        pos_embedding=nn.Embedding(cfg["max_len"], cfg["d_model"]),
        encoder=nn.TransformerEncoder(layer, cfg["num_layers"], enable_nested_tensor=False),
        classifier=nn.Linear(cfg["d_model"], cfg["num_classes"]),
    ))


def unpadded_loop_logits(cfg: dict, sd: dict, tokens) -> torch.Tensor:
    """The definition, one sequence at a time: drop the padding, embed, run torch's encoder with
    NO mask (nothing to hide), take the plain mean over the real positions, classify."""
    with seeded(0):
        m = plain_model(cfg).to(f64).eval()
    m.load_state_dict(sd)
    rows = []
    with torch.no_grad():
        for row in tokens:
            real = row[row != cfg["pad_idx"]][None]  # (1, L)
            x = m["embedding"](real) + m["pos_embedding"](torch.arange(real.shape[1]))  # (1, L, D)
            rows.append(m["classifier"](m["encoder"](x).mean(dim=1))[0])  # (C,)
    return torch.stack(rows)  # (B, C)


def random_tokens(B, T, vocab, pad_idx, g):
    """(B, T) int64, right-padded with pad_idx: row lengths uniform in 1..T (row 0 has length 1
    when B > 1), real ids anything but pad_idx."""
    real = torch.randint(vocab - 1, (B, T), generator=g)
    real = real + (real >= pad_idx).long()  # skip pad_idx
    lengths = torch.randint(1, T + 1, (B, 1), generator=g)
    if B > 1:
        lengths[0] = 1
    return real.masked_fill(torch.arange(T) >= lengths, pad_idx)


def draw_case(B, T, vocab, nhead, head_dim, num_layers, dim_ff, num_classes, spare, pad_choice, data_seed,
              dropout=0.0):
    g = generator(data_seed)
    cfg = config(vocab, nhead, head_dim, num_layers, dim_ff, num_classes, T + spare, pad_choice % vocab, dropout)
    return g, cfg, random_state_dict(cfg, g), random_tokens(B, T, vocab, cfg["pad_idx"], g)


def build(candidate, reference, cfg, sd, train: bool = False):
    """The candidate and the reference classifier in float64 with the same weights (eval mode
    unless train)."""
    cand = candidate.TransformerClassifier(**cfg).to(f64)
    cand.load_state_dict(sd)
    with seeded(0):
        ref = reference.TransformerClassifier(**cfg).to(f64)
    ref.load_state_dict(sd)
    if train:
        return cand.train(), ref.train()
    return cand.eval(), ref.eval()


def classify(module, tokens, num_classes, dtype=f64, name="logits"):
    return assert_shape(module(tokens), (tokens.shape[0], num_classes), name, dtype)


def pool(candidate, x, mask, name="masked_mean(x, mask)"):
    return assert_shape(candidate.masked_mean(x, mask), (x.shape[0], x.shape[2]), name, x.dtype)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**mean_sizes, dtype=st.sampled_from([torch.float32, f64]))
def test_masked_mean_shape_and_dtype(candidate, B, T, D, data_seed, dtype):
    g = generator(data_seed)
    x = torch.randn(B, T, D, generator=g, dtype=dtype)
    assert_finite(pool(candidate, x, random_mask(B, T, g)), "masked_mean(x, mask)")


@pytest.mark.category("shape")
@given(**model_sizes)
def test_logits_shape_and_dtype(candidate, B, T, vocab, nhead, head_dim, num_layers, dim_ff, num_classes, spare,
                                pad_choice, data_seed):
    g = generator(data_seed)
    cfg = config(vocab, nhead, head_dim, num_layers, dim_ff, num_classes, T + spare, pad_choice % vocab)
    model = candidate.TransformerClassifier(**cfg).eval()
    logits = classify(model, random_tokens(B, T, vocab, cfg["pad_idx"], g), num_classes, torch.float32)
    assert_finite(logits, "float32 logits of a freshly built model")


@pytest.mark.category("shape")
@pytest.mark.parametrize("num_layers", [1, 2])
def test_state_dict_follows_the_interface(candidate, num_layers):
    cfg = config(vocab=11, nhead=2, head_dim=3, num_layers=num_layers, dim_ff=7, num_classes=5, max_len=13,
                 pad_idx=4)
    got = {k: tuple(v.shape) for k, v in candidate.TransformerClassifier(**cfg).state_dict().items()}
    expected = {k: tuple(v.shape) for k, v in plain_model(cfg).state_dict().items()}
    if got != expected:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
        raise Mismatch(f"state_dict for {cfg} must hold exactly embedding, pos_embedding, encoder "
                       f"(nn.TransformerEncoder of nn.TransformerEncoderLayer) and classifier: missing {missing}, "
                       f"unexpected {extra}, wrong shapes {[(k, got[k], expected[k]) for k in wrong]}")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(**mean_sizes)
def test_masked_mean_matches_loop(candidate, B, T, D, data_seed):
    g = generator(data_seed)
    x = torch.randn(B, T, D, generator=g, dtype=f64)
    mask = random_mask(B, T, g)
    assert_close(pool(candidate, x, mask), loop_mean(x, mask),
                 "masked_mean vs the loop definition (row 0 has a single real token)")


@pytest.mark.category("equivalence")
@given(**model_sizes)
def test_logits_match_unpadded_loop(candidate, reference, B, T, vocab, nhead, head_dim, num_layers, dim_ff,
                                    num_classes, spare, pad_choice, data_seed):
    _, cfg, sd, tokens = draw_case(B, T, vocab, nhead, head_dim, num_layers, dim_ff, num_classes, spare,
                                   pad_choice, data_seed)
    cand, _ = build(candidate, reference, cfg, sd)
    assert_close(classify(cand, tokens, num_classes), unpadded_loop_logits(cfg, sd, tokens),
                 f"float64 eval logits vs torch's encoder run on each sequence with its padding removed "
                 f"(pad_idx={cfg['pad_idx']}, lengths {(tokens != cfg['pad_idx']).sum(1).tolist()})")


@pytest.mark.category("equivalence")
@given(**model_sizes)
def test_logits_match_reference(candidate, reference, B, T, vocab, nhead, head_dim, num_layers, dim_ff,
                                num_classes, spare, pad_choice, data_seed):
    _, cfg, sd, tokens = draw_case(B, T, vocab, nhead, head_dim, num_layers, dim_ff, num_classes, spare,
                                   pad_choice, data_seed)
    cand, ref = build(candidate, reference, cfg, sd)
    with torch.no_grad():
        expected = ref(tokens)
    assert_close(classify(cand, tokens, num_classes), expected, f"float64 eval logits vs reference ({cfg})")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(**mean_sizes)
def test_masked_mean_gradient(candidate, B, T, D, data_seed):
    """d out[b] / d x[b, t] = 1 / (number of real tokens) at real positions, exactly 0 at padding."""
    g = generator(data_seed)
    x = torch.randn(B, T, D, generator=g, dtype=f64)
    mask = random_mask(B, T, g)
    grad_out = torch.randn(B, D, generator=g, dtype=f64)
    got = candidate.lib.grads(candidate.masked_mean, [x, mask], {}, grad_out)
    grad = got["input_grads"][0]
    if grad is None:
        raise Mismatch("gradient of masked_mean w.r.t. x: none reached x (detached, or computed under no_grad?)")
    expected = grad_out[:, None, :] * mask[:, :, None] / mask.sum(1)[:, None, None]
    assert_shape(grad, (B, T, D), "gradient of masked_mean w.r.t. x", f64)
    assert_equal(grad[~mask], torch.zeros(int((~mask).sum()), D, dtype=f64),
                 "gradient of masked_mean w.r.t. x at padded positions (must be exactly 0)")
    assert_close(grad, expected, "gradient of masked_mean w.r.t. x (grad_out / number of real tokens)")


@pytest.mark.category("gradient")
@given(**model_sizes)
def test_parameter_gradients_match_reference(candidate, reference, B, T, vocab, nhead, head_dim, num_layers,
                                             dim_ff, num_classes, spare, pad_choice, data_seed):
    g, cfg, sd, tokens = draw_case(B, T, vocab, nhead, head_dim, num_layers, dim_ff, num_classes, spare,
                                   pad_choice, data_seed)
    cand, ref = build(candidate, reference, cfg, sd, train=True)  # dropout=0: train mode is deterministic
    grad_out = torch.randn(B, num_classes, generator=g, dtype=f64)
    got = candidate.lib.grads(cand, [tokens], {}, grad_out)
    ref.zero_grad(set_to_none=True)
    ref(tokens).backward(grad_out)
    assert_grads_close(got["param_grads"], ref)


@pytest.mark.category("gradient")
def test_gradients_match_finite_differences(candidate, seed):
    g = generator(seed)
    cfg = config(vocab=7, nhead=2, head_dim=2, num_layers=2, dim_ff=5, num_classes=3, max_len=6, pad_idx=2)
    sd = random_state_dict(cfg, g)
    tokens = random_tokens(3, 5, 7, 2, g)
    grad_out = torch.randn(3, 3, generator=g, dtype=f64)
    cand = candidate.TransformerClassifier(**cfg).to(f64).train()
    cand.load_state_dict(sd)
    got = candidate.lib.grads(cand, [tokens], {}, grad_out)["param_grads"]
    missing = [n for n in sd if got.get(n) is None]
    if missing:
        raise Mismatch(f"no gradient reached {missing} (detached, computed under no_grad, or not used?)")
    # The pad row is frozen by padding_idx (its gradient is 0 by design): hold it fixed here.
    analytic = {n: got[n] for n in sd}
    analytic["embedding.weight"] = analytic["embedding.weight"].clone()
    analytic["embedding.weight"][cfg["pad_idx"]] = 0.0

    def forward(point):
        weights = dict(point)
        weights["embedding.weight"] = point["embedding.weight"].clone()
        weights["embedding.weight"][cfg["pad_idx"]] = sd["embedding.weight"][cfg["pad_idx"]]
        cand.load_state_dict(weights)
        return cand(tokens)

    check_directional_derivatives(forward, sd, analytic, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
VOCAB, D_MODEL, WIDTH, PAD = 16, 16, 12, 7
TRAIN = dict(steps=60, lr=1e-2, batch_size=64)


def keyword_model(factory):
    return factory(vocab_size=VOCAB, d_model=D_MODEL, nhead=2, num_layers=1, dim_ff=32, num_classes=3,
                   max_len=16, pad_idx=PAD, dropout=0.0)


@pytest.mark.category("convergence")
def test_learns_a_keyword_task(candidate, reference, seed, artifacts):
    """Class = which keyword (token 1 or 2, or none) occurs among 1..12 real tokens. Trained on
    batches padded to 12, tested on fresh sequences padded to 16 (more padding than ever seen)."""
    for run in range(2):
        s = seed * 1000 + run
        g = generator(s)
        x_train, y_train = support.keyword_task(1024, WIDTH, 1, WIDTH, VOCAB, PAD, g)
        x_test, y_test = support.keyword_task(512, 16, 1, WIDTH, VOCAB, PAD, g)
        with seeded(s):
            ref_model = keyword_model(reference.TransformerClassifier)
        init = {k: v.clone() for k, v in ref_model.state_dict().items()}
        ref_losses = training.fit(ref_model, x_train, y_train, seed=s, **TRAIN)["losses"]

        model = keyword_model(candidate.TransformerClassifier)
        model.load_state_dict(init)
        losses = fit_and_check(candidate, model, x_train, y_train, seed=s, **TRAIN)
        logits = assert_shape(model(x_test), (512, 3), "logits")
        accuracy = float((logits.argmax(-1) == y_test).double().mean())
        with torch.no_grad():
            ref_accuracy = float((ref_model(x_test).argmax(-1) == y_test).double().mean())
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracy >= 0.95, (
            f"after {TRAIN['steps']} Adam steps (data seed {s}) your classifier reaches {accuracy:.1%} held-out "
            f"accuracy at telling which keyword a sentence contains; the reference, from the same initial weights, "
            f"reaches {ref_accuracy:.1%}; at least 95% is required")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(**model_sizes, extra=st.integers(1, 4), mode=st.sampled_from(["eval", "train (dropout=0)"]))
def test_appending_padding_never_changes_logits(candidate, reference, B, T, vocab, nhead, head_dim, num_layers,
                                                dim_ff, num_classes, spare, pad_choice, data_seed, extra, mode):
    _, cfg, sd, tokens = draw_case(B, T, vocab, nhead, head_dim, num_layers, dim_ff, num_classes, spare + extra,
                                   pad_choice, data_seed)
    cand, _ = build(candidate, reference, cfg, sd, train=mode != "eval")
    logits = classify(cand, tokens, num_classes)
    padded = torch.cat([tokens, torch.full((B, extra), cfg["pad_idx"])], dim=1)
    assert_close(classify(cand, padded, num_classes), logits,
                 f"{mode} logits after appending {extra} pad tokens (pad_idx={cfg['pad_idx']}) to length {T}")


@pytest.mark.category("property")
@given(**mean_sizes)
def test_masked_mean_ignores_padded_values(candidate, B, T, D, data_seed):
    g = generator(data_seed)
    x = torch.randn(B, T, D, generator=g, dtype=f64)
    mask = random_mask(B, T, g)
    junk = torch.where(mask[:, :, None], x, 1e3 * torch.randn(B, T, D, generator=g, dtype=f64))
    assert_close(pool(candidate, junk, mask), pool(candidate, x, mask),
                 "masked_mean after replacing the padded values by junk of size 1e3")


@pytest.mark.category("property")
@given(**mean_sizes)
def test_masked_mean_all_padding_rows_are_zero(candidate, B, T, D, data_seed):
    """A row with no real token has no mean: it must come back as zeros (finite), not nan."""
    g = generator(data_seed)
    x = torch.randn(B, T, D, generator=g, dtype=f64)
    mask = random_mask(B, T, g, min_real=0)
    mask[-1] = False
    out = pool(candidate, x, mask)
    empty = ~mask.any(1)
    assert_equal(out[empty], torch.zeros(int(empty.sum()), D, dtype=f64),
                 f"masked_mean of the rows {torch.nonzero(empty).flatten().tolist()} that have no real token")
    assert_close(out[~empty], loop_mean(x, mask)[~empty], "masked_mean of the other rows")


@pytest.mark.category("property")
@pytest.mark.parametrize("pad_idx", [0, 5])
def test_pad_embedding_row_starts_at_zero(candidate, pad_idx):
    model = candidate.TransformerClassifier(vocab_size=9, d_model=6, nhead=2, num_layers=1, dim_ff=8,
                                            num_classes=2, max_len=10, pad_idx=pad_idx)
    weight = model.state_dict()["embedding.weight"]
    assert_equal(weight[pad_idx], torch.zeros(6), f"row pad_idx={pad_idx} of a new embedding.weight "
                 "(nn.Embedding(..., padding_idx=pad_idx) starts it at 0)")
    if not weight[torch.arange(9) != pad_idx].abs().sum() > 0:
        raise Mismatch("embedding.weight of a new model is all zeros: only the pad row should be")
