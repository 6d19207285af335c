"""Answers correctly, but sleeps 0.9 s in every call (under the 1 s per-call limit), to make the run last for ever."""
import time


def scale(x):
    time.sleep(0.9)
    return 2 * x
