"""Treats dilation as extra spacing between windows (step s*d) instead of between kernel taps."""
import torch
import torch.nn.functional as F


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    N, C_in, H, W = x.shape
    C_out, C_in_g, kH, kW = weight.shape
    sH, sW = _pair(stride)
    dH, dW = _pair(dilation)
    if padding == "valid":
        pads = (0, 0, 0, 0)
    elif padding == "same":
        tH, tW = dH * (kH - 1), dW * (kW - 1)
        pads = (tW // 2, tW - tW // 2, tH // 2, tH - tH // 2)
    else:
        pH, pW = _pair(padding)
        pads = (pW, pW, pH, pH)
    x = F.pad(x, pads)
    Hp, Wp = x.shape[-2:]
    sH, sW, dH, dW = sH * dH, sW * dW, 1, 1
    H_out = (Hp - dH * (kH - 1) - 1) // sH + 1
    W_out = (Wp - dW * (kW - 1) - 1) // sW + 1
    G = groups
    xg = x.view(N, G, C_in // G, Hp, Wp)
    wg = weight.view(G, C_out // G, C_in_g, kH, kW)
    out = x.new_zeros(N, G, C_out // G, H_out, W_out)
    for u in range(kH):
        for v in range(kW):
            patch = xg[:, :, :, u * dH:u * dH + sH * (H_out - 1) + 1:sH, v * dW:v * dW + sW * (W_out - 1) + 1:sW]
            out = out + torch.einsum("ngchw,goc->ngohw", patch, wg[:, :, :, u, v])
    out = out.reshape(N, C_out, H_out, W_out)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out
