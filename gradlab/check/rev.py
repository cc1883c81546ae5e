"""The ``rev`` check: each input's cotangent from the VJP against the numerical derivative.

In full mode the cotangent is compared entry by entry with ``v^T J`` from the Jacobian's columns; in
projected mode through ``<VJP(v), u>`` vs ``<v, J u>`` (:mod:`gradlab.check.localise`), bisected to
the wrong entries when they disagree. The worst probe is the verdict.
"""

from __future__ import annotations

from typing import Any

from gradlab import backend
from gradlab.check import diagnose
from gradlab.check.compare import Numeric, compare, to_result
from gradlab.check.localise import projected_rev
from gradlab.check.results import CheckResult
from gradlab.check.sampling import Sampler, as_float, numeric_fields, xp_flat

Array = Any


def check_rev(sampler: Sampler, i: int, cots: list[list[Array]]) -> CheckResult:
    """The ``rev`` result of input ``i``; ``cots[k]`` are the VJP's cotangents at probe ``k``."""
    task, xp = sampler.task, sampler.xp
    position = task.wrt.index(i)
    tol = task.tolerance(task.inputs[i].dtype)
    a_eps = backend.eps(xp, task.inputs[i].dtype)
    shape = tuple(task.inputs[i].shape)
    worst: tuple[float, CheckResult] | None = None
    for k in range(task.n_probes):
        analytic = xp_flat(xp, as_float(xp, cots[k][position], sampler.g0.dtype))
        if task.mode == "full":
            numeric = sampler.rev_numeric[i]
            column = Numeric(*(None if f is None else f[:, k] for f in numeric_fields(numeric)))
            compared = compare(xp, analytic, column, tol, a_eps)
            result = to_result(xp, "rev", task.names[i], compared, shape, tol, task.mode, sampler.axis_sizes())
        else:
            result = projected_rev(sampler, i, k, analytic, tol, a_eps, shape)
        score = result.worst_ratio + (1e9 if result.status == "fail" else 0.0)
        if worst is None or score > worst[0]:
            worst = (score, result)
    assert worst is not None
    result = worst[1]
    if result.status == "fail" and not result.diagnosis:
        hint = diagnose.broadcast_hint(task.names[i], shape, tuple(sampler.out.shape))
        if hint:
            result.details.append(hint)
    return result
