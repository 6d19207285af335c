"""Convergence: the candidate's model trained in the worker, re-scored here, and compared with the
reference trained from the same initial weights only when the report or a failure needs it."""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from grader import training
from grader.compare import Mismatch, assert_tensor
from grader.kit.cases import generator
from grader.limits import TRAIN_TIMEOUT_FACTOR

__tracebackhide__ = True  # pytest shows the failing test's own frames and this check's message



def fit_and_check(candidate, model, inputs: torch.Tensor, targets: torch.Tensor, **config) -> list[float]:
    """Train the remote `model` in the worker (`grader.training.fit`: Adam on cross-entropy; config:
    steps, lr, batch_size, seed, forward_kwargs) and return the losses it reported, once this
    process has checked them: the trained model, run on the training data and scored here, must
    reach about the loss reported (code in the worker can be patched by the candidate; this cannot).

    >>> losses = fit_and_check(candidate, model, x_train, y_train, seed=s, steps=100, lr=1e-2, batch_size=32)
    """
    return checked_losses(start_fit(candidate, model, inputs, targets, **config), model, inputs, targets, **config)


def start_fit(candidate, model, inputs: torch.Tensor, targets: torch.Tensor, **config):
    """`fit_and_check`'s training, started: returns at once, while the worker trains (its reply:
    `checked_losses`). No other call to the candidate may come between the two."""
    return candidate.lib.start("fit", model, inputs, targets, _timeout_factor=TRAIN_TIMEOUT_FACTOR, **config)


def checked_losses(training_run, model, inputs: torch.Tensor, targets: torch.Tensor, **config) -> list[float]:
    """The losses `training_run` (from `start_fit`) reported, checked as `fit_and_check` says."""
    losses = training_run.result()["losses"]
    if type(losses) is not list or not losses or not all(type(v) is float and math.isfinite(v) for v in losses):
        raise Mismatch(f"training reported no usable losses (got {str(losses)[:200]})")
    logits = model(inputs, **(config.get("forward_kwargs") or {}))
    if type(logits) is not torch.Tensor or not torch.isfinite(logits).all():
        raise Mismatch("after training, the model's outputs on the training data are not finite")
    scored = float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), targets.reshape(-1)))
    tail = losses[-max(1, len(losses) // 10):]
    reported = sum(tail) / len(tail)
    if scored > 2 * reported + 0.25:
        raise Mismatch(f"training reported a final loss of {reported:.4f}, but the trained model scores "
                       f"{scored:.4f} on the training data here: the reported losses are not this model's")
    return losses


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Share of rows whose largest logit is the target class.

    >>> accuracy(torch.tensor([[0.1, 2.0], [3.0, 0.0]]), torch.tensor([1, 1]))
    0.5
    """
    return float((logits.argmax(-1) == targets).double().mean())


def check_convergence(candidate, artifacts: dict, seed: int, *, models: Callable, task: Callable, train: dict,
                      threshold: float, runs: int | Sequence = 1, score: Callable = accuracy,
                      evaluate: Callable | None = None, subject: str = "your model", goal: str = "on the task") -> None:
    """Train the candidate's model on `task` for each run and require `score` on held-out data of at
    least `threshold`. Run k uses seed s = seed * 1000 + k for the data, the batches and `models`.

    models(s, run) -> (remote model, trusted reference model) with the same initial weights (see
    `load`); task(g) -> (x_train, y_train, x_test, y_test) drawn from generator `g`; train: steps,
    lr, batch_size (and forward_kwargs) of `grader.training.fit`; runs: a count, or labels passed
    to `models` and named in messages (then every run keeps its loss curve); evaluate(model, x_test,
    y_test) -> the held-out accuracy, in place of `score(model(x_test), y_test)`, where one call on
    the whole set does not say it (e.g. each class as its own batch). The reference is trained
    only to draw the first loss curve (artifact "loss_curve") and to explain a failure.

    >>> def models(s, run):
    ...     with seeded(s):
    ...         ref = reference.Linear(5, 3)
    ...     return load(candidate.Linear(5, 3), ref.state_dict()), ref
    >>> check_convergence(candidate, artifacts, seed, models=models, task=lambda g: (*blobs(g), *blobs(g)),
    ...                   train=dict(steps=100, lr=5e-2, batch_size=64), threshold=0.95, runs=3,
    ...                   subject="your layer", goal="on three Gaussian blobs")
    """
    labels = list(range(runs)) if isinstance(runs, int) else list(runs)
    for k, run in enumerate(labels):
        s = seed * 1000 + k
        x_train, y_train, x_test, y_test = task(generator(s))
        model, ref_model = models(s, run)
        config = dict(train, seed=s)
        training_run = start_fit(candidate, model, x_train, y_train, **config)
        # a run whose reference curve is drawn trains the reference here while the worker trains
        ref_losses = (training.fit(ref_model, x_train, y_train, **config)["losses"]
                      if k == 0 or not isinstance(runs, int) else None)
        losses = checked_losses(training_run, model, x_train, y_train, **config)
        got = evaluate(model, x_test, y_test) if evaluate else score(
            _logits(model(x_test, **(train.get("forward_kwargs") or {})), y_test), y_test)
        if k > 0 and got >= threshold and isinstance(runs, int):
            continue
        if ref_losses is None:
            ref_losses = training.fit(ref_model, x_train, y_train, **config)["losses"]
        with torch.no_grad():
            ref_got = evaluate(ref_model, x_test, y_test) if evaluate else score(
                ref_model(x_test, **(train.get("forward_kwargs") or {})), y_test)
        if k == 0 or not isinstance(runs, int):
            artifacts["loss_curve" if isinstance(runs, int) else f"loss_curve_{run}"] = {
                "candidate": losses, "reference": ref_losses}
        if got < threshold:
            label = "" if isinstance(runs, int) else f", {run}"
            raise Mismatch(f"after {train['steps']} Adam steps (data seed {s}{label}) {subject} reaches {got:.1%} "
                           f"held-out accuracy {goal}; the reference, from the same initial weights, reaches "
                           f"{ref_got:.1%}; at least {threshold:.0%} is required")


def _logits(value, targets: torch.Tensor) -> torch.Tensor:
    """The model's held-out output must be finite float logits shaped (*targets.shape, classes)."""
    logits = assert_tensor(value, "logits on the held-out set")
    if tuple(logits.shape[:-1]) != tuple(targets.shape) or not logits.is_floating_point():
        raise Mismatch(f"logits on the held-out set: expected a float tensor of shape (*{tuple(targets.shape)}, "
                       f"classes), got {logits.dtype} {tuple(logits.shape)}")
    return logits
