"""Alternative: batchify with reshape and permute, get_batch by index lists, an LSTM run one time
step at a time (state threaded through a loop), a hand-written clip of the global gradient norm,
and perplexity from log-probabilities gathered at the targets."""
import math

import torch
from torch import nn


def batchify(data, bsz):
    n = len(data) - len(data) % bsz
    return data[:n].reshape(bsz, -1).permute(1, 0)


def get_batch(source, i, bptt):
    rows = list(range(i, min(i + bptt, len(source) - 1)))
    return source[rows], source[[r + 1 for r in rows]]


class LSTMLanguageModel(nn.Module):
    def __init__(self, vocab_size, emb_dim, hidden_dim, num_layers=1):
        super().__init__()
        self.layers, self.hidden = num_layers, hidden_dim
        self.encoder = nn.Embedding(vocab_size, emb_dim)
        self.rnn = nn.LSTM(emb_dim, hidden_dim, num_layers)
        self.decoder = nn.Linear(hidden_dim, vocab_size)

    def init_hidden(self, bsz):
        p = self.encoder.weight
        return tuple(p.new_zeros(self.layers, bsz, self.hidden) for _ in range(2))

    def forward(self, tokens, hidden=None):
        state = self.init_hidden(tokens.shape[1]) if hidden is None else hidden
        steps = []
        for t in range(tokens.shape[0]):
            out, state = self.rnn(self.encoder(tokens[t:t + 1]), state)  # (1, B, H)
            steps.append(out)
        return self.decoder(torch.cat(steps)), state


def token_nll(model, x, y, state):
    logits, state = model(x, state)
    logp = torch.log_softmax(logits, dim=-1)  # (L, B, V)
    return -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1), state  # (L, B)


def train_epoch(model, train_data, bptt, optimizer, clip=None):
    model.train()
    h, c = model.init_hidden(train_data.shape[1])
    total, count = 0.0, 0
    i = 0
    while i < train_data.shape[0] - 1:
        x, y = get_batch(train_data, i, bptt)
        h, c = h.detach(), c.detach()
        for p in model.parameters():
            p.grad = None
        nll, (h, c) = token_nll(model, x, y, (h, c))
        loss = nll.mean()
        loss.backward()
        if clip is not None:
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
            scale = min(1.0, clip / (float(norm) + 1e-6))
            for g in grads:
                g.mul_(scale)
        optimizer.step()
        total += float(nll.sum())
        count += nll.numel()
        i += bptt
    return total / count


def perplexity(model, data, bptt):
    model.eval()
    state = None
    total = 0.0
    with torch.no_grad():
        for i in range(0, data.shape[0] - 1, bptt):
            x, y = get_batch(data, i, bptt)
            nll, state = token_nll(model, x, y, state)
            total += float(nll.sum())
    return math.exp(total / ((data.shape[0] - 1) * data.shape[1]))
