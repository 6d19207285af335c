"""Computes the convolution with numpy loops: right values, but no gradient reaches x, weight or bias."""
import numpy as np
import torch


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    xs, ws = x.detach().cpu().numpy(), weight.detach().cpu().numpy()
    N, C_in, H, W = xs.shape
    C_out, C_in_g, kH, kW = ws.shape
    (sH, sW), (dH, dW) = _pair(stride), _pair(dilation)
    if padding == "valid":
        pads = ((0, 0), (0, 0))
    elif padding == "same":
        tH, tW = dH * (kH - 1), dW * (kW - 1)
        pads = ((tH // 2, tH - tH // 2), (tW // 2, tW - tW // 2))
    else:
        pH, pW = _pair(padding)
        pads = ((pH, pH), (pW, pW))
    xp = np.pad(xs, ((0, 0), (0, 0), *pads))
    H_out = (xp.shape[2] - dH * (kH - 1) - 1) // sH + 1
    W_out = (xp.shape[3] - dW * (kW - 1) - 1) // sW + 1
    out = np.zeros((N, C_out, H_out, W_out), dtype=xs.dtype)
    per_group = C_out // groups
    for o in range(C_out):
        g = o // per_group
        for i in range(H_out):
            for j in range(W_out):
                win = xp[:, g * C_in_g:(g + 1) * C_in_g, i * sH:i * sH + dH * (kH - 1) + 1:dH,
                         j * sW:j * sW + dW * (kW - 1) + 1:dW]
                out[:, o, i, j] = (win * ws[o]).sum(axis=(1, 2, 3))
    if bias is not None:
        out += bias.detach().cpu().numpy()[None, :, None, None]
    return torch.from_numpy(out).to(x.device)
