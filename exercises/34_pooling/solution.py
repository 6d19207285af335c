"""Your solution for 34_pooling: 2-D max pooling (with indices) and average pooling from scratch.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/34_pooling
"""
import torch
import torch.nn.functional as F  # F.pad is allowed; torch's own pooling is not


def max_pool2d(x: torch.Tensor, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Maximum over each (dilated) window, like F.max_pool2d.

    Dimensions: N batch, C channels, (H, W) input size, (kH, kW) kernel size.

    Args:
        x: (N, C, H, W) float tensor.
        kernel_size: (kH, kW), or one int for both.
        stride: (sH, sW), one int for both, or None (= kernel_size).
        padding: (pH, pW), or one int for both; at most half the kernel size. Padding is -inf:
            it never wins the max.
        dilation: (dH, dW) spacing between window elements, or one int for both.
        ceil_mode: round the number of windows up (a last, partial window), but never keep a
            window that would start in the right/bottom padding.
        return_indices: also return where each maximum came from.

    Returns:
        values (N, C, H_out, W_out), dtype of x, with
            H_out = floor((H + 2*pH - dH*(kH - 1) - 1 [+ sH - 1 if ceil_mode]) / sH) + 1
            (minus 1 in ceil_mode if the last window would start at or after H + pH), W_out likewise;
        and if return_indices: indices (N, C, H_out, W_out) int64, the flat position h * W + w of
        each maximum in its (H, W) input plane; on ties, the first maximum in row-major window order.
    """
    raise NotImplementedError("pad with -inf, cut the windows, take the max (and where it was)")


def avg_pool2d(x: torch.Tensor, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> torch.Tensor:
    """Mean over each window, like F.avg_pool2d.

    Args:
        x: (N, C, H, W) float tensor.
        kernel_size, stride, padding, ceil_mode: as for max_pool2d (no dilation); padding is zeros.
        count_include_pad: divide by the window's positions inside the padded input (True) or by
            those inside the input only (False). Positions of a ceil_mode window beyond the
            padded input never count.
        divisor_override: if given, divide every window's sum by this number instead.

    Returns:
        (N, C, H_out, W_out), dtype of x; sizes as for max_pool2d with dilation 1.
    """
    raise NotImplementedError("pad with zeros, sum each window, divide by the right count")
