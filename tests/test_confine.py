"""grader.confine: namespaces, a read-only file system, hidden paths and user nobody for a worker."""
import json
import os
import shutil
import tempfile

import pytest

from grader import confine

needs_root = pytest.mark.skipif(not confine.available(), reason="confinement needs Linux and root")


def test_closed_ancestor_finds_the_outermost_folder_others_cannot_enter():
    base = tempfile.mkdtemp()  # directly in the temporary folder, whose ancestors are open
    try:
        os.chmod(base, 0o755)
        closed = os.path.join(base, "closed")
        os.makedirs(os.path.join(closed, "inner"))
        os.chmod(closed, 0o700)
        os.chmod(os.path.join(closed, "inner"), 0o700)
        assert confine._closed_ancestor(os.path.join(closed, "inner")) == closed
        os.chmod(closed, 0o755)
        assert confine._closed_ancestor(os.path.join(closed, "inner")) == os.path.join(closed, "inner")
        os.chmod(os.path.join(closed, "inner"), 0o755)
        assert confine._closed_ancestor(os.path.join(closed, "inner")) is None
    finally:
        shutil.rmtree(base)


def test_contains_is_by_path_components():
    assert confine._contains("/a/b", "/a/b/c") and confine._contains("/a/b", "/a/b")
    assert not confine._contains("/a/b", "/a/bc")


def test_mount_points_are_decoded():
    points = confine._mount_points()
    assert "/" in points and all(" " not in p or "\\040" not in p for p in points)


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
    (secret / "ref.py").write_text("answer = 42")
    outside = tmp_path / "outside.txt"

    def probe():
        workdir = confine.isolate([str(secret)], [], 1 << 20, loopback=False)
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
def test_kept_folders_under_scratch_stay_reachable_with_their_hidden_parts_hidden():
    """A virtual environment or a clone under /tmp stays importable once /tmp is a fresh tmpfs,
    and a reference folder inside it stays hidden."""
    base = tempfile.mkdtemp(dir="/tmp")
    try:
        os.chmod(base, 0o755)
        kept, secret = os.path.join(base, "repo"), os.path.join(base, "repo", "solutions")
        os.makedirs(secret)
        for folder in (kept, secret):
            os.chmod(folder, 0o755)
        with open(os.path.join(kept, "module.py"), "w") as f:
            f.write("x = 1\n")
        with open(os.path.join(secret, "ref.py"), "w") as f:
            f.write("answer = 42\n")
        stray = os.path.join(base, "stray.txt")
        with open(stray, "w") as f:
            f.write("not for the worker\n")

        def probe():
            confine.isolate([secret], [kept], 1 << 20, loopback=False)
            confine.drop_privileges()
            return {name: os.path.exists(path) and os.access(path, os.R_OK)
                    for name, path in {"kept": os.path.join(kept, "module.py"), "stray": stray,
                                       "secret": os.path.join(secret, "ref.py")}.items()}

        assert _in_child(probe) == {"kept": True, "stray": False, "secret": False}
    finally:
        shutil.rmtree(base)
