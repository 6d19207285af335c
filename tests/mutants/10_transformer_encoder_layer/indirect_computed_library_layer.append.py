"""Builds torch's own TransformerEncoderLayer under a name computed at run time, beside its own layer."""
from torch import nn

_Library = getattr(nn, "TransformerEncoder" + "Layer")
_reference_init = EncoderLayer.__init__


def _init(self, d_model, nhead, dim_ff=2048, dropout=0.1, norm_first=False):
    _reference_init(self, d_model, nhead, dim_ff, dropout, norm_first)
    object.__setattr__(self, "library", _Library(d_model, nhead, dim_ff, dropout, batch_first=True))


EncoderLayer.__init__ = _init
