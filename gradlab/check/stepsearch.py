"""Settling a disagreement: a search over finite-difference steps for a derivative the error model trusts.

The first look (:mod:`gradlab.check.numerics`) differentiates at the default step, ``eps**(1/5)``
times ``max(1, |x|)``. That step knows the input's scale, not the function's: it leaves the domain
next to an edge (``log`` at ``1e-9``), spans the whole feature of a function that varies on a
scale far below ``|x|`` (``tanh(x / 1e-4)``), lands on a multiple of the period of ``sin`` at
large ``x``, overflows ``exp`` near 709, and is far too wide for a nearly singular matrix. So a
rule that disagrees with the first look is not called wrong yet: the disagreeing entries are
settled here.

* Steps ``h0 * RATIO**k`` walk down from the default (and up, where round-off dominates the
  first estimates). Successive steps are in no simple ratio (``RATIO = e**-1.5``), so estimates
  at two steps cannot agree because both landed on multiples of a period.
* At each step the 4th-order central stencil (``+-h, +-2h``); for an entry where one side leaves
  the domain or overflows, the 3rd-order one-sided stencil on the side that exists
  (``0, h, 2h, 4h``).
* Samples are differenced before they are divided by the step, so values near overflow stay
  finite; the error of each estimate is its truncation (from the two step sizes of the stencil)
  plus its round-off (from the precision of the evaluations, and of ``x + t d`` where the step
  is not exact).
* An estimate is *confirmed* when the estimates at the next larger and the next smaller step both
  agree with it within their errors and no error is a large part of its value (two steps can
  agree by chance, three rarely do). Each entry keeps the confirmed estimate
  with the smallest error; the walk stops once every entry is decided: its rule agrees with a
  confirmed estimate, or disagrees with one by far more than the estimate's error.
* An entry with no confirmed estimate is *undecided*: the numerics cannot settle it there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Array = Any
Linear = Callable[[Array], Array]

RATIO = math.exp(-1.5)  # 0.223: successive steps in no simple ratio
RUNGS_DOWN = 24  # down to h0 * 2e-16: a nearly singular matrix needs steps far below |x|
RUNGS_UP = 4  # up to h0 * 400: a function evaluated with noise
# an estimate whose error exceeds this fraction of its size (or of the tolerance) confirms nothing
CONFIRM_FRACTION = 0.25
# a disagreement is decided once it exceeds the estimate's error this many times
DECISIVE = 8.0
# the finest step, eps**FINEST * |x| (2e-12 |x| in float64): below it a forward's own rounding (a
# nearly singular solve rounds to cond * eps, smoothly between neighbouring inputs) has a slope of
# its own
FINEST = 0.75
# smooth: the bend shrinks with the step (by RATIO where f'' is steady); at a kink it stays
BEND_SHRINK = 0.5


@dataclass(frozen=True)
class Settled:
    """Per judged entry: the best confirmed estimate, its error, and whether one was found
    (``reason``: why not, for the entries left unconfirmed)."""

    value: Array
    error: Array
    confirmed: Array
    reason: str
    # the confirmed estimate's bend (the jump in slope across the point) shrank with the step:
    # smooth there, not a kink the stencil straddles at every step
    smooth: Array | None = None


@dataclass(frozen=True)
class _Rung:
    value: Array
    error: Array
    roundoff_dominated: Array
    bend: Array


def settle(
    g: Callable[[float], Array],
    g0: Array,
    h0: float,
    eval_eps: float,
    xp: Any,
    judge: tuple[Linear, Linear] | None,
    analytic: Array,
    base: Array,
    care: Array,
    floor: float,
    exact_step: Callable[[float], float] | None = None,
    x_rounding: Array | float = 0.0,
    x_size: float = 0.0,
) -> Settled:
    """Search steps along ``g(t) = f(x + t d)`` (flat outputs; ``g0 = g(0)``) for estimates of the
    judged derivative (``judge``: a linear map of output samples and its absolute twin, or None
    for the outputs themselves) that decide each entry where ``care`` is true: ``analytic`` is the
    rule's value there, ``base`` its tolerance before the numerical error is added, ``floor`` the
    absolute tolerance (an estimate is precise when its error is a small part of its value, or of
    ``floor``: the tolerance the rule claims for itself must not make a vague estimate precise).

    ``exact_step(h)`` returns the step actually taken (``(x + h) - x``) where it is known;
    along a direction whose step is not exact, ``x + t d`` rounds each element by up to eps ``|x|``,
    an error of ``x_rounding / t`` in each judged entry (a bound the caller computes from the
    rule's values: exact for a right rule, and a wrong one's claim only makes it undecided).
    ``x_size``: the ``|x|`` an exact step moves; no step goes below ``eps**FINEST`` of it."""
    judge = judge if judge is not None else (_identity, _identity)
    finest = eval_eps**FINEST * x_size
    j0 = judge[0](g0)
    size = xp.abs(g0)
    best_value = xp.zeros_like(j0)
    best_error = xp.full_like(j0, math.inf)
    confirmed = xp.zeros_like(j0, dtype=xp.bool)
    smooth = xp.zeros_like(j0, dtype=xp.bool)
    any_finite = xp.zeros_like(j0, dtype=xp.bool)

    def rung(h: float) -> _Rung | None:
        if exact_step is not None:
            h = exact_step(h)
        if not h > 0 or not math.isfinite(h) or h < finest:
            return None
        return _estimate(g, g0, size, h, eval_eps, xp, judge, x_rounding)

    def decided() -> Array:
        gap = xp.abs(analytic - best_value)
        # an agreement counts once the estimate is precise to the tolerance; until then a smaller
        # (or larger) step may give a better one
        agrees = (gap <= base + 2 * best_error) & (2 * best_error <= base)
        decisive = gap > base + DECISIVE * best_error
        return ~care | (confirmed & (agrees | decisive))

    def walk(factors: list[float]) -> bool:
        """Walk the steps ``h0 * factor``; True once every entry is decided."""
        nonlocal best_value, best_error, confirmed, any_finite, smooth
        before: _Rung | None = None
        previous: _Rung | None = None
        for factor in factors:
            current = rung(h0 * factor)
            if current is None:
                break
            any_finite = any_finite | xp.isfinite(current.value)
            if before is not None and previous is not None:
                # the middle estimate, confirmed by both neighbours: two steps can agree by chance
                # (noise in the evaluations, a feature the larger step half spans), three rarely do
                ok = _confirms(xp, previous, before, floor, eval_eps) & _confirms(
                    xp, previous, current, floor, eval_eps
                )
                # its error is at least its distance to its neighbours: an ill-conditioned forward
                # (a nearly singular solve) is noisy far above eps, and the spread shows it
                spread = xp.maximum(xp.abs(previous.value - before.value), xp.abs(previous.value - current.value))
                error = xp.maximum(previous.error, spread)
                ok = ok & (error < best_error)
                best_value = xp.where(ok, previous.value, best_value)
                best_error = xp.where(ok, error, best_error)
                bends = (previous.bend <= BEND_SHRINK * before.bend) | (previous.bend == 0)
                smooth = xp.where(ok, bends, smooth)
                confirmed = confirmed | ok
                if bool(xp.all(decided())):
                    return True
                # below this step only round-off grows: stop where it dominates every open entry
                noisy = current.roundoff_dominated & previous.roundoff_dominated & xp.isfinite(current.value)
                if bool(xp.all(noisy | decided())):
                    return False
            before, previous = previous, current
        return False

    if not walk([RATIO**k for k in range(RUNGS_DOWN + 1)]):
        walk([RATIO**-k for k in range(RUNGS_UP + 1)])
    open_ = care & ~confirmed
    reason = ""
    if bool(xp.any(open_)):
        if not bool(xp.any(open_ & any_finite)):
            reason = (
                "every step tried leaves the function's domain or overflows (at this input it is finite only"
                " within a distance the steps cannot resolve)"
            )
        else:
            reason = (
                "no two steps give estimates that agree within their error (the function varies faster than"
                " any usable step resolves, or round-off swamps it)"
            )
    return Settled(best_value, best_error, confirmed, reason, smooth)


def _identity(a: Array) -> Array:
    return a


def _confirms(xp: Any, a: _Rung, b: _Rung, floor: float, eval_eps: float) -> Array:
    """Where ``a`` is confirmed by ``b``: both finite, their intervals overlap, and each error is a
    small part of its value (or of the absolute tolerance): a vague estimate confirms nothing."""
    finite = xp.isfinite(a.value) & xp.isfinite(b.value) & xp.isfinite(a.error) & xp.isfinite(b.error)
    zero = xp.zeros_like(a.value)
    av, bv = xp.where(finite, a.value, zero), xp.where(finite, b.value, zero)
    ae, be = xp.where(finite, a.error, zero), xp.where(finite, b.error, zero)
    # (an error estimate can be exactly zero: a linear piece, a kink at the point itself)
    overlap = xp.abs(av - bv) <= 2 * (ae + be) + 16 * eval_eps * (xp.abs(av) + xp.abs(bv))
    precise = (ae <= CONFIRM_FRACTION * (xp.abs(av) + floor)) & (be <= CONFIRM_FRACTION * (xp.abs(bv) + floor))
    return finite & overlap & precise


def _estimate(
    g: Callable[[float], Array],
    g0: Array,
    size: Array,
    h: float,
    eval_eps: float,
    xp: Any,
    judge: tuple[Linear, Linear],
    x_rounding: Array,
) -> _Rung:
    """The estimate at step ``h``: the central stencil, one-sided where only one side is finite.
    ``x_rounding``: the error the rounding of ``x + t d`` may add, times ``h``."""
    linear, absolute = judge
    # differences from g(0) first, projected next, divided by the step last: near overflow the
    # samples (and their projections) are huge, their differences are not
    raw = {s: g(s * h) - g0 for s in (1.0, -1.0, 2.0, -2.0)}
    # round-off comes from the outputs the step moved; an output it left alone adds none
    moved = xp.zeros_like(g0, dtype=xp.bool)
    for delta in raw.values():
        moved = moved | (delta != 0)
    magnitude = absolute(xp.where(moved, eval_eps * size, xp.zeros_like(size)))
    step = {s: linear(delta) for s, delta in raw.items()}
    # g(h) + g(-h) - 2 g(0) over h: h |f''| where f is smooth, the jump in slope at a kink
    bend = absolute(xp.abs(raw[1.0] + raw[-1.0])) / h
    finite = {s: xp.isfinite(v) for s, v in step.items()}
    d1 = (step[1.0] - step[-1.0]) / (2 * h)
    d2 = (step[2.0] - step[-2.0]) / (4 * h)
    value = (4 * d1 - d2) / 3
    truncation = xp.abs(d1 - d2) / 3
    central = finite[1.0] & finite[-1.0] & finite[2.0] & finite[-2.0]
    for side in (1.0, -1.0):
        usable = ~central & finite[side] & finite[2 * side]
        if not bool(xp.any(usable)):
            continue
        farthest = linear(g(4 * side * h) - g0)
        one = (4 * step[side] - step[2 * side]) / (2 * side * h)
        two = (4 * step[2 * side] - farthest) / (4 * side * h)
        use = usable & xp.isfinite(two)
        value = xp.where(use, (4 * one - two) / 3, value)
        truncation = xp.where(use, xp.abs(one - two) / 3, truncation)
    evaluation = 10 * magnitude / h
    error = truncation + evaluation + x_rounding / h
    # (the rounding of x + t d is a bound from the rule's claim, not a measurement: it does not stop the walk)
    dominated = evaluation > truncation  # (an exact estimate, both zero, is not noise)
    bend = xp.where(xp.isfinite(bend), bend, xp.full_like(bend, math.inf))
    return _Rung(value, error, dominated, bend)
