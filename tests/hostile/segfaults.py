"""Dereferences a null pointer."""
import ctypes


def scale(x):
    ctypes.string_at(0)
