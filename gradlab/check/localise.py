"""Projected ``rev`` checks, and the bisection that finds the wrong entries when one fails.

The projection ``<VJP(v), u>`` is compared with ``<v, J u>``; when it disagrees (or the function is
not smooth along ``u``), the input is split into halves, always opening the block that disagrees
most, down to single elements, which are then compared one by one.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

import numpy as np

from gradlab import backend
from gradlab.check import tolerances
from gradlab.check.compare import KINK_RATIO, REPORT_ARRAY_LIMIT, compare, to_result, unravel
from gradlab.check.numerics import Samples
from gradlab.check.results import CheckResult, Mismatch
from gradlab.check.sampling import Sampler, as_float, stack_numeric, xp_flat
from gradlab.check.settling import settle_direction, settle_elements
from gradlab.check.tolerances import Tolerance

Array = Any

# directional derivatives a failed projected check may spend locating the wrong entries
LOCALISE_BUDGET = 128
LOCALISE_LEAVES = 8


def projected_rev(
    sampler: Sampler,
    i: int,
    k: int,
    analytic: Array,
    tol: Tolerance,
    a_eps: float,
    shape: tuple,
    rounding: Array | None = None,
) -> CheckResult:
    """The ``rev`` check of input ``i`` along probe ``k``: ``analytic`` is its cotangent, flattened;
    ``rounding`` the rule's measured rounding per entry (widens the limits)."""
    return _Projection(sampler, i, k, analytic, tol, a_eps, rounding).check(shape)


class _Projection:
    """``<VJP(v), u>`` vs ``<v, J u>`` for one input and probe, over all of ``u`` or a block of it."""

    def __init__(
        self, sampler: Sampler, i: int, k: int, analytic: Array, tol: Tolerance, a_eps: float, rounding: Array | None
    ) -> None:
        xp = sampler.xp
        self.sampler, self.xp, self.i, self.k = sampler, xp, i, k
        self.analytic, self.tol, self.a_eps, self.rounding = analytic, tol, a_eps, rounding
        self.name = sampler.task.names[i]
        self.v = sampler.probes.v_flat[k]
        self.last_error = 0.0  # the numerical error of the last block compared
        self.u = xp_flat(xp, as_float(xp, sampler.probes.u[k][i], sampler.g0.dtype))

    def check(self, shape: tuple) -> CheckResult:
        sampler, i, k = self.sampler, self.i, self.k
        n = int(self.analytic.size)
        samples = sampler.projected_samples(k, i)
        gap, limit, score, numeric = self.block(0, n, samples)
        if sampler.is_quick(samples) and not (math.isfinite(gap) and score <= 1.0):
            # the quick look disagrees: decide with the method's whole stencil
            samples = sampler.projected_samples(k, i, refined=True)
            gap, limit, score, numeric = self.block(0, n, samples)
        vague = tolerances.NUMERIC_ERROR_SAFETY * self.last_error > limit / 2
        reason = ""
        if vague or not (math.isfinite(gap) and abs(gap) <= limit):
            # before calling the projection wrong (or right only within a numerical error larger
            # than the tolerance): a search over steps along the probe
            gap, limit, score, numeric, reason = self.settle(gap, limit, score, numeric)
        base = CheckResult(
            "rev", "pass", self.name, size=n, rtol=self.tol.rtol, atol=self.tol.atol, mode="projected",
            max_abs_err=abs(gap), max_rel_err=abs(gap) / max(abs(numeric), 1e-300), worst_ratio=abs(gap) / limit,
        )  # fmt: skip
        if reason:
            base.status = "undecided"
            base.max_abs_err = base.max_rel_err = base.worst_ratio = 0.0
            base.message = f"the projection <v, J u> could not be settled: {reason}"
            return base
        if score <= 1.0:
            return base
        leaves = self.bisect(score)
        if not leaves:
            base.status = "fail"
            base.message = (
                f"<VJP(v), u> and <v, J u> differ by {abs(gap):.3g} (limit {limit:.3g}) but no single entry"
                " stands out: a small error spread over many entries"
            )
            return base
        return self.leaf_result(leaves, base, shape, disagrees=abs(gap) > limit)

    def settle(self, gap: float, limit: float, score: float, numeric: float) -> tuple[float, float, float, float, str]:
        """Settle ``<v, J u>`` by a step search along ``u``: the gap, limit, score and numeric value
        with the confirmed estimate, or the reason none was confirmed."""
        xp, sampler = self.xp, self.sampler
        analytic = float(backend.dot(xp, self.analytic, self.u))
        base = float(tolerances.projected_limit(xp, self.analytic, self.u, 0.0, self.tol, self.a_eps))
        if self.rounding is not None:
            base += float(xp.sum(xp.abs(self.rounding * self.u)))
        found = settle_direction(
            sampler, {self.i: sampler.probes.u[self.k][self.i]}, xp.reshape(self.v, (1, -1)),
            xp.asarray([analytic]), xp.asarray([base]), xp.asarray([True]), self.tol.atol,
            xp.asarray([self.x_rounding()]),
        )  # fmt: skip
        if not bool(found.confirmed[0]):
            return gap, limit, score, numeric, found.reason
        value, error = float(found.value[0]), float(found.error[0])
        limit = base + tolerances.NUMERIC_ERROR_SAFETY * error
        gap = analytic - value
        return gap, limit, abs(gap) / limit, value, ""

    def x_rounding(self) -> float:
        """``4 eps sum_j |a_j u_j x_j|``: what rounding ``x + t u`` adds to ``<v, J u>``, times ``t``,
        from the rule's own entries (per entry, not the largest ``|x|`` times the total)."""
        xp, sampler = self.xp, self.sampler
        x = xp_flat(xp, as_float(xp, sampler.eval_inputs[self.i], sampler.g0.dtype))
        terms = xp.abs(self.analytic * self.u * x)
        terms = xp.where(xp.isfinite(terms), terms, xp.zeros_like(terms))
        return 4 * sampler.eval_eps * float(xp.sum(terms))

    def block(self, start: int, stop: int, samples: Samples | None = None) -> tuple[float, float, float, float]:
        """Compare ``<VJP(v), u>`` with ``<v, J u>`` for ``u`` restricted to flat indices [start, stop).

        Returns the gap, its limit, a score (> 1: the block disagrees or holds a kink) and the
        numeric value.
        """
        xp, sampler, u, analytic = self.xp, self.sampler, self.u, self.analytic
        if samples is None:
            probe = sampler.probes.u[self.k][self.i]
            mask = xp.zeros(int(u.size), dtype=u.dtype)
            mask[start:stop] = 1
            direction = xp.reshape(xp.astype(u * mask, probe.dtype), tuple(probe.shape))
            # a block of the probe moves no element further than the whole probe: same room
            samples = sampler.along({self.i: direction}, self.v, sampler.room_cache[(self.k, self.i)])
        numeric = sampler.weighted_derivative(samples, self.v, hull=False)
        value = float(numeric.value)
        gap = float(backend.dot(xp, analytic[start:stop], u[start:stop])) - value
        limit = float(
            tolerances.projected_limit(xp, analytic[start:stop], u[start:stop], numeric.error, self.tol, self.a_eps)
        )
        if self.rounding is not None:  # each entry's rounding, summed along the probe (a bound)
            limit += float(xp.sum(xp.abs(self.rounding[start:stop] * u[start:stop])))
        score = abs(gap) / limit
        if numeric.kink is not None:
            score = max(score, float(numeric.kink) / (KINK_RATIO * limit))
        self.last_error = float(numeric.error)
        return gap, limit, score, value

    def bisect(self, score: float) -> list[int]:
        """Split the failed projection into halves, always opening the block that disagrees most
        (or is least smooth), down to single elements."""
        heap: list[tuple[float, int, int]] = [(-score, 0, int(self.analytic.size))]
        leaves: list[int] = []
        budget = LOCALISE_BUDGET
        while heap and budget > 0 and len(leaves) < LOCALISE_LEAVES:
            _, start, stop = heapq.heappop(heap)
            if stop - start == 1:
                leaves.append(start)
                continue
            mid = (start + stop) // 2
            for lo, hi in ((start, mid), (mid, stop)):
                budget -= 1
                child = self.block(lo, hi)[2]
                if child > 1.0:
                    heapq.heappush(heap, (-child, lo, hi))
        return sorted(leaves)

    def leaf_result(self, leaves: list[int], base: CheckResult, shape: tuple, disagrees: bool = True) -> CheckResult:
        """The located entries compared one by one, as the result of the whole projection."""
        xp, sampler, analytic, tol = self.xp, self.sampler, self.analytic, self.tol
        rows = [sampler.weighted_derivative(sampler.element(self.i, j, self.v), self.v) for j in leaves]
        numeric = stack_numeric(xp, rows, None, sampler.g0.dtype)
        a = xp.stack([analytic[j] for j in leaves])
        rounding = None if self.rounding is None else xp.stack([self.rounding[j] for j in leaves])
        compared = compare(xp, a, numeric, tol, self.a_eps, rounding)
        compared = settle_elements(
            sampler, self.i, xp.reshape(self.v, (1, -1)), [a], [numeric], [compared], tol, self.a_eps, [rounding],
            elements=leaves,
        )[0]  # fmt: skip
        located = to_result(xp, "rev", self.name, compared, (len(leaves),), tol, "projected", sampler.axis_sizes())
        flat_to_index = [unravel(j, shape) for j in leaves]
        base.mismatches = [
            Mismatch(flat_to_index[m.index[0]], m.analytic, m.numeric, m.abs_err, m.tolerance)
            for m in located.mismatches
        ]
        base.nondiff_indices = [flat_to_index[j[0]] for j in located.nondiff_indices]
        base.mismatch_count = located.mismatch_count
        base.diagnosis = located.diagnosis
        if base.mismatches:
            base.worst_index = base.mismatches[0].index
            base.max_abs_err = max(m.abs_err for m in base.mismatches)
            base.max_rel_err = located.max_rel_err
        # leaves that pass (or cannot be settled) under a projection that disagrees: the error is
        # spread, the projection's verdict stands; under one bisected only for its roughness, theirs
        base.status = located.status
        if disagrees and located.status in ("pass", "undecided"):
            base.status = "fail"
        found = f"{located.mismatch_count} wrong entr{'y' if located.mismatch_count == 1 else 'ies'} located"
        base.message = f"projection <VJP(v), u> vs <v, J u> failed; {found} by bisection (there may be more)"
        if base.status == "nondiff":
            base.message = "the op is not differentiable at these inputs (a kink); the projection was bisected to it"
        elif base.status == "undecided":
            base.message = f"the projection was bisected to entries the numerics cannot settle: {located.message}"
        elif base.status == "pass":
            base.message = ""
        if int(analytic.size) <= REPORT_ARRAY_LIMIT:
            host = np.full(int(analytic.size), np.nan)
            host[leaves] = backend.to_host(compared.numeric)
            base.numeric = host.reshape(shape)
            base.analytic = backend.to_host(analytic).reshape(shape)
        return base
