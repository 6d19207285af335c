"""Your solution for 33_conv2d: 2-D convolution from scratch, with stride, padding, dilation and groups.

Read README.md for the task, then replace the `raise NotImplementedError`.
Grade it with:  grade exercises/33_conv2d
"""
import torch
import torch.nn.functional as F  # F.pad is allowed; torch's own convolution and im2col are not


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
           dilation: int | tuple[int, int] = 1, groups: int = 1) -> torch.Tensor:
    """2-D cross-correlation, the "convolution" of deep learning (no kernel flip), like F.conv2d.

    Dimensions: N batch, C_in / C_out channels, G = groups, (H, W) input size, (kH, kW) kernel size.

        y[n, o, i, j] = bias[o] + sum over c (the C_in/G channels of o's group), u < kH, v < kW of
                        x_pad[n, c, i*sH + u*dH, j*sW + v*dW] * weight[o, c, u, v]

    Args:
        x: (N, C_in, H, W) float tensor.
        weight: (C_out, C_in // G, kH, kW); output channel o belongs to group o // (C_out // G),
            which reads input channels [g * C_in/G, (g+1) * C_in/G).
        bias: (C_out,) or None.
        stride: (sH, sW), or one int for both.
        padding: (pH, pW) zeros on each side, or one int for both; or 'valid' (no padding) or
            'same' (output size = input size, stride 1 only; total padding d*(k-1) per dim, the
            odd one at the bottom/right).
        dilation: (dH, dW) spacing between kernel taps, or one int for both.
        groups: G, divides C_in and C_out.

    Returns:
        (N, C_out, H_out, W_out), dtype of x, with
        H_out = floor((H + 2*pH - dH*(kH - 1) - 1) / sH) + 1 and likewise W_out.
    """
    raise NotImplementedError("pad, gather the windows, contract them with the weights per group, add the bias")
