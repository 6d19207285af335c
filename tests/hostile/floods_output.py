"""Prints megabytes to stdout and stderr, then returns wrong values."""
import sys


def scale(x):
    for _ in range(200):
        sys.stdout.write("spam " * 2000 + "\n")
        sys.stderr.write("more " * 2000 + "\n")
    return x
