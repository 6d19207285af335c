"""The attack suite: hostile candidates are contained, each fails with a clear message, the run
ends with a complete report, and the machine is left clean.

Each file in tests/hostile/ is one attack on the tiny exercise 90_scale (its docstring says what
it tries). Placeholders in the files (@PROJECT@, @SOLUTIONS@, @REPORT@, @MARK@, @PORT@) are
filled in per test. Attacks that would harm the machine if they ever ran unconfined (signals to
every process, fork bombs, thread floods) run only where workers are isolated (as root).
"""
from __future__ import annotations

import ctypes
import glob
import itertools
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from grader import harness_tests
from grader.worker import confine, memcap
from grader.discovery import load_exercise
from grader.runner import grade_exercise
from grader.session import Settings
from tests.conftest import GRADE, REPO, run_grade

HOSTILE = Path(__file__).parent / "hostile"
ISOLATED = confine.available()
MEMORY_CGROUPS = ISOLATED and memcap.Cgroups().available
needs_isolation = pytest.mark.skipif(not ISOLATED, reason="only safe with isolated workers (run as root)")
_marks = itertools.count()


@dataclass(frozen=True)
class Attack:
    words: str                  # what the failing test's message must say
    test: str = "test_value"    # a test that must not pass
    isolated_only: bool = False
    memory_mb: int | None = None
    timeout: float = 1.0        # seconds per call
    memcg: bool = False         # needs a memory cgroup per worker (root, and a writable memory controller)
    git: bool = False           # the project is a git repository (with the reference committed)
    grading: str = ""           # more lines for the exercise's [grading] table
    # Tries to reach the candidates graded after it: a copy that leaves something is graded first,
    # then the copy graded here looks for it. (The tests of one submission may share a worker.)
    across_candidates: bool = False


ATTACKS = {
    # tampering
    "patches_comparisons": Attack("scaled values"),
    "patches_pytest_and_the_grader": Attack("scaled values", timeout=10),  # importing pytest takes time
    "returns_a_tensor_subclass": Attack("scaled values"),
    "returns_a_fake_tensor": Attack("expected a tensor"),
    "returns_an_aliased_tensor": Attack("scaled values"),
    "returns_a_pickle_payload": Attack("malformed data"),
    "sends_malformed_frames": Attack("malformed data"),
    "mutates_its_input": Attack("scaled values"),
    # escaping
    "exits_the_process": Attack("exited with status 0"),
    "raises_keyboard_interrupt": Attack("SystemExit"),
    "signals_its_parents": Attack("scaled values", isolated_only=True),
    "forks_a_daemon": Attack("scaled values"),
    "writes_outside_its_folder": Attack("scaled values"),
    "crashes_at_import": Attack("failed to import: MemoryError"),
    "segfaults": Attack("killed by SIGSEGV"),
    # exhausting
    "loops_forever": Attack("did not finish within the 1 s time limit"),
    "sleeps": Attack("did not finish within the 1 s time limit"),
    "sleeps_just_under_the_limit": Attack("ran past the test's time budget of 2 s", test="test_shape",
                                          grading="test_budget = 2\nsubmission_budget = 4"),
    "allocates_too_much": Attack("can't allocate memory", memory_mb=1024),
    "maps_shared_memory": Attack("more memory than its cap", memory_mb=1024, memcg=True, timeout=20),
    "floods_output": Attack("scaled values"),
    "creates_a_huge_file": Attack("File too large"),
    "recurses_deeply": Attack("killed by SIGSEGV"),
    "starts_many_threads": Attack("can't start new thread", isolated_only=True),
    "fork_bomb": Attack("did not finish within the 1 s time limit", isolated_only=True),
    # peeking and network
    "reads_the_references": Attack("scaled values", isolated_only=True),
    "reads_git_objects": Attack("scaled values", isolated_only=True, git=True, timeout=10),
    "reads_the_environment": Attack("scaled values", timeout=10),
    "keeps_a_kernel_key": Attack("scaled values", isolated_only=True, across_candidates=True),
    "leaves_shared_memory": Attack("scaled values", isolated_only=True, across_candidates=True),
    "uses_the_network": Attack("scaled values", isolated_only=True),
    "serves_on_its_own_loopback": Attack("Network is unreachable", isolated_only=True),
}


# -- helpers ---------------------------------------------------------------------------------
def instantiate(name: str, folder: Path, **values: str) -> Path:
    """The attack's source with its placeholders filled in, written under `folder`."""
    source = (HOSTILE / f"{name}.py").read_text()
    for key, value in values.items():
        source = source.replace(f"@{key}@", str(value))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(source)
    return path


def new_mark() -> str:
    """A token unique to one test that is also a valid `sleep` duration."""
    return f"{900 + next(_marks)}.{os.getpid()}"


def processes_mentioning(mark: str) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if mark.encode() in open(f"/proc/{entry}/cmdline", "rb").read() and _state(entry) != "Z":
                found.append(int(entry))
        except OSError:
            continue
    return found


def _state(pid: str) -> str:
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]


def files_mentioning(mark: str, *folders: Path) -> list[Path]:
    """Every path under the places a worker could write to outside its folder whose name holds
    `mark` (find(1): the same walk as Path.rglob, ~4x faster over the ~300,000 entries of /tmp
    and a home with a Python install, which every attack test walks)."""
    places = dict.fromkeys(str(p) for p in (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path.home(),
                                            Path("/root"), *folders) if p.is_dir())
    found = subprocess.run(["find", *places, "-name", f"*{mark}*"], capture_output=True, text=True).stdout
    return [Path(line) for line in found.splitlines()]


def assert_clean(mark: str, *folders: Path) -> None:
    """No process and no file left behind by the attack."""
    assert not processes_mentioning(mark), f"processes left behind: {processes_mentioning(mark)}"
    left = files_mentioning(mark, *folders)
    assert not left, f"files written outside the sandbox: {left}"


def commit_everything(project: Path) -> None:
    """Make `project` a git repository holding its references (as the real project is)."""
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "all"]):
        subprocess.run(git + args, check=True, capture_output=True)


def nobody_finds_key(description: str) -> bool:
    """Whether a process of user nobody (outside any worker) finds a key so described in its
    user, user-session or persistent keyring: what a later worker would have found."""
    if not ISOLATED:
        return False
    pid = os.fork()
    if pid == 0:
        libc, keyctl = ctypes.CDLL(None, use_errno=True), {"x86_64": 250, "aarch64": 219}[os.uname().machine]
        os.setgroups([])
        os.setresgid(confine.NOBODY, confine.NOBODY, confine.NOBODY)
        os.setresuid(confine.NOBODY, confine.NOBODY, confine.NOBODY)
        rings = [-4, -5, libc.syscall(keyctl, 22, -1, 0)]  # user, user-session, persistent
        os._exit(1 if any(libc.syscall(keyctl, 10, r, b"user", description.encode(), 0) > 0 for r in rings) else 0)
    return os.waitpid(pid, 0)[1] != 0


@pytest.fixture
def listener():
    """A TCP server on the grader's loopback that records whether anyone connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.setblocking(False)
    yield server
    server.close()


def connections(server: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = server.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


@pytest.fixture(scope="module")
def subreaper():
    """Orphans of processes this test process started come back to it: a check that nothing
    the command line started outlives it (PR_SET_CHILD_SUBREAPER)."""
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    yield
    ctypes.CDLL(None, use_errno=True).prctl(36, 0, 0, 0, 0)


def live_children() -> set[int]:
    me = str(os.getpid())
    found = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            found.add(int(entry))
    return found


# -- every attack, graded in process ---------------------------------------------------------
def test_every_attack_has_an_expectation():
    assert sorted(p.stem for p in HOSTILE.glob("*.py")) == sorted(ATTACKS)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_contained(context, tiny_project, tmp_path, listener, name):
    attack = ATTACKS[name]
    if attack.isolated_only and not ISOLATED:
        pytest.skip("only safe with isolated workers (run as root)")
    if attack.memcg and not MEMORY_CGROUPS:
        pytest.skip("this machine offers no writable memory cgroup controller")
    if attack.git:
        commit_everything(tiny_project)
    toml = tiny_project / "exercises" / "90_scale" / "exercise.toml"
    toml.write_text(toml.read_text().replace("timeout = 5", "timeout = 5\n" + attack.grading))
    mark = new_mark()
    values = dict(PROJECT=tiny_project, SOLUTIONS=tiny_project / "solutions", REPORT=tiny_project / "out" / "r.json",
                  MARK=mark, PORT=listener.getsockname()[1], REPO=REPO)
    path = instantiate(name, tmp_path / "candidate", **values, LEAVES=not attack.across_candidates)
    context.settings = Settings(timeout=attack.timeout, memory_mb=attack.memory_mb, screen=False)
    originals = (torch.allclose, torch.equal, torch.testing.assert_close, torch.Tensor.__eq__, os.getcwd(),
                 os.environ.get("PATH"), os.environ.get("HOME"))
    exercise = load_exercise(tiny_project / "exercises" / "90_scale")
    if attack.across_candidates:
        grade_exercise(exercise, context, instantiate(name, tmp_path / "earlier", **values, LEAVES=True))

    result = grade_exercise(exercise, context, path)

    assert result.status == "fail" and not result.error, result.error  # graded, and failed
    test = next(t for t in result.tests if t.name == attack.test)
    assert test.status in ("fail", "error", "not_run") and attack.words in test.message, test.message
    assert (torch.allclose, torch.equal, torch.testing.assert_close, torch.Tensor.__eq__, os.getcwd(),
            os.environ.get("PATH"), os.environ.get("HOME")) == originals
    assert all(len(t.output) < 70_000 for t in result.tests)
    assert not any("FOUND" in t.output for t in result.tests), "the candidate read a reference"
    assert connections(listener) == 0, "the candidate reached the grader's network"
    assert not Path("/tmp/pwned-by-pickle").exists()
    assert_clean(mark, tiny_project)
    assert not nobody_finds_key(f"grader-attack-{mark}"), "kernel keys were left behind"


def test_every_malformed_frame_is_the_candidates_fault(context, tiny_project):
    """Each forged frame (huge header, impossible shape, one span shared by a thousand tensors)
    fails its test as the candidate's malformed data, never as a grader error."""
    context.settings = Settings(screen=False)
    result = grade_exercise(load_exercise(tiny_project / "exercises" / "90_scale"), context,
                            HOSTILE / "sends_malformed_frames.py")
    failed = {t.name: t for t in result.tests if t.name not in ("test_shape", harness_tests.TEST_NAME)}
    assert all(t.origin == "candidate" and "malformed data" in t.message for t in failed.values()), \
        [(t.name, t.origin, t.message) for t in failed.values()]


def test_time_budgets_end_a_slow_submission_in_bounded_time(context, tiny_project):
    """Every call stays under the per-call limit; the test's budget ends the first test, the
    submission's budget the run: the tests after it fail at once, saying why."""
    toml = tiny_project / "exercises" / "90_scale" / "exercise.toml"
    toml.write_text(toml.read_text().replace("timeout = 5", "timeout = 5\ntest_budget = 2\nsubmission_budget = 4"))
    context.settings = Settings(timeout=1.0, screen=False)
    result = grade_exercise(load_exercise(toml.parent), context, HOSTILE / "sleeps_just_under_the_limit.py")
    messages = {t.name: t.message for t in result.tests}
    assert "test's time budget of 2 s" in messages["test_shape"], messages
    assert "submission's time budget of 4 s" in messages["test_linear"], messages
    assert result.duration < 4 + 2 + 3, result.duration  # the budget, one call in flight, worker starts


def test_flooded_output_is_truncated_with_a_note(context, tiny_project):
    ex = load_exercise(tiny_project / "exercises" / "90_scale")
    result = grade_exercise(ex, context, HOSTILE / "floods_output.py")
    assert "more bytes were dropped" in result.tests[1].output


def test_an_exercise_may_grant_loopback(context, tiny_project, tmp_path, listener):
    """With `[grading] loopback = true` the worker gets a working loopback of its own (as
    08_data_parallel needs), and still cannot reach the grader's."""
    toml = tiny_project / "exercises" / "90_scale" / "exercise.toml"
    toml.write_text(toml.read_text().replace("timeout = 5", "timeout = 5\nloopback = true").replace(
        "[constraints]\n", '[constraints]\nallow_imports = ["socket", "threading"]\n'))
    ex = load_exercise(toml.parent)
    assert ex.loopback
    result = grade_exercise(ex, context, HOSTILE / "serves_on_its_own_loopback.py")
    assert result.status == "pass", [t.message for t in result.tests]
    if ISOLATED:
        mark = new_mark()
        path = instantiate("uses_the_network", tmp_path, PORT=listener.getsockname()[1], MARK=mark)
        result = grade_exercise(ex, context, path)
        assert result.status == "fail" and connections(listener) == 0


# -- attacks through the real command line --------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", ["segfaults", "raises_keyboard_interrupt", "writes_outside_its_folder",
                                  "forks_a_daemon", "signals_its_parents"])
def test_command_line_survives_and_leaves_nothing_behind(subreaper, tiny_project, tmp_path, name):
    if ATTACKS[name].isolated_only and not ISOLATED:
        pytest.skip("only safe with isolated workers (run as root)")
    out, report, mark = tiny_project / "out" / "r.json", tiny_project / "out" / "r.html", new_mark()
    out.parent.mkdir()
    out.write_text('{"previous": "run"}')
    path = instantiate(name, tmp_path / "candidate", PROJECT=tiny_project, REPORT=out, MARK=mark,
                       SOLUTIONS=tiny_project / "solutions", PORT=1)
    before = live_children()
    p = run_grade(tiny_project / "exercises" / "90_scale", "--submission", path, "--json", out,
                  "--report", report, "--timeout", "2", "--no-screen")
    assert p.returncode == 1, p.stdout + p.stderr
    assert not out.is_symlink()
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["summary"]["pass"] < doc["summary"]["tests"] and doc["summary"]["status"] == "fail"
    assert report.stat().st_size < 200_000 and "</html>" in report.read_text(encoding="utf-8")
    assert "def test_shape" in (tiny_project / "exercises" / "90_scale" / "test_scale.py").read_text()
    assert live_children() <= before, "the grader left processes behind"
    assert_clean(mark, tiny_project)


@needs_isolation
def test_private_solutions_folder_is_invisible_to_the_worker(tiny_project, tmp_path):
    """--solutions in a folder only root may read: the worker (user nobody) sees none of it."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "90_scale.py").write_text((tiny_project / "solutions" / "90_scale.py").read_text())
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    out = tmp_path / "r.json"
    path = instantiate("reads_the_references", tmp_path / "candidate", PROJECT=tiny_project, SOLUTIONS=private)
    p = run_grade(tiny_project / "exercises" / "90_scale", "--submission", path, "--solutions", private,
                  "--json", out, "--timeout", "5", "--no-screen", "-v")
    assert p.returncode == 1, p.stdout + p.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["settings"]["isolation"].startswith("namespaces")
    assert "FOUND" not in p.stdout and doc["summary"]["status"] == "fail"


def test_limits_and_isolation_are_in_the_json(tiny_project, tmp_path):
    out = tmp_path / "r.json"
    good = tmp_path / "good.py"
    good.write_text((tiny_project / "solutions" / "90_scale.py").read_text())
    p = run_grade(tiny_project / "exercises" / "90_scale", "--submission", good,
                  "--json", out, "--timeout", "3", "--memory", "1500")
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    limits = doc["exercises"][0]["limits"]
    assert limits["timeout"] == 3 and limits["memory_mb"] == 1500 and limits["output_bytes"] > 0
    label = doc["settings"]["isolation"]
    assert label.startswith("namespaces (pid, mount, ipc, net, user), allowlisted" if ISOLATED else "none (not root)")
    assert label.endswith("memory cgroup" if MEMORY_CGROUPS else "RLIMIT_DATA only (no memory cgroup)")
    p = run_grade(tiny_project / "exercises" / "90_scale", "--submission", good, "--json", out, "--no-isolation")
    assert json.loads(out.read_text(encoding="utf-8"))["settings"]["isolation"].startswith(
        "none (--no-isolation)"), p.stdout + p.stderr


def test_patching_comparisons_does_not_pass_self_attention(context, tmp_path):
    cheat = tmp_path / "cheat.py"
    cheat.write_text((HOSTILE / "patches_comparisons.py").read_text() + (
        "\nclass SelfAttention(torch.nn.Module):\n"
        "    def __init__(self, d_model, num_heads, bias=True):\n"
        "        super().__init__()\n"
        "        for n in ('q_proj', 'k_proj', 'v_proj', 'out_proj'):\n"
        "            setattr(self, n, torch.nn.Linear(d_model, d_model, bias=bias))\n"
        "    def forward(self, x, key_padding_mask=None, causal=False):\n"
        "        return torch.zeros_like(x)\n"))
    # the gate would refuse the file unrun (it imports grader): this proves the run-time side
    context.settings = Settings(screen=False, select="test_matches_reference or test_matches_torch")
    result = grade_exercise(load_exercise(REPO / "exercises" / "17_self_attention"), context, cheat)
    assert result.status == "fail" and result.tests and all(t.status == "fail" for t in result.tests)


@pytest.mark.slow
def test_a_secret_in_the_graders_environment_appears_in_no_output(subreaper, tiny_project, tmp_path, monkeypatch):
    """A canary variable in the grader's environment: the candidate looks everywhere (os.environ,
    /proc/self/environ, its process image, its memory) and prints what it finds; the secret is in
    no output: JSON, HTML, console."""
    secret = f"secret-{os.getpid()}-{next(_marks)}"
    monkeypatch.setenv(f"GRADER_CANARY_{os.getpid()}", secret)
    out, report = tmp_path / "r.json", tmp_path / "r.html"
    path = instantiate("reads_the_environment", tmp_path / "candidate")
    before = live_children()
    p = run_grade(tiny_project / "exercises" / "90_scale", "--submission", path, "--json", out, "--report", report,
                  "--timeout", "10", "--no-screen", "-v")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "secrets found: set()" in out.read_text(encoding="utf-8")
    for text in (out.read_text(encoding="utf-8"), report.read_text(encoding="utf-8"), p.stdout, p.stderr):
        assert secret not in text and "GRADER_CANARY" not in text
    assert live_children() <= before


def test_a_submission_that_is_a_link_or_a_reference_or_a_test_is_refused(context, tiny_project, tmp_path):
    """Operators' mistakes (or tricks) refused before grading, with exit 2: a symbolic link (even
    to a good file), the reference itself, a hard link to it, an exercise's own test file."""
    ex = load_exercise(tiny_project / "exercises" / "90_scale")
    reference = tiny_project / "solutions" / "90_scale.py"
    (tmp_path / "link.py").symlink_to(reference)
    os.link(reference, tmp_path / "hard.py")
    expected = {tmp_path / "link.py": "symbolic link", reference: "reference solutions",
                tmp_path / "hard.py": "reference solution under another name",
                ex.path / "test_scale.py": "exercise's own files"}
    for path, words in expected.items():
        result = grade_exercise(ex, context, path)
        assert result.status == "error" and words in result.error and not result.tests, (path, result.error)
    p = run_grade(ex.path, "--submission", tmp_path / "link.py")
    assert p.returncode == 2 and "symbolic link" in p.stdout + p.stderr, p.stdout + p.stderr


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_stopping_the_grader_ends_every_worker_and_removes_its_folders(subreaper, tiny_project, tmp_path, signum):
    """`grade` on a candidate that hangs, stopped by SIGTERM (as `timeout` does), SIGINT (Ctrl-C)
    or SIGKILL (the grader's death): no worker, fork server, run folder or memory cgroup is left."""
    path = instantiate("loops_forever", tmp_path / "candidate")
    scratch = tmp_path / "tmp"  # the grader's temporary folder: its run folder goes there
    scratch.mkdir()
    cgroups_before, before = worker_cgroups(), live_children()
    p = subprocess.Popen([*GRADE, tiny_project / "exercises" / "90_scale", "--submission", path, "--timeout", "60"],
                         cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "TMPDIR": str(scratch)},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal
                         # (a background job of a script starts with SIGINT ignored, and so would the grader)
    deadline = time.monotonic() + 120
    while not any(children_of(zygote) for zygote in children_of(p.pid)):
        assert time.monotonic() < deadline and p.poll() is None, "no worker started"
        time.sleep(0.2)
    time.sleep(0.5)  # the worker is now in the candidate's loop
    p.send_signal(signum)
    p.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (live_children() - before or any(scratch.iterdir())):
        time.sleep(0.2)
    assert not live_children() - before, "processes left behind"
    assert not any(scratch.iterdir()), "run folders left behind"
    assert not of_dead_fork_servers(worker_cgroups() - cgroups_before), "memory cgroups left behind"


def children_of(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def worker_cgroups() -> set[str]:
    base = memcap.Cgroups().base
    return set(glob.glob(os.path.join(base, "grader-*"))) if base else set()


def of_dead_fork_servers(cgroups: set[str]) -> set[str]:
    """The cgroups (grader-<fork server pid>-<n>) whose fork server has ended (gone, or a zombie
    nobody reaped): left behind. Those of a live one belong to another run (the catalog's
    validations work in the background)."""
    return {c for c in cgroups if not _running(c.rsplit("-", 2)[-2])}


def _running(pid: str) -> bool:
    try:
        return _state(pid) != "Z"
    except OSError:
        return False


def python_for_nobody() -> list[str] | None:
    """A command that runs this interpreter, torch and the harness as user nobody (the virtual
    environment's own interpreter may lie in a folder nobody cannot enter), or None."""
    if not ISOLATED or not shutil.which("setpriv"):
        return None
    site = [p for p in sys.path if p.endswith("site-packages")]
    env = {"PYTHONPATH": os.pathsep.join([*site, str(REPO)]), "HOME": "/tmp", "PATH": os.environ.get("PATH", "")}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        command = ["setpriv", "--reuid", str(confine.NOBODY), "--regid", str(confine.NOBODY), "--clear-groups", python]
        probe = subprocess.run([*command, "-c", "import subprocess, sys, torch, grader.cli; "
                                "subprocess.run([sys.executable, '-c', 'import torch'], check=True)"], env=env, capture_output=True)
        if probe.returncode == 0:
            return [*command, "-m", "grader.cli"]
    return None


@pytest.mark.slow
def test_without_root_workers_are_confined_by_user_namespaces(tiny_project):
    """Graded as user nobody (no root): where the kernel allows unprivileged user namespaces, the
    worker still sees no reference, no project and no .git, and the JSON says which isolation held."""
    command = python_for_nobody()
    if command is None:
        pytest.skip("needs root (to become nobody), setpriv and an interpreter nobody may run")
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        project = base / "project"
        shutil.copytree(tiny_project / "exercises", project / "exercises")
        shutil.copytree(tiny_project / "solutions", project / "solutions")
        commit_everything(project)
        path = instantiate("reads_git_objects", base, PROJECT=project, REPO=REPO)
        subprocess.run(["chmod", "-R", "a+rwX", str(base)], check=True)
        env = {"PYTHONPATH": os.pathsep.join([*[p for p in sys.path if p.endswith("site-packages")], str(REPO)]),
               "HOME": str(base), "PATH": os.environ.get("PATH", "")}
        p = subprocess.run([*command, project / "exercises" / "90_scale", "--submission", path, "--json",
                            base / "r.json", "--no-screen", "--timeout", "10", "-v"],
                           env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 1, p.stdout + p.stderr
        doc = json.loads((base / "r.json").read_text(encoding="utf-8"))
        if not doc["settings"]["isolation"].startswith("unprivileged user namespaces"):
            pytest.skip(f"the kernel refuses unprivileged user namespaces: {doc['settings']['isolation']}")
        assert "FOUND" not in p.stdout and doc["summary"]["status"] == "fail"
    finally:
        shutil.rmtree(base, ignore_errors=True)
