"""Helpers the suite runs both in the worker (`candidate.lib.support`) and here (trusted side).

A tagging task that emissions alone cannot solve: the tags climb by one (mod K) at every step, and
the tokens show the true tag only at about a third of the positions (elsewhere an "unknown" token).
A CRF that learns the transitions recovers every tag of a sequence from any one that is shown.
"""
import torch

NUM_TAGS, LENGTH, SHOWN = 4, 8, 0.4


def tagging_task(seed: int, n: int):
    """tokens (n, LENGTH) int64 in [0, NUM_TAGS] (NUM_TAGS = unknown), tags (n, LENGTH), mask (n, LENGTH) bool
    (left-aligned lengths from LENGTH - 3 to LENGTH)."""
    g = torch.Generator().manual_seed(seed)
    first = torch.randint(NUM_TAGS, (n, 1), generator=g)
    tags = (first + torch.arange(LENGTH)) % NUM_TAGS  # (n, LENGTH)
    shown = torch.rand(n, LENGTH, generator=g) < SHOWN
    tokens = torch.where(shown, tags, torch.full_like(tags, NUM_TAGS))
    lengths = torch.randint(LENGTH - 3, LENGTH + 1, (n,), generator=g)
    return tokens, tags, torch.arange(LENGTH) < lengths[:, None]


def fit_crf(crf, init: dict, tokens, tags, mask, *, steps: int, lr: float) -> dict:
    """Adam on crf(table[tokens], tags, mask) (the mean NLL), table (NUM_TAGS + 1, NUM_TAGS) of emission scores
    per token starting at 0, the CRF starting at `init`. Returns the trained table, the CRF's three parameters,
    the loss of every step and the loss after the last step."""
    crf.load_state_dict(init)
    table = torch.zeros(NUM_TAGS + 1, NUM_TAGS, requires_grad=True)
    opt = torch.optim.Adam([table, *crf.parameters()], lr=lr)
    losses = []
    for _ in range(steps):
        loss = crf(table[tokens], tags, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        final = float(crf(table[tokens], tags, mask))
    state = {k: v.detach().clone() for k, v in crf.state_dict().items() if k in init}
    return {"table": table.detach(), "crf": state, "losses": losses, "final": final}
