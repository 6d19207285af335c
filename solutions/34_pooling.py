"""Reference: 2-D max pooling (with indices) and average pooling from scratch.

The input is padded (with -inf for max, 0 for average), cut into windows with Tensor.unfold,
and reduced over each window. Checked against F.max_pool2d and F.avg_pool2d (values, indices
and gradients, float64) by the exercise's suite (`grade validate`).
"""
import torch
import torch.nn.functional as F


def _pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints -> (height value, width value)."""
    if isinstance(value, int):
        return value, value
    assert len(value) == 2 and all(isinstance(v, int) for v in value), f"{name} must be an int or two ints, got {value!r}"
    return int(value[0]), int(value[1])


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """Number of windows along one dim. ceil_mode keeps a last partial window, but never one
    that would start in the right padding (it would see no input at all)."""
    span = dilation * (kernel - 1) + 1
    room = size + 2 * padding - span  # how far the window can slide
    out = (room + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Per dim (height, width): (kernel, stride, padding, dilation, out_size, extra right padding)."""
    assert x.dim() == 4, f"expected x of shape (N, C, H, W), got {tuple(x.shape)}"
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None else _pair(stride, "stride")  # default stride: the kernel size
    p, d = _pair(padding, "padding"), _pair(dilation, "dilation")
    dims = []
    for size, k_, s_, p_, d_ in zip(x.shape[2:], k, s, p, d):
        assert 2 * p_ <= k_, f"padding {p_} must be at most half the kernel size {k_}"
        out = output_size(size, k_, s_, p_, d_, ceil_mode)
        assert out > 0, f"a window of kernel {k_}, dilation {d_} does not fit size {size} + padding {p_}"
        # ceil_mode: the last window may hang over the right padding; pad it too, it is never counted
        extra = max(0, (out - 1) * s_ + d_ * (k_ - 1) + 1 - (size + 2 * p_))
        dims.append((k_, s_, p_, d_, out, extra))
    return dims


def _windows(x: torch.Tensor, dims, value: float) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H_out, W_out, kH, kW): every window, padded with `value`."""
    (kH, sH, pH, dH, _, eH), (kW, sW, pW, dW, _, eW) = dims
    x = F.pad(x, (pW, pW + eW, pH, pH + eH), value=value)  # (N, C, Hp, Wp)
    win = x.unfold(2, dH * (kH - 1) + 1, sH)[..., ::dH]  # (N, C, H_out, Wp, kH)
    return win.unfold(3, dW * (kW - 1) + 1, sW)[..., ::dW]  # (N, C, H_out, W_out, kH, kW)


def max_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Max over each window; padding is -inf, so it never wins. Indices: flat positions
    h * W + w in each (H, W) input plane, the first maximum in row-major window order."""
    N, C, H, W = x.shape
    dims = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    (kH, sH, pH, dH, H_out, _), (kW, sW, pW, dW, W_out, _) = dims
    win = _windows(x, dims, float("-inf")).reshape(N, C, H_out, W_out, kH * kW)  # window flattened row-major
    # max(dim) returns the first maximum on ties and sends the whole gradient to it
    out, arg = win.max(dim=-1)  # (N, C, H_out, W_out) each
    if not return_indices:
        return out
    # window-local (u, v) -> input coordinates: row = i*sH - pH + u*dH, col = j*sW - pW + v*dW
    u, v = arg // kW, arg % kW  # (N, C, H_out, W_out)
    rows = torch.arange(H_out, device=x.device).view(H_out, 1) * sH - pH + u * dH  # (N, C, H_out, W_out)
    cols = torch.arange(W_out, device=x.device).view(1, W_out) * sW - pW + v * dW  # (N, C, H_out, W_out)
    return out, rows * W + cols


def _counts(size: int, kernel: int, stride: int, padding: int, out: int, include_pad: bool, device) -> torch.Tensor:
    """(out,) how many positions of each window count along one dim: those inside the input,
    or (include_pad) inside the padded input; the ceil_mode overhang never counts."""
    start = torch.arange(out, device=device) * stride - padding  # (out,) first position, input coords
    lo, hi = (-padding, size + padding) if include_pad else (0, size)
    return start.add(kernel).clamp(max=hi) - start.clamp(min=lo)  # (out,)


def avg_pool2d(x: torch.Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> torch.Tensor:
    """Sum over each window (zero padding) divided by divisor_override, or by the number of
    positions counted (padding included or not)."""
    N, C, H, W = x.shape
    dims = _geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    (kH, sH, pH, _, H_out, _), (kW, sW, pW, _, W_out, _) = dims
    total = _windows(x, dims, 0.0).sum(dim=(-2, -1))  # (N, C, H_out, W_out)
    if divisor_override is not None:
        assert divisor_override != 0, "divisor_override must not be 0"
        return total / divisor_override
    rows = _counts(H, kH, sH, pH, H_out, count_include_pad, x.device)  # (H_out,)
    cols = _counts(W, kW, sW, pW, W_out, count_include_pad, x.device)  # (W_out,)
    return total / (rows.view(H_out, 1) * cols.view(1, W_out)).to(x.dtype)  # (N, C, H_out, W_out)
