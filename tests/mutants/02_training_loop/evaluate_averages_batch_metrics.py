"""evaluate averages per-batch loss and per-batch accuracy, so the last partial batch is over-weighted."""
import torch



def train_epoch(model, loader, loss_fn, optimizer, device):
    model.train()
    total_loss, seen = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(y)
        seen += len(y)
    return total_loss / seen



@torch.no_grad()
def evaluate(model, loader, loss_fn, device):
    model.eval()
    losses, accuracies = [], []
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits = model(x)
        losses.append(loss_fn(logits, y).item())
        accuracies.append((logits.argmax(dim=-1) == y).float().mean().item())
    return sum(losses) / len(losses), sum(accuracies) / len(accuracies)
