"""Alternative: im2col with F.unfold (dilation and stride passed to it), indices gathered from an unfolded index map, counts from an unfolded mask."""
import torch
import torch.nn.functional as F


def _two(v):
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _n_windows(size, k, s, p, d, ceil_mode):
    span = d * (k - 1) + 1
    if ceil_mode:
        n = -(-(size + 2 * p - span) // s) + 1  # ceiling division
        if (n - 1) * s >= size + p:  # the last window would start in the padding
            n -= 1
    else:
        n = (size + 2 * p - span) // s + 1
    return n


def _im2col(x, k, s, p, d, ceil_mode, pad_value, tail_value):
    """x (N, C, H, W) -> (N, C, kH*kW, Ho, Wo); the ceil_mode tail is filled with tail_value."""
    N, C, H, W = x.shape
    Ho = _n_windows(H, k[0], s[0], p[0], d[0], ceil_mode)
    Wo = _n_windows(W, k[1], s[1], p[1], d[1], ceil_mode)
    tail_h = max(0, (Ho - 1) * s[0] + d[0] * (k[0] - 1) + 1 - (H + 2 * p[0]))
    tail_w = max(0, (Wo - 1) * s[1] + d[1] * (k[1] - 1) + 1 - (W + 2 * p[1]))
    xp = F.pad(x, (p[1], p[1], p[0], p[0]), value=pad_value)
    xp = F.pad(xp, (0, tail_w, 0, tail_h), value=tail_value)
    cols = F.unfold(xp.reshape(N * C, 1, *xp.shape[-2:]), kernel_size=k, dilation=d, stride=s)
    return cols.reshape(N, C, k[0] * k[1], Ho, Wo)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    k = _two(kernel_size)
    s = k if stride is None else _two(stride)
    p, d = _two(padding), _two(dilation)
    cols = _im2col(x, k, s, p, d, ceil_mode, float("-inf"), float("-inf"))
    values, where = cols.max(dim=2)  # first maximum on ties
    if not return_indices:
        return values
    H, W = x.shape[-2:]
    plane = torch.arange(H * W, dtype=torch.float64, device=x.device).reshape(1, 1, H, W)
    index_cols = _im2col(plane, k, s, p, d, ceil_mode, -1.0, -1.0)  # (1, 1, kH*kW, Ho, Wo)
    index_cols = index_cols.expand(x.shape[0], x.shape[1], -1, -1, -1)
    indices = index_cols.gather(2, where.unsqueeze(2)).squeeze(2)
    return values, indices.to(torch.int64)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    k = _two(kernel_size)
    s = k if stride is None else _two(stride)
    p = _two(padding)
    sums = _im2col(x, k, s, p, (1, 1), ceil_mode, 0.0, 0.0).sum(dim=2)
    if divisor_override is not None:
        return sums / divisor_override
    ones = torch.ones(1, 1, *x.shape[-2:], dtype=x.dtype, device=x.device)
    counted = _im2col(ones, k, s, p, (1, 1), ceil_mode, 1.0 if count_include_pad else 0.0, 0.0)
    return sums / counted.sum(dim=2)
