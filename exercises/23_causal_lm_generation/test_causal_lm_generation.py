"""Suite for 23_causal_lm_generation: `CausalSelfAttention`, a tiny `GPT` vs the reference and torch's own layers;
`generate` on support.py's scripted LM (it records its calls) and end to end: the same generator, the same tokens."""
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
    """A CausalSelfAttention or (gpt) a GPT of n_layer blocks over V tokens: B sequences of T tokens (or vectors),
    block_size T + extra, H heads of hd dims."""

    gpt: bool
    B: int
    T: int
    extra: int
    H: int
    hd: int
    V: int
    n_layer: int
    data_seed: int

    def make(self, lib, dropout=0.0):
        C, L = self.H * self.hd, self.T + self.extra
        if self.gpt:
            return lib.GPT(self.V, L, self.n_layer, self.H, C, dropout)
        return lib.CausalSelfAttention(C, self.H, L)

    def input(self, g, dtype=f64) -> torch.Tensor:  # tokens (B, T) of a GPT, or x (B, T, C)
        return torch.randint(self.V, (self.B, self.T), generator=g) if self.gpt else torch.randn(
            self.B, self.T, self.H * self.hd, generator=g, dtype=dtype)

    def build(self, candidate, reference, dropout=0.0):
        """Candidate and reference (eval mode, the same float64 weights), the state_dict and an input."""
        g = self.generator()
        cand, ref, sd = kit.twins(lambda lib: self.make(lib, dropout), candidate, reference, g, **WEIGHTS)
        return cand.eval(), ref.eval(), sd, self.input(g)


def nets(gpt=st.booleans()):
    return st.builds(Net, gpt, st.integers(1, 3), st.integers(1, 6), st.integers(0, 3), st.integers(1, 3),
                     st.integers(1, 4), st.integers(2, 9), st.integers(1, 2), kit.data_seeds)


KINDS = dict(argnames="gpt", argvalues=[False, True], ids=["attention", "gpt"])


TORCH_NAMES = {"attn.c_attn.": "self_attn.in_proj_", "attn.c_proj.": "self_attn.out_proj.", "ln_1.": "norm1.",
               "ln_2.": "norm2.", "mlp.c_fc.": "linear1.", "mlp.c_proj.": "linear2."}  # in_proj stacks q, k, v too


def renamed(sd: dict, names: dict) -> dict:
    """The entries of `sd` whose name starts with a key of `names`, that start replaced by its value."""
    return {new + k[len(old):]: v for k, v in sd.items() for old, new in names.items() if k.startswith(old)}


def scripted(candidate, V, L, seed, **kwargs):
    """The same ScriptedLM in the worker (a handle) and here."""
    return candidate.lib.support("scripted_lm", V, L, seed, **kwargs), support.ScriptedLM(V, L, seed, **kwargs)


def generated(candidate, model, idx, n, V, seed, gen=None, name="generate output", **kwargs) -> torch.Tensor:
    """Your generate(model, idx, n, **kwargs) with `gen` (default: a generator seeded with `seed`), checked: (B, T0 + n)
    int64, starting with idx, every new token in [0, V)."""
    gen = remote_generator(candidate, seed) if gen is None else gen
    out = candidate.generate(model, idx, n, generator=gen, **kwargs)
    out = assert_shape(out, (idx.shape[0], idx.shape[1] + n), name, dtype=torch.long)
    assert_equal(out[:, :idx.shape[1]], idx, f"{name}: the first T0 tokens (must be the prompt idx)")
    assert bool(((out >= 0) & (out < V)).all()), f"{name}: new tokens must lie in [0, {V}), got {out.tolist()}"
    return out


def prompt(B, T0, V, seed) -> torch.Tensor:
    return torch.randint(V, (B, T0), generator=kit.generator(seed))


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@pytest.mark.parametrize(**KINDS)
@given_cases(nets(), replace=("gpt",))
def test_output_shape(candidate, gpt, case):
    """float32: attention x (B, T, C) -> (B, T, C); GPT tokens (B, T) -> logits (B, T, V); T <= block_size."""
    out = case.make(candidate)(case.input(case.generator(), torch.float32))
    shape = (case.B, case.T, case.V if gpt else case.H * case.hd)
    assert_finite(assert_shape(out, shape, "GPT logits" if gpt else "attention output", dtype=torch.float32))


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
    generated(candidate, lm, prompt(B, T0, V, data_seed), n, V, data_seed, temperature=1.0, top_k=None,
              name=f"generate output (prompt {B}x{T0}, max_new_tokens={n}, block_size={L})")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@pytest.mark.parametrize(**KINDS)
@given_cases(nets(), replace=("gpt",), dropout=st.sampled_from([0.0, 0.5]))
def test_matches_reference(candidate, reference, gpt, case, dropout):
    """float64, random weights loaded into both, eval mode (a GPT's dropout, if any, is off)."""
    cand, ref, _, x = case.build(candidate, reference, dropout)
    name = f"GPT logits (dropout={dropout} in eval mode)" if gpt else "attention output"
    assert_close(cand(x), ref(x).detach(), f"{name} vs reference")


@pytest.mark.category("equivalence")
@given_cases(nets(gpt=st.just(False)))
def test_attention_matches_torch(candidate, reference, case):
    """F.scaled_dot_product_attention(is_causal=True), nn.MultiheadAttention with a causal mask: c_attn's q, k, v."""
    cand, _, sd, x = case.build(candidate, reference)
    B, T, C = x.shape
    qkv = F.linear(x, sd["c_attn.weight"], sd["c_attn.bias"]).view(B, T, 3, case.H, case.hd).permute(2, 0, 3, 1, 4)
    y = F.scaled_dot_product_attention(*qkv, is_causal=True).transpose(1, 2).reshape(B, T, C)  # qkv (3, B, H, T, hd)
    assert_close(got := cand(x), F.linear(y, sd["c_proj.weight"], sd["c_proj.bias"]), "attention output vs "
                 "F.scaled_dot_product_attention(is_causal=True)")
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)  # True = may NOT attend
    (mha := nn.MultiheadAttention(C, case.H, batch_first=True, dtype=f64)).load_state_dict(renamed(sd, {
        "c_attn.": "in_proj_", "c_proj.": "out_proj."}))  # in_proj stacks q, k, v as c_attn does
    assert_close(got, mha(x, x, x, attn_mask=mask, need_weights=False)[0].detach(), "attention output vs "
                 "nn.MultiheadAttention with a causal mask")


@pytest.mark.category("equivalence")
@given_cases(nets(gpt=st.just(True)))
def test_gpt_matches_torch_transformer_layers(candidate, reference, case):
    """The same network out of nn.TransformerEncoderLayer(norm_first=True, activation="gelu")."""
    cand, _, sd, idx = case.build(candidate, reference)
    C, x = case.H * case.hd, sd["wte.weight"][idx] + sd["wpe.weight"][:case.T]  # x (B, T, C)
    for i in range(case.n_layer):
        layer = nn.TransformerEncoderLayer(C, case.H, 4 * C, 0.0, "gelu", batch_first=True, norm_first=True, dtype=f64)
        layer.load_state_dict(renamed(sd, {f"h.{i}.{mine}": theirs for mine, theirs in TORCH_NAMES.items()}))
        x = layer.eval()(x, src_mask=torch.ones(case.T, case.T, dtype=torch.bool).triu(1))  # (B, T, C)
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
    with kit.about(f"generator seed {gen_seed}, temperature={temperature:.4g}, top_k={top_k}, L={L}, ties={ties}"):
        got = generated(candidate, lm, idx, n, V, None, gen, temperature=temperature, top_k=top_k)
        assert_equal(got, expected, "generated tokens (README: crop, last position / temperature, keep logits >= the "
                     "k-th largest, softmax, torch.multinomial(probs, 1, generator=generator))")
        assert_equal(gen.get_state(), ref_gen.get_state(), f"generator state after {n} new tokens (exactly one "
                     "torch.multinomial on the whole batch per new token)")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("top_k", [None, 3])
def test_gpt_generation_matches_reference(candidate, reference, seed, top_k):
    """Your GPT and your generate, end to end, past block_size: the same tokens as the reference."""
    cand, ref, _, _ = Net(True, 3, 5, 0, 2, 4, 7, 2, seed).build(candidate, reference)
    expected = reference.generate(ref, idx := prompt(3, 2, 7, seed), 9, 0.8, top_k, generator=kit.generator(seed))
    got = generated(candidate, cand, idx, 9, 7, seed, temperature=0.8, top_k=top_k)
    assert_equal(got, expected, f"tokens of your GPT (block_size=5, 2 + 9 tokens), "
                 f"generator seed {seed}, temperature=0.8, top_k={top_k}")


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(nets(gpt=st.just(True)))
def test_gpt_gradients_match_reference(candidate, reference, case):
    cand, ref, _, idx = case.build(candidate, reference)
    kit.check_gradients(candidate, cand, ref, {"idx": idx}, g=case.generator(1))


@pytest.mark.category("gradient")
def test_attention_gradients_match_finite_differences(candidate, reference, seed):
    cand, _, sd, x = (case := Net(False, 2, 4, 2, 2, 3, 0, 0, seed)).build(candidate, reference)
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
    artifacts["loss_curve"] = losses = {"candidate": kit.fit_and_check(candidate, model, x, y, seed=seed, **TRAIN)}
    n = 2 * len(TEXT) - L_MEM
    for how, kwargs in [("greedy (top_k=1)", dict(top_k=1)), ("temperature 0.05", dict(temperature=0.05))]:
        text = "".join(vocab[i] for i in generated(candidate, model, x[:1], n, len(vocab), seed, **kwargs)[0].tolist())
        if text != TEXT * 2:
            losses["reference"] = training.fit(ref_model, x, y, seed=seed, **TRAIN)["losses"]
            first = next(i for i, (a, b) in enumerate(zip(text, TEXT * 2)) if a != b)
            raise kit.Mismatch(f"after {TRAIN['steps']} Adam steps (seed {seed}) your model, generating {how} from "
                               f"{TEXT[:L_MEM]!r}, wrote {text!r} (first difference at character {first}); final "
                               f"training loss {losses['candidate'][-1]:.3f}, the reference's from the same initial "
                               f"weights {losses['reference'][-1]:.3f}")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@pytest.mark.parametrize(**KINDS)
@given_cases(nets(), replace=("gpt",), data=st.data())
def test_future_never_changes_the_past(candidate, reference, gpt, case, data):
    """Outputs at positions 0..t stay the same when every token (or vector) after t changes."""
    cand, _, _, x = case.build(candidate, reference)
    t = data.draw(st.integers(0, case.T - 1), label="last unchanged position")
    shift = torch.randint(1, case.V, x.shape[:2], generator=case.generator(2))  # every future token changes
    kit.assert_causal(cand, x, t, case.generator(1), fresh=(lambda shape: (x + shift) % case.V) if gpt else None)


@pytest.mark.category("property")
@pytest.mark.parametrize("T0", [1, 4, 9])
def test_context_is_cropped_to_block_size(candidate, seed, T0):
    """Every forward call gets exactly the last min(length, block_size) tokens of the sequence so far."""
    lm, _ = scripted(candidate, 6, 4, seed)
    out = generated(candidate, lm, prompt(2, T0, 6, seed), 7, 6, seed)
    calls = candidate.lib.support("recorded_calls", lm)
    assert len(calls) == 7, f"generate called the model {len(calls)} times for max_new_tokens=7 (one per new token)"
    for step, call in enumerate(calls):
        assert_equal(call["context"], out[:, max(0, T0 + step - 4):T0 + step], f"context passed to the model at step "
                     f"{step} (sequence length {T0 + step}, block_size=4: the last {min(T0 + step, 4)} tokens)")


@pytest.mark.category("property")
@pytest.mark.parametrize("top_k, temperature, slack", [(1, 3.0, 0.0), (2, 3.0, 0.0), (4, 3.0, 0.0), (1, 1.0, 0.0),
                                                       (None, 1e-4, 2e-3)])
def test_sampled_tokens_are_among_the_top_k(candidate, seed, top_k, temperature, slack):
    """512 rows x 6 steps, flat at temperature 3: every sampled token is among the top_k logits (top_k=1 is greedy
    whatever the temperature); temperature -> 0 approaches greedy (2e-3 slack at 1e-4)."""
    lm, ref_lm = scripted(candidate, 10, 3, seed)
    out = generated(candidate, lm, prompt(512, 2, 10, seed), 6, 10, seed, temperature=temperature, top_k=top_k)
    logits = torch.stack([ref_lm(out[:, max(0, t - 3):t])[:, -1] for t in range(2, 8)])  # (n, B, V) of each new token
    chosen = logits.gather(2, out[:, 2:].T[..., None])[..., 0]  # (n, B): the sampled tokens' logits
    below = (logits.topk(top_k or 1, dim=-1).values[..., -1] - chosen).clamp(min=0)  # (n, B)
    assert_close(below, torch.zeros_like(below), f"how far the sampled token's logit lies below the {top_k or 1}-th "
                 f"largest (top_k={top_k}, temperature={temperature}); index [step, row]", rtol=0.0, atol=slack)


LOGITS = [3.0, 2.0, 2.0, 2.0, 1.0, 0.0]


@pytest.mark.category("property")
@pytest.mark.parametrize("top_k", [2, 3])
def test_top_k_keeps_every_token_tied_with_the_kth(candidate, seed, top_k):
    """Logits (3, 2, 2, 2, 1, 0) whatever the context: tokens 1, 2, 3 tie for 2nd place, so top_k 2 or 3 keeps all
    four best tokens (README: every logit >= the k-th largest), never 4 or 5; each tied one is drawn ~360 of 2048."""
    lm, logits = candidate.lib.support("fixed_logits_lm", LOGITS, 4), LOGITS
    out = generated(candidate, lm, prompt(512, 1, 6, seed), 4, 6, seed, top_k=top_k)
    counts = torch.bincount(out[:, 1:].flatten(), minlength=6).tolist()
    assert not (counts[4] or counts[5] or min(counts[:4]) < 100), (
        f"top_k={top_k} with logits {logits}: token counts over 2048 draws are {counts}; tokens 0 to 3 must all be "
        "drawn (1, 2, 3 tie with the k-th largest, each kept with probability about 0.18) and 4, 5 never")


@pytest.mark.category("property")
@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_temperature_scales_the_logits(candidate, seed, temperature):
    """4000 draws of the first new token from one context: frequencies = softmax(logits / temperature) within 5 sd."""
    lm, ref_lm = scripted(candidate, 6, 3, seed)
    idx = prompt(1, 2, 6, seed).expand(4000, 2).clone()
    out = generated(candidate, lm, idx, 1, 6, seed, temperature=temperature)
    p = torch.softmax(ref_lm(idx[:1])[0, -1] / temperature, dim=-1)  # (V,)
    freq = torch.bincount(out[:, -1], minlength=6).double() / 4000
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
