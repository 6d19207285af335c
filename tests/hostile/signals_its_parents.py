"""Tries to kill its parent, its process group, every process it can see, and the grader."""
import os
import signal


def _python_processes():
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if b"python" in open(f"/proc/{entry}/cmdline", "rb").read():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def scale(x):
    targets = [os.getppid(), *_python_processes()]
    for pid in targets:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
    try:
        os.killpg(os.getpgrp(), signal.SIGKILL)
    except OSError:
        pass
    if os.getpid() == 1:  # only inside a PID namespace: anywhere else this would kill the machine's processes
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
    return 3 * x
