"""Suite for 57_attention_decoder: a Luong attention decoder step (GRU) and its teacher-forced unroll vs the
reference and a loop oracle; gradients, an alignment toy, masked attention. src_mask True = a VALID position."""
import pytest
import torch
from hypothesis import strategies as st

from grader import kit
from grader.kit import assert_close, assert_shape, f64, given_cases

support = kit.exercise_support(__file__)
SCORES = ["dot", "general"]


class Dec(kit.Case):
    """AttentionDecoder(V, E, H, score, bos_id) unrolled T steps over S source positions (src_mask: random holes,
    position 0 always valid), batch B."""

    B: int
    S: int
    V: int
    E: int
    H: int
    T: int
    score: str
    bos_id: int
    data_seed: int

    def inputs(self, g, dtype=f64):
        targets = torch.randint(self.V, (self.B, self.T), generator=g)
        h, enc = (torch.randn(self.B, *shape, generator=g, dtype=dtype) for shape in ((self.H,), (self.S, self.H)))
        mask = (torch.rand(self.B, self.S, generator=g) < 0.7) | (torch.arange(self.S) == 0)  # (B, S)
        return targets, h, enc, mask

    def make(self, lib):
        return lib.AttentionDecoder(self.V, self.E, self.H, score=self.score, bos_id=self.bos_id)

    def build(self, candidate, reference):
        """cand and ref with the same weights sd (W_a doubled: peaked attention), sd, the inputs, the generator."""
        twins = kit.twins(self.make, candidate, reference, g := self.generator(), scales={"attention.W_a.weight": 2.0})
        return *twins, *self.inputs(g), g


def decoders(score=st.sampled_from(SCORES), T=st.integers(1, 4), bos_id=st.just(0)):
    return st.builds(Dec, B=st.integers(1, 3), S=st.integers(1, 5), V=st.integers(2, 7), E=st.integers(1, 4),
                     H=st.integers(1, 5), T=T, score=score, bos_id=bos_id, data_seed=kit.data_seeds)


def loop_oracle(sd, score, prev_token, h, enc, mask):
    """One decoder step written with Python loops from the equations (GRU, Luong attention)."""
    B, S, H = enc.shape
    gi = sd["embedding.weight"][prev_token] @ sd["cell.weight_ih"].T + sd["cell.bias_ih"]  # (B, 3H)
    gh = h @ sd["cell.weight_hh"].T + sd["cell.bias_hh"]
    (r, z), n = torch.sigmoid(gi[:, :2 * H] + gh[:, :2 * H]).chunk(2, 1), gi[:, 2 * H:]  # reset, update gates
    h_new = (1 - z) * torch.tanh(n + r * gh[:, 2 * H:]) + z * h
    logits, weights = [], torch.zeros(B, S, dtype=f64)
    for b in range(B):
        valid = [s for s in range(S) if mask[b, s]]
        scores = torch.stack([h_new[b] @ (enc[b, s] if score == "dot" else sd["attention.W_a.weight"] @ enc[b, s])
                              for s in valid])
        weights[b, valid] = torch.softmax(scores, dim=0)
        h_tilde = torch.tanh(sd["W_c.weight"] @ torch.cat([weights[b] @ enc[b], h_new[b]]))  # [context; h]
        logits.append(sd["out.weight"] @ h_tilde + sd["out.bias"])
    return torch.stack(logits), h_new, weights


def column(targets, t):
    """targets[:, t] with stride 1 (a size-1 slice keeps its old stride, which the transport refuses)."""
    return targets[:, t].clone(memory_format=torch.contiguous_format)


def step(module, case: Dec, prev, h, enc, mask, finite=False):
    """module.step(...), checked to return (logits (B, V), new state h (B, H), attn_weights (B, S)) of h's dtype."""
    shapes = {"logits": (case.B, case.V), "new_state h": (case.B, case.H), "attn_weights": mask.shape}
    return kit.unpack(module.step(prev, h, enc, mask), shapes, h.dtype, "step", finite=finite)


# -- shape -----------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(decoders())
def test_output_shapes_and_dtype(candidate, case):
    m = case.make(candidate)
    targets, h, enc, mask = case.inputs(case.generator(), dtype=torch.float32)
    step(m, case, column(targets, 0), h, enc, mask, finite=True)
    assert_shape(m(targets, h, enc, mask), (case.B, case.T, case.V), "forward logits", dtype=torch.float32)


@pytest.mark.category("shape")
def test_parameters_follow_the_interface(candidate, reference):
    for score in SCORES:
        make = Dec(1, 1, 7, 3, 5, 1, score, 0, 0).make
        kit.assert_state_shapes(make(candidate), make(reference), f"AttentionDecoder(7, 3, 5, score={score!r})")


# -- equivalence -----------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@pytest.mark.parametrize("score", SCORES)
@given_cases(decoders(), replace=("score",))
def test_step_matches_loop_oracle_and_reference(candidate, reference, score, case):
    cand, ref, sd, targets, h, enc, mask, _ = case.build(candidate, reference)
    prev = column(targets, 0)
    logits, h_new, w = step(cand, case, prev, h, enc, mask)
    exp_logits, exp_h, exp_w = loop_oracle(sd, score, prev, h, enc, mask)
    assert_close(h_new, exp_h, "new_state h vs GRU equations")
    assert_close(w, exp_w, "attn_weights vs loop oracle")
    assert_close(logits, exp_logits, "logits vs loop oracle")
    assert_close(logits, ref.step(prev, h, enc, mask)[0].detach(), "logits vs reference")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("score", SCORES)
@given_cases(decoders(bos_id=st.integers(0, 1)), replace=("score",))
def test_forward_matches_reference(candidate, reference, score, case):
    cand, ref, _, *inputs, _ = case.build(candidate, reference)
    assert_close(assert_shape(cand(*inputs), (case.B, case.T, case.V), "forward logits"), ref(*inputs).detach(),
                 f"teacher-forced logits (bos_id={case.bos_id}) vs reference")


@pytest.mark.category("equivalence")
@given_cases(decoders(bos_id=st.just(1)))
def test_forward_equals_running_step(candidate, reference, case):
    """Your teacher-forced forward must equal your own step run T times: BOS first, then targets[:, t-1]."""
    cand, _, _, targets, h, enc, mask, _ = case.build(candidate, reference)
    got = assert_shape(cand(targets, h, enc, mask), (case.B, case.T, case.V), "forward logits")
    state, prev = h, torch.full((case.B,), case.bos_id)
    for t in range(case.T):
        logits, state, _ = step(cand, case, prev, state, enc, mask)
        assert_close(got[:, t], logits, f"forward logits at t={t} vs step fed BOS={case.bos_id} then targets[:, :{t}]")
        prev = column(targets, t)


# -- gradient --------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@pytest.mark.parametrize("score", SCORES)
@given_cases(decoders(T=st.integers(1, 3)), replace=("score",))
def test_gradients_match_reference(candidate, reference, score, case):
    cand, ref, _, targets, h, enc, mask, g = case.build(candidate, reference)
    kit.check_gradients(candidate, cand, ref, {"targets": targets, "the initial state h": h, "encoder_outputs": enc,
                                               "src_mask": mask}, g=g)


@pytest.mark.category("gradient")
@pytest.mark.parametrize("score", SCORES)
def test_gradients_match_finite_differences(candidate, reference, seed, score):
    cand, _, sd, targets, h, enc, mask, g = Dec(2, 4, 5, 3, 4, 3, score, 0, seed).build(candidate, reference)
    kit.check_finite_differences(candidate, cand, {"targets": targets, "h": h, "encoder_outputs": enc,
                                                   "src_mask": mask}, g=g, state_dict=sd)


# -- convergence -----------------------------------------------------------------------------
VOCAB, EMBED, HIDDEN, REAL, PADDING = 8, 16, 32, 6, 3
COPIER, TASK = (VOCAB, HIDDEN, REAL, PADDING), (REAL, PADDING, VOCAB)


@pytest.mark.category("convergence")
def test_learns_to_copy_the_source(candidate, reference, seed, artifacts):
    """Step t must output source token t: the previous target token says nothing about it, so the
    decoder has to find position t among the encoder outputs (chance is 1/7)."""
    def models(s, run):
        decoder = candidate.AttentionDecoder(VOCAB, EMBED, HIDDEN, score="general")
        return kit.same_init(candidate.lib.support("build_copier", decoder, *COPIER), lambda: support.build_copier(
            reference.AttentionDecoder(VOCAB, EMBED, HIDDEN, score="general"), *COPIER), s)

    kit.check_convergence(
        candidate, artifacts, seed, models=models, runs=2, threshold=0.9, train=dict(steps=60, lr=3e-2, batch_size=32),
        task=lambda g: (*support.copy_task(512, *TASK, g), *support.copy_task(256, *TASK, g)),
        subject="your decoder", goal="on the copy task")


# -- properties ------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(decoders())
def test_masked_weights_are_zero_and_rows_sum_to_one(candidate, reference, case):
    cand, _, _, targets, h, enc, mask, _ = case.build(candidate, reference)
    kit.assert_attention_weights(step(cand, case, column(targets, 0), h, enc, mask)[2], mask, "attn_weights")


@pytest.mark.category("property")
@given_cases(decoders(T=st.integers(1, 3)), extra=st.integers(1, 3))
def test_appending_padded_positions_changes_nothing(candidate, reference, case, extra):
    cand, _, _, targets, h, enc, mask, g = case.build(candidate, reference)
    prev = column(targets, 0)
    for fn in (lambda enc, mask: cand(targets, h, enc, mask),  # the teacher-forced logits
               lambda enc, mask: step(cand, case, prev, h, enc, mask)):  # one step: logits, state, weights
        kit.assert_appending_changes_nothing(fn, {"enc": enc, "mask": mask}, {"enc": None, "mask": False}, extra, g,
                                             what="padded (src_mask False) source positions")


@pytest.mark.category("property")
def test_step_and_forward_do_not_modify_inputs(candidate, seed):
    targets, h, enc, mask = Dec(2, 4, 5, 3, 4, 3, "general", 0, seed).inputs(kit.generator(seed), torch.float32)
    m = candidate.AttentionDecoder(5, 3, 4)
    state = {"state": h, "encoder_outputs": enc, "src_mask": mask}
    kit.assert_inputs_unchanged(m.step, {"prev_token": column(targets, 0), **state}, what="step")
    kit.assert_inputs_unchanged(m, {"targets": targets, **state}, what="forward")
