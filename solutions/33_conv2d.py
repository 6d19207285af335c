"""Reference: 2-D convolution (cross-correlation, as in every deep learning library) from scratch.

Windows come from Tensor.unfold (sliding windows along one dim at a time) and the sum over
input channels and kernel taps is one einsum per call, with groups as an extra einsum dim.
Checked against F.conv2d (values and gradients, float64) by the exercise's suite (`grade validate`).
"""
import torch
import torch.nn.functional as F


def _pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints -> (height value, width value)."""
    if isinstance(value, int):
        return value, value
    assert len(value) == 2 and all(isinstance(v, int) for v in value), f"{name} must be an int or two ints, got {value!r}"
    return int(value[0]), int(value[1])


def output_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int, dilation: int) -> int:
    """How many windows fit: the window spans dilation*(kernel-1)+1 input positions."""
    span = dilation * (kernel - 1) + 1
    return (size + pad_before + pad_after - span) // stride + 1


def _padding_per_side(padding, kernel: tuple[int, int], dilation: tuple[int, int],
                      stride: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)). 'same' pads d*(k-1) in total, the odd one at the end
    (bottom/right), as torch does; 'valid' is no padding."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        assert stride == (1, 1), f"padding='same' needs stride 1, got stride={stride}"
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    pH, pW = _pair(padding, "padding")
    return (pH, pH), (pW, pW)


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> torch.Tensor:
    """y[n, o, i, j] = bias[o] + sum_{c in o's group, u, v} x_pad[n, c, i*sH + u*dH, j*sW + v*dW] * weight[o, c', u, v]."""
    N, C_in, H, W = x.shape
    C_out, C_in_g, kH, kW = weight.shape
    G = groups
    assert C_in == C_in_g * G, f"x has {C_in} channels but weight expects {C_in_g} per group x {G} groups"
    assert C_out % G == 0, f"out channels {C_out} must be divisible by groups={G}"
    sH, sW = _pair(stride, "stride")
    dH, dW = _pair(dilation, "dilation")
    (pT, pB), (pL, pR) = _padding_per_side(padding, (kH, kW), (dH, dW), (sH, sW))
    H_out = output_size(H, kH, sH, pT, pB, dH)
    W_out = output_size(W, kW, sW, pL, pR, dW)
    assert H_out > 0 and W_out > 0, f"the (dilated) kernel {(kH, kW)} does not fit the padded input {(H, W)}"

    x = F.pad(x, (pL, pR, pT, pB))  # (N, C_in, H + pT + pB, W + pL + pR), zeros around
    # A window of height dH*(kH-1)+1 every sH rows, then keep every dH-th row of it (the dilation).
    win = x.unfold(2, dH * (kH - 1) + 1, sH)[..., ::dH]  # (N, C_in, H_out, Wp, kH)
    win = win.unfold(3, dW * (kW - 1) + 1, sW)[..., ::dW]  # (N, C_in, H_out, W_out, kH, kW)
    win = win.reshape(N, G, C_in_g, H_out, W_out, kH, kW)  # input channels split into groups
    w = weight.reshape(G, C_out // G, C_in_g, kH, kW)  # output channels split into groups
    # no kernel flip: deep learning "convolution" is cross-correlation
    y = torch.einsum("ngchwuv,gocuv->ngohw", win, w)  # (N, G, C_out/G, H_out, W_out)
    y = y.reshape(N, C_out, H_out, W_out)  # groups side by side, in order
    if bias is not None:
        y = y + bias.view(1, C_out, 1, 1)  # one bias per output channel
    return y
