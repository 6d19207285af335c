"""Suite for 02_training_loop: `train_epoch` and `evaluate` run on a small BatchNorm + dropout MLP,
a shuffling DataLoader and a recording optimizer (all built by support.py in the worker), against
the reference and a textbook loop run here from the same weights, data order and dropout seed.

`candidate` is the submission in a sandboxed worker; `reference` runs here. The loaders yield
CPU batches; the model lives on `device`. Probes in the model, the loss and the optimizer record
how they were called (train/eval mode, autograd on or off, batches moved or not, the gradient at
every step); the verdicts are made here from what they recorded.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from grader.compare import Mismatch, assert_close
from grader.testing import exercise_support, seeded

support = exercise_support(__file__)
f64 = torch.float64


# -- configurations ----------------------------------------------------------------------------
@st.composite
def configs(draw, min_batches: int = 1):
    """A run's config. BatchNorm in train mode needs 2+ rows per batch, so no batch has 1 row;
    the last batch is often partial, and the data may fit in a single (partial) batch."""
    batch_size = draw(st.integers(2, 6), label="batch_size")
    full = draw(st.integers(max(0, min_batches - 1), 4), label="full batches")
    rest = draw(st.sampled_from([0, *range(2, batch_size)]), label="rows in the last partial batch")
    if full * batch_size + rest < 2 or full + (rest > 0) < min_batches:
        full, rest = max(min_batches, 1), 0
    optimizer = draw(st.sampled_from(["sgd", "adam"]), label="optimizer")
    return dict(
        seed=draw(st.integers(0, 2**31 - 1), label="data seed"),
        n=full * batch_size + rest, n_val=draw(st.integers(1, 13), label="n_val"), batch_size=batch_size,
        d_in=draw(st.integers(1, 5), label="d_in"), hidden=draw(st.integers(1, 6), label="hidden"),
        classes=draw(st.integers(2, 4), label="classes"),
        dropout=draw(st.sampled_from([0.0, 0.3, 0.6]), label="dropout"),
        optimizer=optimizer, lr=0.1 if optimizer == "sgd" else 0.02,
        shuffle=draw(st.booleans(), label="shuffle"),
    )


def num_batches(cfg: dict) -> int:
    return math.ceil(cfg["n"] / cfg["batch_size"])


# -- running both sides --------------------------------------------------------------------------
def remote_setup(candidate, cfg: dict, device) -> dict:
    """Handles to the model, loaders, loss and optimizer, built in the worker."""
    return candidate.lib.support("make_setup", cfg, str(device))


def local_setup(cfg: dict, device) -> dict:
    """The same objects, built here (same weights, data and loader seeds)."""
    return support.make_setup(cfg, str(device))


def train_remote(candidate, h: dict, device):
    return candidate.train_epoch(h["model"], h["train_loader"], h["loss_fn"], h["optimizer"], str(device))


def evaluate_remote(candidate, h: dict, device):
    return candidate.evaluate(h["model"], h["val_loader"], h["loss_fn"], str(device))


def textbook_train_epoch(s: dict, device) -> float:
    """The oracle: the loop every PyTorch tutorial writes, with the per-sample mean loss."""
    model, loss_fn, optimizer = s["model"], s["loss_fn"], s["optimizer"]
    model.train()
    batch_losses, batch_sizes = [], []
    for x, y in s["train_loader"]:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        batch_losses.append(loss.item())
        batch_sizes.append(len(y))
    s["batch_losses"] = batch_losses
    return sum(l * n for l, n in zip(batch_losses, batch_sizes)) / sum(batch_sizes)


def whole_set_evaluation(s: dict, device) -> tuple[float, float]:
    """The oracle for evaluate: the whole validation set in one eval-mode forward pass (in eval
    mode BatchNorm uses its running stats, so batching cannot change any row's logits)."""
    model = s["model"]
    x, y = (t.to(device) for t in s["val_loader"].dataset.tensors)  # (N, D), (N,)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(x)  # (N, C)
    model.train(was_training)
    return F.cross_entropy(logits, y).item(), (logits.argmax(-1) == y).double().mean().item()


# -- checks -----------------------------------------------------------------------------------
def as_float(value, name: str) -> float:
    """A metric must come back as a Python float."""
    if isinstance(value, torch.Tensor):
        raise Mismatch(f"{name}: expected a Python float, got a tensor of shape {tuple(value.shape)} "
                       "(use loss.item(): summing loss tensors keeps every batch's graph alive)")
    if type(value) is not float:
        raise Mismatch(f"{name}: expected a Python float, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise Mismatch(f"{name}: expected a finite number, got {value}")
    return value


def as_metrics(value, name: str = "evaluate(...)") -> tuple[float, float]:
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


def assert_steps_match(got: list, expected: list, when: str) -> None:
    if len(got) != len(expected):
        raise Mismatch(f"optimizer.step() was called {len(got)} times {when}; expected {len(expected)} "
                       "(one step per batch)")
    for k, (g, e) in enumerate(zip(got, expected), start=1):
        for name, grad in e.items():
            if g.get(name) is None:
                raise Mismatch(f"gradient of {name} at optimizer step {k} {when}: no gradient "
                               "(step() called before backward(), or after zero_grad()?)")
            assert_close(g[name], grad, f"gradient of {name} used by optimizer step {k} {when} (it must be "
                         f"the gradient of batch {k}'s loss alone)")


# -- shape ------------------------------------------------------------------------------------
@pytest.mark.category("shape")
@given(cfg=configs())
def test_train_epoch_returns_a_float(candidate, device, cfg):
    h = remote_setup(candidate, cfg, device)
    as_float(train_remote(candidate, h, device), f"train_epoch(...) on {cfg['n']} samples in batches of "
             f"{cfg['batch_size']}")


@pytest.mark.category("shape")
@given(cfg=configs())
def test_evaluate_returns_loss_and_accuracy(candidate, device, cfg):
    h = remote_setup(candidate, cfg, device)
    loss, _ = as_metrics(evaluate_remote(candidate, h, device), f"evaluate(...) on {cfg['n_val']} samples in "
                         f"batches of {cfg['batch_size']}")
    if loss < 0:
        raise Mismatch(f"evaluate(...): a cross-entropy loss cannot be negative, got {loss}")


# -- equivalence ------------------------------------------------------------------------------
@pytest.mark.category("equivalence")
@given(cfg=configs())
def test_one_epoch_matches_reference(candidate, reference, device, cfg):
    """Same initial weights, data order and dropout seed: same parameters, BN buffers and loss."""
    h = remote_setup(candidate, cfg, device)
    candidate.lib.support("reseed", cfg["seed"])
    got_loss = as_float(train_remote(candidate, h, device), "train_epoch(...)")
    s = local_setup(cfg, device)
    with seeded(cfg["seed"]):
        expected_loss = reference.train_epoch(s["model"], s["train_loader"], s["loss_fn"], s["optimizer"], device)
    assert_states_match(candidate.lib.support("state", h), support.state(s), "after one epoch, vs the reference")
    assert_number_close(got_loss, expected_loss, "loss returned by train_epoch vs the reference")


@pytest.mark.category("equivalence")
@given(cfg=configs())
def test_train_and_evaluate_alternating_match_textbook_loop(candidate, device, cfg):
    """train, evaluate, train, evaluate: after evaluate the model is in eval mode, so train_epoch
    must switch it back to train mode itself."""
    h = remote_setup(candidate, cfg, device)
    candidate.lib.support("reseed", cfg["seed"])
    got = []
    for _ in range(2):
        got.append(as_float(train_remote(candidate, h, device), "train_epoch(...)"))
        got.append(as_metrics(evaluate_remote(candidate, h, device)))
    s = local_setup(cfg, device)
    expected = []
    with seeded(cfg["seed"]):
        for _ in range(2):
            expected.append(textbook_train_epoch(s, device))
            expected.append(whole_set_evaluation(s, device))
    assert_states_match(candidate.lib.support("state", h), support.state(s),
                        "after train, evaluate, train, evaluate, vs a textbook loop")
    for epoch in (0, 1):
        when = "right after evaluate (is the model back in train mode?)" if epoch else "in epoch 1"
        assert_number_close(got[2 * epoch], expected[2 * epoch], f"train_epoch's loss {when}")
        (loss, acc), (e_loss, e_acc) = got[2 * epoch + 1], expected[2 * epoch + 1]
        assert_number_close(loss, e_loss, f"evaluate's loss after epoch {epoch + 1} vs the whole validation set "
                            "in one eval-mode pass")
        assert_number_close(acc, e_acc, f"evaluate's accuracy after epoch {epoch + 1} vs the whole validation set")


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("n, batch_size", [(10, 4), (7, 5)])
def test_last_partial_batch_is_weighted_by_its_size(candidate, device, seed, n, batch_size):
    """Loss and accuracy are means over samples: a last batch of 2 rows counts for 2 samples, not
    for as much as a full batch (which the mean of the batch means would do)."""
    cfg = dict(seed=seed, n=n, n_val=n, batch_size=batch_size, d_in=3, hidden=4, classes=3, dropout=0.0,
               optimizer="sgd", lr=0.1, shuffle=False)
    h = remote_setup(candidate, cfg, device)
    candidate.lib.support("reseed", seed)
    got_train = as_float(train_remote(candidate, h, device), "train_epoch(...)")
    got_loss, got_acc = as_metrics(evaluate_remote(candidate, h, device))
    s = local_setup(cfg, device)
    with seeded(seed):
        expected_train = textbook_train_epoch(s, device)
    batch_means = s["batch_losses"]
    sizes = [min(batch_size, n - i) for i in range(0, n, batch_size)]
    mean_of_means = sum(batch_means) / len(batch_means)
    hint = (f" (you returned the mean of the {len(sizes)} batch means, {mean_of_means:.6f}: batches of "
            f"{sizes} rows must count by their size)" if math.isclose(got_train, mean_of_means, rel_tol=1e-9) else "")
    assert_number_close(got_train, expected_train, f"train_epoch's mean loss per sample over {n} samples in "
                        f"batches of {sizes}{hint}")
    e_loss, e_acc = whole_set_evaluation(s, device)
    assert_number_close(got_loss, e_loss, f"evaluate's mean loss per sample over {n} samples in batches of {sizes}")
    assert_number_close(got_acc, e_acc, f"evaluate's accuracy over {n} samples in batches of {sizes} "
                        f"(correct predictions / {n} samples)")


# -- gradient ---------------------------------------------------------------------------------
@pytest.mark.category("gradient")
@given(cfg=configs(min_batches=2))
def test_each_step_uses_only_its_own_batch_gradient(candidate, device, cfg):
    """The optimizer records every parameter's .grad when step() is called: step k must see the
    gradient of batch k's loss alone (not accumulated from earlier batches, not zeroed yet)."""
    h = remote_setup(candidate, cfg, device)
    candidate.lib.support("reseed", cfg["seed"])
    train_remote(candidate, h, device)
    got = candidate.lib.support("logs", h)["steps"]
    s = local_setup(cfg, device)
    with seeded(cfg["seed"]):
        textbook_train_epoch(s, device)
    assert_steps_match(got, support.logs(s)["steps"], f"in an epoch of {num_batches(cfg)} batches")


# -- convergence ------------------------------------------------------------------------------
TASK = dict(n=384, n_val=384, batch_size=32, d_in=6, hidden=32, classes=3, dropout=0.1, optimizer="sgd",
            lr=0.05, shuffle=True)
EPOCHS = 6
MIN_ACCURACY = 0.85


@pytest.mark.category("convergence")
def test_learns_a_teacher_task(candidate, reference, device, seed, artifacts):
    """Labels from a random linear teacher in 6-D, 3 classes (a third each by chance): after 6
    epochs the validation accuracy must reach 85%, on three data sets."""
    for run in range(3):
        cfg = {**TASK, "seed": seed * 1000 + run}
        h = remote_setup(candidate, cfg, device)
        candidate.lib.support("reseed", cfg["seed"])
        losses, accuracies = [], []
        for _ in range(EPOCHS):
            losses.append(as_float(train_remote(candidate, h, device), "train_epoch(...)"))
            accuracies.append(as_metrics(evaluate_remote(candidate, h, device))[1])
        if run == 0 or accuracies[-1] < MIN_ACCURACY:  # the reference runs for the report and the message
            s = local_setup(cfg, device)
            ref_losses, ref_accuracies = [], []
            with seeded(cfg["seed"]):
                for _ in range(EPOCHS):
                    ref_losses.append(reference.train_epoch(s["model"], s["train_loader"], s["loss_fn"],
                                                            s["optimizer"], device))
                    ref_accuracies.append(reference.evaluate(s["model"], s["val_loader"], s["loss_fn"], device)[1])
        if run == 0:
            artifacts["loss_curve"] = {"candidate": losses, "reference": ref_losses}
        assert accuracies[-1] >= MIN_ACCURACY, (
            f"after {EPOCHS} epochs (data seed {cfg['seed']}) the validation accuracy is {accuracies[-1]:.1%} "
            f"(per epoch: {[round(a, 3) for a in accuracies]}; train losses {[round(l, 3) for l in losses]}); "
            f"the reference loop, from the same weights and data, reaches {ref_accuracies[-1]:.1%}; at least "
            f"{MIN_ACCURACY:.0%} is required")


# -- properties -------------------------------------------------------------------------------
@pytest.mark.category("property")
@given(cfg=configs())
def test_evaluate_changes_no_state(candidate, device, cfg):
    """evaluate must not train: parameters and BatchNorm running stats stay bit-identical, no
    optimizer step, and (dropout off) a second call gives exactly the same numbers."""
    h = remote_setup(candidate, cfg, device)
    candidate.lib.support("reseed", cfg["seed"])
    train_remote(candidate, h, device)  # non-trivial running stats
    candidate.lib.support("logs", h)
    before = candidate.lib.support("state", h)
    first = as_metrics(evaluate_remote(candidate, h, device))
    assert_states_match(candidate.lib.support("state", h), before,
                        "after evaluate (must be unchanged: model.eval() freezes the BatchNorm running stats)")
    second = as_metrics(evaluate_remote(candidate, h, device), "a second evaluate(...)")
    assert second == first, (f"evaluate returned {first} and then {second} for the same model and data: is "
                             "dropout still active (model.eval() missing)?")
    steps = len(candidate.lib.support("logs", h)["steps"])
    assert steps == 0, f"evaluate called optimizer.step() {steps} times; it must not train"


@pytest.mark.category("property")
@given(cfg=configs())
def test_evaluate_runs_in_eval_mode_without_autograd(candidate, device, cfg):
    h = remote_setup(candidate, cfg, device)  # a fresh model is in train mode
    evaluate_remote(candidate, h, device)
    calls = candidate.lib.support("logs", h)["forward"]
    rows = sum(c["rows"] for c in calls)
    assert rows == cfg["n_val"], f"evaluate's forward passes saw {rows} rows; the loader holds {cfg['n_val']}"
    for k, call in enumerate(calls, start=1):
        assert not call["training"], (f"forward pass {k} of evaluate ran in train mode (call model.eval(): "
                                      "dropout is active and BatchNorm updates its running stats in train mode)")
        assert not call["grad_enabled"], (f"forward pass {k} of evaluate ran with autograd on (wrap the loop in "
                                          "torch.no_grad(): otherwise every batch builds a graph for nothing)")


@pytest.mark.category("property")
@given(cfg=configs())
def test_train_epoch_trains_in_train_mode(candidate, device, cfg):
    """Even when the model was left in eval mode (as evaluate leaves it), train_epoch must put it
    in train mode, see every sample once, and take one optimizer step per batch."""
    h = remote_setup(candidate, cfg, device)
    h["model"].eval()
    train_remote(candidate, h, device)
    log = candidate.lib.support("logs", h)
    rows = [c["rows"] for c in log["forward"]]
    assert sum(rows) == cfg["n"], (f"train_epoch's forward passes saw {sum(rows)} rows in batches of {rows}; the "
                                   f"loader holds {cfg['n']} samples, each must be seen exactly once")
    for k, call in enumerate(log["forward"], start=1):
        assert call["training"], (f"forward pass {k} of train_epoch ran in eval mode: call model.train() at the "
                                  "start (evaluate leaves the model in eval mode; dropout and BatchNorm differ)")
        assert call["grad_enabled"], f"forward pass {k} of train_epoch ran with autograd off"
    assert len(log["steps"]) == len(rows), (f"train_epoch called optimizer.step() {len(log['steps'])} times for "
                                            f"{len(rows)} batches; expected one step per batch")


@pytest.mark.category("property")
@given(cfg=configs())
def test_batches_are_moved_to_the_device(candidate, device, cfg):
    """The loader yields CPU tensors and the model lives on `device`: every batch (inputs and
    targets) must be moved with .to(device) before use (on a GPU, forgetting it crashes)."""
    h = remote_setup(candidate, cfg, device)
    train_remote(candidate, h, device)
    evaluate_remote(candidate, h, device)
    log = candidate.lib.support("logs", h)
    for k, call in enumerate(log["forward"], start=1):
        assert call["moved"], f"forward pass {k}: the inputs reached the model without .to(device)"
    for k, call in enumerate(log["loss"], start=1):
        assert call["target_moved"], f"loss call {k}: the targets reached loss_fn without .to(device)"
        assert call["logits_moved"], f"loss call {k}: the logits came from inputs never moved with .to(device)"
