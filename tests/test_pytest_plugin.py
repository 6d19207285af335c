"""grader.pytest_plugin: a learner's plain `pytest exercises/NN_slug` works."""
import subprocess
import sys

import pytest

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
