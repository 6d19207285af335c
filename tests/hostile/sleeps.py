"""Sleeps for an hour."""
import time


def scale(x):
    time.sleep(3600)
    return 2 * x
