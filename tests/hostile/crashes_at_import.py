"""Fails while being imported."""
raise MemoryError("simulated crash at import")


def scale(x):
    return 2 * x
