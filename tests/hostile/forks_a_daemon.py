"""Double-forks a daemon in its own session that should outlive the call and the grader."""
import os


def scale(x):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "@MARK@"])
        os._exit(0)
    os.wait()
    return 3 * x
