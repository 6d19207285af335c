"""Writes to the results file, the project, the home folder and /tmp; changes its cwd and environment."""
import os

TARGETS = ["@REPORT@", "@PROJECT@/pwned-@MARK@", "/tmp/pwned-@MARK@", "/var/tmp/pwned-@MARK@",
           "/dev/shm/pwned-@MARK@", os.path.expanduser("~") + "/pwned-@MARK@", "/root/pwned-@MARK@",
           "../pwned-@MARK@"]


def scale(x):
    for path in TARGETS:
        try:
            with open(path, "w") as f:
                f.write('{"summary": {"status": "pass"}}')
        except OSError:
            pass
    try:  # a symlink where the grader will write its report: its write would land in the project
        os.remove("@REPORT@")
        os.symlink("@PROJECT@/exercises/90_scale/test_scale.py", "@REPORT@")
    except OSError:
        pass
    os.chdir("/")
    os.environ["PATH"] = ""
    os.environ["HOME"] = "/nonexistent"
    return 3 * x
