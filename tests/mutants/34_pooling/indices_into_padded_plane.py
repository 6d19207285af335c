"""Returns indices into the padded input plane instead of the original (H, W) plane."""
import torch
import torch.nn.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _out(size, k, s, p, d, ceil_mode):
    span = d * (k - 1) + 1
    if ceil_mode:
        out = -(-(size + 2 * p - span) // s) + 1
        if (out - 1) * s >= size + p:
            out -= 1
    else:
        out = (size + 2 * p - span) // s + 1
    return out


def _taps(x, k, s, p, d, ceil_mode, value):
    """(N, C, H_out, W_out, kH*kW) window elements (padding = value), and (H_out, W_out)."""
    (kH, kW), (sH, sW), (pH, pW), (dH, dW) = k, s, p, d
    H, W = x.shape[-2:]
    Ho, Wo = _out(H, kH, sH, pH, dH, ceil_mode), _out(W, kW, sW, pW, dW, ceil_mode)
    eH = max(0, (Ho - 1) * sH + dH * (kH - 1) + 1 - (H + 2 * pH))
    eW = max(0, (Wo - 1) * sW + dW * (kW - 1) + 1 - (W + 2 * pW))
    xp = F.pad(x, (pW, pW + eW, pH, pH + eH), value=value)
    taps = [xp[..., u * dH:u * dH + sH * (Ho - 1) + 1:sH, v * dW:v * dW + sW * (Wo - 1) + 1:sW]
            for u in range(kH) for v in range(kW)]
    return torch.stack(taps, dim=-1), (Ho, Wo), (eH, eW)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    k = _pair(kernel_size)
    s = k if stride is None else _pair(stride)
    p, d = _pair(padding), _pair(dilation)
    taps, (Ho, Wo), _ = _taps(x, k, s, p, d, ceil_mode, float("-inf"))
    values, arg = taps.max(dim=-1)
    if not return_indices:
        return values
    u, v = arg // k[1], arg % k[1]
    row = torch.arange(Ho).view(-1, 1) * s[0] - p[0] + u * d[0]
    col = torch.arange(Wo).view(1, -1) * s[1] - p[1] + v * d[1]
    return values, (row + p[0]) * (x.shape[-1] + 2 * p[1]) + col + p[1]


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    k = _pair(kernel_size)
    s = k if stride is None else _pair(stride)
    p = _pair(padding)
    taps, (Ho, Wo), (eH, eW) = _taps(x, k, s, p, (1, 1), ceil_mode, 0.0)
    total = taps.sum(dim=-1)
    if divisor_override is not None:
        return total / divisor_override
    # count by pooling a mask: 1 on the input, 1 on the padding if it counts, 0 on the ceil overhang
    ones = torch.ones(1, 1, *x.shape[-2:], dtype=x.dtype)
    mask = F.pad(ones, (p[1], p[1], p[0], p[0]), value=1.0 if count_include_pad else 0.0)
    mask = F.pad(mask, (0, eW, 0, eH), value=0.0)
    mask_taps, _, _ = _taps(mask, k, s, (0, 0), (1, 1), False, 0.0)
    count = mask_taps.sum(dim=-1)
    return total / count
