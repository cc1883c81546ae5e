"""The ``adj`` check: the adjoint identity ``<v, JVP(u)> == <VJP(v), u>``, with no numerics at all.

The VJP and the JVP are transposes of one linear map, so the two inner products agree to rounding
whatever the function: a disagreement means one of the rules is wrong, however rough the function.
Where both rules have just passed ``rev`` and ``fwd`` (``lenient``), "rounding" includes their
tolerance (``rtol`` of every term, added as a random-sign sum): two rules that each agree with the
numerical derivative must not fail here because an ill-conditioned formula (a solve with a nearly
singular matrix) rounds far above the ulps of the sums.
"""

from __future__ import annotations

import math
from typing import Any

from gradlab import backend
from gradlab.check import tolerances
from gradlab.check.results import CheckResult
from gradlab.check.sampling import Sampler, as_float, xp_flat

Array = Any


def check_adj(sampler: Sampler, cots: list[list[Array]], tans: list[Array], lenient: bool = False) -> CheckResult:
    """The ``adj`` result over every probe; ``cots[k]``, ``tans[k]``: the rules' values at probe ``k``;
    ``lenient``: both rules passed their numerical checks, allow their tolerance."""
    task, xp, out = sampler.task, sampler.xp, sampler.out
    result = CheckResult("adj", "pass", "VJP vs JVP", mode="exact")
    worst = -1.0
    for k in range(task.n_probes):
        v = as_float(xp, sampler.probes.v[k], xp.float64 if backend.has_float64(xp, backend.device(out)) else None)
        part = sampler.part  # entries left out (not finite) are zero in the probes, and here
        v = xp_flat(xp, v)
        t = part.output(xp, xp_flat(xp, as_float(xp, tans[k], v.dtype)))
        lhs_terms = v * t
        lhs = float(xp.sum(lhs_terms))
        rhs, scale = 0.0, float(xp.sum(xp.abs(lhs_terms)))
        dtypes = [out.dtype]
        # each rule's values may be off by their dtype's atol, as rev and fwd allow: a rule that
        # cancels internally (a float32 softmax with one saturated class) has errors of the
        # size of its terms, not of its tiny results; in a random-sign sum they add like sqrt
        # and, lenient, by their rtol: two rules each within the tolerance of the true derivative
        # (an ill-conditioned solve rounds far above the ulps of these sums) need not agree closer
        relative = float(lenient)
        absolute = task.tolerance(out.dtype).atol * _norm(xp, v)
        absolute += relative * task.tolerance(out.dtype).rtol * _norm(xp, lhs_terms)
        for position, i in enumerate(task.wrt):
            u = xp_flat(xp, as_float(xp, sampler.probes.u[k][i], v.dtype))
            terms = part.input(xp, i, xp_flat(xp, as_float(xp, cots[k][position], v.dtype))) * u
            rhs += float(xp.sum(terms))
            scale += float(xp.sum(xp.abs(terms)))
            dtypes.append(task.inputs[i].dtype)
            tol_i = task.tolerance(task.inputs[i].dtype)
            absolute += tol_i.atol * _norm(xp, u) + relative * tol_i.rtol * _norm(xp, terms)
        a_eps = max(backend.eps(xp, dt) for dt in dtypes)
        # relative to the terms, with a floor for subnormal results (whose rounding is absolute)
        tiny = max(float(xp.finfo(dt).smallest_normal) for dt in dtypes)
        limit = tolerances.ADJOINT_ULPS * a_eps * (scale + tiny) + tolerances.PROJECTION_SIGMAS * absolute + 1e-300
        gap = abs(lhs - rhs)
        if gap / limit > worst:
            worst = gap / limit
            result.max_abs_err, result.max_rel_err = gap, gap / max(abs(lhs), abs(rhs), 1e-300)
            result.worst_ratio = gap / limit
            result.message = (
                f"<v, JVP(u)> = {lhs:.10g} but <VJP(v), u> = {rhs:.10g} (difference {gap:.3g}, limit {limit:.3g})"
            )
            result.status = "fail" if gap > limit else "pass"
    if result.status == "pass":
        result.message = ""
    return result


def _norm(xp: Any, a: Array) -> float:
    return math.sqrt(float(backend.dot(xp, xp_flat(xp, a), xp_flat(xp, a))))
