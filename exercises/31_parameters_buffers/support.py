"""Trusted helpers for 31_parameters_buffers, run in the worker (`candidate.lib.support`) and
imported on the trusted side (`grader.kit.exercise_support`). They only build torch
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


def random_state(F: int, g: torch.Generator) -> dict:
    """A float64 state_dict (also nn.BatchNorm1d's): weight around 1, bias and running_mean around 0,
    running_var in [0.5, 1.5], num_batches_tracked in 0..4."""
    z = [torch.randn(F, generator=g, dtype=torch.float64) for _ in range(3)]
    return {"weight": 1.0 + 0.5 * z[0], "bias": 0.5 * z[1], "running_mean": z[2],
            "running_var": 0.5 + torch.rand(F, generator=g, dtype=torch.float64),
            "num_batches_tracked": torch.randint(0, 5, (), generator=g)}


def random_batch(shape: tuple, g: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """(*shape) features, each with its own offset (up to ~3) and scale (log-normal), so statistics matter."""
    F = shape[-1]
    shift, scale = 3.0 * torch.randn(F, generator=g, dtype=torch.float64), torch.randn(F, generator=g).exp()
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale.double() + shift).to(dtype)


def badly_scaled_task(g: torch.Generator, features: int = 6, n_train: int = 1024, n_test: int = 512):
    """Two classes split by the hyperplane z . u = 0 with a margin of 1, seen through features
    x = z * scale + offset whose scales span 10^-2..10^2 and offsets up to 10 scales:
    (x_train, y_train, x_test, y_test)."""
    u = torch.randn(features, generator=g)
    scale = 10 ** (2 * (2 * torch.rand(features, generator=g) - 1))  # (F,)
    offset = scale * 10 * (2 * torch.rand(features, generator=g) - 1)  # (F,)
    z = torch.randn(n_train + n_test, features, generator=g)
    label = (z @ u > 0).long()
    x = (z + (2 * label - 1)[:, None].float() * 0.5 * u / u.norm()) * scale + offset
    return x[:n_train], label[:n_train], x[n_train:], label[n_train:]


def parameter_rows(model: nn.Module) -> list:
    """What named_parameters() says, as parameter_table's rows."""
    return [{"name": n, "shape": tuple(p.shape), "numel": p.numel(), "requires_grad": p.requires_grad}
            for n, p in model.named_parameters()]


def calibrate(module: nn.Module, x: torch.Tensor, seed: int, batches: int = 150, size: int = 64):
    """A calibration pass: `batches` random batches of `size` rows of x through `module` in training
    mode, without backward; returns its running_mean and running_var afterwards."""
    g = torch.Generator().manual_seed(seed)
    train_on(module, [x[torch.randint(len(x), (size,), generator=g)] for _ in range(batches)])
    return module.running_mean, module.running_var
