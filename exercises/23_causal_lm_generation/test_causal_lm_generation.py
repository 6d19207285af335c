"""Suite for 23_causal_lm_generation: `CausalSelfAttention`, a tiny `GPT` and `generate`
(temperature, top-k, a torch.Generator).

The model parts are compared in float64 with the reference and with torch's own attention
(`F.scaled_dot_product_attention(is_causal=True)`, `nn.MultiheadAttention`,
`nn.TransformerEncoderLayer`), weights transplanted. `generate` is tested on its own with a
fixed "scripted" language model from support.py (its logits depend on the whole context, it
refuses contexts longer than block_size and records what it was called with), and end to end
with your GPT: given a generator seeded the same, your tokens must equal the reference's
(the README pins down the sampling procedure).

`candidate` is the submission in a sandboxed worker; `reference` runs here.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from grader import training
from grader.compare import Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_unchanged
from grader.testing import assert_grads_close, check_finite_differences, exercise_support, generator, seeded, fit_and_check

support = exercise_support(__file__)
f64 = torch.float64

attention_sizes = dict(
    B=st.integers(1, 3), T=st.integers(1, 6), extra=st.integers(0, 3), H=st.integers(1, 3),
    hd=st.integers(1, 4), data_seed=st.integers(0, 2**32 - 1),
)
gpt_sizes = dict(
    B=st.integers(1, 3), T=st.integers(1, 6), extra=st.integers(0, 3), V=st.integers(2, 9),
    n_layer=st.integers(1, 2), H=st.integers(1, 3), hd=st.integers(1, 3), data_seed=st.integers(0, 2**32 - 1),
)


# -- helpers ---------------------------------------------------------------------------------
def random_state_dict(module: nn.Module, g: torch.Generator) -> dict:
    """Random float64 values for every entry of `module`'s state_dict (the reference's names):
    Linear weights ~ N(0, 1/fan_in), embeddings ~ N(0, 1), LayerNorm weights ~ 1 + N(0, 0.2^2),
    biases ~ N(0, 0.3^2): non-degenerate, nothing saturated."""
    sd = {}
    for name, value in module.state_dict().items():
        noise = torch.randn(value.shape, generator=g, dtype=f64)
        if name.endswith("bias"):
            sd[name] = 0.3 * noise
        elif ".ln_" in f".{name}" and name.endswith("weight"):
            sd[name] = 1.0 + 0.2 * noise
        elif name.startswith(("wte", "wpe")):
            sd[name] = noise
        else:
            sd[name] = noise / math.sqrt(value.shape[1])
    return sd


def build_attention(candidate, reference, C, H, L, g):
    ref = reference.CausalSelfAttention(C, H, L).to(f64)
    sd = random_state_dict(ref, g)
    ref.load_state_dict(sd)
    cand = candidate.CausalSelfAttention(C, H, L).to(f64)
    cand.load_state_dict(sd)
    return cand, ref.eval(), sd


def build_gpt(candidate, reference, V, L, n_layer, H, C, g, dropout=0.0):
    """The candidate's and the reference's GPT with the same random float64 weights, in eval mode."""
    ref = reference.GPT(V, L, n_layer, H, C, dropout).to(f64)
    sd = random_state_dict(ref, g)
    ref.load_state_dict(sd)
    cand = candidate.GPT(V, L, n_layer, H, C, dropout).to(f64)
    cand.load_state_dict(sd)
    cand.eval()
    return cand, ref.eval(), sd


def split_qkv(sd: dict, prefix: str, C: int):
    """(Wq, bq), (Wk, bk), (Wv, bv) from a fused c_attn (its rows are q, then k, then v)."""
    w, b = sd[f"{prefix}c_attn.weight"], sd[f"{prefix}c_attn.bias"]
    return [(w[i * C:(i + 1) * C], b[i * C:(i + 1) * C]) for i in range(3)]


def sdpa_attention(sd: dict, x: torch.Tensor, H: int) -> torch.Tensor:
    """torch's fused kernel with is_causal=True, on the same weights."""
    B, T, C = x.shape
    q, k, v = (F.linear(x, w, b).view(B, T, H, C // H).transpose(1, 2) for w, b in split_qkv(sd, "", C))  # (B, H, T, hd)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, hd)
    return F.linear(y.transpose(1, 2).reshape(B, T, C), sd["c_proj.weight"], sd["c_proj.bias"])


def mha_from(sd: dict, prefix: str, C: int, H: int) -> nn.MultiheadAttention:
    """nn.MultiheadAttention holding c_attn (its in_proj stacks q, k, v the same way) and c_proj."""
    mha = nn.MultiheadAttention(C, H, batch_first=True, dtype=f64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(sd[f"{prefix}c_attn.weight"])
        mha.in_proj_bias.copy_(sd[f"{prefix}c_attn.bias"])
        mha.out_proj.weight.copy_(sd[f"{prefix}c_proj.weight"])
        mha.out_proj.bias.copy_(sd[f"{prefix}c_proj.bias"])
    return mha.eval()


def causal_mask(T: int) -> torch.Tensor:
    """(T, T) bool, True = may NOT attend (nn.MultiheadAttention's convention)."""
    return torch.ones(T, T, dtype=torch.bool).triu(1)


def torch_gpt(sd: dict, V, L, n_layer, H, C):
    """The same GPT out of torch's own layers: nn.TransformerEncoderLayer(norm_first=True, GELU)."""
    layers = []
    for i in range(n_layer):
        p = f"h.{i}."
        layer = nn.TransformerEncoderLayer(C, H, 4 * C, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True, dtype=f64)
        layer.self_attn = mha_from(sd, f"{p}attn.", C, H)
        with torch.no_grad():
            for mine, theirs in [("ln_1", "norm1"), ("ln_2", "norm2"), ("mlp.c_fc", "linear1"), ("mlp.c_proj", "linear2")]:
                getattr(layer, theirs.split(".")[0]).weight.copy_(sd[f"{p}{mine}.weight"])
                getattr(layer, theirs.split(".")[0]).bias.copy_(sd[f"{p}{mine}.bias"])
        layers.append(layer.eval())

    def forward(idx):
        T = idx.shape[1]
        x = sd["wte.weight"][idx] + sd["wpe.weight"][:T]  # (B, T, C)
        for layer in layers:
            x = layer(x, src_mask=causal_mask(T))
        x = F.layer_norm(x, (C,), sd["ln_f.weight"], sd["ln_f.bias"])
        return x @ sd["lm_head.weight"].T  # (B, T, V)
    return forward


def remote_generator(candidate, seed: int):
    """A torch.Generator living in the worker, seeded with `seed` (a handle to pass to the candidate)."""
    return candidate.lib.make("torch.Generator").manual_seed(seed)


def scripted(candidate, V, L, seed, **kwargs):
    """The same ScriptedLM in the worker (a handle) and here."""
    return candidate.lib.support("scripted_lm", V, L, seed, **kwargs), support.ScriptedLM(V, L, seed, **kwargs)


def assert_generated(out, idx, n, V, name="generate output") -> torch.Tensor:
    """(B, T0 + n) int64, starting with idx, every new token in [0, V)."""
    B, T0 = idx.shape
    out = assert_shape(out, (B, T0 + n), name, dtype=torch.long)
    assert_equal(out[:, :T0], idx, f"{name}[:, :{T0}] (must start with the prompt idx)")
    new = out[:, T0:]
    if new.numel() and (new.min() < 0 or new.max() >= V):
        raise Mismatch(f"{name}: new tokens must lie in [0, {V}), got values from {int(new.min())} to {int(new.max())}")
    return out


def prompt(B, T0, V, g) -> torch.Tensor:
    return torch.randint(V, (B, T0), generator=g)


def describe(temperature, top_k) -> str:
    return f"temperature={temperature:.4g}, top_k={top_k}"


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(**attention_sizes)
def test_attention_output_shape(candidate, B, T, extra, H, hd, data_seed):
    """(B, T, C) in, (B, T, C) out, for every T <= block_size (T = 1 and T = block_size included)."""
    x = torch.randn(B, T, H * hd, generator=generator(data_seed))
    y = candidate.CausalSelfAttention(H * hd, H, T + extra)(x)
    assert_shape(y, (B, T, H * hd), f"attention output (T={T}, block_size={T + extra})", dtype=torch.float32)
    assert_finite(y, "attention output")


@pytest.mark.category("shape")
@given(**gpt_sizes)
def test_gpt_logits_shape(candidate, B, T, extra, V, n_layer, H, hd, data_seed):
    idx = torch.randint(V, (B, T), generator=generator(data_seed))
    logits = candidate.GPT(V, T + extra, n_layer, H, H * hd)(idx)
    assert_shape(logits, (B, T, V), f"GPT logits (T={T}, block_size={T + extra}, vocab={V})", dtype=torch.float32)
    assert_finite(logits, "GPT logits")


@pytest.mark.category("shape")
def test_state_dict_follows_the_interface(candidate, reference):
    """nanoGPT's names, parameters only (the causal mask is not saved), so checkpoints load."""
    V, L, n_layer, H, C = 11, 7, 2, 2, 8
    for what, cand, ref in [("CausalSelfAttention(8, 2, 7)", candidate.CausalSelfAttention(C, H, L),
                             reference.CausalSelfAttention(C, H, L)),
                            ("GPT(11, 7, 2, 2, 8)", candidate.GPT(V, L, n_layer, H, C), reference.GPT(V, L, n_layer, H, C))]:
        got = {k: tuple(v.shape) for k, v in cand.state_dict().items()}
        expected = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
        if got != expected:
            missing = {k: s for k, s in expected.items() if got.get(k) != s}
            extra = {k: s for k, s in got.items() if expected.get(k) != s}
            raise Mismatch(f"{what}.state_dict() (name: shape) differs from the interface: expected but missing "
                           f"or of another shape: {missing}; unexpected: {extra} (the causal mask must be a "
                           "non-persistent buffer or built in forward)")


@pytest.mark.category("shape")
@given(B=st.integers(1, 3), T0=st.integers(1, 9), n=st.integers(0, 9), V=st.integers(2, 9), L=st.integers(1, 5),
       data_seed=st.integers(0, 2**32 - 1))
def test_generate_output_shape(candidate, B, T0, n, V, L, data_seed):
    """(B, T0) prompt in, (B, T0 + max_new_tokens) int64 out, the prompt first (also past block_size)."""
    g = generator(data_seed)
    lm, _ = scripted(candidate, V, L, data_seed % 1000)
    idx = prompt(B, T0, V, g)
    out = candidate.generate(lm, idx, n, temperature=1.0, top_k=None, generator=remote_generator(candidate, data_seed))
    assert_generated(out, idx, n, V, f"generate output (prompt {B}x{T0}, max_new_tokens={n}, block_size={L})")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(**attention_sizes)
def test_attention_matches_reference(candidate, reference, B, T, extra, H, hd, data_seed):
    g = generator(data_seed)
    C = H * hd
    cand, ref, _ = build_attention(candidate, reference, C, H, T + extra, g)
    x = torch.randn(B, T, C, generator=g, dtype=f64)
    with torch.no_grad():
        expected = ref(x)
    assert_close(cand(x), expected, f"attention output vs reference (T={T}, block_size={T + extra}, {H} heads)")


@pytest.mark.category("equivalence")
@given(**attention_sizes)
def test_attention_matches_torch(candidate, reference, B, T, extra, H, hd, data_seed):
    """F.scaled_dot_product_attention(is_causal=True) and nn.MultiheadAttention with a causal
    mask, on c_attn split into q, k, v."""
    g = generator(data_seed)
    C = H * hd
    cand, _, sd = build_attention(candidate, reference, C, H, T + extra, g)
    x = torch.randn(B, T, C, generator=g, dtype=f64)
    got = cand(x)
    with torch.no_grad():
        assert_close(got, sdpa_attention(sd, x, H), "attention output vs F.scaled_dot_product_attention(is_causal=True)")
        expected, _ = mha_from(sd, "", C, H)(x, x, x, attn_mask=causal_mask(T), need_weights=False)
    assert_close(got, expected, "attention output vs nn.MultiheadAttention with a causal mask")


@pytest.mark.category("equivalence")
@given(**gpt_sizes, dropout=st.sampled_from([0.0, 0.5]))
def test_gpt_matches_reference(candidate, reference, B, T, extra, V, n_layer, H, hd, data_seed, dropout):
    """float64, random weights loaded into both, eval mode (dropout, if any, is off)."""
    g = generator(data_seed)
    cand, ref, _ = build_gpt(candidate, reference, V, T + extra, n_layer, H, H * hd, g, dropout)
    idx = torch.randint(V, (B, T), generator=g)
    with torch.no_grad():
        expected = ref(idx)
    assert_close(cand(idx), expected, f"GPT logits vs reference (T={T}, block_size={T + extra}, {n_layer} layers, "
                 f"{H} heads, dropout={dropout} in eval mode)")


@pytest.mark.category("equivalence")
@given(**gpt_sizes)
def test_gpt_matches_torch_transformer_layers(candidate, reference, B, T, extra, V, n_layer, H, hd, data_seed):
    """The same network out of nn.TransformerEncoderLayer(norm_first=True, activation="gelu")."""
    g = generator(data_seed)
    C = H * hd
    cand, _, sd = build_gpt(candidate, reference, V, T + extra, n_layer, H, C, g)
    idx = torch.randint(V, (B, T), generator=g)
    with torch.no_grad():
        expected = torch_gpt(sd, V, T + extra, n_layer, H, C)(idx)
    assert_close(cand(idx), expected, "GPT logits vs the same model built from nn.TransformerEncoderLayer")


@pytest.mark.category("equivalence")
@given(B=st.integers(1, 4), T0=st.integers(1, 7), n=st.integers(1, 8), V=st.integers(2, 9), L=st.integers(1, 5),
       temperature=st.floats(0.3, 3.0), top_k=st.none() | st.integers(1, 10), ties=st.booleans(),
       data_seed=st.integers(0, 2**32 - 1), gen_seed=st.integers(0, 2**63 - 1))
def test_generate_matches_reference_given_the_generator(candidate, reference, B, T0, n, V, L, temperature, top_k,
                                                        ties, data_seed, gen_seed):
    """The README's procedure with the same generator gives the same tokens, and leaves the
    generator in the same state (one torch.multinomial per new token). With `ties`, logits
    are rounded so that several tokens share the k-th largest value: all of them are kept."""
    g = generator(data_seed)
    kwargs = {"quantum": 0.5} if ties else {}
    lm, ref_lm = scripted(candidate, V, L, data_seed % 1000, **kwargs)
    idx = prompt(B, T0, V, g)
    ref_gen, gen = torch.Generator().manual_seed(gen_seed), remote_generator(candidate, gen_seed)
    expected = reference.generate(ref_lm, idx, n, temperature=temperature, top_k=top_k, generator=ref_gen)
    got = candidate.generate(lm, idx, n, temperature=temperature, top_k=top_k, generator=gen)
    got = assert_generated(got, idx, n, V)
    assert_equal(got, expected, f"generated tokens with a generator seeded {gen_seed}, {describe(temperature, top_k)}, "
                 f"block_size={L}{', tied logits' if ties else ''} (README: crop, last position / temperature, "
                 "keep logits >= the k-th largest, softmax, torch.multinomial(probs, 1, generator=generator))")
    assert_equal(gen.get_state(), ref_gen.get_state(), f"generator state after {n} new tokens (exactly one "
                 "torch.multinomial(probs, 1, generator=generator) on the whole batch per new token)")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("top_k", [None, 3])
def test_gpt_generation_matches_reference(candidate, reference, seed, top_k):
    """Your GPT and your generate, end to end, past block_size: the same tokens as the reference."""
    g = generator(seed)
    V, L, n_layer, H, C = 7, 5, 2, 2, 8
    cand, ref, _ = build_gpt(candidate, reference, V, L, n_layer, H, C, g)
    idx = prompt(3, 2, V, g)
    ref_gen, gen = torch.Generator().manual_seed(seed), remote_generator(candidate, seed)
    expected = reference.generate(ref, idx, 9, temperature=0.8, top_k=top_k, generator=ref_gen)
    got = assert_generated(candidate.generate(cand, idx, 9, temperature=0.8, top_k=top_k, generator=gen), idx, 9, V)
    assert_equal(got, expected, f"tokens generated by your GPT (reference weights, block_size={L}, 2 + 9 tokens) "
                 f"with a generator seeded {seed}, {describe(0.8, top_k)}")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(**gpt_sizes)
def test_gpt_gradients_match_reference(candidate, reference, B, T, extra, V, n_layer, H, hd, data_seed):
    g = generator(data_seed)
    cand, ref, _ = build_gpt(candidate, reference, V, T + extra, n_layer, H, H * hd, g)
    idx = torch.randint(V, (B, T), generator=g)
    grad_out = torch.randn(B, T, V, generator=g, dtype=f64)
    got = candidate.lib.grads(cand, [idx], {}, grad_out)
    ref.zero_grad(set_to_none=True)
    ref(idx).backward(grad_out)
    assert_close(got["output"], ref(idx).detach(), "GPT logits vs reference")
    assert_grads_close(got["param_grads"], ref)


@pytest.mark.category("gradient")
def test_attention_gradients_match_finite_differences(candidate, reference, seed):
    B, T, L, H, hd = 2, 4, 6, 2, 3
    g = generator(seed)
    cand, _, sd = build_attention(candidate, reference, H * hd, H, L, g)
    x = torch.randn(B, T, H * hd, generator=g, dtype=f64)
    grad_out = torch.randn(B, T, H * hd, generator=g, dtype=f64)
    check_finite_differences(candidate, cand, sd, x, {}, grad_out, g)


# -- convergence -----------------------------------------------------------------------------
TEXT = "pack my box with five dozen liquor jugs. "
L_MEM, MEM_MODEL = 8, dict(n_layer=2, n_head=2, n_embd=32)
TRAIN = dict(steps=100, lr=1e-2, batch_size=32)


@pytest.mark.category("convergence")
def test_memorizes_a_string(candidate, reference, seed, artifacts):
    """Trained on every 8-character window of a cyclic sentence (41 characters, no 8-gram
    repeats), the model must continue the sentence from its first 8 characters, greedily
    (top_k=1) and at temperature 0.05, for twice its length: every step past the prompt
    relies on the context being cropped to the last block_size tokens."""
    x, y, vocab = support.memorization_data(TEXT * 2, L_MEM)
    x, y = x[:len(TEXT)], y[:len(TEXT)]  # (41, 8): one window per start position of the cycle
    with seeded(seed):
        ref_model = reference.GPT(len(vocab), L_MEM, **MEM_MODEL)
    init = {k: v.clone() for k, v in ref_model.state_dict().items()}
    model = candidate.GPT(len(vocab), L_MEM, **MEM_MODEL)
    model.load_state_dict(init)
    losses = fit_and_check(candidate, model, x, y, seed=seed, **TRAIN)
    artifacts["loss_curve"] = {"candidate": losses}
    start = x[:1]  # (1, 8): "pack my "
    n = 2 * len(TEXT) - L_MEM
    want = (TEXT * 2)
    for how, kwargs in [("greedy (top_k=1)", dict(top_k=1)), ("temperature 0.05", dict(temperature=0.05))]:
        out = candidate.generate(model, start, n, generator=remote_generator(candidate, seed), **kwargs)
        out = assert_generated(out, start, n, len(vocab), f"generate output ({how})")
        text = "".join(vocab[i] for i in out[0].tolist())
        if text != want:
            first = next(i for i, (a, b) in enumerate(zip(text, want)) if a != b)
            ref_losses = training.fit(ref_model, x, y, seed=seed, **TRAIN)["losses"]
            artifacts["loss_curve"]["reference"] = ref_losses
            raise Mismatch(f"after {TRAIN['steps']} Adam steps (seed {seed}) your model, generating {how} from "
                           f"{TEXT[:L_MEM]!r}, wrote {text!r}; expected {want!r} (first difference at character "
                           f"{first}); final training loss {losses[-1]:.3f}, the reference's from the same "
                           f"initial weights {ref_losses[-1]:.3f}")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(**gpt_sizes, data=st.data())
def test_future_tokens_never_change_past_logits(candidate, reference, B, T, extra, V, n_layer, H, hd, data_seed, data):
    g = generator(data_seed)
    cand, _, _ = build_gpt(candidate, reference, V, T + extra, n_layer, H, H * hd, g)
    idx = torch.randint(V, (B, T), generator=g)
    j = data.draw(st.integers(0, T - 1), label="last unchanged position j")
    changed = idx.clone()
    changed[:, j + 1:] = (idx[:, j + 1:] + torch.randint(1, V, (B, T - j - 1), generator=g)) % V  # every one differs
    before = assert_shape(cand(idx), (B, T, V), "GPT logits", dtype=f64)
    after = assert_shape(cand(changed), (B, T, V), "GPT logits", dtype=f64)
    assert_close(after[:, :j + 1], before[:, :j + 1], f"GPT logits at positions <= {j} after changing only the "
                 f"tokens after position {j} (the future leaks in)")


@pytest.mark.category("property")
@given(**attention_sizes, data=st.data())
def test_attention_ignores_future_positions(candidate, reference, B, T, extra, H, hd, data_seed, data):
    g = generator(data_seed)
    cand, _, _ = build_attention(candidate, reference, H * hd, H, T + extra, g)
    x = torch.randn(B, T, H * hd, generator=g, dtype=f64)
    j = data.draw(st.integers(0, T - 1), label="last unchanged position j")
    changed = x.clone()
    changed[:, j + 1:] = torch.randn(B, T - j - 1, H * hd, generator=g, dtype=f64)
    before = assert_shape(cand(x), x.shape, "attention output", dtype=f64)
    after = assert_shape(cand(changed), x.shape, "attention output", dtype=f64)
    assert_close(after[:, :j + 1], before[:, :j + 1], f"attention output at positions <= {j} after changing only "
                 f"positions > {j}")


@pytest.mark.category("property")
@pytest.mark.parametrize("T0", [1, 4, 9])
def test_context_is_cropped_to_block_size(candidate, seed, T0):
    """Every forward call gets exactly the last min(length, block_size) tokens of the sequence so far."""
    V, L, n, B = 6, 4, 7, 2
    g = generator(seed)
    lm, _ = scripted(candidate, V, L, seed)
    idx = prompt(B, T0, V, g)
    out = assert_generated(candidate.generate(lm, idx, n, generator=remote_generator(candidate, seed)), idx, n, V)
    calls = candidate.lib.support("recorded_calls", lm)
    if len(calls) != n:
        raise Mismatch(f"generate called the model {len(calls)} times for max_new_tokens={n}; expected {n} "
                       "(one forward per new token)")
    for step, call in enumerate(calls):
        length = T0 + step
        expected = out[:, max(0, length - L):length]
        assert_equal(call["context"], expected, f"context passed to the model at step {step} (sequence length "
                     f"{length}, block_size={L}: the last {min(length, L)} tokens)")


@pytest.mark.category("property")
@pytest.mark.parametrize("top_k", [1, 2, 4])
def test_top_k_never_samples_outside_the_top_k(candidate, seed, top_k):
    """512 rows x 6 steps at temperature 3 (flat distributions): every sampled token is among the
    top_k logits of its context (no ties here)."""
    V, L, B, n = 10, 3, 512, 6
    g = generator(seed)
    lm, ref_lm = scripted(candidate, V, L, seed)
    idx = prompt(B, 2, V, g)
    out = candidate.generate(lm, idx, n, temperature=3.0, top_k=top_k, generator=remote_generator(candidate, seed))
    out = assert_generated(out, idx, n, V)
    for step in range(n):
        length = 2 + step
        logits = ref_lm(out[:, max(0, length - L):length])[:, -1]  # (B, V)
        kth = logits.topk(top_k, dim=-1).values[:, -1]  # (B,)
        chosen = logits.gather(1, out[:, length:length + 1])[:, 0]  # (B,)
        bad = chosen < kth
        if bad.any():
            row = int(bad.nonzero()[0])
            rank = int((logits[row] > chosen[row]).sum()) + 1
            raise Mismatch(f"top_k={top_k}: at step {step} row {row} sampled token {int(out[row, length])}, whose "
                           f"logit is ranked {rank} of {V} ({int(bad.sum())} of {B} rows sampled outside the top "
                           f"{top_k})")


@pytest.mark.category("property")
@pytest.mark.parametrize("top_k", [2, 3])
def test_top_k_keeps_every_token_tied_with_the_kth(candidate, seed, top_k):
    """Logits (3, 2, 2, 2, 1, 0) whatever the context: tokens 1, 2 and 3 tie for 2nd place, so
    top_k 2 or 3 must keep all four best tokens (README: every logit >= the k-th largest) and
    never sample 4 or 5. Over 512 rows x 4 steps each tied token is drawn about 360 times."""
    logits = [3.0, 2.0, 2.0, 2.0, 1.0, 0.0]
    V, B, n = len(logits), 512, 4
    lm = candidate.lib.support("fixed_logits_lm", logits, 4)
    idx = prompt(B, 1, V, generator(seed))
    out = candidate.generate(lm, idx, n, temperature=1.0, top_k=top_k, generator=remote_generator(candidate, seed))
    new = assert_generated(out, idx, n, V)[:, 1:]
    counts = torch.bincount(new.flatten(), minlength=V).tolist()
    if counts[4] or counts[5] or min(counts[:4]) < 100:
        raise Mismatch(f"top_k={top_k} with logits {logits}: token counts over {B * n} draws are {counts}; tokens "
                       f"0 to 3 must all be drawn (1, 2, 3 tie with the k-th largest and are all kept, each with "
                       f"probability about 0.18) and 4, 5 never")


@pytest.mark.category("property")
@pytest.mark.parametrize("how", ["top_k=1", "temperature=1e-4"])
def test_greedy_limits_pick_the_argmax(candidate, seed, how):
    """top_k=1 is greedy decoding (whatever the temperature); a temperature -> 0 approaches it
    (tokens within 2e-3 of the maximum logit are accepted at 1e-4)."""
    V, L, B, n = 8, 4, 64, 6
    g = generator(seed)
    lm, ref_lm = scripted(candidate, V, L, seed)
    idx = prompt(B, 3, V, g)
    kwargs = dict(top_k=1, temperature=2.5) if how == "top_k=1" else dict(temperature=1e-4)
    out = assert_generated(candidate.generate(lm, idx, n, generator=remote_generator(candidate, seed), **kwargs), idx, n, V)
    slack = 0.0 if how == "top_k=1" else 2e-3
    for step in range(n):
        length = 3 + step
        logits = ref_lm(out[:, max(0, length - L):length])[:, -1]  # (B, V)
        chosen = logits.gather(1, out[:, length:length + 1])[:, 0]
        best = logits.max(-1).values
        bad = chosen < best - slack
        if bad.any():
            row = int(bad.nonzero()[0])
            raise Mismatch(f"{how}: at step {step} row {row} picked token {int(out[row, length])} with logit "
                           f"{float(chosen[row]):.4f}; the argmax {int(logits[row].argmax())} has {float(best[row]):.4f} "
                           f"({int(bad.sum())} of {B} rows not greedy)")


@pytest.mark.category("property")
@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_temperature_scales_the_logits(candidate, seed, temperature):
    """4000 draws of the first new token from one context: their frequencies must match
    softmax(logits / temperature) within 5 standard deviations per token."""
    V, L, B = 6, 3, 4000
    g = generator(seed)
    lm, ref_lm = scripted(candidate, V, L, seed)
    idx = prompt(1, 2, V, g).expand(B, 2).clone()
    out = candidate.generate(lm, idx, 1, temperature=temperature, generator=remote_generator(candidate, seed))
    out = assert_generated(out, idx, 1, V)
    logits = ref_lm(idx[:1])[0, -1]  # (V,)
    p = torch.softmax(logits / temperature, dim=-1)
    freq = torch.bincount(out[:, -1], minlength=V).double() / B
    bound = 5 * (p * (1 - p) / B).sqrt() + 1e-3
    bad = (freq - p).abs() > bound
    if bad.any():
        v = int(bad.nonzero()[0])
        raise Mismatch(f"temperature={temperature}: token {v} was drawn {float(freq[v]):.4f} of the time; "
                       f"softmax(logits / temperature) gives {float(p[v]):.4f} ± {float(bound[v]):.4f}; "
                       f"all frequencies {[round(f, 3) for f in freq.tolist()]} vs {[round(q, 3) for q in p.tolist()]}")


@pytest.mark.category("property")
def test_generate_runs_without_autograd_and_keeps_idx(candidate, seed):
    """No graph is built while sampling (torch.no_grad), and the caller's idx is not modified."""
    V, L = 6, 4
    lm, _ = scripted(candidate, V, L, seed)
    idx = prompt(2, 3, V, generator(seed))
    _, args_after, _ = candidate.generate.call_checked(lm, idx, 4, generator=remote_generator(candidate, seed))
    assert_unchanged(args_after[1], idx, "idx after generate (modified in place)")
    calls = candidate.lib.support("recorded_calls", lm)
    with_grad = [i for i, c in enumerate(calls) if c["grad_enabled"]]
    if with_grad:
        raise Mismatch(f"generate called the model with autograd enabled at steps {with_grad}: run the loop "
                       "under torch.no_grad() (a graph per step wastes memory and time)")
