"""Numerical differentiation: finite-difference stencils with error estimates and kink evidence.

The core is :func:`derivative_along`: the derivative at ``t = 0`` of a vector-valued function of
one scalar, ``g(t) = f(x + t d)``. It returns the estimate of ``J d`` together with

* ``error``: an estimate of the estimate's own error (truncation from comparing two steps, plus
  round-off from the precision ``f`` was evaluated in), which the checks add to their tolerance;
* ``roughness``: the third and fourth differences on the stencil divided by the step (signed, so
  they can be projected); their sum of magnitudes is tiny where ``f`` is smooth and of the size
  of the jump in slope at a kink;
* ``one_sided``: one-sided derivative estimates; at a kink a subgradient lies in their hull.

Methods:

``stencil`` (default)
    4th-order central stencil on ``t = +-h, +-2h``, ``h = eps**(1/5) * scale``.
``central``
    2nd-order central difference on ``t = +-h``, ``h = eps**(1/3) * scale``; two evaluations.
``richardson``
    Richardson extrapolation of the 4th-order stencil over ``h`` and ``h/2`` (6th order).
``complex``
    complex step ``Im g(i h) / h``, exact to machine precision for complex-safe functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Array = Any

METHODS = ("stencil", "central", "richardson", "complex")

# exponent of eps in the optimal step for each stencil (truncation h**p against round-off eps/h)
_STEP_EXPONENT = {"central": 1 / 3, "stencil": 1 / 5, "richardson": 1 / 7}
_COMPLEX_STEP = 1e-30


@dataclass
class Derivative:
    """Numerical derivative of ``g`` at 0, with its error estimate and kink evidence."""

    value: Array
    error: Array
    roughness: tuple[Array, ...]
    one_sided: tuple[Array, ...]


def step_factor(method: str, eval_eps: float) -> float:
    """Relative step for ``method`` when ``f`` is evaluated with machine epsilon ``eval_eps``."""
    if method == "complex":
        return _COMPLEX_STEP
    return eval_eps ** _STEP_EXPONENT[method]


# a derivative whose error estimate exceeds this fraction of its size is retried with a smaller step
ROUGH_ESTIMATE = 1e-3
STEP_RETRIES = 3
STEP_SHRINK = 16.0


def adaptive_derivative(
    g: Callable[[float | complex], Array],
    g0: Array,
    h: float,
    method: str,
    eval_eps: float,
    xp: Any,
) -> Derivative:
    """:func:`derivative_along`, retried with smaller steps (a bounded number of times) when a
    perturbed point leaves the function's domain (NaN) or the estimate is rough (the function
    varies on a scale shorter than the step); the best estimate found is returned."""
    best = derivative_along(g, g0, h, method, eval_eps, xp)
    best_score = _roughness_score(best, xp)
    for _ in range(STEP_RETRIES):
        if best_score <= ROUGH_ESTIMATE:
            break
        h /= STEP_SHRINK
        candidate = derivative_along(g, g0, h, method, eval_eps, xp)
        score = _roughness_score(candidate, xp)
        if score < best_score:
            best, best_score = candidate, score
    return best


def _roughness_score(d: Derivative, xp: Any) -> float:
    if d.value.size == 0:
        return 0.0
    if not bool(xp.all(xp.isfinite(d.value))):
        return float("inf")
    scale = xp.abs(d.value) + xp.max(xp.abs(d.value)) * 1e-3 + 1e-300
    return float(xp.max(d.error / scale))


def derivative_along(
    g: Callable[[float | complex], Array],
    g0: Array,
    h: float,
    method: str,
    eval_eps: float,
    xp: Any,
) -> Derivative:
    """Differentiate ``g`` at 0 with step ``h`` (see the module docstring for the methods).

    ``g0`` is ``g(0)``, already known to the caller; ``eval_eps`` the machine epsilon of the
    precision ``g`` computes in, for the round-off part of ``error``.
    """
    if method == "complex":
        value = xp.imag(g(1j * h)) / h
        return Derivative(value, eval_eps * xp.abs(value), (), ())
    if method == "central":
        gp, gm = g(h), g(-h)
        value = (gp - gm) / (2 * h)
        roundoff = eval_eps * (xp.abs(gp) + xp.abs(gm) + xp.abs(g0)) / h
        return Derivative(value, roundoff, (), ((g0 - gm) / h, (gp - g0) / h))
    if method == "stencil":
        derivative, _ = _stencil(g, g0, h, eval_eps, xp)
        return derivative
    if method == "richardson":
        coarse, _ = _stencil(g, g0, h, eval_eps, xp)
        fine, fine_roundoff = _stencil(g, g0, h / 2, eval_eps, xp)
        difference = (fine.value - coarse.value) / 15
        error = xp.abs(difference) + 2 * fine_roundoff
        return Derivative(fine.value + difference, error, fine.roughness, fine.one_sided)
    raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")


def _stencil(g: Callable[[float], Array], g0: Array, h: float, eval_eps: float, xp: Any) -> tuple[Derivative, Array]:
    g1, gm1, g2, gm2 = g(h), g(-h), g(2 * h), g(-2 * h)
    d1 = (g1 - gm1) / (2 * h)
    d2 = (g2 - gm2) / (4 * h)
    value = (4 * d1 - d2) / 3
    magnitude = xp.abs(g1) + xp.abs(gm1) + xp.abs(g2) + xp.abs(gm2) + xp.abs(g0)
    roundoff = 2 * eval_eps * magnitude / h
    # |d1 - d2| / 3 estimates the truncation error of d1; it bounds that of the 4th-order value
    truncation = xp.abs(d1 - d2) / 3
    third = gm2 - 2 * gm1 + 2 * g1 - g2
    fourth = gm2 - 4 * gm1 + 6 * g0 - 4 * g1 + g2
    one_sided = (
        (g0 - gm1) / h,
        (g1 - g0) / h,
        (3 * g0 - 4 * gm1 + gm2) / (2 * h),
        (-3 * g0 + 4 * g1 - g2) / (2 * h),
    )
    return Derivative(value, truncation + roundoff, (third / h, fourth / h), one_sided), roundoff
