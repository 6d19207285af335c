"""grader.supervisor: workers are forked fast, confined, killed as a group, and their output capped."""
import os
import signal
import time

import pytest

from grader import channel
from grader.limits import Limits
from grader.supervisor import WorkerConfig, describe_status
from tests.conftest import write_candidate


def spawn(pool, path, **kw):
    return pool.spawn(WorkerConfig(submission=str(path), workdir=pool.new_workdir(), **kw))


def request(worker, req, timeout=10):
    channel.send(worker.sock, req)
    return channel.receive(worker.sock, 1 << 20, time.monotonic() + timeout)


def test_worker_imports_the_submission_in_its_own_process_group(shared_context, tmp_path):
    path = write_candidate(tmp_path, "import os\nPID, PGID, CWD = os.getpid(), os.getpgid(0), os.getcwd()\n")
    pool = shared_context.worker_pool()
    w = spawn(pool, path)
    try:
        assert request(w, {"op": "import"})["ok"]["names"] == ["CWD", "PGID", "PID", "os"]
        pid = request(w, {"op": "getattr", "target": __import__("grader.wire").wire.Ref(0), "name": "PID"})["ok"]
        assert pid == w.pid and pid != os.getpid()
        assert os.getpgid(w.pid) == w.pid  # its own group, so killpg takes its children too
    finally:
        w.kill()
    assert "SIGKILL" in w.exit_description()


def test_output_is_captured_and_capped(shared_context, tmp_path):
    path = write_candidate(tmp_path, "import sys\nprint('hello')\nsys.stdout.write('x' * 200000)\n")
    w = spawn(shared_context.worker_pool(), path)
    try:
        assert "ok" in request(w, {"op": "import"})
    finally:
        w.kill()
    text = w.output.text(wait=2)
    assert text.startswith("hello") and "more bytes were dropped" in text
    assert len(text) < Limits().output_bytes + 200


def test_memory_cap_refuses_big_allocations(shared_context, tmp_path):
    path = write_candidate(tmp_path, "import torch\ndef big():\n    return torch.ones(1 << 28).sum()\n")
    w = spawn(shared_context.worker_pool(), path, memory_bytes=1 << 30)
    try:
        request(w, {"op": "import"})
        ref = __import__("grader.wire").wire.Ref
        fn = request(w, {"op": "getattr", "target": ref(0), "name": "big"})["ok"]
        reply = request(w, {"op": "call", "target": fn, "args": [], "kwargs": {}})
        assert "error" in reply and "alloc" in reply["error"]["message"].lower()
    finally:
        w.kill()


def test_status_descriptions():
    assert describe_status(signal.SIGSEGV) == "was killed by SIGSEGV"
    assert describe_status(3 << 8) == "exited with status 3"
    assert "unknown" in describe_status(None)


def test_a_dead_fork_server_is_restarted(tmp_path):
    from grader.supervisor import WorkerPool

    pool = WorkerPool()
    try:
        path = write_candidate(tmp_path, "X = 1\n")
        spawn(pool, path).kill()
        os.kill(pool._proc.pid, signal.SIGKILL)
        pool._proc.wait()
        deadline = time.monotonic() + 5
        while pool._alive and time.monotonic() < deadline:
            time.sleep(0.05)
        w = spawn(pool, path)
        assert request(w, {"op": "import"})["ok"]["names"] == ["X"]
        w.kill()
    finally:
        pool.close()
    assert not os.path.exists(pool.tmp)


@pytest.mark.parametrize("limit", [0.3])
def test_deadline_in_the_past_times_out_without_waiting(shared_context, tmp_path, monkeypatch, limit):
    from grader import clock

    path = write_candidate(tmp_path, "X = 1\n")
    w = spawn(shared_context.worker_pool(), path)
    try:
        base = clock.monotonic()
        monkeypatch.setattr(clock, "monotonic", lambda: base + 1000)  # time is faked in one place
        channel.send(w.sock, {"op": "import"})
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            channel.receive(w.sock, 1 << 20, deadline=base + limit)
        assert time.monotonic() - started < 0.2
    finally:
        w.kill()


def test_the_fork_server_loads_what_optimizers_need_after_its_first_worker(tmp_path):
    """The first worker is forked as soon as torch is loaded (an optimizer it builds loads
    torch._dynamo itself); then the fork server loads it, so that later workers start with it."""
    from grader.supervisor import WorkerPool
    from grader.wire import Ref

    source = "import sys, torch\ndef loaded():\n    return 'torch._dynamo' in sys.modules\n" \
             "def optimizer_steps():\n    torch.optim.Adam(torch.nn.Linear(2, 2).parameters()).step()\n    return True\n"
    path = write_candidate(tmp_path, source)
    pool = WorkerPool()

    def ask(worker, name):
        request(worker, {"op": "import"})
        return request(worker, {"op": "call", "target": Ref(0), "method": name, "args": [], "kwargs": {}})["ok"]

    try:
        first = spawn(pool, path)
        assert ask(first, "loaded") is False and ask(first, "optimizer_steps") is True
        first.kill()
        deadline, loaded = time.monotonic() + 30, False
        while not loaded and time.monotonic() < deadline:
            later = spawn(pool, path)
            loaded = ask(later, "loaded")
            later.kill()
            time.sleep(0.2)
        assert loaded
    finally:
        pool.close()
