"""The op registry: built-in ops (one module per family) with their specs from ``specs/``."""

from __future__ import annotations

from gradlab.ops import binary, elementwise, layers, linalg, nn, reduce, shape  # noqa: F401  (each registers its family)
from gradlab.ops.registry import REGISTRY, Op, defjvp, deflinear, defvjp, ns, op, unbroadcast
from gradlab.spec import load_specs

__all__ = ["REGISTRY", "Op", "defjvp", "deflinear", "defvjp", "ns", "op", "unbroadcast"]

for _name, _spec in load_specs().items():
    if _name in REGISTRY:
        REGISTRY[_name].spec = _spec
