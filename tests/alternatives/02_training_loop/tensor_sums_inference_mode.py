"""Alternative: running sums kept as detached tensors and read once at the end; evaluate under
torch.inference_mode() as a context manager."""
import torch


def train_epoch(model, loader, loss_fn, optimizer, device):
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64)
    count = 0
    for batch in loader:
        inputs, targets = (t.to(device, non_blocking=True) for t in batch)
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach().double().cpu() * targets.shape[0]
        count += targets.shape[0]
    return float(loss_sum / count)


def evaluate(model, loader, loss_fn, device):
    model.eval()
    weighted_losses, hits, total = [], 0, 0
    with torch.inference_mode():
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            logits = model(inputs)
            weighted_losses.append(loss_fn(logits, targets).item() * len(targets))
            hits += int(logits.argmax(1).eq(targets).sum())
            total += len(targets)
    return sum(weighted_losses) / total, hits / total
