"""The ``rev`` check: each input's cotangent from the VJP against the numerical derivative.

In full mode the cotangent is compared entry by entry with ``v^T J`` from the Jacobian's columns; in
projected mode through ``<VJP(v), u>`` vs ``<v, J u>`` (:mod:`gradlab.check.localise`), bisected to
the wrong entries when they disagree. The worst probe is the verdict. A float32 rule's limits include
its rounding measured at the input (:mod:`gradlab.check.rounding`).
"""

from __future__ import annotations

from typing import Any

from gradlab import backend
from gradlab.check import diagnose
from gradlab.check.compare import compare, to_result
from gradlab.check.form import dtype_name
from gradlab.check.localise import projected_rev
from gradlab.check.results import STATUS_WEIGHT, CheckResult
from gradlab.check.rounding import ROUNDING_SAFETY
from gradlab.check.sampling import Sampler, as_float, numeric_column, xp_flat
from gradlab.check.settling import settle_elements
from gradlab.check.tolerances import Tolerance

Array = Any


def check_rev(sampler: Sampler, i: int, cots: list[list[Array]]) -> CheckResult:
    """The ``rev`` result of input ``i``; ``cots[k]`` are the VJP's cotangents at probe ``k``."""
    task, xp = sampler.task, sampler.xp
    position = task.wrt.index(i)
    tol = task.tolerance(task.inputs[i].dtype)
    a_eps = backend.eps(xp, task.inputs[i].dtype)
    rounding = sampler.rounding
    analytics = [
        sampler.part.input(xp, i, xp_flat(xp, as_float(xp, cots[k][position], sampler.g0.dtype)))
        for k in range(task.n_probes)
    ]
    extras = [ROUNDING_SAFETY * rounding.gap[k][i] if rounding is not None else None for k in range(task.n_probes)]
    if task.mode == "full":
        results = _full(sampler, i, list(range(task.n_probes)), analytics, tol, a_eps, extras)
    else:
        results = [_at_probe(sampler, i, k, analytics[k], tol, a_eps, extras[k]) for k in range(task.n_probes)]
    worst: tuple[float, int, CheckResult] | None = None
    for k, result in enumerate(results):
        score = result.worst_ratio + STATUS_WEIGHT.get(result.status, 0.0)
        if worst is None or score > worst[0]:
            worst = (score, k, result)
    assert worst is not None
    _, k, result = worst
    if result.status == "fail" and rounding is not None:
        wide_eps = backend.eps(xp, sampler.g0.dtype)
        wide = _at_probe(sampler, i, k, rounding.wide[k][i], task.tolerance(sampler.g0.dtype), wide_eps, None)
        if wide.status == "pass":
            result.details.append(
                f"the same rule evaluated in {dtype_name(sampler.g0.dtype)} at this input agrees with the numerical"
                f" derivative: the {dtype_name(task.inputs[i].dtype)} result loses more digits than this formula's"
                " own rounding explains here (cancellation that a rearranged formula would avoid?)"
            )
    # an output exactly as large as all the inputs together is a stack or a concatenation: nothing broadcast
    stacked = len(task.inputs) > 1 and sum(int(getattr(x, "size", 1)) for x in task.inputs) == int(sampler.out.size)
    if result.status == "fail" and not result.diagnosis and not stacked:
        hint = diagnose.broadcast_hint(task.names[i], tuple(task.inputs[i].shape), tuple(sampler.out.shape))
        if hint:
            result.details.append(hint)
    return result


def _full(
    sampler: Sampler, i: int, ks: list[int], analytics: list[Array], tol: Tolerance, a_eps: float,
    roundings: list[Array | None],
) -> list[CheckResult]:  # fmt: skip
    """Full mode: every entry of input ``i``'s cotangent at probes ``ks`` (``analytics``, in that
    order), the disagreeing ones settled by a step search (:mod:`gradlab.check.settling`)."""
    task, xp = sampler.task, sampler.xp
    shape = tuple(task.inputs[i].shape)
    numeric = sampler.rev_numeric[i]
    columns = [numeric_column(numeric, k) for k in ks]
    compared = [compare(xp, a, c, tol, a_eps, r) for a, c, r in zip(analytics, columns, roundings, strict=True)]
    weights = xp.stack([sampler.probes.v_flat[k] for k in ks])
    compared = settle_elements(sampler, i, weights, analytics, columns, compared, tol, a_eps, roundings)
    return [to_result(xp, "rev", task.names[i], c, shape, tol, task.mode, sampler.axis_sizes()) for c in compared]


def _at_probe(
    sampler: Sampler, i: int, k: int, analytic: Array, tol: Tolerance, a_eps: float, rounding: Array | None
) -> CheckResult:
    if sampler.task.mode == "full":
        return _full(sampler, i, [k], [analytic], tol, a_eps, [rounding])[0]
    return projected_rev(sampler, i, k, analytic, tol, a_eps, tuple(sampler.task.inputs[i].shape), rounding)
