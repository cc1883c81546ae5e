"""The op registry: one way to make an op (:mod:`~gradlab.ops.registry`), the built-in array ops
(one module per family, each registering itself), and the specs that say what inputs each op takes
(:mod:`~gradlab.ops.spec`, read from ``specs/*.toml``; a built-in op takes its table when it
registers). The training core's layers register here too, when :mod:`gradlab.train` is imported.

Every registered op is also an attribute of this module, by its name: ``gradlab.ops.cos(x)``,
``gradlab.ops.matmul(a, b)``, ``gradlab.ops.sum(x, axis=0)``. Called on arrays an op returns an
array; called with a training-core ``Tensor`` among its arguments it returns a ``Tensor`` and
records itself in the graph, so a rule written with these functions can itself be differentiated.
"""

from __future__ import annotations

from gradlab.ops import binary, elementwise, linalg, nn, reduce, shape, special  # noqa: F401  (each registers its family)
from gradlab.ops.registry import REGISTRY, Op, defjvp, deflinear, defvjp, ns, op, unbroadcast

# the op names stay out of __all__: ``from gradlab.ops import *`` would shadow sum, max, min, abs
__all__ = ["REGISTRY", "Op", "defjvp", "deflinear", "defvjp", "ns", "op", "unbroadcast"]


def __getattr__(name: str) -> Op:
    """The registered op ``name`` (looked up at each access: a module registering an op again
    replaces it). The names this module defines itself (its submodules among them) come first."""
    if name in REGISTRY:
        return REGISTRY[name]
    raise AttributeError(
        f"module 'gradlab.ops' has no attribute {name!r}: no op of that name is registered"
        " (the training core's layers register when gradlab.train is imported)"
    )


def __dir__() -> list[str]:
    return sorted({*globals(), *REGISTRY.names()})
