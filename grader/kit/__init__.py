"""The exercise kit: the checks exercise suites share (trusted side only; never imported by the worker).

A suite does `from grader import kit` (or `from grader.kit import ...`) and finds here:
- cases (`grader.kit.cases`): `generator`, `remote_generator` (the same stream in the worker),
  `seeded`, `Case` (self-describing test cases drawn by `@st.composite` strategies), `about` (adds
  the case to any failure), `given_cases` (`@given` of a case whose failures name it), `data_seeds`, `int_or_pair`, `pair`,
  `random_attention_mask` (bool or float, nn.MultiheadAttention's conventions);
- weights (`grader.kit.weights`): `random_state_dict` shaped like a module, `twins` (candidate and
  reference holding the same weights), `same_init` (the same for training), `load`; a module's
  interface: `assert_state_shapes`, `assert_trainable`, `assert_attributes`,
  `assert_follows_global_seed`; a state_dict's values: `assert_state_close`;
- statistics (`grader.kit.statistics`): `assert_within` (a bound), `assert_uniform` (a KS test), `assert_rate`
  (a share of draws, e.g. of dropped elements, near its probability);
- comparisons (re-exported from `grader.compare`): `assert_close`, `assert_equal`, `assert_shape`,
  `assert_finite`, `assert_tensor`, `assert_unchanged`, `Mismatch`;
- gradients (`grader.kit.gradients`): `check_gradients` (against an oracle or the reference, for a
  function of several tensors or a module), `check_finite_differences`, `require_gradients`,
  `assert_grads_close`;
- calls (`grader.kit.calls`): `assert_inputs_unchanged`, `expect_raises`;
- invariance (`grader.kit.invariance`): `assert_causal`, `assert_ignores` (padding),
  `assert_appending_changes_nothing` (padding appended);
- outputs (`grader.kit.outputs`): `unpack` (a tuple of outputs, each of its shape), `assert_same` (plain
  values equal), `assert_outputs_close` (several outputs vs another implementation's, each by name),
  `assert_attention_weights`
  (masked weights exactly 0, none negative, rows summing to 1);
- convergence (`grader.kit.convergence`): `check_convergence`, `fit_and_check` (or in two halves,
  `start_fit` and `checked_losses`, to train a reference here while the worker trains), `accuracy`,
  `TRAIN_TIMEOUT_FACTOR`;
- `exercise_support` (`grader.kit.support`): the exercise's own support.py, imported here.
Each public function's docstring has one example. Topic-specific properties stay in the suite.

Conventions (moving a suite onto the kit):
- A case is `class Conv(kit.Case)` with annotated fields (no @dataclass: the base makes every subclass a
  frozen dataclass); a field `data_seed` seeds `case.generator()`; draw it with `st.builds(Conv, ...)`
  or an `@st.composite`; give it the methods the suite repeats (`inputs`, `build`, `call`).
- `@kit.given_cases(strategy, **other_strategies)` replaces `@given(...)`: the test takes `case`, and
  every failure inside ends with "\n  case: <case>". A parametrized field: `replace=("mask",)`.
  Outside hypothesis, `with kit.about(case):` does the same.
- `assert_close` already checks the shape and the dtype: no `assert_shape` before it.
- `twins(make, candidate, reference, g)` calls `make(lib)` with the candidate and the reference,
  builds the reference under `seeded(0)`, converts both to float64 and loads one random state dict;
  `random_state_dict` randomizes parameters only (buffers keep the module's values).
- `check_gradients` compares the output first (pass `where=` for outputs that are undefined, and zero
  the grad_output there); arguments are named by the keys of `args`; non-float ones pass through.
- `check_convergence(models=..., task=...)`: `models(s, run)` returns (remote model, trusted model)
  with the same initial weights (`same_init`, or both built from one seed); the reference trains only
  for the first loss curve (while the worker trains the candidate's) and to explain a failure.
  `runs=[labels]` keeps one curve per run.
- The time factor of training calls (`grader.limits.TRAIN_TIMEOUT_FACTOR`) is applied only in `start_fit`
  (which `fit_and_check` calls).
- After moving a suite, `grade validate` must report every mutant caught by the same (or an
  earlier) test: new strategies draw new examples.
"""
from grader.compare import (Mismatch, assert_close, assert_equal, assert_finite, assert_shape, assert_tensor,
                            assert_unchanged)
from grader.kit.cases import builds  # a strategy of cases (st.builds that draws data_seed too)
from grader.kit.calls import assert_inputs_unchanged, expect_raises
from grader.kit.cases import (Case, about, data_seeds, f64, generator, given_cases, int_or_pair, pair,
                              random_attention_mask, remote_generator, seeded)
from grader.kit.convergence import (TRAIN_TIMEOUT_FACTOR, accuracy, check_convergence, checked_losses, fit_and_check,
                                    start_fit)
from grader.kit.gradients import assert_grads_close, check_finite_differences, check_gradients, require_gradients
from grader.kit.invariance import assert_appending_changes_nothing, assert_causal, assert_ignores
from grader.kit.outputs import assert_attention_weights, assert_outputs_close, assert_same, unpack
from grader.kit.support import exercise_support
from grader.kit.statistics import assert_rate, assert_uniform, assert_within
from grader.kit.weights import (Twins, assert_attributes, assert_follows_global_seed, assert_state_shapes, assert_trainable,
                                load, random_state_dict, same_init, twins)
from grader.kit.weights import assert_state_close

__all__ = [
    "Mismatch", "assert_close", "assert_equal", "assert_finite", "assert_shape", "assert_tensor", "assert_unchanged",
    "builds",
    "assert_inputs_unchanged", "expect_raises",
    "Case", "about", "data_seeds", "f64", "generator", "given_cases", "int_or_pair", "pair", "remote_generator", "seeded",
    "random_attention_mask",
    "TRAIN_TIMEOUT_FACTOR", "accuracy", "check_convergence", "checked_losses", "fit_and_check", "start_fit",
    "assert_grads_close", "check_finite_differences", "check_gradients", "require_gradients",
    "assert_appending_changes_nothing", "assert_causal", "assert_ignores",
    "exercise_support",
    "assert_attention_weights", "assert_outputs_close", "assert_same", "unpack",
    "assert_rate", "assert_uniform", "assert_within",
    "Twins", "assert_attributes", "assert_follows_global_seed", "assert_state_shapes", "assert_trainable", "load", "random_state_dict", "same_init",
    "twins",
    "assert_state_close",
]
