"""The ``fwd`` check: the JVP's output tangent against the numerical directional derivative ``J u``."""

from __future__ import annotations

import math
from typing import Any

from gradlab import backend
from gradlab.check import tolerances
from gradlab.check.compare import KINK_RATIO, agrees, compare, to_result
from gradlab.check.results import STATUS_WEIGHT, CheckResult
from gradlab.check.sampling import Sampler, as_float, xp_flat
from gradlab.check.settling import settle_fwd
from gradlab.check.tolerances import Tolerance

Array = Any


def check_fwd(sampler: Sampler, tans: list[Array]) -> CheckResult:
    """The ``fwd`` result; ``tans[k]`` is the JVP's output tangent at probe ``k``. The worst probe
    is the verdict."""
    task, xp, out = sampler.task, sampler.xp, sampler.out
    tol = task.tolerance(out.dtype)
    a_eps = backend.eps(xp, out.dtype)
    worst: tuple[float, CheckResult] | None = None
    for k in range(task.n_probes):
        analytic = sampler.part.output(xp, xp_flat(xp, as_float(xp, tans[k], sampler.g0.dtype)))
        quick = _projection(sampler, k, analytic, tol, a_eps) if task.mode == "projected" else None
        if quick is not None:
            result = quick
            score = result.worst_ratio
            if worst is None or score > worst[0]:
                worst = (score, result)
            continue
        numeric = sampler.fwd_numeric(k)
        compared = compare(xp, analytic, numeric, tol, a_eps)
        if sampler.quick_fwd(k) and not agrees(xp, compared):
            # the quick look disagrees: decide with the method's whole stencil
            numeric = sampler.fwd_numeric(k, refined=True)
            compared = compare(xp, analytic, numeric, tol, a_eps)
        if not agrees(xp, compared):  # before calling an entry wrong: a search over steps
            compared = settle_fwd(sampler, k, analytic, numeric, compared, tol, a_eps)
        result = to_result(xp, "fwd", "output", compared, tuple(out.shape), tol, task.mode, sampler.axis_sizes())
        score = result.worst_ratio + STATUS_WEIGHT.get(result.status, 0.0)
        if worst is None or score > worst[0]:
            worst = (score, result)
    assert worst is not None
    return worst[1]


def _projection(sampler: Sampler, k: int, analytic: Array, tol: Tolerance, a_eps: float) -> CheckResult | None:
    """Projected mode: ``<v, JVP(u)>`` against ``<v, J u>`` first, two dot products per sample and
    no output-sized comparison (a wrong entry shows in the projection, as in ``rev``). The passing
    result when they agree, precisely and with no sign of a kink; None when the output must be
    compared entry by entry (to find the wrong ones, or to settle them)."""
    xp = sampler.xp
    w = sampler.probes.v_flat[k]
    numeric = sampler.weighted_derivative(sampler.along_probe(k), w, hull=False)
    value, error = float(numeric.value), float(numeric.error)
    claimed = float(backend.dot(xp, w, analytic))
    limit = float(tolerances.projected_limit(xp, analytic, w, error, tol, a_eps))
    gap = abs(claimed - value)
    own = tolerances.NUMERIC_ERROR_SAFETY * error
    rough = numeric.kink is not None and float(numeric.kink) > KINK_RATIO * limit
    if not (math.isfinite(gap) and gap <= limit) or own > limit - own or rough:
        return None
    return CheckResult(
        "fwd", "pass", "output", size=int(analytic.size), rtol=tol.rtol, atol=tol.atol, mode="projected",
        max_abs_err=gap, max_rel_err=gap / max(abs(value), 1e-300), worst_ratio=gap / limit,
    )  # fmt: skip
