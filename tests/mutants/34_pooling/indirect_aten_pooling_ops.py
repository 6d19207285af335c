"""Calls torch's pooling kernels through torch.ops.aten under spliced names: right values, but forbidden (caught by the op trace)."""
import torch

_aten = torch.ops.aten


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    stride = kernel_size if stride is None else stride
    pair = lambda v: [v, v] if isinstance(v, int) else list(v)  # noqa: E731
    values, indices = getattr(_aten, "max_pool2d_with" + "_indices")(x, pair(kernel_size), pair(stride), pair(padding),
                                                                    pair(dilation), ceil_mode)
    return (values, indices) if return_indices else values


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    stride = kernel_size if stride is None else stride
    pair = lambda v: [v, v] if isinstance(v, int) else list(v)  # noqa: E731
    return getattr(_aten, "avg" + "_pool2d")(x, pair(kernel_size), pair(stride), pair(padding), ceil_mode,
                                             count_include_pad, divisor_override)
