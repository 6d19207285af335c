"""Trusted helpers for 31_parameters_buffers, run in the worker (`candidate.lib.support`) and
imported on the trusted side (`grader.testing.exercise_support`). They only build torch
models and read what torch's own bookkeeping says about a module; verdicts are made by the
tests from the plain data returned."""
import torch
from torch import nn


def inventory(module: nn.Module) -> dict:
    """What torch sees in `module`: parameter, buffer and state_dict names (in order), and
    requires_grad of each parameter and buffer."""
    return {
        "parameters": [name for name, _ in module.named_parameters()],
        "buffers": [name for name, _ in module.named_buffers()],
        "state_dict": list(module.state_dict().keys()),
        "parameter_requires_grad": {name: p.requires_grad for name, p in module.named_parameters()},
        "buffer_requires_grad": {name: b.requires_grad for name, b in module.named_buffers()},
    }


def placement(module: nn.Module, target, names: list) -> dict:
    """module.to(target) (a dtype or a device name), then {attribute name: [device, dtype]} for
    each of `names` (None where the attribute is missing or not a tensor)."""
    module.to(target)
    out = {}
    for name in names:
        t = getattr(module, name, None)
        out[name] = [str(t.device.type), t.dtype] if isinstance(t, torch.Tensor) else None
    return out


def counting_model(kind: str, a: int, b: int, frozen: list = ()) -> nn.Module:
    """A small model whose parameter bookkeeping has a trap; `frozen`: name prefixes of
    parameters to set requires_grad=False (a shared parameter is frozen under every name).

    kinds: "tied" (embedding and output layer share one weight), "shared_layer" (one Linear
    applied twice), "aliased" (one Parameter registered under two names of one module),
    "nested" (Sequentials inside Sequentials), "with_buffers" (BatchNorm: buffers are not
    parameters), "mixed" (all of the above at once)."""
    if kind == "tied":
        model = nn.ModuleDict({"embed": nn.Embedding(a, b), "head": nn.Linear(b, a)})
        model["head"].weight = model["embed"].weight  # (a, b) both
    elif kind == "shared_layer":
        layer = nn.Linear(a, a)
        model = nn.Sequential(layer, nn.Tanh(), layer, nn.Linear(a, b))
    elif kind == "aliased":
        model = nn.Linear(a, b)
        model.register_parameter("weight_alias", model.weight)
    elif kind == "nested":
        model = nn.Sequential(nn.Sequential(nn.Linear(a, b), nn.ReLU()),
                              nn.Sequential(nn.Linear(b, b, bias=False), nn.Sequential(nn.Linear(b, 1))))
    elif kind == "with_buffers":
        model = nn.Sequential(nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(), nn.Linear(b, 2))
    elif kind == "mixed":
        embed = nn.Embedding(a, b)
        block = nn.Sequential(nn.Linear(b, b), nn.LayerNorm(b))
        head = nn.Linear(b, a, bias=False)
        head.weight = embed.weight
        model = nn.Sequential(embed, block, nn.BatchNorm1d(b), block, nn.Sequential(head))
    else:
        raise ValueError(f"unknown kind {kind!r}")
    for name, p in model.named_parameters(remove_duplicate=False):
        if any(name.startswith(prefix) for prefix in frozen):
            p.requires_grad_(False)
    return model


COUNTING_KINDS = ("tied", "shared_layer", "aliased", "nested", "with_buffers", "mixed")


def train_on(module: nn.Module, batches: list) -> None:
    """Forward each batch in training mode, without backward (a calibration pass)."""
    module.train()
    with torch.no_grad():
        for x in batches:
            module(x)
