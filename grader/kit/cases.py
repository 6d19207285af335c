"""Cases: seeded randomness, test cases that describe themselves, and common hypothesis strategies."""
from __future__ import annotations

import contextlib
import dataclasses
import functools

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.compare import Mismatch

__tracebackhide__ = True  # pytest shows the failing test's own frames and this check's message

f64 = torch.float64
data_seeds = st.integers(0, 2**32 - 1)  # seeds of the tensors a hypothesis example draws


def generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with `seed` (use one per test or per hypothesis example).

    >>> torch.randn(2, generator=generator(0)).tolist() == torch.randn(2, generator=generator(0)).tolist()
    True
    """
    return torch.Generator().manual_seed(seed)


def remote_generator(candidate, seed: int):
    """A torch.Generator made in the worker and seeded with `seed`: a handle to pass to the candidate's
    code where it takes a `generator` (here, `generator(seed)` gives the same stream).

    >>> out = candidate.dropout(x, 0.5, True, remote_generator(candidate, 7))
    """
    return candidate.lib.make("torch.Generator").manual_seed(seed)


@contextlib.contextmanager
def seeded(seed: int):
    """Run a block with torch's global RNG seeded, restoring the previous state afterwards
    (for code such as module constructors that cannot take a generator).

    >>> with seeded(3):
    ...     layer = torch.nn.Linear(4, 2)  # the same weights on every run
    """
    with torch.random.fork_rng(devices=[]):
        # The CPU generator only, as fork_rng restores: torch.manual_seed would also queue a seed
        # for every lazily initialised accelerator, formatting the whole stack each time (~ms).
        torch.default_generator.manual_seed(seed)
        yield


def pair(v) -> tuple[int, int]:
    """An int or a (height, width) pair, as a pair.

    >>> pair(3), pair((1, 2))
    ((3, 3), (1, 2))
    """
    return (v, v) if isinstance(v, int) else tuple(v)


def int_or_pair(lo: int, hi: int):
    """A strategy for an int (the same for height and width) or a (height, width) tuple, both in
    [lo, hi]: torch accepts both forms, so both are graded.

    >>> @given(stride=int_or_pair(1, 3))
    ... def test_strides(candidate, stride): ...
    """
    return st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))


def random_attention_mask(kind: str, shape: tuple, g: torch.Generator, dtype=f64, *, keep_first_key: bool = False,
                          std: float = 2.0):
    """A random attention mask in nn.MultiheadAttention's conventions, keys on the last dim: kind "none": None;
    "bool..." (e.g. "bool 3D"): True = may NOT attend, ~30%; otherwise float, added to the scores: N(0, std^2)
    with ~20% -inf. keep_first_key: key 0 is never blocked (float: at least -2.5 std), so every query has a key.

    >>> kpm = random_attention_mask("bool", (B, S), g, keep_first_key=True)  # (B, S) bool, kpm[:, 0] all False
    """
    if kind == "none":
        return None
    if kind.startswith("bool"):
        mask = torch.rand(shape, generator=g) < 0.3
        return mask & (torch.arange(shape[-1]) > 0) if keep_first_key else mask
    mask = (std * torch.randn(shape, generator=g, dtype=dtype)).masked_fill(torch.rand(shape, generator=g) < 0.2,
                                                                            -torch.inf)
    return torch.cat([mask[..., :1].clamp(min=-2.5 * std), mask[..., 1:]], -1) if keep_first_key else mask


class Case:
    """Base of an exercise's test case: every subclass is a frozen dataclass (no decorator needed)
    whose fields say everything about one call. A subclass that declares no `data_seed` field gets a
    keyword-only one (default 0, last); either way it seeds `case.generator()`. Draw a case with
    `builds(Sizes, ...)` (or an `@st.composite`) and name it in every failure message: `str(case)` is
    `case.describe()`, and `with about(case):` and `@given_cases(...)` add it to any failure inside.

    >>> class Sizes(Case):
    ...     B: int
    ...     T: int
    >>> str(Sizes(2, 5, data_seed=7))
    'B=2, T=5, data_seed=7'
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not any("data_seed" in vars(k).get("__annotations__", {}) for k in cls.__mro__):
            cls.__annotations__ = {**vars(cls).get("__annotations__", {}), "data_seed": int}
            cls.data_seed = dataclasses.field(default=0, kw_only=True)
        dataclasses.dataclass(frozen=True)(cls)

    def describe(self) -> str:
        """One line naming every field (override it to say more, e.g. shapes)."""
        return ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self))

    def __str__(self) -> str:
        return self.describe()

    def replace(self, **changes) -> "Case":
        """A copy with some fields changed: `case.replace(groups=1)`."""
        return dataclasses.replace(self, **changes)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh generator seeded by the case's `data_seed` (plus `offset`, for a second stream)."""
        return generator(self.data_seed + offset)


def builds(case_type, **fields):
    """A strategy of `case_type` (a Case) with the given field strategies, and `data_seed` drawn
    from `data_seeds` unless given: `st.builds` for cases.

    >>> attns = builds(Attn, B=st.integers(1, 3), T=st.integers(1, 6), mask=st.sampled_from(MASKS))
    """
    return st.builds(case_type, **fields, **({} if "data_seed" in fields else {"data_seed": data_seeds}))


class about:
    """Add `case` (anything with a readable `str`) to the message of every failed check raised
    inside the block; a Mismatch keeps its diagnostics, and the failure keeps its traceback (the
    test's own line). The candidate's own errors pass unchanged.

    >>> with about(cfg):  # "output vs F.conv2d: 3 of 40 elements ...\\n  case: x (1, 2, 5, 5), ..."
    ...     assert_close(candidate.conv2d(x, w, b), F.conv2d(x, w, b), "output vs F.conv2d")
    """

    def __init__(self, case):
        self.case = case

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, Mismatch):
            raise Mismatch(f"{error}\n  case: {self.case}", error.diagnostics).with_traceback(traceback) from None
        if isinstance(error, AssertionError):
            raise AssertionError(f"{error}\n  case: {self.case}").with_traceback(traceback) from None
        return False


def given_cases(strategy, *, replace: tuple = (), max_examples: int | None = None, **strategies):
    """`@given(case=strategy, **strategies)` for a test taking a `case` argument, whose body runs
    inside `about(case)`: every failure names the case without a `with` in the test.
    replace: names of the test's own arguments (e.g. a `pytest.mark.parametrize`d "mask") that
    replace the case's fields of the same name before the body runs.
    max_examples: hypothesis examples for this test, where each is costly (default: the profile's).

    >>> @pytest.mark.parametrize("mask", MASKS)
    ... @given_cases(attns(), replace=("mask",))
    ... def test_matches_reference(candidate, reference, mask, case):  # case.mask == mask
    ...     assert_close(cand(x), ref(x), "output vs reference")
    >>> @given_cases(vits(), max_examples=10)  # each example builds two transformers
    ... def test_vit_matches_reference(candidate, reference, case): ...
    """
    def decorate(test):
        @functools.wraps(test)
        def run(*args, case, **kwargs):
            if replace:
                case = case.replace(**{name: kwargs[name] for name in replace})
            with about(case):
                return test(*args, case=case, **kwargs)
        run = given(case=strategy, **strategies)(run)
        return run if max_examples is None else settings(max_examples=max_examples)(run)
    return decorate
