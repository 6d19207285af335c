"""grader.worker.tripwires: forbidden APIs raise in the worker; the fork server's index finds exactly the
bindings a full scan of every module finds."""
import json
import subprocess
import sys

import pytest

from grader.worker import tripwires
from grader.discovery import discover
from tests.conftest import REPO

# Run in a fresh interpreter per mode: loads what the fork server loads, optionally indexes it,
# then, per exercise, forks a child that loads the exercise's support.py (as a worker does),
# installs the guards and reports every binding that now holds a guard.
SCRIPT = r"""
import json, os, sys, types
from grader.worker import zygote, tripwires, serve, remote_ops
import torch
zygote._warm_up()
if sys.argv[1] == "indexed":
    tripwires.prepare()
def is_guard(v):
    return isinstance(v, (type, types.FunctionType)) and vars(v).get("__grader_guard__")
out = {}
for line in sys.stdin:
    job = json.loads(line)
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(r)
        if job["support"]:
            serve.load_module_from(job["support"], remote_ops.SUPPORT_MODULE)
        installed = tripwires.install(job["forbidden"])
        found = sorted({f"{name}.{attr} = guard of {is_guard(v)}" for name, m in list(sys.modules.items())
                        for attr, v in tripwires._namespace(m) if is_guard(v)})
        os.write(w, json.dumps({"installed": installed, "bindings": found}).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out[job["id"]] = json.loads(f.read())
    os.wait()
print(json.dumps(out))
"""


def guarded_bindings(mode: str, jobs: list[dict]) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], input="\n".join(map(json.dumps, jobs)),
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_the_index_rebinds_exactly_what_a_full_scan_does():
    jobs = [{"id": e.id, "forbidden": list(e.forbidden), "support": str(e.support) if e.support.is_file() else ""}
            for e in discover(REPO / "exercises") if e.forbidden]
    jobs.append({"id": "twice", "forbidden": ["torch.nn.MultiheadAttention", "torch.nn.modules.activation.MultiheadAttention",
                                              "torch.nn.functional.relu", "no.such.thing"], "support": ""})
    full, indexed = guarded_bindings("full", jobs), guarded_bindings("indexed", jobs)
    assert full == indexed
    assert "torch.nn.MultiheadAttention = guard of torch.nn.MultiheadAttention" in full["17_self_attention"]["bindings"]
    assert len(full["twice"]["bindings"]) > 3 and full["twice"]["installed"][-1] == "torch.nn.functional.relu"


def test_a_guard_raises_and_keeps_the_type_usable_for_isinstance():
    class Thing:
        pass
    guard = tripwires._guard_for("x.Thing", Thing)
    assert issubclass(guard, Thing) and guard.__grader_guard__ == "x.Thing"
    with pytest.raises(tripwires.ForbiddenAPIError, match="x.Thing is not allowed"):
        guard()
    fn_guard = tripwires._guard_for("x.f", len)
    with pytest.raises(tripwires.ForbiddenAPIError):
        fn_guard([1])
