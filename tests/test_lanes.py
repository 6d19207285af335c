"""grader.lanes: a run's tests shared by the grader and a fork of it give the results one process
gives, in the same order; the fork's failures, traces and stops reach the run; nothing is left behind."""
from __future__ import annotations

import dataclasses
import json
import os
import time

import pytest

from grader import lanes
from grader.discovery import load_exercise
from grader.runner import grade_exercise
from grader.supervisor import WorkerConfig, WorkerPool
from tests.conftest import TINY_TOML, make_tiny_project, run_grade, write_candidate

TESTS = '''\
import os
import pytest
import torch
from hypothesis import given, strategies as st

from grader.compare import assert_close


@pytest.mark.category("equivalence")
@pytest.mark.parametrize("n", range(8))
def test_value(candidate, reference, artifacts, n):
    artifacts["pid"] = os.getpid()
    x = torch.arange(n + 1.0, dtype=torch.float64) - n / 2
    assert_close(candidate.scale(x), reference.scale(x), f"scale of {n + 1} values")


@pytest.mark.category("property")
@given(n=st.integers(1, 9))
def test_drawn(candidate, reference, artifacts, n):
    artifacts["pid"] = os.getpid()
    x = torch.linspace(-1, 1, n, dtype=torch.float64)
    assert_close(candidate.scale(x), reference.scale(x), f"scale of {n} values")
'''


@pytest.fixture
def project(tmp_path):
    """The tiny project, its exercise with more tests (the traced operator aten::mul* forbidden)."""
    make_tiny_project(tmp_path)
    ex = tmp_path / "exercises" / "90_scale"
    toml = TINY_TOML.replace('forbidden = ["torch.mul"]', 'forbidden_ops = ["aten::mul*"]')
    assert toml != TINY_TOML
    (ex / "exercise.toml").write_text(toml, encoding="utf-8")
    (ex / "test_scale.py").write_text(TESTS)
    return tmp_path


def grade(context, project, source: str, lane_count: int):
    context.settings = dataclasses.replace(context.settings, lanes=lane_count, device="cpu")
    exercise = load_exercise(project / "exercises" / "90_scale")
    return grade_exercise(exercise, context, write_candidate(project, source))


def comparable(result) -> list[tuple]:
    return [(t.name, t.status, t.origin, t.message, t.falsifying_example, t.earned) for t in result.tests]


needs_two_cpus = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="lanes need two CPUs")


@needs_two_cpus
@pytest.mark.parametrize("source", [
    "def scale(x):\n    return x + x\n",
    "def scale(x):\n    return x + x + (x.numel() > 3)\n",  # fails some of each test's cases
    "def scale(x):\n    return x * 2\n",  # runs aten::mul, which the exercise forbids
    "def scale(x):\n    raise NotImplementedError('scale')\n",
], ids=["correct", "wrong", "forbidden-operator", "stub"])
def test_two_lanes_give_the_results_of_one_in_its_order(context, project, source):
    one, two = grade(context, project, source, 1), grade(context, project, source, 2)
    assert comparable(two) == comparable(one)
    assert (two.status, two.score, two.max_score) == (one.status, one.score, one.max_score)
    ran_in = {t.artifacts["pid"] for t in two.tests if "pid" in t.artifacts}
    assert os.getpid() in ran_in and len(ran_in) == 2, f"tests ran in processes {ran_in}"
    assert {t.artifacts["pid"] for t in one.tests if "pid" in t.artifacts} == {os.getpid()}


@needs_two_cpus
def test_the_grade_command_runs_two_lanes(project):
    out = project / "out.json"
    done = run_grade(project / "exercises" / "90_scale", "--submission",
                     write_candidate(project, "def scale(x):\n    return x + x\n"), "--json", out, "--no-diagnose")
    assert done.returncode == 0, done.stderr
    tests = json.loads(out.read_text(encoding="utf-8"))["exercises"][0]["tests"]
    assert [t["name"] for t in tests] == [f"test_value[{n}]" for n in range(8)] + ["test_drawn", "test_follows_the_exercise_constraints"]
    assert len({t["artifacts"]["pid"] for t in tests if "pid" in t.get("artifacts", {})}) == 2


@needs_two_cpus
def test_the_forks_forbidden_operators_reach_the_constraints_test(context, project):
    # only test_value[0] (one value) is fine: every other test of both lanes runs aten::mul
    result = grade(context, project, "import torch\ndef scale(x):\n    return x + x if x.numel() == 1 else torch.mul(x, 2)\n", 2)
    constraints = result.tests[-1]
    assert constraints.name == "test_follows_the_exercise_constraints" and constraints.status == "fail"
    assert "aten::mul" in constraints.message
    ran_in = {t.artifacts["pid"] for t in result.tests if "pid" in t.artifacts}
    assert len(ran_in) == 2


@needs_two_cpus
def test_a_submission_that_does_not_import_stops_both_lanes(context, project):
    source = "raise RuntimeError('broken at import')\n"
    one, two = grade(context, project, source, 1), grade(context, project, source, 2)
    assert comparable(two) == comparable(one)
    statuses = [t.status for t in two.tests]
    assert statuses[0] == "error" and set(statuses[1:]) == {"not_run"}, statuses
    assert "broken at import" in two.tests[0].message


@needs_two_cpus
def test_where_no_fork_can_start_this_lane_takes_every_test(context, project, monkeypatch):
    def no_fork():
        raise OSError(12, "Cannot allocate memory")
    monkeypatch.setattr(lanes.os, "fork", no_fork)
    source = "def scale(x):\n    return x + x\n"
    result = grade(context, project, source, 2)
    assert comparable(result) == comparable(grade(context, project, source, 1))
    assert {t.artifacts["pid"] for t in result.tests if "pid" in t.artifacts} == {os.getpid()}


def test_one_lane_where_asked_or_where_it_cannot_help(context, project):
    assert not lanes.wanted(context)  # Settings' default: `grade` asks for 2
    context.settings = dataclasses.replace(context.settings, lanes=2, device="cpu")
    assert lanes.wanted(context) == (len(os.sched_getaffinity(0)) > 1)


def test_claims_give_each_index_once_then_none():
    claims = lanes.Claims([3, 0, 2, 1])
    assert [claims.take(), claims.take()] == [3, 0] and claims.taken() == 2
    claims.drain()
    assert claims.take() is None and claims.taken() == 4
    claims.close()


def test_a_channel_spawns_its_own_workers_and_its_end_kills_them(shared_context, tmp_path):
    pool = shared_context.worker_pool()
    lane = WorkerPool.attached(pool.open_channel(), pool.tmp, pool.output_bytes)
    config = WorkerConfig(submission=str(tmp_path / "none.py"), workdir=pool.new_workdir())
    worker = lane.spawn(config)
    assert _running(worker.pid)
    lane.close()  # the fork server kills the workers of a channel that ends
    deadline = time.monotonic() + 5
    while _running(worker.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(worker.pid)
    assert pool.exit_status(worker.pid, wait=0.5) is None  # its exit was the lane's news, not the pool's
    other = pool.spawn(dataclasses.replace(config, workdir=pool.new_workdir()))  # the pool still serves
    assert _running(other.pid)
    other.kill()


def _running(pid: int) -> bool:
    """Alive and not yet a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False
