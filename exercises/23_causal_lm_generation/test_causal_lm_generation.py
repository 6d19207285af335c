"""Suite for 23_causal_lm_generation: `CausalSelfAttention` and a tiny `GPT` in float64 vs the reference and torch's own
attention and encoder layers (weights transplanted); `generate` alone on a scripted language model from support.py (its
logits depend on the whole context, it refuses contexts longer than block_size and records its calls) and end to end:
with a generator seeded the same, your tokens must be the reference's (the README pins the sampling)."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from grader import kit, training
from grader.kit import assert_close, assert_equal, assert_finite, assert_shape, f64, given_cases, remote_generator

support = kit.exercise_support(__file__)
WEIGHTS = dict(bias_std=0.3, gain_std=0.2)  # random_state_dict's spread: nothing saturates, every entry matters


class Net(kit.Case):
    """B sequences of T tokens (or vectors), block_size T + extra, H heads of hd dims; V > 0: a GPT, n_layer blocks."""

    B: int
    T: int
    extra: int
    H: int
    hd: int
    V: int
    n_layer: int
    data_seed: int

    def build(self, candidate, reference, dropout=0.0):
        """Candidate and reference (eval mode, the same float64 weights), the state_dict and an input: x or tokens."""
        C, L, g = self.H * self.hd, self.T + self.extra, self.generator()
        make = (lambda lib: lib.GPT(self.V, L, self.n_layer, self.H, C, dropout)) if self.V else (
            lambda lib: lib.CausalSelfAttention(C, self.H, L))
        cand, ref, sd = kit.twins(make, candidate, reference, g, **WEIGHTS)
        x = torch.randint(self.V, (self.B, self.T), generator=g) if self.V else torch.randn(self.B, self.T, C,
                                                                                            generator=g, dtype=f64)
        return cand.eval(), ref.eval(), sd, x


def nets(gpt: bool):
    return st.builds(Net, st.integers(1, 3), st.integers(1, 6), st.integers(0, 3), st.integers(1, 3),
                     st.integers(1, 3 if gpt else 4), st.integers(2, 9) if gpt else st.just(0),
                     st.integers(1, 2) if gpt else st.just(0), kit.data_seeds)


def mha_from(sd: dict, prefix: str, C: int, H: int) -> nn.MultiheadAttention:
    """nn.MultiheadAttention holding c_attn (its in_proj stacks q, k, v the same way) and c_proj."""
    mha = nn.MultiheadAttention(C, H, batch_first=True, dtype=f64)
    mha.load_state_dict({"in_proj_weight": sd[f"{prefix}c_attn.weight"], "in_proj_bias": sd[f"{prefix}c_attn.bias"],
                         "out_proj.weight": sd[f"{prefix}c_proj.weight"], "out_proj.bias": sd[f"{prefix}c_proj.bias"]})
    return mha.eval()


def torch_gpt(sd: dict, case: Net):
    """The same GPT out of torch's own nn.TransformerEncoderLayer(norm_first=True, GELU)."""
    C, layers = case.H * case.hd, []
    for i in range(case.n_layer):
        layer = nn.TransformerEncoderLayer(C, case.H, 4 * C, 0.0, "gelu", batch_first=True, norm_first=True, dtype=f64)
        layer.self_attn = mha_from(sd, f"h.{i}.attn.", C, case.H)
        names = [("ln_1", "norm1"), ("ln_2", "norm2"), ("mlp.c_fc", "linear1"), ("mlp.c_proj", "linear2")]
        layer.load_state_dict({**layer.state_dict(), **{f"{theirs}.{n}": sd[f"h.{i}.{mine}.{n}"]
                                                        for n in ("weight", "bias") for mine, theirs in names}})
        layers.append(layer.eval())
    return layers


def scripted(candidate, V, L, seed, **kwargs):
    """The same ScriptedLM in the worker (a handle) and here."""
    return candidate.lib.support("scripted_lm", V, L, seed, **kwargs), support.ScriptedLM(V, L, seed, **kwargs)


def assert_generated(out, idx, n, V, name="generate output") -> torch.Tensor:
    """(B, T0 + n) int64, starting with idx, every new token in [0, V)."""
    out = assert_shape(out, (idx.shape[0], idx.shape[1] + n), name, dtype=torch.long)
    assert_equal(out[:, :idx.shape[1]], idx, f"{name}: the first T0 tokens (must be the prompt idx)")
    assert bool(((out >= 0) & (out < V)).all()), f"{name}: new tokens must lie in [0, {V}), got {out.tolist()}"
    return out


def prompt(B, T0, V, seed) -> torch.Tensor:
    return torch.randint(V, (B, T0), generator=kit.generator(seed))


def sampled(candidate, ref_lm, lm, B, T0, V, L, n, seed, **kwargs):
    """Generate n tokens after a random prompt; returns the output and the logits behind each new token, (n, B, V)."""
    idx = prompt(B, T0, V, seed)
    out = assert_generated(candidate.generate(lm, idx, n, generator=remote_generator(candidate, seed), **kwargs), idx,
                           n, V)
    return out, torch.stack([ref_lm(out[:, max(0, t - L):t])[:, -1] for t in range(T0, T0 + n)])


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(nets(gpt=False))
def test_attention_output_shape(candidate, case):
    x = torch.randn(case.B, case.T, case.H * case.hd, generator=case.generator())
    y = candidate.CausalSelfAttention(case.H * case.hd, case.H, case.T + case.extra)(x)
    assert_finite(assert_shape(y, x.shape, "attention output (T <= block_size)", dtype=torch.float32))


@pytest.mark.category("shape")
@given_cases(nets(gpt=True))
def test_gpt_logits_shape(candidate, case):
    logits = candidate.GPT(case.V, case.T + case.extra, case.n_layer, case.H, case.H * case.hd)(prompt(
        case.B, case.T, case.V, case.data_seed))
    assert_finite(assert_shape(logits, (case.B, case.T, case.V), "GPT logits", dtype=torch.float32))


@pytest.mark.category("shape")
def test_state_dict_follows_the_interface(candidate, reference):
    """nanoGPT's names, parameters only (the causal mask is not saved), so checkpoints load."""
    kit.assert_state_shapes(candidate.CausalSelfAttention(8, 2, 7), reference.CausalSelfAttention(8, 2, 7),
                            "CausalSelfAttention(8, 2, 7) (a causal mask must be a non-persistent buffer)")
    kit.assert_state_shapes(candidate.GPT(11, 7, 2, 2, 8), reference.GPT(11, 7, 2, 2, 8), "GPT(11, 7, 2, 2, 8)")


@pytest.mark.category("shape")
@given(B=st.integers(1, 3), T0=st.integers(1, 9), n=st.integers(0, 9), V=st.integers(2, 9), L=st.integers(1, 5),
       data_seed=kit.data_seeds)
def test_generate_output_shape(candidate, B, T0, n, V, L, data_seed):
    """(B, T0) prompt in, (B, T0 + max_new_tokens) int64 out, the prompt first (also past block_size)."""
    lm, _ = scripted(candidate, V, L, data_seed % 1000)
    out = candidate.generate(lm, idx := prompt(B, T0, V, data_seed), n, temperature=1.0, top_k=None,
                             generator=remote_generator(candidate, data_seed))
    assert_generated(out, idx, n, V, f"generate output (prompt {B}x{T0}, max_new_tokens={n}, block_size={L})")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(nets(gpt=False))
def test_attention_matches_reference(candidate, reference, case):
    cand, ref, _, x = case.build(candidate, reference)
    assert_close(cand(x), ref(x).detach(), "attention output vs reference")


@pytest.mark.category("equivalence")
@given_cases(nets(gpt=False))
def test_attention_matches_torch(candidate, reference, case):
    """F.scaled_dot_product_attention(is_causal=True), nn.MultiheadAttention with a causal mask: c_attn's q, k, v."""
    cand, _, sd, x = case.build(candidate, reference)
    B, T, C = x.shape
    q, k, v = (F.linear(x, w, b).view(B, T, case.H, case.hd).transpose(1, 2)  # (B, H, T, hd)
               for w, b in zip(sd["c_attn.weight"].split(C), sd["c_attn.bias"].split(C)))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
    assert_close(got := cand(x), F.linear(y, sd["c_proj.weight"], sd["c_proj.bias"]), "attention output vs "
                 "F.scaled_dot_product_attention(is_causal=True)")
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)  # True = may NOT attend
    assert_close(got, mha_from(sd, "", C, case.H)(x, x, x, attn_mask=mask, need_weights=False)[0].detach(),
                 "attention output vs nn.MultiheadAttention with a causal mask")


@pytest.mark.category("equivalence")
@given_cases(nets(gpt=True), dropout=st.sampled_from([0.0, 0.5]))
def test_gpt_matches_reference(candidate, reference, case, dropout):
    """float64, random weights loaded into both, eval mode (dropout, if any, is off)."""
    cand, ref, _, idx = case.build(candidate, reference, dropout)
    assert_close(cand(idx), ref(idx).detach(), f"GPT logits vs reference (dropout={dropout} in eval mode)")


@pytest.mark.category("equivalence")
@given_cases(nets(gpt=True))
def test_gpt_matches_torch_transformer_layers(candidate, reference, case):
    """The same network out of nn.TransformerEncoderLayer(norm_first=True, activation="gelu")."""
    cand, _, sd, idx = case.build(candidate, reference)
    x = sd["wte.weight"][idx] + sd["wpe.weight"][:case.T]  # (B, T, C)
    for layer in torch_gpt(sd, case):
        x = layer(x, src_mask=torch.ones(case.T, case.T, dtype=torch.bool).triu(1))
    expected = F.layer_norm(x, x.shape[-1:], sd["ln_f.weight"], sd["ln_f.bias"]) @ sd["lm_head.weight"].T  # (B, T, V)
    assert_close(cand(idx), expected.detach(), "GPT logits vs the same model built from nn.TransformerEncoderLayer")


@pytest.mark.category("equivalence")
@given(B=st.integers(1, 4), T0=st.integers(1, 7), n=st.integers(1, 8), V=st.integers(2, 9), L=st.integers(1, 5),
       temperature=st.floats(0.3, 3.0), top_k=st.none() | st.integers(1, 10), ties=st.booleans(),
       data_seed=kit.data_seeds, gen_seed=st.integers(0, 2**63 - 1))
def test_generate_matches_reference_given_the_generator(candidate, reference, B, T0, n, V, L, temperature, top_k,
                                                        ties, data_seed, gen_seed):
    """The README's procedure with the same generator: the same tokens, one torch.multinomial per new token. With
    `ties`, logits are rounded so that several tokens share the k-th largest value: all of them are kept."""
    lm, ref_lm = scripted(candidate, V, L, data_seed % 1000, **({"quantum": 0.5} if ties else {}))
    ref_gen, gen = kit.generator(gen_seed), remote_generator(candidate, gen_seed)
    expected = reference.generate(ref_lm, idx := prompt(B, T0, V, data_seed), n, temperature=temperature, top_k=top_k,
                                  generator=ref_gen)
    got = candidate.generate(lm, idx, n, temperature=temperature, top_k=top_k, generator=gen)
    with kit.about(f"generator seed {gen_seed}, temperature={temperature:.4g}, top_k={top_k}, L={L}, ties={ties}"):
        got = assert_generated(got, idx, n, V)
        assert_equal(got, expected, "generated tokens (README: crop, last position / temperature, keep logits >= the "
                     "k-th largest, softmax, torch.multinomial(probs, 1, generator=generator))")
        assert_equal(gen.get_state(), ref_gen.get_state(), f"generator state after {n} new tokens (exactly one "
                     "torch.multinomial on the whole batch per new token)")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("top_k", [None, 3])
def test_gpt_generation_matches_reference(candidate, reference, seed, top_k):
    """Your GPT and your generate, end to end, past block_size: the same tokens as the reference."""
    cand, ref, _, _ = Net(3, 5, 0, 2, 4, 7, 2, seed).build(candidate, reference)
    expected = reference.generate(ref, idx := prompt(3, 2, 7, seed), 9, 0.8, top_k, generator=kit.generator(seed))
    got = candidate.generate(cand, idx, 9, temperature=0.8, top_k=top_k, generator=remote_generator(candidate, seed))
    assert_equal(assert_generated(got, idx, 9, 7), expected, f"tokens of your GPT (block_size=5, 2 + 9 tokens), "
                 f"generator seed {seed}, temperature=0.8, top_k={top_k}")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(nets(gpt=True))
def test_gpt_gradients_match_reference(candidate, reference, case):
    cand, ref, _, idx = case.build(candidate, reference)
    kit.check_gradients(candidate, cand, ref, {"idx": idx}, g=case.generator(1))


@pytest.mark.category("gradient")
def test_attention_gradients_match_finite_differences(candidate, reference, seed):
    cand, _, sd, x = (case := Net(2, 4, 2, 2, 3, 0, 0, seed)).build(candidate, reference)
    kit.check_finite_differences(candidate, cand, {"x": x}, g=case.generator(1), state_dict=sd)


# -- convergence -----------------------------------------------------------------------------
TEXT, L_MEM = "pack my box with five dozen liquor jugs. ", 8
TRAIN = dict(steps=100, lr=1e-2, batch_size=32)


@pytest.mark.category("convergence")
def test_memorizes_a_string(candidate, reference, seed, artifacts):
    """Trained on every 8-character window of a cyclic sentence (41 characters, no 8-gram repeats), the model must
    continue it from its first 8 characters, greedily (top_k=1) and at temperature 0.05, for twice its length: every
    step past the prompt relies on the context being cropped to the last block_size tokens."""
    x, y, vocab = support.memorization_data(TEXT * 2, L_MEM)
    x, y = x[:len(TEXT)], y[:len(TEXT)]  # (41, 8): one window per start position of the cycle
    model, ref_model = kit.same_init(candidate.GPT(len(vocab), L_MEM, 2, 2, 32),
                                     lambda: reference.GPT(len(vocab), L_MEM, 2, 2, 32), seed)
    artifacts["loss_curve"] = {"candidate": kit.fit_and_check(candidate, model, x, y, seed=seed, **TRAIN)}
    for how, kwargs in [("greedy (top_k=1)", dict(top_k=1)), ("temperature 0.05", dict(temperature=0.05))]:
        n = 2 * len(TEXT) - L_MEM
        out = candidate.generate(model, x[:1], n, generator=remote_generator(candidate, seed), **kwargs)
        text = "".join(vocab[i] for i in assert_generated(out, x[:1], n, len(vocab))[0].tolist())
        if text != TEXT * 2:
            first = next(i for i, (a, b) in enumerate(zip(text, TEXT * 2)) if a != b)
            ref_losses = training.fit(ref_model, x, y, seed=seed, **TRAIN)["losses"]
            artifacts["loss_curve"]["reference"] = ref_losses
            raise kit.Mismatch(f"after {TRAIN['steps']} Adam steps (seed {seed}) your model, generating {how} from "
                               f"{TEXT[:L_MEM]!r}, wrote {text!r} (first difference at character {first}); final "
                               f"training loss {artifacts['loss_curve']['candidate'][-1]:.3f}, the reference's from "
                               f"the same initial weights {ref_losses[-1]:.3f}")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(nets(gpt=True), data=st.data())
def test_future_tokens_never_change_past_logits(candidate, reference, case, data):
    cand, _, _, idx = case.build(candidate, reference)
    t = data.draw(st.integers(0, case.T - 1), label="last unchanged position")
    shift = torch.randint(1, case.V, idx.shape, generator=case.generator(2))  # every future token changes
    kit.assert_causal(cand, idx, t, case.generator(1), fresh=lambda shape: (idx + shift) % case.V)


@pytest.mark.category("property")
@given_cases(nets(gpt=False), data=st.data())
def test_attention_ignores_future_positions(candidate, reference, case, data):
    cand, _, _, x = case.build(candidate, reference)
    t = data.draw(st.integers(0, case.T - 1), label="last unchanged position")
    kit.assert_causal(cand, x, t, case.generator(1))


@pytest.mark.category("property")
@pytest.mark.parametrize("T0", [1, 4, 9])
def test_context_is_cropped_to_block_size(candidate, seed, T0):
    """Every forward call gets exactly the last min(length, block_size) tokens of the sequence so far."""
    lm, _ = scripted(candidate, 6, 4, seed)
    out = assert_generated(candidate.generate(lm, idx := prompt(2, T0, 6, seed), 7,
                                              generator=remote_generator(candidate, seed)), idx, 7, 6)
    calls = candidate.lib.support("recorded_calls", lm)
    assert len(calls) == 7, f"generate called the model {len(calls)} times for max_new_tokens=7 (one per new token)"
    for step, call in enumerate(calls):
        assert_equal(call["context"], out[:, max(0, T0 + step - 4):T0 + step], f"context passed to the model at step "
                     f"{step} (sequence length {T0 + step}, block_size=4: the last {min(T0 + step, 4)} tokens)")


@pytest.mark.category("property")
@pytest.mark.parametrize("top_k", [1, 2, 4])
def test_top_k_never_samples_outside_the_top_k(candidate, seed, top_k):
    """512 rows x 6 steps at temperature 3 (flat distributions): every sampled token is among the top_k logits."""
    out, logits = sampled(candidate, *scripted(candidate, 10, 3, seed)[::-1], 512, 2, 10, 3, 6, seed, temperature=3.0,
                          top_k=top_k)
    chosen = logits.gather(2, out[:, 2:].T[..., None])[..., 0]  # (n, B): the sampled tokens' logits
    assert_equal(chosen >= logits.topk(top_k, dim=-1).values[..., -1], torch.ones_like(chosen, dtype=torch.bool),
                 f"sampled token among the top {top_k} logits; index [step, row]")


LOGITS = [3.0, 2.0, 2.0, 2.0, 1.0, 0.0]


@pytest.mark.category("property")
@pytest.mark.parametrize("top_k", [2, 3])
def test_top_k_keeps_every_token_tied_with_the_kth(candidate, seed, top_k):
    """Logits (3, 2, 2, 2, 1, 0) whatever the context: tokens 1, 2, 3 tie for 2nd place, so top_k 2 or 3 keeps all
    four best tokens (README: every logit >= the k-th largest), never 4 or 5; each tied one is drawn ~360 of 2048."""
    lm, logits = candidate.lib.support("fixed_logits_lm", LOGITS, 4), LOGITS
    out = candidate.generate(lm, idx := prompt(512, 1, 6, seed), 4, top_k=top_k,
                             generator=remote_generator(candidate, seed))
    counts = torch.bincount(assert_generated(out, idx, 4, 6)[:, 1:].flatten(), minlength=6).tolist()
    assert not (counts[4] or counts[5] or min(counts[:4]) < 100), (
        f"top_k={top_k} with logits {logits}: token counts over 2048 draws are {counts}; tokens 0 to 3 must all be "
        "drawn (1, 2, 3 tie with the k-th largest, each kept with probability about 0.18) and 4, 5 never")


@pytest.mark.category("property")
@pytest.mark.parametrize("how", ["top_k=1", "temperature=1e-4"])
def test_greedy_limits_pick_the_argmax(candidate, seed, how):
    """top_k=1 is greedy decoding (whatever the temperature); temperature -> 0 approaches it (2e-3 slack at 1e-4)."""
    kwargs, slack = (dict(top_k=1, temperature=2.5), 0.0) if how == "top_k=1" else (dict(temperature=1e-4), 2e-3)
    out, logits = sampled(candidate, *scripted(candidate, 8, 4, seed)[::-1], 64, 3, 8, 4, 6, seed, **kwargs)
    chosen = logits.gather(2, out[:, 3:].T[..., None])[..., 0]  # (n, B)
    assert_close(chosen, logits.max(-1).values, f"{how}: logit of the picked token vs the largest logit; index "
                 "[step, row]", rtol=0.0, atol=slack)


@pytest.mark.category("property")
@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_temperature_scales_the_logits(candidate, seed, temperature):
    """4000 draws of the first new token from one context: frequencies = softmax(logits / temperature) within 5 sd."""
    lm, ref_lm = scripted(candidate, 6, 3, seed)
    idx = prompt(1, 2, 6, seed).expand(4000, 2).clone()
    out = candidate.generate(lm, idx, 1, temperature=temperature, generator=remote_generator(candidate, seed))
    p = torch.softmax(ref_lm(idx[:1])[0, -1] / temperature, dim=-1)  # (V,)
    freq = torch.bincount(assert_generated(out, idx, 1, 6)[:, -1], minlength=6).double() / 4000
    bound = 5 * (p * (1 - p) / 4000).sqrt() + 1e-3  # (V,) 5 standard deviations
    assert_close((freq - p) / bound, torch.zeros_like(p), f"(frequency - softmax(logits / temperature)) / (5 sd) of "
                 f"each token at temperature={temperature}: frequencies {freq.tolist()}, expected {p.tolist()}",
                 rtol=0.0, atol=1.0)


@pytest.mark.category("property")
def test_generate_runs_without_autograd_and_keeps_idx(candidate, seed):
    """No graph is built while sampling (torch.no_grad), and the caller's idx is not modified."""
    lm, _ = scripted(candidate, 6, 4, seed)
    kit.assert_inputs_unchanged(candidate.generate, {"model": lm, "idx": prompt(2, 3, 6, seed), "max_new_tokens": 4},
                                {"generator": remote_generator(candidate, seed)}, "generate")
    with_grad = [i for i, c in enumerate(candidate.lib.support("recorded_calls", lm)) if c["grad_enabled"]]
    assert not with_grad, (f"generate called the model with autograd enabled at steps {with_grad}: run the loop "
                           "under torch.no_grad() (a graph per step wastes memory and time)")
