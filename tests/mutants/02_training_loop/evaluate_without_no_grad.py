"""evaluate calls model.eval() but not torch.no_grad(): every batch builds an autograd graph."""
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



def evaluate(model, loader, loss_fn, device):
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits = model(x)
        total_loss += loss_fn(logits, y).item() * len(y)
        correct += (logits.argmax(dim=-1) == y).sum().item()
        seen += len(y)
    return total_loss / seen, correct / seen
