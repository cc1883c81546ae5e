"""Before a rule is called wrong: the disagreeing entries of a comparison, settled by a step search.

Each check compares first with the numerics at the default step (cheap: a right rule at an
ordinary input stops there). The entries that disagree, or whose numerical derivative is
undefined there, are differentiated again by :func:`gradlab.check.stepsearch.settle` along the
same direction, and compared once more with the estimate it confirms; the entries no step
settles are *undecided*, never wrong.
"""

from __future__ import annotations

from typing import Any

from gradlab import backend
from gradlab.check import tolerances
from gradlab.check.compare import Compared, Numeric, compare, settling_wanted
from gradlab.check.numerics import projector, step_factor
from gradlab.check.sampling import Sampler
from gradlab.check.stepsearch import Settled, settle
from gradlab.check.tolerances import Tolerance

Array = Any


def base_limit(xp: Any, analytic: Array, tol: Tolerance, a_eps: float, rounding: Array | None) -> Array:
    """Each entry's limit before the numerical error is added (from the rule's own values; a
    non-finite one counts as zero)."""
    finite = xp.where(xp.isfinite(analytic), analytic, xp.zeros_like(analytic))
    return tolerances.elementwise_limit(xp, finite, xp.zeros_like(finite), tol, a_eps, rounding)


def _real(sampler: Sampler, g: Any) -> Any:
    """``g`` with real outputs: under the complex-step method the inputs are complex, moved by a
    real ``t`` here, and the outputs' imaginary parts are zero."""
    xp = sampler.xp
    if sampler.task.method != "complex":
        return g
    return lambda t: xp.real(g(t))


def _real_step(sampler: Sampler, h: Any) -> float:
    """The search's first step: under the complex-step method, the stencil's step at that scale."""
    if sampler.task.method != "complex":
        return float(h)
    eps = sampler.eval_eps
    return float(abs(h)) / step_factor("complex", eps) * step_factor("stencil", eps)


def settle_element(
    sampler: Sampler, i: int, j: int, weights: Array, analytic: Array, base: Array, care: Array, floor: float
) -> Settled:
    """Settle ``<weights[k], J e_j>`` of input ``i`` (``weights``: (P, m)) for the rule's values
    ``analytic`` (P,); ``care`` (P,) says which to settle."""
    xp = sampler.xp
    g, h, x0 = sampler.element_function(i, j)
    x0 = float(xp.real(x0)) if sampler.task.method == "complex" else x0

    def exact(step: float) -> float:
        return float((x0 + step) - x0)

    g0 = xp.real(sampler.g0) if sampler.task.method == "complex" else sampler.g0
    h = _real_step(sampler, h)
    judge = projector(xp, weights)
    found = settle(
        _real(sampler, g), g0, h, sampler.eval_eps, xp, judge, analytic, base, care, floor, exact_step=exact,
        x_size=abs(float(x0)),
    )  # fmt: skip
    if not sampler.task.complex_safe or not bool(xp.any(care & ~found.confirmed)):
        return found
    unit = xp.reshape(xp.zeros_like(sampler.eval_inputs[i]), (-1,))
    unit[j] = 1
    return _complex_opinion(sampler, {i: xp.reshape(unit, tuple(sampler.eval_inputs[i].shape))}, judge, found, care)


def settle_direction(
    sampler: Sampler,
    directions: dict[int, Array],
    weights: Array | None,
    analytic: Array,
    base: Array,
    care: Array,
    floor: float,
    x_rounding: Array | None = None,
) -> Settled:
    """Settle the derivative along ``directions`` (input index -> direction), projected on
    ``weights`` ((P, m)) or per output entry (``weights=None``); ``x_rounding``: see
    :func:`~gradlab.check.stepsearch.settle` (by default bounded from the largest ``|x|``)."""
    xp = sampler.xp
    g, h = sampler.direction_function(directions)
    scale = max((_largest_finite(xp, sampler.eval_inputs[i]) for i in directions), default=0.0)
    g0 = xp.real(sampler.g0) if sampler.task.method == "complex" else sampler.g0
    h = _real_step(sampler, h)
    judge = projector(xp, weights) if weights is not None else None
    if x_rounding is None:  # per output entry: |x| at most the largest, times the rule's |J u|
        reference = xp.where(xp.isfinite(analytic), xp.abs(analytic), xp.zeros_like(analytic))
        x_rounding = 4 * sampler.eval_eps * scale * reference
    found = settle(
        _real(sampler, g), g0, h, sampler.eval_eps, xp, judge, analytic, base, care, floor, x_rounding=x_rounding
    )
    if not sampler.task.complex_safe or not bool(xp.any(care & ~found.confirmed)):
        return found
    return _complex_opinion(sampler, directions, judge, found, care)


def _complex_opinion(
    sampler: Sampler, directions: dict[int, Array], judge: Any, found: Settled, care: Array
) -> Settled:
    """Where the user allows it (``complex_safe``: the forward accepts complex input and is analytic
    there), the complex step decides what no real step settled: ``Im f(x + i h d) / h`` has no
    subtraction, so neither a domain edge nor round-off limits it."""
    xp, task = sampler.xp, sampler.task
    if task.method == "complex":
        return found
    linear = judge[0] if judge is not None else (lambda a: a)
    # the complex step is exact to eps only where h is far below the function's own scale: two
    # steps 1e10 apart must agree (the input's scale sets them; nothing below the smallest normal)
    scale = max((_largest_finite(xp, d * sampler.eval_inputs[i]) for i, d in directions.items()), default=0.0)
    scale = max(scale, 1e-290)
    values = []
    for h in (1e-20 * scale, 1e-30 * scale):
        args = list(sampler.eval_inputs)
        for i, d in directions.items():
            x = args[i]
            wide = xp.complex128 if x.dtype == xp.float64 else xp.complex64
            args[i] = xp.astype(x, wide) + (1j * h) * xp.astype(d, wide)
        try:
            out = sampler.evaluate(args)
        except Exception:  # not complex-safe after all: the real search's verdict stands
            return found
        values.append(linear(xp.imag(out) / h))
    value, other = values
    gap = xp.abs(value - other)
    error = gap + 8 * sampler.eval_eps * xp.abs(value)
    usable = care & ~found.confirmed & xp.isfinite(value) & xp.isfinite(other) & (gap <= 1e-6 * xp.abs(value))
    return Settled(
        xp.where(usable, value, found.value), xp.where(usable, error, found.error), found.confirmed | usable,
        found.reason, found.smooth,
    )  # fmt: skip


def _largest_finite(xp: Any, x: Array) -> float:
    """The largest finite ``|x|`` (the entries left out are never moved)."""
    if not x.size:
        return 0.0
    magnitude = xp.abs(x)
    return float(xp.max(xp.where(xp.isfinite(magnitude), magnitude, xp.zeros_like(magnitude))))


def patched(
    xp: Any, numeric: Numeric, compared: Compared, care: Array, settled: Settled, analytic: Array, base: Array
) -> Numeric:
    """``numeric`` with its ``care`` entries replaced by the estimates ``settled`` confirmed, and
    marked unsettled where it confirmed none. An entry first seen at a kink keeps that verdict
    unless a confirmed estimate (smooth at the smaller steps) agrees with the rule: at a true kink
    the central estimate is the mean of the one-sided slopes, not the rule's subgradient."""
    kinked = compared.kinked
    agrees = xp.abs(analytic - settled.value) <= base + tolerances.NUMERIC_ERROR_SAFETY * settled.error
    smooth = settled.smooth if settled.smooth is not None else xp.zeros_like(kinked)
    found = care & settled.confirmed & (~kinked | (agrees & smooth))

    def put(field: Array | None, new: Array) -> Array | None:
        return None if field is None else xp.where(found, new, field)

    kink = put(numeric.kink, xp.zeros_like(settled.value))
    # a settled entry is smooth at the steps that settled it: its hull is its value
    lo, hi = put(numeric.lo, settled.value), put(numeric.hi, settled.value)
    before = numeric.unsettled if numeric.unsettled is not None else xp.zeros_like(numeric.value, dtype=xp.bool)
    unsettled = before | (care & ~settled.confirmed & ~kinked)
    reason = numeric.reason or settled.reason
    return Numeric(
        xp.where(found, settled.value, numeric.value), xp.where(found, settled.error, numeric.error),
        kink, lo, hi, unsettled, reason,
    )  # fmt: skip


def _care(xp: Any, c: Compared) -> Array:
    """What a step search looks at again: :func:`settling_wanted`, and the entries seen at a kink
    (a step too wide for the function looks like one)."""
    return settling_wanted(xp, c) | c.kinked


def settle_elements(
    sampler: Sampler, i: int, weights: Array, analytics: list[Array], numerics: list[Numeric],
    compared: list[Compared], tol: Tolerance, a_eps: float, roundings: list[Array | None],
    elements: list[int] | None = None,
) -> list[Compared]:  # fmt: skip
    """The ``rev`` comparisons of input ``i`` (one per row of ``weights``, (P, m)) with their
    disagreeing entries settled element by element, each element's search serving every row;
    ``elements``: the flat index in input ``i`` of each compared entry (default: its position)."""
    xp = sampler.xp
    cares = [_care(xp, c) for c in compared]
    union = cares[0]
    for care in cares[1:]:
        union = union | care
    indices = [int(j) for j in backend.to_host(xp.reshape(union, (-1,))).nonzero()[0]]
    if not indices:
        return compared
    bases = [base_limit(xp, a, tol, a_eps, r) for a, r in zip(analytics, roundings, strict=True)]
    rows = len(analytics)
    like = numerics[0].value
    value = [xp.zeros_like(like) for _ in range(rows)]
    smooth = [xp.zeros_like(like, dtype=xp.bool) for _ in range(rows)]
    error = [xp.zeros_like(like) for _ in range(rows)]
    confirmed = [xp.zeros_like(like, dtype=xp.bool) for _ in range(rows)]
    reason = ""
    for j in indices:
        found = settle_element(
            sampler, i, elements[j] if elements is not None else j, weights,
            xp.stack([a[j] for a in analytics]), xp.stack([b[j] for b in bases]), xp.stack([c[j] for c in cares]),
            tol.atol,
        )  # fmt: skip
        reason = reason or found.reason
        for k in range(rows):
            value[k][j], error[k][j], confirmed[k][j] = found.value[k], found.error[k], found.confirmed[k]
            smooth[k][j] = found.smooth[k] if found.smooth is not None else False
    out = []
    for k in range(rows):
        settled = Settled(value[k], error[k], confirmed[k], reason, smooth[k])
        numeric = patched(xp, numerics[k], compared[k], cares[k], settled, analytics[k], bases[k])
        out.append(compare(xp, analytics[k], numeric, tol, a_eps, roundings[k]))
    return out


def settle_fwd(
    sampler: Sampler, k: int, analytic: Array, numeric: Numeric, compared: Compared, tol: Tolerance, a_eps: float
) -> Compared:
    """The ``fwd`` comparison of probe ``k`` with its disagreeing output entries settled."""
    xp = sampler.xp
    care = _care(xp, compared)
    if not bool(xp.any(care)):
        return compared
    directions = {i: sampler.probes.u[k][i] for i in sampler.task.wrt}
    base = base_limit(xp, analytic, tol, a_eps, None)
    settled = settle_direction(sampler, directions, None, analytic, base, care, tol.atol)
    return compare(xp, analytic, patched(xp, numeric, compared, care, settled, analytic, base), tol, a_eps)
