"""The tests of one run share a worker the previous test left healthy, reset as if it were fresh;
one that crashed, timed out or left something running is never handed on."""
import os
import time

import pytest
import torch

from grader.limits import Limits
from grader.proxy import Candidate, CandidateError
from grader.supervisor import Parked, WorkerConfig
from tests.conftest import write_candidate

SOURCE = """
import os, threading, time, torch

CALLS = [0]
print("importing")

def count():
    CALLS[0] += 1
    return CALLS[0]

def draw():
    return torch.randn(3)

def leave_state(text):
    print(text)
    open("left.txt", "w").write(text)
    torch.set_grad_enabled(False)
    torch.set_default_dtype(torch.float64)

def state():
    return {"files": sorted(os.listdir(".")), "grad": torch.is_grad_enabled(),
            "dtype": str(torch.get_default_dtype())}

def start_thread():
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()

def hang():
    time.sleep(60)

def stall_handover():
    from grader.worker import serve
    serve.RequestHandler.sync = lambda self, marker: time.sleep(60)
"""


@pytest.fixture
def one_run(shared_context, tmp_path):
    """Make the candidates of one run's tests, one after another: each closes the one before."""
    path = write_candidate(tmp_path, SOURCE)
    parked, made = Parked(), []

    def next_test() -> Candidate:
        if made:
            made[-1].close()
        made.append(Candidate(shared_context.worker_pool(), WorkerConfig(submission=str(path), workdir="", seed=7,
                                                                          source=path.read_bytes()),
                              Limits(timeout=2.0), parked=parked))
        return made[-1]

    yield next_test
    made[-1].close()
    parked.close()


def worker_pid(candidate: Candidate) -> int:
    candidate.count  # the worker starts (or is reset) on first use
    return candidate._worker.pid


def test_the_next_test_gets_the_same_worker_as_if_it_were_fresh(one_run):
    first = one_run()
    pid, before = worker_pid(first), first.state()
    assert (first.count(), first.count()) == (1, 2)
    drawn = first.draw()
    first.leave_state("from the first test")
    second = one_run()
    assert worker_pid(second) == pid
    assert second.count() == 1  # the module was imported anew
    assert torch.equal(second.draw(), drawn)  # the run's seed again
    assert second.state() == before  # no file left behind, grad mode and default dtype restored
    one_run()  # the second test ends: its output is what it printed, from its own import on
    assert first.output == "importing\nfrom the first test\n" and second.output == "importing\n"


def test_a_worker_that_stalls_the_handover_is_killed_in_seconds(one_run):
    first = one_run()
    pid = worker_pid(first)
    first.stall_handover()
    start = time.monotonic()
    second = one_run()
    assert time.monotonic() - start < 5
    assert worker_pid(second) != pid and second.count() == 1


@pytest.mark.parametrize("trouble", ["thread", "timeout"])
def test_a_worker_left_unhealthy_is_killed_not_handed_on(one_run, trouble):
    first = one_run()
    pid = worker_pid(first)
    if trouble == "thread":
        first.start_thread()
        first.leave_state("printed before the thread was found")
    else:
        with pytest.raises(CandidateError, match="did not finish"):
            first.hang()
    second = one_run()
    assert worker_pid(second) != pid and second.count() == 1
    assert trouble != "thread" or "printed before the thread was found" in first.output
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")


def test_the_run_kills_the_worker_it_kept(shared_context, tmp_path):
    parked = Parked()
    path = write_candidate(tmp_path, SOURCE, "other.py")
    c = Candidate(shared_context.worker_pool(), WorkerConfig(submission=str(path), workdir=""), Limits(), parked=parked)
    pid = worker_pid(c)
    c.close()
    assert os.path.exists(f"/proc/{pid}")  # kept for a next test
    parked.close()
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")
