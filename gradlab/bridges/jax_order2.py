"""Second order for rules written for JAX: JAX differentiates a ``custom_vjp``'s ``bwd`` (or a
``custom_jvp``'s rule) again, as ``jax.test_util.check_grads(order=2)`` does.

``check_grads(..., order=2)`` differentiates the first-order rules in the framework they are
written in (:mod:`gradlab.check.second_order`). :data:`DIFFERENTIATOR` (registered under
``gradlab.differentiators``) lifts arrays to JAX arrays and takes ``jax.grad`` / ``jax.jvp`` of
the bridge's rules, which stay in JAX when they are given traced values
(:func:`gradlab.bridges.jax_bridge.traced`). JAX has no forward mode over a ``custom_vjp``: the
JVP of its JVP does not exist, and only the VJP's VJP (``rev2``) is checked for it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradlab.bridges.jax_bridge import precision, to_jax


class JaxDifferentiator:
    """JAX as a differentiator of first-order rules (:mod:`gradlab.check.differentiators`)."""

    name = "jax"

    def lift(self, x: Any) -> Any:
        if "jax" not in sys.modules:  # the user's rules are not JAX's: do not import it
            raise LookupError("jax is not imported")
        with precision(x):
            return to_jax(x)

    def constant(self, x: Any) -> Any:
        return self.lift(x)

    def owns(self, value: Any) -> bool:
        jax = sys.modules.get("jax")
        return jax is not None and isinstance(value, jax.Array)

    def grad(self, fn: Callable[..., Any], primals: Sequence[Any]) -> tuple[Any, ...]:
        import jax

        with precision(primals):
            lifted = [to_jax(p) for p in primals]
            grads = jax.grad(lambda *p: fn(*p), argnums=tuple(range(len(lifted))))(*lifted)
            return tuple(np.asarray(g) for g in grads)

    def jvp(self, fn: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
        import jax

        with precision(primals, tangents):
            lifted = tuple(to_jax(p) for p in primals)
            directions = tuple(to_jax(t).astype(p.dtype) for t, p in zip(tangents, lifted, strict=True))
            return np.asarray(jax.jvp(fn, lifted, directions)[1])


DIFFERENTIATOR = JaxDifferentiator()
