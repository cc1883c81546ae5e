"""The ``fwd`` check: the JVP's output tangent against the numerical directional derivative ``J u``."""

from __future__ import annotations

from typing import Any

from gradlab import backend
from gradlab.check.compare import agrees, compare, to_result
from gradlab.check.results import STATUS_WEIGHT, CheckResult
from gradlab.check.sampling import Sampler, as_float, xp_flat
from gradlab.check.settling import settle_fwd

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
