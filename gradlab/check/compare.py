"""Comparing analytic values with numerical ones, element by element, into a :class:`CheckResult`.

Everything runs in the array namespace of the values; only a failing comparison is moved to the
host, for the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gradlab import backend
from gradlab.check import diagnose, tolerances
from gradlab.check.results import CheckName, CheckResult, Mismatch
from gradlab.check.tolerances import Tolerance

Array = Any

# a kink explains a disagreement when the non-smoothness is at least this fraction of it
KINK_FRACTION = 0.5
# non-smoothness this many times the tolerance marks a kink even where the rule agrees
KINK_RATIO = 100.0
# rows of mismatches kept in a result
MAX_MISMATCHES = 10
# relative errors are measured against at least this fraction of the largest derivative
REL_ERR_FLOOR = 1e-6
# arrays larger than this are not copied into a result for the report
REPORT_ARRAY_LIMIT = 100_000


@dataclass(frozen=True)
class Numeric:
    """Numerical values to compare with: the estimate, its error, kink evidence, subgradient hull."""

    value: Array
    error: Array
    kink: Array | None = None
    lo: Array | None = None
    hi: Array | None = None
    # entries no step could settle (:mod:`gradlab.check.stepsearch`), and why
    unsettled: Array | None = None
    reason: str = ""


@dataclass(frozen=True)
class Compared:
    analytic: Array
    numeric: Array
    diff: Array
    limit: Array
    wrong: Array
    kinked: Array
    undefined: Array
    undecided: Array
    reason: str = ""
    # agrees only because the numerical error is larger than the tolerance: a pass not earned
    vague: Array | None = None


def compare(
    xp: Any, analytic: Array, numeric: Numeric, tol: Tolerance, analytic_eps: float, rounding: Array | None = None
) -> Compared:
    """Decide, per element: within the tolerance, wrong, at a kink, or numerically undefined;
    ``rounding`` widens each limit by the rule's measured rounding there."""
    unsettled = numeric.unsettled if numeric.unsettled is not None else xp.zeros_like(numeric.value, dtype=xp.bool)
    undefined = ~xp.isfinite(numeric.value) & ~unsettled
    value = xp.where(xp.isfinite(numeric.value), numeric.value, xp.zeros_like(numeric.value))
    error = xp.where(xp.isfinite(numeric.error), numeric.error, xp.zeros_like(numeric.error))
    limit = tolerances.elementwise_limit(xp, value, error, tol, analytic_eps, rounding, analytic)
    diff = xp.abs(analytic - value)
    bad = ((diff > limit) | ~xp.isfinite(analytic)) & ~undefined & ~unsettled
    kinked = xp.zeros_like(bad)
    if numeric.kink is not None:
        # non-smooth on the stencil: far rougher than a smooth function, or rough enough to explain
        # the disagreement
        nonsmooth = (numeric.kink > KINK_RATIO * limit) | (bad & (numeric.kink >= KINK_FRACTION * diff))
    elif numeric.lo is not None:
        nonsmooth = bad & (numeric.hi - numeric.lo >= KINK_FRACTION * diff)
    else:
        nonsmooth = kinked
    if numeric.lo is not None:
        # at a kink, a subgradient (between the one-sided derivatives) is a valid answer
        inside = (analytic >= numeric.lo - limit) & (analytic <= numeric.hi + limit) & xp.isfinite(analytic)
        kinked = nonsmooth & inside
    own = tolerances.NUMERIC_ERROR_SAFETY * error
    vague = (own > limit - own) & ~bad & ~undefined & ~unsettled & ~kinked
    return Compared(analytic, value, diff, limit, bad & ~kinked, kinked, undefined, unsettled, numeric.reason, vague)


def agrees(xp: Any, c: Compared) -> bool:
    """Whether every element is within the tolerance (none wrong, at a kink, undefined, undecided, or
    agreeing only within a numerical error larger than the tolerance)."""
    return not bool(xp.any(settling_wanted(xp, c) | c.kinked | c.undecided))


def settling_wanted(xp: Any, c: Compared) -> Array:
    """The entries a step search should settle: those that disagree (before anything is called
    wrong), those whose numerical derivative is undefined at the default step, and those that agree
    only because its error there exceeds the tolerance (a pass that says nothing)."""
    wanted = c.wrong | c.undefined
    return wanted if c.vague is None else wanted | c.vague


def count(xp: Any, mask: Array) -> int:
    return int(xp.sum(xp.astype(mask, xp.int64)))


def to_result(
    xp: Any, check: CheckName, subject: str, c: Compared, shape: tuple, tol: Tolerance, mode: str, sizes: tuple
) -> CheckResult:
    """The verdict of a comparison; ``sizes`` are axis sizes a diagnosis may name."""
    size = int(c.diff.size)
    result = CheckResult(check, "pass", subject, size=size, rtol=tol.rtol, atol=tol.atol, mode=mode)
    if size == 0:
        return result
    defined = ~c.undefined & ~c.undecided
    zeros = xp.zeros_like(c.diff)
    diff = xp.where(defined, c.diff, zeros)
    result.max_abs_err = float(xp.max(diff))
    abs_n = xp.abs(c.numeric)
    # relative to each element, with a floor of 1e-6 of the largest (a derivative that is nearly
    # zero by cancellation has no meaningful relative error)
    floor = max(float(xp.max(abs_n)) * REL_ERR_FLOOR, tol.atol, 1e-300)
    result.max_rel_err = float(xp.max(diff / xp.maximum(abs_n, xp.full_like(abs_n, floor))))
    result.worst_ratio = float(xp.max(xp.where(defined, c.diff / c.limit, zeros)))
    n_wrong, n_kinked, n_undefined = count(xp, c.wrong), count(xp, c.kinked), count(xp, c.undefined)
    n_undecided = count(xp, c.undecided)
    if n_wrong == 0 and n_kinked == 0 and n_undefined == 0 and n_undecided == 0:
        return result
    host = {
        name: backend.to_host(getattr(c, name)) for name in ("analytic", "numeric", "diff", "limit", "wrong", "kinked")
    }
    # a non-finite analytic value is as bad as it gets (NaN would sort last and drop its row)
    badness = np.where(host["wrong"], np.nan_to_num(host["diff"] / host["limit"], nan=np.inf), -np.inf)
    order = np.argsort(-badness, kind="stable")[: min(n_wrong, MAX_MISMATCHES)]
    result.mismatch_count = n_wrong
    result.mismatches = [
        Mismatch(
            unravel(j, shape), float(host["analytic"][j]), float(host["numeric"][j]),
            float(host["diff"][j]), float(host["limit"][j]),
        )
        for j in order
    ]  # fmt: skip
    result.nondiff_indices = [unravel(j, shape) for j in np.flatnonzero(host["kinked"])[:MAX_MISMATCHES]]
    if n_wrong:
        result.worst_index = unravel(int(np.argmax(badness)), shape)
    if size <= REPORT_ARRAY_LIMIT:
        result.analytic = host["analytic"].reshape(shape)
        result.numeric = host["numeric"].reshape(shape)
    if n_wrong and n_kinked:
        # a kink in one direction: the function has no derivative here, and the rule's value for the
        # other entries is one of its pieces (sparsemax with tied inputs), not to be called wrong
        result.status = "nondiff"
        result.message = (
            f"not differentiable here: {n_kinked} element(s) sit on a kink, or within one finite-difference"
            f" step of one, so the derivative does not exist at this input; {n_wrong} other element(s) differ"
            " from the numerical derivative, which is not a failure where there is no derivative"
        )
    elif n_wrong:
        result.status = "fail"
        result.message = f"{n_wrong} of {size} elements differ beyond the tolerance"
        if result.analytic is not None and result.numeric is not None:
            result.diagnosis = diagnose.value_pattern(result.analytic, result.numeric, sizes)
    elif n_undecided:
        result.status = "undecided"
        result.message = f"{n_undecided} of {size} element(s) could not be settled: {c.reason}"
        result.nondiff_indices = []
        result.undecided_indices = [
            unravel(j, shape) for j in np.flatnonzero(backend.to_host(c.undecided))[:MAX_MISMATCHES]
        ]
    elif n_kinked:
        result.status = "nondiff"
        result.message = (
            f"not differentiable here: {n_kinked} element(s) sit on a kink, or within one finite-difference"
            " step of one (the one-sided derivatives disagree); the rule returns a value between them"
        )
    else:
        result.status = "invalid"
        result.message = (
            f"the numerical derivative is undefined at {n_undefined} element(s): a step of the finite"
            " difference leaves the op's domain; move the input away from the boundary"
        )
    return result


def unravel(flat: int, shape: tuple) -> tuple[int, ...]:
    if not shape:
        return ()
    return tuple(int(c) for c in np.unravel_index(int(flat), shape))
