"""Returns NaN metrics and trains nothing (replaces the generated variant, which cannot take the training away)."""


def train_epoch(model, loader, loss_fn, optimizer, device):
    model.train()
    return float("nan")


def evaluate(model, loader, loss_fn, device):
    model.eval()
    return float("nan"), float("nan")
