"""Alternative: shift-and-add over the kernel taps (strided slices, one tensordot per tap and group), padding by copying into a zero canvas."""
import torch


def _two(v):
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    N, C_in, H, W = x.shape
    C_out, C_g, kH, kW = weight.shape
    (sH, sW), (dH, dW) = _two(stride), _two(dilation)
    if padding == "valid":
        top = bottom = left = right = 0
    elif padding == "same":
        tH, tW = dH * (kH - 1), dW * (kW - 1)
        top, bottom, left, right = tH // 2, tH - tH // 2, tW // 2, tW - tW // 2  # the odd one at the end
    else:
        top, left = _two(padding)
        bottom, right = top, left
    canvas = x.new_zeros(N, C_in, H + top + bottom, W + left + right)  # (N, C_in, Hp, Wp)
    canvas[:, :, top:top + H, left:left + W] = x
    H_out = (canvas.shape[2] - dH * (kH - 1) - 1) // sH + 1
    W_out = (canvas.shape[3] - dW * (kW - 1) - 1) // sW + 1
    O = C_out // groups
    per_group = []
    for g in range(groups):
        xg = canvas[:, g * C_g:(g + 1) * C_g]  # (N, C_g, Hp, Wp)
        acc = 0
        for u in range(kH):
            for v in range(kW):
                rows = slice(u * dH, u * dH + sH * (H_out - 1) + 1, sH)
                cols = slice(v * dW, v * dW + sW * (W_out - 1) + 1, sW)
                tap = weight[g * O:(g + 1) * O, :, u, v]  # (O, C_g)
                acc = acc + torch.tensordot(tap, xg[:, :, rows, cols], dims=([1], [1]))  # (O, N, H_out, W_out)
        per_group.append(acc)
    y = torch.cat(per_group, dim=0).transpose(0, 1)  # (N, C_out, H_out, W_out)
    if bias is not None:
        y = y + bias[None, :, None, None]
    return y
