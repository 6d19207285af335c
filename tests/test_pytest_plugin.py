"""grader.pytest_plugin: a learner's plain `pytest exercises/NN_slug` works."""
import importlib
import subprocess
import sys

import pytest
from hypothesis import Phase, given, seed, settings
from hypothesis import strategies as st

from grader.pytest_plugin import freeze_hypothesis_constants

from tests.conftest import REPO, write_candidate


def pytest_run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_plain_pytest_grades_the_stub_and_a_submission(tiny_project):
    ex = tiny_project / "exercises" / "90_scale"
    p = pytest_run(ex, cwd=tiny_project)
    assert p.returncode == 1 and "NotImplementedError" in p.stdout, p.stdout[-2000:]
    good = write_candidate(tiny_project, "def scale(x):\n    return 2 * x\n")
    p = pytest_run(ex, "--submission", good, cwd=tiny_project)
    assert p.returncode == 0, p.stdout[-2000:]


@pytest.mark.slow
def test_plain_pytest_on_the_real_exercise_with_its_reference():
    p = pytest_run("exercises/17_self_attention", "--submission", "solutions/17_self_attention.py", cwd=REPO)
    assert p.returncode == 0, p.stdout[-3000:]


def integers_drawn(seed_value: int) -> list[int]:
    """The integers hypothesis draws for a test seeded `seed_value` (generate phase only)."""
    seen = []

    @seed(seed_value)
    @settings(max_examples=60, database=None, phases=[Phase.generate])
    @given(st.integers())
    def record(x):
        seen.append(x)

    record()
    return seen


def test_hypothesis_draws_do_not_depend_on_modules_loaded_before(tmp_path, monkeypatch):
    """Same seed, same examples, whatever the process imported before (hypothesis would otherwise
    harvest the new module's constants and draw them)."""
    freeze_hypothesis_constants()
    before = integers_drawn(0)
    constants = [987654321 + 1000 * i for i in range(40)]
    (tmp_path / "module_full_of_constants.py").write_text("".join(f"C{i} = {c}\n" for i, c in enumerate(constants)))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("module_full_of_constants")
    after = integers_drawn(0)
    assert after == before and not set(after) & set(constants), (before, after)
