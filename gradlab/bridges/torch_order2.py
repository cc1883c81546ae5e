"""Second order for rules written for PyTorch: torch's double backward, as ``gradgradcheck`` uses it.

``check_grads(..., order=2)`` differentiates the first-order rules in the framework they are written
in (:mod:`gradlab.check.second_order`). For a torch function, that is torch: :data:`DIFFERENTIATOR`
(registered under ``gradlab.differentiators``) lifts arrays to tensors that require grad, and the
bridge's forward and rules, given such tensors, stay in torch with ``create_graph=True`` so their
results can be differentiated again. A ``backward`` marked ``once_differentiable`` says it cannot
be: torch raises, and the check reports it in torch's words.

Forward mode over forward mode is not nested in torch; the JVP of a JVP is taken as the reverse of
the reverse (the "double VJP"): ``J t = d/dv <J^T v, t>``, which torch's double backward gives.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from gradlab.bridges.torch_arrays import to_array
from gradlab.bridges.trees import leaves, map_leaves


def traced(*values: Any) -> bool:
    """Whether a rule is called on torch tensors (by :data:`DIFFERENTIATOR`), not gradlab's arrays."""
    torch = sys.modules.get("torch")
    return torch is not None and any(isinstance(v, torch.Tensor) for x in values for v in leaves(x))


def _tensor(x: Any, like: Any = None) -> Any:
    import numpy as np
    import torch

    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray | np.generic):
        return torch.as_tensor(np.array(x))
    return x


def forward(call: Callable[..., Any], xs: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    return call(*(map_leaves(_tensor, x) for x in xs), **kwargs)


def vjp(call: Callable[..., Any], wrt: Sequence[bool], g: Any, xs: Sequence[Any], kwargs: dict[str, Any]) -> tuple:
    """The VJP on tensors, itself differentiable (``create_graph=True``)."""
    import torch

    args, wanted = [], []
    for x, diff in zip(xs, wrt, strict=True):
        x = _tensor(x)
        if diff and isinstance(x, torch.Tensor) and (x.is_floating_point() or x.is_complex()):
            x = x if x.requires_grad else x.detach().requires_grad_(True)
            passed = x.clone()  # a forward may work in place on it
            wanted.append(passed)
            args.append(passed)
        else:
            args.append(x)
    outs = leaves(call(*args, **kwargs))
    heads = [(o, _tensor(c)) for o, c in zip(outs, leaves(g), strict=False) if isinstance(o, torch.Tensor)]
    grads = iter(
        torch.autograd.grad([o for o, _ in heads], wanted, [c for _, c in heads], create_graph=True, allow_unused=True)
    )
    result = []
    for a in args:
        if any(a is w for w in wanted):
            grad = next(grads)
            result.append(grad if grad is not None else torch.zeros_like(a))
        else:
            result.append(None)
    return tuple(result)


def jvp(call: Callable[..., Any], tangents: Sequence[Any], xs: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """The JVP on tensors as the reverse of the reverse (differentiable again)."""
    import torch

    args = [_tensor(x) for x in xs]
    moved = [
        a if a.requires_grad else a.detach().requires_grad_(True)
        for a, t in zip(args, tangents, strict=True)
        if t is not None and isinstance(a, torch.Tensor)
    ]
    it = iter(moved)
    pairs = zip(args, tangents, strict=True)
    full = [next(it) if t is not None and isinstance(a, torch.Tensor) else a for a, t in pairs]
    out = call(*full, **kwargs)
    return DIFFERENTIATOR.jvp(lambda *m: out, moved, [_tensor(t) for t in tangents if t is not None], graph=out)


class TorchDifferentiator:
    """torch as a differentiator of first-order rules (:mod:`gradlab.check.differentiators`)."""

    name = "torch"

    def lift(self, x: Any) -> Any:
        if "torch" not in sys.modules:  # the user's rules are not torch's: do not import it
            raise LookupError("torch is not imported")
        return _tensor(x).detach().clone().requires_grad_(True)

    def constant(self, x: Any) -> Any:
        """An array as a tensor that needs no gradient (torch does not multiply by NumPy arrays)."""
        return _tensor(x)

    def owns(self, value: Any) -> bool:
        torch = sys.modules.get("torch")
        return torch is not None and isinstance(value, torch.Tensor)

    def grad(self, fn: Callable[..., Any], primals: Sequence[Any]) -> tuple[Any, ...]:
        import torch

        lifted = [self.lift(p) for p in primals]
        value = fn(*lifted)
        grads = torch.autograd.grad(value, lifted, allow_unused=True)
        pairs = zip(grads, lifted, strict=True)
        return tuple(to_array(g if g is not None else torch.zeros_like(p)) for g, p in pairs)

    def jvp(self, fn: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any], graph: Any = None) -> Any:
        import torch

        lifted = primals if graph is not None else [self.lift(p) for p in primals]
        out = graph if graph is not None else fn(*lifted)
        v = torch.zeros_like(out, requires_grad=True)
        grads = torch.autograd.grad(out, lifted, v, create_graph=True, allow_unused=True)
        total = sum(
            ((g * _tensor(t)).sum() for g, t in zip(grads, tangents, strict=True) if g is not None),
            start=torch.zeros((), dtype=out.dtype),
        )
        (jv,) = torch.autograd.grad(total, v, allow_unused=True, create_graph=graph is not None)
        jv = jv if jv is not None else torch.zeros_like(out)
        return jv if graph is not None else to_array(jv)


DIFFERENTIATOR = TorchDifferentiator()
