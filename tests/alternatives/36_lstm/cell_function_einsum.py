"""Alternative: a plain cell function with einsum and per-gate weight views (split, not chunk), parameters
created through nn.init, the reverse direction as a recursion over the flipped list of steps."""
import torch
from torch import nn


def cell(x_t, h, c, w_ih, w_hh, b_ih, b_hh):
    """One LSTM step; x_t (B, in), h and c (B, H)."""
    H = h.shape[-1]
    pre = torch.einsum("gi,bi->bg", w_ih, x_t) + torch.einsum("gh,bh->bg", w_hh, h)
    if b_ih is not None:
        pre = pre + b_ih + b_hh
    i, f, g, o = torch.split(pre, H, dim=1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, bidirectional=False):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        dirs = 2 if bidirectional else 1
        for k in range(num_layers):
            for suffix in ["", "_reverse"][:dirs]:
                names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
                for name in names:
                    if name == "weight_ih":
                        shape = (4 * hidden_size, input_size if k == 0 else dirs * hidden_size)
                    elif name == "weight_hh":
                        shape = (4 * hidden_size, hidden_size)
                    else:
                        shape = (4 * hidden_size,)
                    p = nn.Parameter(torch.empty(shape))
                    nn.init.uniform_(p, -hidden_size ** -0.5, hidden_size ** -0.5)
                    self.register_parameter(f"{name}_l{k}{suffix}", p)

    def params(self, k, suffix):
        return [self._parameters.get(f"{n}_l{k}{suffix}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]

    def forward(self, x, hx=None):
        if self.batch_first:
            x = x.permute(1, 0, 2)
        steps = list(x.unbind(0))  # T tensors (B, I)
        dirs = 2 if self.bidirectional else 1
        B = x.shape[1]
        if hx is None:
            zero = torch.zeros(self.num_layers * dirs, B, self.hidden_size, dtype=x.dtype, device=x.device)
            hx = (zero, zero)
        h_all, c_all = [], []
        for k in range(self.num_layers):
            per_dir = []
            for d, suffix in enumerate(["", "_reverse"][:dirs]):
                h, c = hx[0][k * dirs + d], hx[1][k * dirs + d]
                order = steps[::-1] if d == 1 else steps
                hs = []
                for x_t in order:
                    h, c = cell(x_t, h, c, *self.params(k, suffix))
                    hs.append(h)
                per_dir.append(hs[::-1] if d == 1 else hs)
                h_all.append(h)
                c_all.append(c)
            steps = [torch.cat(parts, dim=-1) for parts in zip(*per_dir)]
        out = torch.stack(steps, dim=1 if self.batch_first else 0)
        return out, (torch.stack(h_all), torch.stack(c_all))
