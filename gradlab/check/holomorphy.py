"""Whether a function declared ``holomorphic=True`` is: the Cauchy-Riemann test along one direction.

``holomorphic=True`` moves only the real parts of the complex inputs, which fixes a complex-linear
rule completely but says nothing about a function that is not complex-differentiable: there, half
of the rule would go unchecked. A holomorphic ``f`` has ``df(z)[i u] = i df(z)[u]`` for every
direction ``u``; four evaluations along one random real ``u`` per complex input test it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradlab import backend
from gradlab.check import pytree
from gradlab.check.structured import Structured

Array = Any

# central differences at h ~ eps**(1/3) are good to ~1e-10 relative: a gap above this is not noise
GAP_LIMIT = 1e-4


def violations(problem: Structured, seed: int) -> list[str]:
    """Sentences for each complex input along which ``problem``'s function is not holomorphic."""
    xp = problem.xp
    found = []
    for i, leaf in enumerate(problem.leaves):
        if leaf.kind != "holomorphic" or not leaf.differentiated or leaf.value.size == 0:
            continue
        z = leaf.value
        u = xp.asarray(np.random.default_rng(seed + i).standard_normal(tuple(z.shape)), dtype=z.dtype)
        scale = max(1.0, float(xp.max(xp.abs(z))))
        h = float(backend.eps(xp, xp.real(z).dtype)) ** (1 / 3) * scale

        def g(step: complex, i: int = i, z: Array = z, u: Array = u) -> Array:
            return _output(problem, i, z + step * u)

        along_real = (g(h) - g(-h)) / (2 * h)
        along_imag = (g(1j * h) - g(-1j * h)) / (2 * h)
        if along_real.size == 0:
            continue
        size = max(float(xp.max(xp.abs(along_real))), float(xp.max(xp.abs(along_imag))))
        if size == 0.0:
            continue
        gap = float(xp.max(xp.abs(along_imag - 1j * along_real))) / size
        if gap > GAP_LIMIT:
            found.append(
                f"f is not holomorphic in {leaf.path}: its derivative along i*u is not i times the one along u"
                f" (off by {gap:.3g} of its size); holomorphic=True would check half of the rule, leave it off"
            )
    return found


def _output(problem: Structured, i: int, point: Array) -> Array:
    """The user's output, its floating leaves joined as one complex vector, with leaf ``i`` at ``point``."""
    xp = problem.xp
    values = [leaf.value for leaf in problem.leaves]
    values[i] = point
    out = problem.f(*problem.per_position(values), **problem.kwargs)
    parts = [
        xp.reshape(xp.astype(v, xp.complex128), (-1,))
        for v in pytree.flatten(out)[0]
        if backend.is_array(v) and (backend.is_floating(xp, v.dtype) or backend.is_complex(xp, v.dtype))
    ]
    return xp.concat(parts) if parts else xp.zeros((0,), dtype=xp.complex128)
