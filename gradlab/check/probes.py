"""The random probes every check of one call shares, and two array helpers the checks use.

``v[k]`` lives in the output's space (what the VJP pulls back), ``u[k][i]`` in input ``i``'s (what
the JVP pushes forward); both are signed, never small, never exactly one
(:func:`gradlab.backend.signed_probe`), and zero on the entries a check leaves out
(:mod:`gradlab.check.finite_part`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gradlab import backend
from gradlab.check.finite_part import FinitePart
from gradlab.check.task import Task

Array = Any


@dataclass(frozen=True)
class Probes:
    """Random signed directions shared by every check, ``k`` over the probes: ``v[k]`` in the
    output's space (what the VJP pulls back), ``u[k][i]`` in input ``i``'s (what the JVP pushes
    forward), and ``v_flat[k]``, ``v[k]`` flattened in the precision of the numerics."""

    v: list[Array]
    u: list[dict[int, Array]]
    v_flat: list[Array]

    @classmethod
    def draw(cls, task: Task, out: Array, dtype: Any, part: FinitePart | None = None) -> Probes:
        """The probes; zero on the entries ``part`` leaves out."""
        xp, rng = task.xp, np.random.default_rng(task.seed)
        part = part or FinitePart()
        dev = backend.device(out)
        v = [
            part.probe_output(xp, backend.signed_probe(rng, xp, tuple(out.shape), out.dtype, dev))
            for _ in range(task.n_probes)
        ]
        u = [
            {
                i: part.probe_input(
                    xp, i, backend.signed_probe(rng, xp, tuple(task.inputs[i].shape), task.inputs[i].dtype, dev)
                )
                for i in task.wrt
            }
            for _ in range(task.n_probes)
        ]
        return cls(v, u, [xp_flat(xp, as_float(xp, p, dtype)) for p in v])


def xp_flat(xp: Any, a: Array) -> Array:
    return xp.reshape(a, (-1,))


def as_float(xp: Any, a: Array, dtype: Any = None) -> Array:
    """``a`` as a real floating array (of ``dtype`` when given)."""
    if dtype is None:
        dtype = a.dtype if backend.is_floating(xp, a.dtype) else xp.float64
    return xp.astype(a, dtype) if a.dtype != dtype else a
