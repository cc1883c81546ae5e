"""Default tolerances, and the one rule that turns a tolerance into a per-element limit.

An analytic value ``a`` passes against a numeric one ``n`` with error estimate ``e`` when::

    |a - n| <= atol + rtol * |n| + 2 * e + max(64 * eps(a.dtype), 1e-4 * rtol) * max(max|n|, max|a|)

``e`` is the numerical method's estimate of its own error, so a rough numerical derivative widens
the limit instead of raising a false alarm; the last term is the rounding an analytic rule in
``a.dtype`` cannot avoid (cancellation in a float32 softmax, say). A float32 rule's limit grows
further by the rounding measured for that formula at that input (:mod:`gradlab.check.rounding`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gradlab import backend

Array = Any

NUMERIC_ERROR_SAFETY = 2.0
ANALYTIC_ROUNDING = 64.0
# and at least this fraction of rtol times the largest value: an ill-conditioned rule (det * inv(A),
# a solve) rounds at cond * eps of its largest values, and an entry that is exactly zero then reads
# 1e-10 of them; no wrong rule is wrong by so little
RELATIVE_ROUNDING = 1e-4
# a projected (random-sign) sum of per-element errors stays within this many standard deviations
PROJECTION_SIGMAS = 5.0
# the adjoint identity involves no numerics: both sides agree to rounding
ADJOINT_ULPS = 1024.0


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float


DEFAULT_TOLERANCES = {
    "float64": Tolerance(rtol=1e-6, atol=1e-10),
    "float32": Tolerance(rtol=1e-4, atol=1e-6),
    "float16": Tolerance(rtol=1e-2, atol=1e-3),
}


def default_tolerance(dtype: Any) -> Tolerance:
    """The default tolerance for an analytic result of ``dtype`` (float64 for anything unknown)."""
    key = str(dtype).rsplit(".", 1)[-1].strip("'>")
    return DEFAULT_TOLERANCES.get(key, DEFAULT_TOLERANCES["float64"])


def resolve(dtype: Any, rtol: float | None, atol: float | None) -> Tolerance:
    base = default_tolerance(dtype)
    return Tolerance(rtol=base.rtol if rtol is None else rtol, atol=base.atol if atol is None else atol)


def rounding_scale(tol: Tolerance, analytic_eps: float) -> float:
    """The rounding every rule may show, relative to the largest value of the derivative."""
    return max(ANALYTIC_ROUNDING * analytic_eps, RELATIVE_ROUNDING * tol.rtol)


def elementwise_limit(
    xp: Any,
    numeric: Array,
    error: Array,
    tol: Tolerance,
    analytic_eps: float,
    rounding: Array | None = None,
    analytic: Array | None = None,
) -> Array:
    """The limit of each element; ``rounding`` is the rule's own measured rounding there
    (:mod:`gradlab.check.rounding`), already with its safety factor. The rounding every rule
    suffers is relative to the largest value of the derivative, numeric or (where a numerical
    value could not be settled) the rule's own finite values."""
    scale = xp.max(xp.abs(numeric)) if numeric.size else 0.0
    if analytic is not None and analytic.size:
        finite = xp.where(xp.isfinite(analytic), xp.abs(analytic), xp.zeros_like(analytic))
        scale = xp.maximum(scale, xp.max(finite))
    limit = (
        tol.atol + tol.rtol * xp.abs(numeric) + NUMERIC_ERROR_SAFETY * error + rounding_scale(tol, analytic_eps) * scale
    )
    return limit if rounding is None else limit + rounding


def projected_limit(
    xp: Any, analytic: Array, probe: Array, numeric_error: Array, tol: Tolerance, analytic_eps: float
) -> Array:
    """Limit for ``<analytic, probe>`` against its numeric counterpart.

    Each term ``(a_i - n_i) * u_i`` with an allowed ``|a_i - n_i| <= limit_i`` and a random sign
    ``u_i``: their sum has standard deviation at most ``||limit * u||_2``, so it grows like
    ``sqrt(n)``, not like ``n`` (the sum of the limits) that lets one wrong entry hide. The limit
    allows :data:`PROJECTION_SIGMAS` of the (triangle-inequality) bound on that norm.
    """
    if not analytic.size:
        return NUMERIC_ERROR_SAFETY * numeric_error
    # limit_i = c + rtol |a_i|, and ||limit * u|| <= c ||u|| + rtol ||a * u|| (within sqrt(2)):
    # two dot products and one output-sized temporary
    largest = max(float(xp.max(analytic)), -float(xp.min(analytic)))
    c = tol.atol + rounding_scale(tol, analytic_eps) * largest
    spread = c * norm(xp, probe) + tol.rtol * norm(xp, analytic * probe)
    return PROJECTION_SIGMAS * spread + NUMERIC_ERROR_SAFETY * numeric_error


def norm(xp: Any, a: Array) -> float:
    """The 2-norm of ``a``, scaled first so that values near overflow do not overflow its square."""
    if not a.size:
        return 0.0
    square = float(backend.dot(xp, a, a))
    if math.isfinite(square) and square > 1e-290:  # the common case: one pass
        return math.sqrt(square)
    largest = float(xp.max(xp.abs(a)))
    if largest == 0.0 or not math.isfinite(largest):
        return largest
    scaled = a / largest
    return largest * math.sqrt(float(backend.dot(xp, scaled, scaled)))
