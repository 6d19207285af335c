"""Alternative: SiLU saves (x, sigmoid(x)) and writes dy/dx as s + x*s*(1-s); the Jacobian fills a preallocated matrix with one-hot grad_outputs VJPs."""
import torch


class SiLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad_output):
        x, s = ctx.saved_tensors
        local = s + x * s * (1.0 - s)
        return local * grad_output


class StraightThroughRound(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.round()

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.clone()


def jacobian(f, x):
    inp = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = f(inp)
    J = torch.zeros(out.numel(), inp.numel(), dtype=inp.dtype, device=inp.device)
    if out.requires_grad:
        for i in range(out.numel()):
            onehot = torch.zeros(out.numel(), dtype=out.dtype, device=out.device)
            onehot[i] = 1.0
            (g,) = torch.autograd.grad(out, inp, grad_outputs=onehot.reshape(out.shape),
                                       retain_graph=True, allow_unused=True)
            if g is not None:
                J[i] = g.reshape(-1)
    return J.reshape(out.shape + inp.shape)
