"""Lifts the recursion limit and recurses through C (a __getattr__ slot) until the C stack overflows."""
import sys


class Bottomless:
    def __getattr__(self, name):
        return getattr(self, name)


def scale(x):
    sys.setrecursionlimit(10**9)
    Bottomless().anything
    return 2 * x
