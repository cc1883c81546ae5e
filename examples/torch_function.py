"""A memory-saving RMSNorm written as a ``torch.autograd.Function``, whose backward has a bug: it
forgets that the root-mean-square depends on x.

``gradlab check examples/torch_function.py`` finds the Function, infers its shapes, and checks its
backward through torch's own autograd: the gradient of the weight is right, the gradient of x is
not (it keeps only the path through ``x / rms``, not the one through ``rms``).
"""

import torch


class RMSNorm(torch.autograd.Function):
    """y = x / rms(x) * weight over the last axis, rms(x) = sqrt(mean(x**2) + eps); saves only x."""

    @staticmethod
    def forward(ctx, x, weight):
        rms = torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
        ctx.save_for_backward(x, weight)
        return x / rms * weight

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        rms = torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)  # recomputed: nothing else was saved
        gy = grad_out * weight
        # BUG: the term for rms's dependence on x is missing; the fix:
        # grad_x = gy / rms - x * (gy * x).mean(-1, keepdim=True) / rms**3
        grad_x = gy / rms
        grad_weight = (grad_out * x / rms).reshape(-1, x.shape[-1]).sum(0)
        return grad_x, grad_weight
