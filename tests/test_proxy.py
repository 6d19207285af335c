"""grader.proxy: the candidate feels local; its failures become CandidateError of the right kind."""
import pytest
import torch

from grader.proxy import Candidate, CandidateError, MissingName, RemoteObject
from grader.limits import Limits
from grader.supervisor import Parked, WorkerConfig
from tests.conftest import write_candidate

SOURCE = """
import os, time, torch
from torch import nn

SIZE = 4

class Net(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(n, 2)
    def forward(self, x):
        return self.fc(x)

def fails():
    raise ValueError("bad input")

def hangs():
    time.sleep(60)

def exits():
    os._exit(0)

def pair(x):
    return x * 2, {"n": 3, "t": torch.ones(1)}

def mutate(x):
    x.add_(1)
    return x.sum()
"""


@pytest.fixture
def cand(shared_context, tmp_path):
    path = write_candidate(tmp_path, SOURCE)
    c = Candidate(shared_context.worker_pool(), WorkerConfig(submission=str(path), workdir=""), Limits(timeout=1.0))
    yield c
    c.close()


def test_modules_feel_local_and_values_come_back_by_value(cand):
    net = cand.Net(3)
    assert isinstance(net, RemoteObject)
    sd = net.state_dict()
    assert set(sd) == {"fc.weight", "fc.bias"} and type(sd["fc.weight"]) is torch.Tensor
    x = torch.randn(4, 3)
    expected = x @ sd["fc.weight"].T + sd["fc.bias"]
    assert torch.allclose(net(x), expected)
    net.load_state_dict({k: torch.zeros_like(v) for k, v in sd.items()})
    assert torch.equal(net(x), torch.zeros(4, 2))
    double = net.to(torch.float64)
    assert double(x.double()).dtype == torch.float64
    out, extra = cand.pair(torch.ones(2))
    assert torch.equal(out, torch.full((2,), 2.0)) and extra["n"] == 3


def test_a_method_call_is_one_request_and_other_uses_still_work(cand, monkeypatch):
    net = cand.Net(3)
    sent, exchange = [], cand._exchange
    monkeypatch.setattr(cand, "_exchange", lambda request, *rest: sent.append(request["op"]) or exchange(request, *rest))
    net.load_state_dict(net.state_dict())
    cand.pair(torch.ones(1))
    assert sent == ["call", "call", "call"]  # no lookups first
    assert cand.SIZE == 4  # not a class or function: by value, as before
    forward = net.forward  # a method used as a value is looked up (here: to differentiate it)
    assert cand.lib.grads(forward, [torch.randn(2, 3)], {}, torch.ones(2, 2))["output"].shape == (2, 2)
    with pytest.raises(CandidateError, match=r"Net\(\.\.\.\)\.to\(\.\.\.\) raised RuntimeError"):
        net.to("not a device")
    with pytest.raises(CandidateError, match=r"no attribute 'nope'"):
        net.nope()


def test_gradients_and_call_checked(cand):
    net = cand.Net(3)
    got = cand.lib.grads(net, [torch.randn(2, 3)], {}, torch.ones(2, 2))
    assert got["input_grads"][0].shape == (2, 3) and set(got["param_grads"]) == {"fc.weight", "fc.bias"}
    x = torch.zeros(3)
    _, args_after, _ = cand.mutate.call_checked(x)
    assert torch.equal(args_after[0], torch.ones(3)) and torch.equal(x, torch.zeros(3))  # ours untouched


def test_lib_start_sends_at_once_and_its_result_waits_for_the_reply(cand):
    net, x, y = cand.Net(3), torch.randn(32, 3), torch.randint(2, (32,))
    training = cand.lib.start("fit", net, x, y, steps=5, lr=0.1, batch_size=8, seed=0)
    with pytest.raises(RuntimeError, match="the reply to fit has not been taken"):  # one request at a time
        cand.Net(3)
    losses = training.result()["losses"]
    assert len(losses) == 5 and all(type(v) is float for v in losses)
    with pytest.raises(RuntimeError, match="already taken"):
        training.result()
    assert net(x).shape == (32, 2)  # the worker answers the next request as usual
    hanging = cand.lib.start("grads", cand.hangs, [])  # returns while the worker sleeps
    with pytest.raises(CandidateError, match="did not finish within the 1 s"):  # the limit counts from the start
        hanging.result()


def test_a_worker_with_an_untaken_reply_is_not_kept(shared_context, tmp_path):
    parked = Parked()
    path = write_candidate(tmp_path, SOURCE)
    c = Candidate(shared_context.worker_pool(), WorkerConfig(submission=str(path), workdir=""), Limits(), parked=parked)
    c.lib.start("grads", c.Net(3), [torch.randn(2, 3)])
    c.close()  # its reply would answer the next test's first request
    assert parked.take() is None
    parked.close()


def test_exceptions_are_candidate_errors_with_the_candidates_traceback(cand):
    with pytest.raises(CandidateError) as info:
        cand.fails()
    e = info.value
    assert e.kind == "exception" and "ValueError: bad input" in str(e) and "candidate.py" in e.remote_traceback
    cand.Net(2)  # the worker is still usable


def test_missing_names_are_reported_plainly(cand):
    with pytest.raises(MissingName, match="does not define 'Nope'"):
        cand.Nope
    assert not hasattr(cand, "hypothesis_internal_is_this_a_mock_check")


def test_timeout_kills_the_worker_and_later_calls_fail_fast(cand):
    with pytest.raises(CandidateError, match="did not finish within the 1 s") as info:
        cand.hangs()
    assert info.value.kind == "timeout" and cand.incidents
    with pytest.raises(CandidateError, match="did not finish"):
        cand.Net(2)


def test_a_crash_restarts_the_worker_and_stale_objects_are_refused(cand):
    net = cand.Net(2)
    with pytest.raises(CandidateError, match="exited with status 0") as info:
        cand.exits()
    assert info.value.kind == "crash"
    with pytest.raises(CandidateError, match="worker that has since died"):
        net(torch.ones(1, 2))
    assert cand.Net(2)(torch.ones(1, 2)).shape == (1, 2)  # a fresh worker


def test_import_failure_poisons_the_candidate(shared_context, tmp_path):
    path = write_candidate(tmp_path, "raise RuntimeError('broken at import')\n")
    c = Candidate(shared_context.worker_pool(), WorkerConfig(submission=str(path), workdir=""), Limits())
    for _ in range(2):
        with pytest.raises(CandidateError, match="failed to import: RuntimeError: broken at import") as info:
            c.anything
        assert info.value.kind == "import"
    c.close()


def test_a_forged_import_reply_is_a_protocol_error(shared_context, tmp_path):
    """The candidate owns the worker: while being imported it answers the import request itself."""
    path = write_candidate(tmp_path, """
        import socket
        from grader import channel
        channel.send(socket.socket(fileno=3), {"ok": 5})  # a well-formed frame, a nonsense reply
        import time; time.sleep(30)
    """)
    c = Candidate(shared_context.worker_pool(), WorkerConfig(submission=str(path), workdir=""), Limits(timeout=2))
    with pytest.raises(CandidateError, match="unexpected reply") as info:
        c.anything
    assert info.value.kind == "protocol"
    c.close()


def test_lib_make_builds_torch_objects_that_take_candidate_handles(cand):
    net = cand.Net(3)
    opt = cand.lib.make("torch.optim.SGD", net.parameters(), lr=0.5)
    loss_fn = cand.lib.make("torch.nn.MSELoss")
    x, y = torch.randn(5, 3), torch.zeros(5, 2)
    before = net.state_dict()["fc.bias"]
    loss = loss_fn(net(x), y)  # a remote call; the result comes back by value
    assert loss.ndim == 0
    opt.zero_grad()
    assert cand.lib.make("torch.tensor", 3.0).item() == 3.0
    with pytest.raises(CandidateError, match="not a public torch"):
        cand.lib.make("os.system", "true")
    with pytest.raises(CandidateError, match="not a public torch"):
        cand.lib.make("torch._C._get_tracing_state")
    assert torch.equal(net.state_dict()["fc.bias"], before)


def test_lib_support_runs_the_exercises_support_module(shared_context, tmp_path):
    path = write_candidate(tmp_path, SOURCE)
    support = tmp_path / "support.py"
    support.write_text("import torch\n\ndef twice(x):\n    return 2 * x\n\n_hidden = 1\n")
    config = WorkerConfig(submission=str(path), workdir="", support=str(support))
    c = Candidate(shared_context.worker_pool(), config, Limits(timeout=1.0))
    try:
        assert torch.equal(c.lib.support("twice", torch.ones(2)), torch.full((2,), 2.0))
        with pytest.raises(CandidateError, match="no function '_hidden'"):
            c.lib.support("_hidden")
    finally:
        c.close()
