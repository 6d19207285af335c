"""Alternative: batchify by stacking chunks, get_batch with narrow, a zero state built with torch.zeros,
log_softmax + nll_loss, and perplexity accumulated as len(window) * mean loss / (S - 1), as in
PyTorch's word_language_model example."""
import math

import torch
import torch.nn.functional as F
from torch import nn


def batchify(data, bsz):
    S = len(data) // bsz
    return torch.stack([data[j * S:(j + 1) * S] for j in range(bsz)], dim=1)  # (S, B)


def get_batch(source, i, bptt):
    L = min(bptt, len(source) - 1 - i)
    return source.narrow(0, i, L), source.narrow(0, i + 1, L)


class LSTMLanguageModel(nn.Module):
    def __init__(self, vocab_size, emb_dim, hidden_dim, num_layers=1):
        super().__init__()
        self.encoder = nn.Embedding(vocab_size, emb_dim)
        self.rnn = nn.LSTM(input_size=emb_dim, hidden_size=hidden_dim, num_layers=num_layers)
        self.decoder = nn.Linear(hidden_dim, vocab_size)

    def init_hidden(self, bsz):
        w = self.decoder.weight
        shape = (self.rnn.num_layers, bsz, self.rnn.hidden_size)
        return torch.zeros(shape, dtype=w.dtype, device=w.device), torch.zeros(shape, dtype=w.dtype, device=w.device)

    def forward(self, tokens, hidden=None):
        out, state = self.rnn(self.encoder(tokens), hidden)  # nn.LSTM reads None as zeros
        return self.decoder(out), state


def nll(logits, target, reduction="mean"):
    logp = F.log_softmax(logits, dim=-1).flatten(0, 1)
    return F.nll_loss(logp, target.flatten(), reduction=reduction)


def train_epoch(model, train_data, bptt, optimizer, clip=None):
    model.train()
    state = None
    losses, sizes = [], []
    for i in range(0, train_data.size(0) - 1, bptt):
        x, y = get_batch(train_data, i, bptt)
        if state is not None:
            state = tuple(s.detach() for s in state)
        optimizer.zero_grad(set_to_none=True)
        logits, state = model(x, state)
        loss = nll(logits, y)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
        optimizer.step()
        losses.append(loss.item())
        sizes.append(y.numel())
    return sum(l * n for l, n in zip(losses, sizes)) / sum(sizes)


def perplexity(model, data, bptt):
    model.eval()
    total = 0.0
    state = model.init_hidden(data.size(1))
    with torch.no_grad():
        for i in range(0, data.size(0) - 1, bptt):
            x, y = get_batch(data, i, bptt)
            logits, state = model(x, state)
            total += len(x) * nll(logits, y).item()  # every row of a window holds B targets
    return math.exp(total / (len(data) - 1))
