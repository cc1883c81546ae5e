"""PyTorch: a ``torch.autograd.Function`` (its ``backward``, and its ``jvp`` when it defines one), or
any function of torch tensors, checked through torch's own reverse and forward modes.

Tensors are viewed as NumPy arrays (CPU) or CuPy arrays (CUDA) without a copy, and gradlab's arrays
as tensors the same way, so what a rule writes into ``grad_output``, a saved tensor or an input
reaches the arrays the ``form`` check watches. The forward gets copies of its inputs, so a forward
that works in place and says so (``ctx.mark_dirty``) is legal; one that writes into an input
without returning it is reported as mutating it.

torch's engine quietly repairs some wrong gradients: one of the wrong dtype is cast, one that
broadcasts to the input's shape is summed down to it. For a ``Function`` gradlab reads what its
``backward`` returned before the engine saw it, so the ``form`` check reports those as they are.
"""

from __future__ import annotations

import functools
import itertools
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gradlab.bridges import torch_order2
from gradlab.bridges.torch_arrays import to_array, to_tensor
from gradlab.bridges.trees import (
    bridged_run,
    leaves,
    map_leaves,
    parameter_names,
    required_names,
)
from gradlab.check import pytree
from gradlab.check.bridges import Bridged
from gradlab.check.form import RuleProblem


def function_class(f: Any) -> type | None:
    """The ``torch.autograd.Function`` subclass ``f`` is, or whose ``apply`` it is."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    cls = f if isinstance(f, type) else getattr(f, "__self__", None)
    base = torch.autograd.Function
    if isinstance(cls, type) and issubclass(cls, base) and cls is not base:
        return cls
    return None


def defines(cls: type, method: str) -> bool:
    """Whether the Function subclass ``cls`` writes ``method`` itself (not torch's default)."""
    import torch

    return getattr(cls, method, None) is not getattr(torch.autograd.Function, method, None)


def reverse_rule(cls: type) -> str | None:
    """The name of the reverse rule a Function defines (``backward``, or its alias ``vjp``)."""
    return "backward" if defines(cls, "backward") else "vjp" if defines(cls, "vjp") else None


def once_differentiable(rule: Any) -> bool:
    """Whether a backward is wrapped by ``torch.autograd.function.once_differentiable``."""
    code = getattr(rule, "__code__", None)
    return code is not None and code.co_filename.replace("\\", "/").endswith("torch/autograd/function.py")


@functools.lru_cache(maxsize=256)
def watched(cls: type) -> tuple[type, list[tuple[Any, ...]]]:
    """A subclass of ``cls`` whose reverse rule records what the user's rule returned (made once
    per class: a Function class costs torch a tenth of a millisecond to make)."""
    seen: list[tuple[Any, ...]] = []
    name = reverse_rule(cls)
    if name is None:
        return cls, seen
    rule = getattr(cls, name)

    def recorded(ctx: Any, *grads: Any) -> Any:
        result = rule(ctx, *grads)
        seen.append(result if isinstance(result, tuple) else (result,))
        return result

    sub = type(cls.__name__, (cls,), {name: staticmethod(recorded), "__module__": cls.__module__})
    sub.__qualname__ = cls.__qualname__
    return sub, seen


def _reentrant(first: Sequence[Any], again: Sequence[Any]) -> None:
    """A second backward through the same graph must give the same gradients (torch's gradcheck
    asks it too: "Backward is not reentrant")."""
    import torch

    gaps = [
        float((a - b).abs().max()) if a.numel() else 0.0
        for a, b in zip(first, again, strict=True)
        if a is not None and b is not None and not torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)
    ]
    if gaps:
        raise RuleProblem(
            f"the backward is not reentrant: a second backward through the same graph gives gradients that"
            f" differ by up to {max(gaps):.3g} (it changes a value kept on ctx, or returns a tensor it keeps"
            " and changes later); torch's gradcheck says 'Backward is not reentrant'"
        )


def _is_tensor(x: Any) -> bool:
    torch = sys.modules["torch"]
    return isinstance(x, torch.Tensor)


def _floating(t: Any) -> bool:
    return bool(t.is_floating_point() or t.is_complex())


class TorchBridge:
    """Finds torch's functions and tensors, and checks them through torch's autograd."""

    name = "torch"

    def owns(self, f: Callable[..., Any], values: Sequence[Any]) -> bool:
        return function_class(f) is not None or any(_is_tensor(x) for x in values)

    def bridge(
        self, f: Callable[..., Any], inputs: Sequence[Any], wrt: Sequence[int] | None, kwargs: Mapping[str, Any]
    ) -> Bridged:
        return bridged_run(_Run, f, inputs, wrt, kwargs, _is_tensor, to_array)

    def rule(self, value: Any) -> Bridged | None:
        cls = function_class(value)
        if cls is None or not isinstance(value, type) or reverse_rule(cls) is None:
            return None
        skip = 0 if defines(cls, "setup_context") else 1  # forward(ctx, ...) in the old style
        names = required_names(cls.forward, skip) or []
        defaults = _defaults(cls.forward, skip + len(names))
        bridged = _Run(cls, [True] * (len(names) + len(defaults))).bridged((), {}, names)
        bridged.defaults = defaults
        return bridged


def _defaults(fn: Any, skip: int) -> dict[str, Any]:
    """The positional parameters of ``fn`` after ``skip`` that have defaults, with them."""
    import inspect

    params = list(inspect.signature(fn).parameters.values())[skip:]
    return {p.name: p.default for p in params if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty}


BRIDGE = TorchBridge()


class _Run:
    """One function of torch tensors and its rules, on gradlab's arrays."""

    def __init__(self, f: Callable[..., Any], wrt: list[bool]) -> None:
        self.cls = function_class(f)
        self.seen: list[tuple[Any, ...]] = []
        if self.cls is not None:
            watched_cls, self.seen = watched(self.cls)
            self.call: Callable[..., Any] = watched_cls.apply
        else:
            self.call = f
        self.wrt = wrt  # per input: whether its floating leaves are differentiated
        self.low: set[int] = set()  # the leaves (in order, over all inputs) given as bfloat16 tensors

    def bridged(self, inputs: tuple[Any, ...], kwargs: Mapping[str, Any], names: list[str] | None = None) -> Bridged:
        """The forward and rules; ``inputs`` (gradlab's arrays) to try forward mode on, when the
        function is not one Function whose class says whether it has a ``jvp``."""
        cls, notes = self.cls, []
        name = None
        has_vjp = has_jvp = True
        if cls is not None:
            name = cls.__name__
            skip = 0 if defines(cls, "setup_context") else 1  # forward(ctx, ...) in the old style
            names = names or parameter_names(cls.forward, skip, len(inputs))
            has_vjp, has_jvp = reverse_rule(cls) is not None, defines(cls, "jvp")
            if not has_jvp:
                notes.append(f"the fwd and adj checks: {name} defines no jvp (forward mode), only {reverse_rule(cls)}")
        elif inputs:
            has_jvp = self._forward_mode_works(inputs, kwargs, notes)
        if not has_vjp:
            notes.append(f"the rev check: {name} defines no backward")
        once = None
        if cls is not None and has_vjp and once_differentiable(getattr(cls, str(reverse_rule(cls)))):
            once = f"{name}.{reverse_rule(cls)} is marked once_differentiable: torch cannot differentiate it again"
        return Bridged(
            self.forward, self.vjp if has_vjp else None, self.jvp if has_jvp else None, inputs, name, names,
            "torch", notes, once,
        )  # fmt: skip

    # ---- the calls ------------------------------------------------------------------------------

    def _tensors(self, xs: Sequence[Any], grad: bool) -> tuple[list[Any], list[Any], list[tuple[Any, Any]]]:
        """The arguments as tensors, each a copy of gradlab's array; the leaves whose gradients are
        wanted; and (view of gradlab's array, the copy passed) for every tensor argument."""
        import torch

        wanted: list[Any] = []
        pairs: list[tuple[Any, Any]] = []
        count = itertools.count()

        def tensor(x: Any, diff: bool) -> Any:
            low = next(count) in self.low
            if not (isinstance(x, np.ndarray | np.generic) or hasattr(x, "__dlpack__")):
                return x  # a non-array argument passes through
            view = to_tensor(x, low)
            if grad and diff and _floating(view):
                leaf = view.detach().clone().requires_grad_(True)
                wanted.append(leaf)
                passed = leaf.clone()  # not a leaf: a forward may work in place on it (mark_dirty)
            else:
                passed = view.clone()
            if not (low and view.dtype != torch.float64):  # a bfloat16 copy of gradlab's array is not watched
                pairs.append((view, passed))
            return passed

        args = [map_leaves(lambda v, d=d: tensor(v, d), x) for x, d in zip(xs, self.wrt, strict=True)]
        return args, wanted, pairs

    def forward(self, *xs: Any, **kwargs: Any) -> Any:
        import torch

        if torch_order2.traced(*xs):  # order=2: differentiated again by torch
            return torch_order2.forward(self.call, xs, kwargs)
        args, _, pairs = self._tensors(xs, grad=False)
        with torch.no_grad():
            result = self.call(*args, **kwargs)
        returned = {id(t) for t in leaves(result)}
        for view, passed in pairs:  # written into and not returned (mark_dirty returns it): a mutation
            if id(passed) not in returned and not torch.equal(view, passed):
                view.copy_(passed)
        return map_leaves(lambda t: to_array(t) if _is_tensor(t) else t, result)

    def vjp(self, g: Any, out: Any, *xs: Any, **kwargs: Any) -> tuple[Any, ...]:
        import torch

        if torch_order2.traced(g, *xs):
            return torch_order2.vjp(self.call, self.wrt, g, xs, kwargs)
        args, wanted, pairs = self._tensors(xs, grad=True)
        self.seen.clear()
        with torch.enable_grad():
            result = self.call(*args, **kwargs)
        outs = leaves(result)
        saved = [(view, passed, passed.detach().clone()) for view, passed in pairs]
        saved += [
            (to_tensor(o), t, t.detach().clone()) for o, t in zip(leaves(out), outs, strict=False) if _is_tensor(t)
        ]
        heads = [(t, to_tensor(c)) for t, c in zip(outs, leaves(g), strict=False) if _is_tensor(t) and t.requires_grad]
        if not heads:
            raise RuntimeError(
                "the output does not require grad: the function leaves torch's autograd"
                " (.numpy(), .item(), .detach() or NumPy inside), so no backward runs"
            )
        tops, cots = [h for h, _ in heads], [c for _, c in heads]
        given = [c.clone() for c in cots]
        grads = torch.autograd.grad(tops, wanted, cots, allow_unused=True, retain_graph=True)
        mutated = any(not torch.equal(c, before) for c, before in zip(cots, given, strict=True))
        for view, passed, before in saved:  # what the backward wrote into a saved tensor reaches gradlab
            if not torch.equal(passed.detach(), before):
                view.copy_(passed.detach())
                mutated = True
        raw = self._returned(args)
        if raw is not None:  # copies: a backward may change what it returned when it runs again
            raw = [to_array(r).copy() if _is_tensor(r) else r for r in raw]
        grads = tuple(None if grad is None else grad.detach().clone() for grad in grads)
        if not mutated:  # (a backward that wrote into its arguments differs next time: that is said already)
            _reentrant(grads, torch.autograd.grad(tops, wanted, cots, allow_unused=True))
        found = iter(raw if raw is not None else grads)
        return tuple(
            map_leaves(lambda v, d=d: self._cotangent(v, d, found), x) for x, d in zip(xs, self.wrt, strict=True)
        )

    def _returned(self, args: Sequence[Any]) -> list[Any] | None:
        """What a Function's backward returned for the tensors it was given (None: not one call to
        a Function's ``apply`` with the tensors themselves as its arguments)."""
        if self.cls is None or len(self.seen) < 1 or any(isinstance(a, tuple | list | dict) for a in args):
            return None
        result = self.seen[0]
        return [
            result[i] if i < len(result) else None
            for i, a in enumerate(args)
            if _is_tensor(a) and a.requires_grad and _floating(a)
        ]

    def _cotangent(self, x: Any, diff: bool, found: Any) -> Any:
        if not (isinstance(x, np.ndarray | np.generic) or hasattr(x, "__dlpack__")):
            return None
        view = to_tensor(x)
        if not (diff and _floating(view)):
            return None
        grad = next(found)
        if grad is None:  # torch's zero: the input does not reach the output, or a Function says so
            return np.zeros_like(x) if isinstance(x, np.ndarray) else to_array(view * 0)
        return to_array(grad) if _is_tensor(grad) else grad

    def jvp(self, tangents: Sequence[Any], out: Any, *xs: Any, **kwargs: Any) -> Any:
        import torch.autograd.forward_ad as fwad

        if torch_order2.traced(*tangents, *xs):
            return torch_order2.jvp(self.call, tangents, xs, kwargs)

        count = itertools.count()

        def dual(x: Any, t: Any) -> Any:
            low = next(count) in self.low
            if not (isinstance(x, np.ndarray | np.generic) or hasattr(x, "__dlpack__")):
                return x
            primal = to_tensor(x, low).clone()
            return fwad.make_dual(primal, to_tensor(t, low)) if t is not None and _floating(primal) else primal

        with fwad.dual_level(), warnings.catch_warnings():
            # torch scripts a decomposition the first time forward mode meets some ops, and warns that
            # torch.jit.script is deprecated: torch's own business, not the rule's
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.")
            args = []
            for x, t in zip(xs, tangents, strict=True):
                x_leaves, tree, _ = pytree.flatten(x)
                t_leaves = pytree.flatten_like(t, tree, "x", "the tangent")
                args.append(pytree.unflatten(tree, [dual(a, b) for a, b in zip(x_leaves, t_leaves, strict=True)]))
            result = self.call(*args, **kwargs)
            found = [fwad.unpack_dual(t).tangent if _is_tensor(t) else None for t in leaves(result)]
        _, tree, _ = pytree.flatten(out)
        return pytree.unflatten(
            tree,
            [
                to_array(t) if t is not None else np.zeros_like(o) if isinstance(o, np.ndarray) else o * 0
                for t, o in zip(found, leaves(out), strict=True)
            ],
        )

    def _forward_mode_works(self, inputs: tuple[Any, ...], kwargs: Mapping[str, Any], notes: list[str]) -> bool:
        """Whether torch's forward mode runs through the function (a Function inside it may define
        no jvp): one call at the inputs, with unit tangents."""
        tangents = [map_leaves(lambda v: np.ones_like(v) if isinstance(v, np.ndarray) else None, x) for x in inputs]
        try:
            self.jvp(tangents, self.forward(*inputs, **kwargs), *inputs, **kwargs)
        except (NotImplementedError, RuntimeError) as exc:
            if "jvp" in str(exc) or "forward" in str(exc).lower():
                notes.append(f"the fwd and adj checks: torch's forward mode fails here ({str(exc).splitlines()[0]})")
                return False
        except Exception:  # anything else is the forward's own problem: the checks report it
            return True
        return True
