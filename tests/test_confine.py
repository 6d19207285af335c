"""grader.worker.confine: namespaces, a read-only file system, hidden paths and user nobody for a worker."""
import json
import os

import pytest

from grader.worker import confine, serve

needs_root = pytest.mark.skipif(not confine.available(), reason="confinement needs Linux and root")


def test_contains_is_by_path_components():
    assert confine._contains("/a/b", "/a/b/c") and confine._contains("/a/b", "/a/b")
    assert not confine._contains("/a/b", "/a/bc")


def _in_child(fn):
    """Run fn() in a forked child; return what it wrote as JSON (so the test process stays untouched)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.write(w, json.dumps(fn()).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 1 << 16)
    os.waitpid(pid, 0)
    return json.loads(data)


@needs_root
def test_isolated_child_sees_nothing_hidden_and_writes_nowhere_else(tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (tmp_path / "root").mkdir()
    (tmp_path / "other-checkout").mkdir()
    (tmp_path / "other-checkout" / "README.md").write_text("another project\n")
    (secret / "ref.py").write_text("answer = 42")
    outside = tmp_path / "outside.txt"

    def probe():
        workdir = confine.isolate(serve.allowed_paths([str(secret)]), [str(secret)], 1 << 20, loopback=False,
                                  build_in=str(tmp_path / "root"))
        confine.drop_privileges()
        seen = {"uid": os.getuid(), "workdir": workdir}
        for name, action in {"read": lambda: open(secret / "ref.py").read(),
                             "write": lambda: open(outside, "w").write("x"),
                             "scratch": lambda: open(os.path.join(workdir, "f"), "w").write("x")}.items():
            try:
                action()
                seen[name] = "ok"
            except OSError as e:
                seen[name] = e.strerror
        return seen

    seen = _in_child(probe)
    assert seen["uid"] == confine.NOBODY and seen["workdir"] == confine.WORKDIR
    assert seen["read"] != "ok" and seen["write"] != "ok" and seen["scratch"] == "ok", seen
    assert not outside.exists() and (secret / "ref.py").read_text() == "answer = 42"


@needs_root
def test_pid_namespaces_make_each_child_pid_1_and_can_be_repeated():
    ns = confine.PidNamespaces()
    for _ in range(3):
        r, w = os.pipe()
        ns.before_fork()
        pid = os.fork()
        if pid == 0:
            os.write(w, str(os.getpid()).encode())
            os._exit(0)
        ns.after_fork()
        os.close(w)
        assert os.read(r, 16) == b"1"
        os.waitpid(pid, 0)
        os.close(r)
    assert os.readlink("/proc/self/ns/pid_for_children") == os.readlink("/proc/self/ns/pid")


@needs_root
def test_the_worker_sees_only_what_is_allowed(tmp_path):
    """The new root holds the system's libraries, the interpreter, site-packages and the harness's
    package: not the project around it, its .git, home folders or other checkouts; a hidden path
    inside an allowed folder stays hidden; torch still works; only scratch is writable."""
    project = os.path.dirname(os.path.dirname(os.path.dirname(confine.__file__)))
    allowed = tmp_path / "allowed"
    (allowed / "secret").mkdir(parents=True)
    (allowed / "module.py").write_text("x = 1\n")
    (allowed / "secret" / "ref.py").write_text("answer = 42\n")
    (tmp_path / "root").mkdir()

    def probe():
        hidden = [os.path.join(project, name) for name in ("solutions", "exercises", "tests")]
        confine.isolate([*serve.allowed_paths(hidden), str(allowed)], [str(allowed / "secret")], 1 << 20,
                        loopback=False, build_in=str(tmp_path / "root"))
        confine.drop_privileges()
        import torch

        seen = {name: os.path.exists(path) for name, path in {
            "harness": os.path.join(project, "grader", "worker", "serve.py"), "git": os.path.join(project, ".git"),
            "solutions": os.path.join(project, "solutions"), "exercises": os.path.join(project, "exercises"),
            "allowed": str(allowed / "module.py"), "secret": str(allowed / "secret" / "ref.py"),
            "home": os.path.expanduser("~/.bashrc"), "project": os.path.join(project, "README.md"),
            "other": str(tmp_path / "other-checkout" / "README.md")}.items()}
        seen["torch"] = float(torch.ones(3).sum())
        for name, path in {"write_root": "/x", "write_scratch": "/tmp/x"}.items():
            try:
                open(path, "w").close()
                seen[name] = "ok"
            except OSError as e:
                seen[name] = e.strerror
        return seen

    assert _in_child(probe) == {"harness": True, "git": False, "solutions": False, "exercises": False,
                                "allowed": True, "secret": False, "home": False, "project": False, "other": False,
                                "torch": 3.0,
                                "write_root": "Read-only file system", "write_scratch": "ok"}
