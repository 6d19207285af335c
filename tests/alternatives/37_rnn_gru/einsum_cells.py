"""Alternative: step functions with einsum, the GRU's hidden weights split into r/z and n blocks (the
r and z pre-activations summed, n's hidden term kept apart), steps as a list, layers stacked as a list of
per-layer parameter names, parameters made with nn.init."""
import torch
from torch import nn


def rnn_step(x_t, h, w_ih, w_hh, b_ih, b_hh, act):
    pre = torch.einsum("hi,bi->bh", w_ih, x_t) + torch.einsum("hk,bk->bh", w_hh, h)
    if b_ih is not None:
        pre = pre + b_ih + b_hh
    return act(pre)


def gru_step(x_t, h, w_ih, w_hh, b_ih, b_hh):
    H = h.shape[-1]
    xi = torch.einsum("gi,bi->bg", w_ih, x_t)
    hr_z = torch.einsum("gk,bk->bg", w_hh[: 2 * H], h)
    hn = torch.einsum("gk,bk->bg", w_hh[2 * H:], h)
    if b_ih is not None:
        xi = xi + b_ih
        hr_z = hr_z + b_hh[: 2 * H]
        hn = hn + b_hh[2 * H:]
    r, z = torch.sigmoid(xi[:, : 2 * H] + hr_z).split(H, dim=1)
    n = torch.tanh(xi[:, 2 * H:] + r * hn)
    return (1 - z) * n + z * h


class _Base(nn.Module):
    def _make(self, input_size, hidden_size, num_layers, bias, batch_first, bidirectional, gates):
        self.hidden_size, self.num_layers, self.bias = hidden_size, num_layers, bias
        self.batch_first, self.dirs = batch_first, 2 if bidirectional else 1
        self.names = []
        for k in range(num_layers):
            row = []
            for suffix in ["", "_reverse"][: self.dirs]:
                names = [f"weight_ih_l{k}{suffix}", f"weight_hh_l{k}{suffix}"]
                shapes = [(gates * hidden_size, input_size if k == 0 else self.dirs * hidden_size),
                          (gates * hidden_size, hidden_size)]
                if bias:
                    names += [f"bias_ih_l{k}{suffix}", f"bias_hh_l{k}{suffix}"]
                    shapes += [(gates * hidden_size,), (gates * hidden_size,)]
                for name, shape in zip(names, shapes):
                    p = nn.Parameter(torch.empty(shape))
                    nn.init.uniform_(p, -hidden_size ** -0.5, hidden_size ** -0.5)
                    self.register_parameter(name, p)
                row.append(names + [None, None] * (not bias))
            self.names.append(row)

    def forward(self, x, hx=None):
        if self.batch_first:
            x = x.permute(1, 0, 2)
        steps = list(x.unbind(0))
        B = x.shape[1]
        if hx is None:
            hx = torch.zeros(self.num_layers * self.dirs, B, self.hidden_size, dtype=x.dtype, device=x.device)
        finals = []
        for k in range(self.num_layers):
            per_dir = []
            for d in range(self.dirs):
                ps = [None if n is None else self._parameters[n] for n in self.names[k][d]]
                h, hs = hx[k * self.dirs + d], []
                for x_t in (steps[::-1] if d else steps):
                    h = self.step(x_t, h, *ps)
                    hs.append(h)
                per_dir.append(hs[::-1] if d else hs)
                finals.append(h)
            steps = [torch.cat(parts, dim=-1) for parts in zip(*per_dir)]
        return torch.stack(steps, dim=1 if self.batch_first else 0), torch.stack(finals)


class RNN(_Base):
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 bidirectional=False):
        super().__init__()
        self.act = torch.tanh if nonlinearity == "tanh" else torch.relu
        self._make(input_size, hidden_size, num_layers, bias, batch_first, bidirectional, 1)

    def step(self, x_t, h, w_ih, w_hh, b_ih, b_hh):
        return rnn_step(x_t, h, w_ih, w_hh, b_ih, b_hh, self.act)


class GRU(_Base):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, bidirectional=False):
        super().__init__()
        self._make(input_size, hidden_size, num_layers, bias, batch_first, bidirectional, 3)

    def step(self, x_t, h, w_ih, w_hh, b_ih, b_hh):
        return gru_step(x_t, h, w_ih, w_hh, b_ih, b_hh)
