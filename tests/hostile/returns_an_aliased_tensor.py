"""Returns zero-stride views and tensors aliasing its input and a global it changes later."""
import torch

_last = None


def scale(x):
    global _last
    if _last is not None:
        _last.fill_(0)  # would change an earlier result if it were shared with the grader
    out = (2 * x.reshape(-1)[:1]).expand(x.shape)  # stride 0: every element aliases the first
    _last = out
    return out
