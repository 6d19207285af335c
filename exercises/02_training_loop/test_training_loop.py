"""Suite for 02_training_loop: `train_epoch` and `evaluate` on a BatchNorm + dropout MLP, a shuffling DataLoader
and a recording optimizer (support.py, in the worker) vs the reference and a textbook loop run here from the same
weights, data order and dropout seed. Probes record how the model, loss and optimizer were called (mode, autograd,
batches moved to `device`, each step's gradient); the verdicts are made here."""
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from grader import kit
from grader.kit import Mismatch, assert_close, f64, given_cases

support = kit.exercise_support(__file__)


class Run(kit.Case):
    """A model, loaders and optimizer (support.make_setup); the last batch is often partial."""

    seed: int
    n: int
    n_val: int
    batch_size: int
    d_in: int
    hidden: int
    classes: int
    dropout: float
    optimizer: str
    shuffle: bool
    lr: float | None = None  # None: 0.1 for SGD, 0.02 for Adam

    def cfg(self) -> dict:
        return {**dataclasses.asdict(self), "lr": self.lr or (0.1 if self.optimizer == "sgd" else 0.02)}

    def remote(self, candidate, device, reseed=True) -> dict:  # handles to the objects, built in the worker
        h = candidate.lib.support("make_setup", self.cfg(), str(device))
        if reseed:
            candidate.lib.support("reseed", self.seed)
        return h

    def local(self, device) -> dict:  # the same objects (weights, data, loader seeds), built here
        return support.make_setup(self.cfg(), str(device))


@st.composite
def runs(draw, min_batches: int = 1):
    """BatchNorm in train mode needs 2+ rows per batch, so no batch has 1 row; the data may fit in one batch."""
    batch_size = draw(st.integers(2, 6), label="batch_size")
    full = draw(st.integers(max(0, min_batches - 1), 4), label="full batches")
    rest = draw(st.sampled_from([0, *range(2, batch_size)]), label="rows in the last partial batch")
    if full * batch_size + rest < 2 or full + (rest > 0) < min_batches:
        full, rest = max(min_batches, 1), 0
    return Run(draw(st.integers(0, 2**31 - 1)), full * batch_size + rest, draw(st.integers(1, 13)), batch_size,
               draw(st.integers(1, 5)), draw(st.integers(1, 6)), draw(st.integers(2, 4)),
               draw(st.sampled_from([0.0, 0.3, 0.6])), draw(st.sampled_from(["sgd", "adam"])), draw(st.booleans()))


def train(lib, h: dict, device, name="train_epoch(...)") -> float:
    return as_float(lib.train_epoch(h["model"], h["train_loader"], h["loss_fn"], h["optimizer"], str(device)), name)


def evaluate(lib, h: dict, device, name="evaluate(...)") -> tuple[float, float]:
    return as_metrics(lib.evaluate(h["model"], h["val_loader"], h["loss_fn"], str(device)), name)


def textbook_train_epoch(s: dict, device) -> float:
    """The oracle: the loop every PyTorch tutorial writes, with the per-sample mean loss."""
    s["model"].train()
    s["batch_losses"] = losses = []
    sizes = []
    for x, y in s["train_loader"]:
        x, y = x.to(device), y.to(device)
        s["optimizer"].zero_grad()
        loss = s["loss_fn"](s["model"](x), y)
        loss.backward()
        s["optimizer"].step()
        losses.append(loss.item())
        sizes.append(len(y))
    return sum(l * n for l, n in zip(losses, sizes)) / sum(sizes)


def whole_set_evaluation(s: dict, device) -> tuple[float, float]:
    """The oracle for evaluate: the whole validation set in one eval-mode forward pass (in eval
    mode BatchNorm uses its running stats, so batching cannot change any row's logits)."""
    model, (x, y) = s["model"], (t.to(device) for t in s["val_loader"].dataset.tensors)  # (N, D), (N,)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(x)  # (N, C)
    model.train(was_training)
    return F.cross_entropy(logits, y).item(), (logits.argmax(-1) == y).double().mean().item()


def as_float(value, name: str) -> float:
    """A metric must come back as a finite Python float."""
    if isinstance(value, torch.Tensor):
        raise Mismatch(f"{name}: expected a Python float, got a tensor of shape {tuple(value.shape)} "
                       "(use loss.item(): summing loss tensors keeps every batch's graph alive)")
    if type(value) is not float or not math.isfinite(value):
        raise Mismatch(f"{name}: expected a finite Python float, got {type(value).__name__} {value!r}")
    return value


def as_metrics(value, name: str) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise Mismatch(f"{name}: expected a tuple (loss, accuracy), got {type(value).__name__} {value!r}")
    loss, acc = as_float(value[0], f"{name}[0] (loss)"), as_float(value[1], f"{name}[1] (accuracy)")
    if not 0.0 <= acc <= 1.0:
        raise Mismatch(f"{name}: accuracy {acc} is outside [0, 1] (a fraction of the samples, "
                       "divided by the number of samples, not of batches, and not a percentage)")
    return loss, acc


def assert_number_close(got: float, expected: float, name: str) -> None:
    assert_close(torch.tensor(got, dtype=f64), torch.tensor(expected, dtype=f64), name)


def assert_states_match(got: dict, expected: dict, when: str) -> None:
    """Parameters and BatchNorm buffers (running_mean, running_var, num_batches_tracked)."""
    if set(got) != set(expected):
        raise Mismatch(f"state_dict keys {when}: expected {sorted(expected)}, got {sorted(got)}")
    for name, value in expected.items():
        assert_close(got[name], value, f"{name} {when}")


# -- shape ------------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given_cases(runs())
def test_train_epoch_returns_a_float(candidate, device, case):
    train(candidate, case.remote(candidate, device, reseed=False), device)


@pytest.mark.category("shape")
@given_cases(runs())
def test_evaluate_returns_loss_and_accuracy(candidate, device, case):
    loss, _ = evaluate(candidate, case.remote(candidate, device, reseed=False), device)
    if loss < 0:
        raise Mismatch(f"evaluate(...): a cross-entropy loss cannot be negative, got {loss}")


# -- equivalence ------------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given_cases(runs())
def test_one_epoch_matches_reference(candidate, reference, device, case):
    """Same initial weights, data order and dropout seed: same parameters, BN buffers and loss."""
    h, s = case.remote(candidate, device), case.local(device)
    got = train(candidate, h, device)
    with kit.seeded(case.seed):
        expected = train(reference, s, device)
    assert_states_match(candidate.lib.support("state", h), support.state(s), "after one epoch, vs the reference")
    assert_number_close(got, expected, "loss returned by train_epoch vs the reference")


@pytest.mark.category("equivalence")
@given_cases(runs())
def test_train_and_evaluate_alternating_match_textbook_loop(candidate, device, case):
    """train, evaluate, train, evaluate: after evaluate the model is in eval mode, so train_epoch
    must switch it back to train mode itself."""
    h, s = case.remote(candidate, device), case.local(device)
    got = [(train(candidate, h, device), evaluate(candidate, h, device)) for _ in range(2)]
    with kit.seeded(case.seed):
        expected = [(textbook_train_epoch(s, device), whole_set_evaluation(s, device)) for _ in range(2)]
    assert_states_match(candidate.lib.support("state", h), support.state(s),
                        "after train, evaluate, train, evaluate, vs a textbook loop")
    for epoch, ((loss, (v_loss, v_acc)), (e_loss, (e_v_loss, e_v_acc))) in enumerate(zip(got, expected), start=1):
        when = "right after evaluate (is the model back in train mode?)" if epoch == 2 else "in epoch 1"
        assert_number_close(loss, e_loss, f"train_epoch's loss {when}")
        whole = "the whole validation set in one eval-mode pass"
        assert_number_close(v_loss, e_v_loss, f"evaluate's loss after epoch {epoch} vs {whole}")
        assert_number_close(v_acc, e_v_acc, f"evaluate's accuracy after epoch {epoch} vs {whole}")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("n, batch_size", [(10, 4), (7, 5)])
def test_last_partial_batch_is_weighted_by_its_size(candidate, device, seed, n, batch_size):
    """Loss and accuracy are means over samples: a last batch of 2 rows counts for 2 samples, not
    for as much as a full batch (which the mean of the batch means would do)."""
    case = Run(seed, n, n, batch_size, 3, 4, 3, 0.0, "sgd", False)
    h, s = case.remote(candidate, device), case.local(device)
    got_train, (got_loss, got_acc) = train(candidate, h, device), evaluate(candidate, h, device)
    with kit.seeded(seed):
        expected_train = textbook_train_epoch(s, device)
    sizes, means = [min(batch_size, n - i) for i in range(0, n, batch_size)], s["batch_losses"]
    hint = (f" (you returned the mean of the {len(sizes)} batch means, {sum(means) / len(means):.6f}: batches of "
            f"{sizes} rows must count by their size)" if math.isclose(got_train, sum(means) / len(means)) else "")
    over = f"over {n} samples in batches of {sizes}"
    assert_number_close(got_train, expected_train, f"train_epoch's mean loss per sample {over}{hint}")
    e_loss, e_acc = whole_set_evaluation(s, device)
    assert_number_close(got_loss, e_loss, f"evaluate's mean loss per sample {over}")
    assert_number_close(got_acc, e_acc, f"evaluate's accuracy {over} (correct predictions / {n} samples)")


# -- gradient ---------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given_cases(runs(min_batches=2))
def test_each_step_uses_only_its_own_batch_gradient(candidate, device, case):
    """The optimizer records every parameter's .grad when step() is called: step k must see the
    gradient of batch k's loss alone (not accumulated from earlier batches, not zeroed yet)."""
    h, s = case.remote(candidate, device), case.local(device)
    train(candidate, h, device)
    with kit.seeded(case.seed):
        textbook_train_epoch(s, device)
    got, expected = candidate.lib.support("logs", h)["steps"], support.logs(s)["steps"]
    if len(got) != len(expected):
        raise Mismatch(f"optimizer.step() was called {len(got)} times in an epoch of {len(expected)} batches "
                       "(one step per batch)")
    for k, (g, e) in enumerate(zip(got, expected), start=1):
        for name, grad in e.items():
            if g.get(name) is None:
                raise Mismatch(f"gradient of {name} at optimizer step {k}: no gradient (step() called before "
                               "backward(), or after zero_grad()?)")
            assert_close(g[name], grad, f"gradient of {name} used by optimizer step {k} (it must be the gradient "
                         f"of batch {k}'s loss alone)")


# -- convergence ------------------------------------------------------------------------------
EPOCHS, MIN_ACCURACY = 6, 0.85


@pytest.mark.category("convergence")
def test_learns_a_teacher_task(candidate, reference, device, seed, artifacts):
    """Labels from a random linear teacher in 6-D, 3 classes (a third each by chance): after 6
    epochs the validation accuracy must reach 85%, on three data sets."""
    for run in range(3):
        case = Run(seed * 1000 + run, 384, 384, 32, 6, 32, 3, 0.1, "sgd", True, lr=0.05)
        h = case.remote(candidate, device)
        got = [(train(candidate, h, device), evaluate(candidate, h, device)[1]) for _ in range(EPOCHS)]
        if run == 0 or got[-1][1] < MIN_ACCURACY:  # the reference runs for the report and the message
            s = case.local(device)
            with kit.seeded(case.seed):
                expected = [(train(reference, s, device), evaluate(reference, s, device)[1]) for _ in range(EPOCHS)]
        if run == 0:
            artifacts["loss_curve"] = {"candidate": [l for l, _ in got], "reference": [l for l, _ in expected]}
        assert got[-1][1] >= MIN_ACCURACY, (
            f"after {EPOCHS} epochs ({case}) the validation accuracy is {got[-1][1]:.1%} (per epoch, train loss "
            f"and accuracy: {[(round(l, 3), round(a, 3)) for l, a in got]}); the reference loop, from the same "
            f"weights and data, reaches {expected[-1][1]:.1%}; at least {MIN_ACCURACY:.0%} is required")


# -- properties -------------------------------------------------------------------------------
@pytest.mark.category("property")
@given_cases(runs())
def test_evaluate_changes_no_state(candidate, device, case):
    """evaluate must not train: parameters and BatchNorm running stats stay bit-identical, no
    optimizer step, and (dropout off) a second call gives exactly the same numbers."""
    h = case.remote(candidate, device)
    train(candidate, h, device)  # non-trivial running stats
    candidate.lib.support("logs", h)
    before, first = candidate.lib.support("state", h), evaluate(candidate, h, device)
    assert_states_match(candidate.lib.support("state", h), before,
                        "after evaluate (must be unchanged: model.eval() freezes the BatchNorm running stats)")
    second = evaluate(candidate, h, device, "a second evaluate(...)")
    assert second == first, (f"evaluate returned {first} and then {second} for the same model and data: is "
                             "dropout still active (model.eval() missing)?")
    steps = len(candidate.lib.support("logs", h)["steps"])
    assert steps == 0, f"evaluate called optimizer.step() {steps} times; it must not train"


@pytest.mark.category("property")
@given_cases(runs())
def test_evaluate_runs_in_eval_mode_without_autograd(candidate, device, case):
    h = case.remote(candidate, device, reseed=False)  # a fresh model is in train mode
    candidate.evaluate(h["model"], h["val_loader"], h["loss_fn"], str(device))
    calls = candidate.lib.support("logs", h)["forward"]
    rows = sum(c["rows"] for c in calls)
    assert rows == case.n_val, f"evaluate's forward passes saw {rows} rows; the loader holds {case.n_val}"
    for k, call in enumerate(calls, start=1):
        assert not call["training"], (f"forward pass {k} of evaluate ran in train mode (call model.eval(): "
                                      "dropout is active and BatchNorm updates its running stats in train mode)")
        assert not call["grad_enabled"], (f"forward pass {k} of evaluate ran with autograd on (wrap the loop in "
                                          "torch.no_grad(): otherwise every batch builds a graph for nothing)")


@pytest.mark.category("property")
@given_cases(runs())
def test_train_epoch_trains_in_train_mode(candidate, device, case):
    """Even when the model was left in eval mode (as evaluate leaves it), train_epoch must put it
    in train mode, see every sample once, and take one optimizer step per batch."""
    h = case.remote(candidate, device, reseed=False)
    h["model"].eval()
    candidate.train_epoch(h["model"], h["train_loader"], h["loss_fn"], h["optimizer"], str(device))
    log = candidate.lib.support("logs", h)
    rows = [c["rows"] for c in log["forward"]]
    assert sum(rows) == case.n, (f"train_epoch's forward passes saw {sum(rows)} rows in batches of {rows}; the "
                                 f"loader holds {case.n} samples, each must be seen exactly once")
    for k, call in enumerate(log["forward"], start=1):
        assert call["training"], (f"forward pass {k} of train_epoch ran in eval mode: call model.train() at the "
                                  "start (evaluate leaves the model in eval mode; dropout and BatchNorm differ)")
        assert call["grad_enabled"], f"forward pass {k} of train_epoch ran with autograd off"
    assert len(log["steps"]) == len(rows), (f"train_epoch called optimizer.step() {len(log['steps'])} times for "
                                            f"{len(rows)} batches; expected one step per batch")


@pytest.mark.category("property")
@given_cases(runs())
def test_batches_are_moved_to_the_device(candidate, device, case):
    """The loader yields CPU tensors and the model lives on `device`: every batch (inputs and
    targets) must be moved with .to(device) before use (on a GPU, forgetting it crashes)."""
    h = case.remote(candidate, device, reseed=False)
    candidate.train_epoch(h["model"], h["train_loader"], h["loss_fn"], h["optimizer"], str(device))
    candidate.evaluate(h["model"], h["val_loader"], h["loss_fn"], str(device))
    log = candidate.lib.support("logs", h)
    for k, call in enumerate(log["forward"], start=1):
        assert call["moved"], f"forward pass {k}: the inputs reached the model without .to(device)"
    for k, call in enumerate(log["loss"], start=1):
        assert call["target_moved"], f"loss call {k}: the targets reached loss_fn without .to(device)"
        assert call["logits_moved"], f"loss call {k}: the logits came from inputs never moved with .to(device)"
