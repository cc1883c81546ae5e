"""HIPS autograd: a primitive (``autograd.extend.primitive``), checked through the rules registered
for it: its VJPs (``defvjp``) and its JVPs (``defjvp``) where it has them.

autograd computes on NumPy arrays, so the primitive and its rules get gradlab's arrays themselves:
what a rule writes into an input, the output ``ans`` or the cotangent reaches the ``form`` check.
A rule is called as autograd's engine calls it at the primitive's node (``vjpmaker(argnums, ans,
args, kwargs)``, ``jvpmaker(argnums, tangents, ans, args, kwargs)``), and what it returns is read
there: autograd's engine checks no shape, so a cotangent of the wrong shape would pass through it
or fail later in a NumPy broadcast, far from the rule. A primitive whose ``defvjp`` gives no VJP
for an input fails with autograd's own words (``VJP of f wrt argnums 0, 1 not defined``): check
it with ``wrt`` naming the inputs it has rules for.

autograd writes complex cotangents as JAX does (``grad(np.imag)(z) == -1j``): the ``"jax"``
convention. A function of NumPy arrays is only known as autograd's by being a primitive: a plain
function that calls primitives is checked as any NumPy function, with the rules given to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gradlab.bridges.trees import differentiated, leaves, parameter_names, required_names
from gradlab.check.bridges import Bridged

# the top-level modules of autograd's own primitives (``autograd.numpy.sin`` wraps ``numpy.sin``)
_LIBRARIES = ("autograd", "numpy", "scipy")


def primitive(f: Any) -> Any:
    """``f`` when it is an autograd primitive, else None."""
    return f if getattr(f, "_is_autograd_primitive", False) is True and hasattr(f, "fun") else None


def rules(f: Any) -> tuple[Any, Any]:
    """The VJP maker and the JVP maker registered for the primitive ``f`` (None: none registered)."""
    from autograd.core import primitive_jvps, primitive_vjps  # type: ignore[import-untyped]

    return primitive_vjps.get(f), primitive_jvps.get(f)


def _floating(x: Any) -> bool:
    dtype = getattr(x, "dtype", None)
    return dtype is not None and np.dtype(dtype).kind in "fc"


class AutogradBridge:
    """Finds autograd's primitives, and checks the rules registered for them."""

    name = "autograd"

    def owns(self, f: Callable[..., Any], values: Sequence[Any]) -> bool:
        return primitive(f) is not None

    def bridge(
        self, f: Callable[..., Any], inputs: Sequence[Any], wrt: Sequence[int] | None, kwargs: Mapping[str, Any]
    ) -> Bridged:
        return _Run(f, differentiated(inputs, wrt)).bridged(tuple(inputs))

    def rule(self, value: Any) -> Bridged | None:
        """A module's primitive with a registered VJP (not one of autograd's own, such as
        ``autograd.numpy.sin``), its inputs named by the wrapped function's required positional
        parameters."""
        f = primitive(value)
        if f is None or rules(f)[0] is None:
            return None
        if str(getattr(f.fun, "__module__", "")).split(".")[0] in _LIBRARIES:
            return None
        names = required_names(f.fun)
        return None if names is None else _Run(f, [True] * len(names)).bridged((), names)


BRIDGE = AutogradBridge()


class _Run:
    """One primitive and its registered rules, on gradlab's arrays."""

    def __init__(self, f: Any, wrt: list[bool]) -> None:
        self.f = f  # the primitive: its wrapped function is ``f.fun``
        self.wrt = wrt  # per input: whether it is differentiated (when it has a floating leaf)
        self.vjp_maker, self.jvp_maker = rules(f)

    def bridged(self, inputs: tuple[Any, ...], names: list[str] | None = None) -> Bridged:
        name = getattr(self.f.fun, "__name__", None) or getattr(self.f, "__name__", None)
        names = names or parameter_names(self.f.fun, 0, len(inputs))
        notes = []
        if self.vjp_maker is None:
            notes.append(f"the rev check: {name} has no VJP registered (defvjp)")
        if self.jvp_maker is None:
            notes.append(f"the fwd and adj checks: {name} has no JVP registered (defjvp), only its VJP")
        return Bridged(
            self.forward, self.vjp if self.vjp_maker else None, self.jvp if self.jvp_maker else None, inputs, name,
            names, "jax", notes,
        )  # fmt: skip

    def _argnums(self, xs: Sequence[Any]) -> tuple[int, ...]:
        """The differentiated arguments: chosen, and with a floating leaf (autograd's boxed ones)."""
        return tuple(
            i for i, (x, diff) in enumerate(zip(xs, self.wrt, strict=True)) if diff and any(map(_floating, leaves(x)))
        )

    def forward(self, *xs: Any, **kwargs: Any) -> Any:
        return self.f(*xs, **kwargs)  # no boxed argument: the wrapped function itself runs

    def vjp(self, g: Any, out: Any, *xs: Any, **kwargs: Any) -> tuple[Any, ...]:
        argnums = self._argnums(xs)
        if not argnums:
            return (None,) * len(xs)
        found = tuple(self.vjp_maker(argnums, out, xs, kwargs)(g))  # a generator past two arguments
        by_argnum = dict(zip(argnums, found, strict=False))
        return tuple(by_argnum.get(i) for i in range(len(xs)))

    def jvp(self, tangents: Sequence[Any], out: Any, *xs: Any, **kwargs: Any) -> Any:
        argnums = tuple(i for i in self._argnums(xs) if tangents[i] is not None)
        if not argnums:
            return np.zeros_like(out)
        return self.jvp_maker(argnums, [tangents[i] for i in argnums], out, xs, kwargs)
