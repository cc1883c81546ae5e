"""The op registry: one way to make an op (:mod:`~gradlab.ops.registry`), the built-in array ops
(one module per family, each registering itself), and the specs that say what inputs each op takes
(:mod:`~gradlab.ops.spec`, read from ``specs/*.toml``; a built-in op takes its table when it
registers). The training core's layers register here too, when :mod:`gradlab.train` is imported.
"""

from __future__ import annotations

from gradlab.ops import binary, elementwise, linalg, nn, reduce, shape  # noqa: F401  (each registers its family)
from gradlab.ops.registry import REGISTRY, Op, defjvp, deflinear, defvjp, ns, op, unbroadcast

__all__ = ["REGISTRY", "Op", "defjvp", "deflinear", "defvjp", "ns", "op", "unbroadcast"]
