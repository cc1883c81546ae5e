"""Numerical differentiation: finite-difference stencils with error estimates and kink evidence.

The derivative at ``t = 0`` of ``g(t) = f(x + t d)`` is taken from a few samples of ``g``. The
samples are kept, divided by the step, as :class:`Samples`: every quantity the checks need is a
linear combination of them, so they can be *projected* (``<v, samples>``) or *summed over
directions* before anything else is computed, and a projected check never builds
output-sized intermediate arrays. :meth:`Samples.estimate` then gives

* ``value``: the estimate of ``J d``;
* ``error``: an estimate of its own error, truncation (from two steps) plus round-off (from the
  precision ``f`` was evaluated in), which the checks add to their tolerance;
* ``roughness``: the third and fourth differences on the stencil over the step, ``O(h**2)`` where
  ``f`` is smooth and the size of the jump in slope at a kink (wherever it falls in the stencil);
* ``one_sided``: one-sided derivatives; at a kink a subgradient lies in their hull.

Methods:

``stencil`` (default)
    4th-order central stencil on ``t = +-h, +-2h``, ``h = eps**(1/5) * scale``.
``central``
    2nd-order central difference on ``t = +-h``, ``h = eps**(1/3) * scale``; two evaluations.
``richardson``
    Richardson extrapolation to ``h = 0`` of the central differences at ``h, 2h, 3h, 4h`` (8th order,
    the 9-point central stencil), ``h = eps**(1/9) / 2 * scale``, widened while round-off dominates.
``complex``
    complex step ``Im g(i h) / h``, exact to machine precision for complex-safe functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from gradlab import backend

Array = Any
Linear = Callable[[Array], Array]

METHODS = ("stencil", "central", "richardson", "complex")

# exponent of eps in the optimal step for each stencil (truncation h**p against round-off eps/h)
_STEP_EXPONENT = {"central": 1 / 3, "stencil": 1 / 5, "richardson": 1 / 9}
# the 8th-order stencil's truncation constant is small: half the nominal step is more accurate
_STEP_SCALE = {"central": 1.0, "stencil": 1.0, "richardson": 0.5}
# Richardson weights of the central differences (g(kh) - g(-kh)) / 2h, k = 1..4 (8th order) and k = 1..3
_WEIGHTS_8 = (8 / 5, -2 / 5, 8 / 105, -1 / 140)
_WEIGHTS_6 = (3 / 2, -3 / 10, 1 / 30)
_COMPLEX_STEP = 1e-30
# a derivative whose truncation estimate exceeds this fraction of its size is retried with a smaller step
ROUGH_ESTIMATE = 1e-3
STEP_RETRIES = 3
STEP_SHRINK = 16.0


@dataclass(frozen=True)
class Estimate:
    """A numerical derivative with its error estimate and kink evidence (arrays or scalars)."""

    value: Array
    truncation: Array
    roundoff: Array
    roughness: tuple[Array, ...]
    one_sided: tuple[Array, ...]

    @property
    def error(self) -> Array:
        return self.truncation + self.roundoff


@dataclass(frozen=True)
class Samples:
    """Samples of ``g`` divided by the step: ``parts`` per method, ``base = g(0) / h`` and the
    round-off scale ``magnitude = |g(0)| / h``."""

    method: str
    parts: tuple[Array, ...]
    base: Array
    magnitude: Array
    eval_eps: float
    # the samples already projected on the ``weights`` of :func:`adaptive_sample`, for reuse
    judged: Samples | None = None
    judged_weights: Any = None

    def map(self, linear: Linear, absolute: Linear) -> Samples:
        """Apply a linear map (a projection, a scaling) to every sample; ``absolute`` is the same
        map with the weights' magnitudes, for the round-off scale."""
        return replace(
            self,
            parts=tuple(linear(p) for p in self.parts),
            base=linear(self.base),
            magnitude=absolute(self.magnitude),
            judged=None,
            judged_weights=None,
        )

    def __add__(self, other: Samples) -> Samples:
        return replace(
            self,
            parts=tuple(a + b for a, b in zip(self.parts, other.parts, strict=True)),
            base=self.base + other.base,
            magnitude=self.magnitude + other.magnitude,
            judged=None,
            judged_weights=None,
        )

    def estimate(self, xp: Any) -> Estimate:
        if self.method == "complex":
            (value,) = self.parts
            return Estimate(value, 0 * value, self.eval_eps * xp.abs(value), (), ())
        if self.method == "central":
            g1, gm1 = self.parts
            value = (g1 - gm1) / 2
            roundoff = 3 * self.eval_eps * self.magnitude
            return Estimate(value, 0 * value, roundoff, (), (self.base - gm1, g1 - self.base))
        if self.method == "stencil":
            return _stencil(self.parts, self.base, self.magnitude, self.eval_eps, xp)
        inner = _stencil(self.parts[:4], self.base, self.magnitude, self.eval_eps, xp)
        central = [(self.parts[i] - self.parts[i + 1]) / 2 for i in range(0, 8, 2)]
        value = sum(w * d for w, d in zip(_WEIGHTS_8, central, strict=True))
        sixth = sum(w * d for w, d in zip(_WEIGHTS_6, central, strict=False))
        # the 6th-order estimate's error bounds the 8th-order one's truncation
        return Estimate(value, xp.abs(value - sixth), inner.roundoff, inner.roughness, inner.one_sided)


def _stencil(parts: tuple[Array, ...], base: Array, magnitude: Array, eval_eps: float, xp: Any) -> Estimate:
    g1, gm1, g2, gm2 = parts
    d1 = (g1 - gm1) / 2
    d2 = (g2 - gm2) / 4
    # |d1 - d2| / 3 estimates the truncation error of d1; it bounds that of the 4th-order value
    truncation = xp.abs(d1 - d2) / 3
    roundoff = 10 * eval_eps * magnitude
    third = gm2 - 2 * gm1 + 2 * g1 - g2
    fourth = gm2 - 4 * gm1 + 6 * base - 4 * g1 + g2
    one_sided = (base - gm1, g1 - base, (3 * base - 4 * gm1 + gm2) / 2, (-3 * base + 4 * g1 - g2) / 2)
    return Estimate((4 * d1 - d2) / 3, truncation, roundoff, (third, fourth), one_sided)


def step_factor(method: str, eval_eps: float) -> float:
    """Relative step for ``method`` when ``f`` is evaluated with machine epsilon ``eval_eps``."""
    if method == "complex":
        return _COMPLEX_STEP
    return _STEP_SCALE[method] * eval_eps ** _STEP_EXPONENT[method]


def sample(
    g: Callable[[Any], Array], g0: Array, h: float, method: str, eval_eps: float, xp: Any, first: Samples | None = None
) -> Samples:
    """Sample ``g`` around 0 with step ``h`` for ``method`` (``g0 = g(0)`` is known already).

    ``first``: a :func:`first_look` at this very ``h``, whose samples at ``+-h`` are reused."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    base = g0 / h
    magnitude = xp.abs(base)  # h > 0
    if method == "complex":
        return Samples(method, (xp.imag(g(1j * h)) / h,), xp.zeros_like(base), magnitude, eval_eps)
    reach = {"central": 1, "stencil": 2, "richardson": 4}[method]
    parts = first.parts if first is not None else (g(h) / h, g(-h) / h)
    parts += tuple(g(s * k * h) / h for k in range(2, reach + 1) for s in (1, -1))
    return Samples(method, parts, base, magnitude, eval_eps)


def first_look(
    g: Callable[[Any], Array], g0: Array, h: float, eval_eps: float, xp: Any, weights: Array | None = None
) -> Samples:
    """The central difference at ``+-h``, the step of the method it may be refined to.

    Two evaluations instead of four (or eight): where the rule agrees with it, that agreement is the
    evidence, and the checks stop there; where it does not, :func:`adaptive_sample` with
    ``first=`` adds the other points of the stencil (reusing these two), and with them the
    truncation estimate and the kink evidence that tell a wrong rule from a rough function.
    """
    samples = sample(g, g0, h, "central", eval_eps, xp)
    if weights is None:
        return samples
    return replace(samples, judged=samples.map(*projector(xp, weights)), judged_weights=weights)


def adaptive_sample(
    g: Callable[[Any], Array],
    g0: Array,
    h: float,
    method: str,
    eval_eps: float,
    xp: Any,
    weights: Array | None = None,
    first: Samples | None = None,
) -> Samples:
    """:func:`sample`, retried with smaller steps (a bounded number of times) when a perturbed
    point leaves the function's domain (NaN) or the estimate is rough (the function varies on a
    shorter scale than the step, or a kink sits inside the stencil); the best samples are kept.

    ``weights`` ((m,) or (P, m)) project the samples before they are judged, the way the check will
    use them (the projection is kept in ``judged`` for reuse); by default every output element is
    judged. ``first``: a :func:`first_look` at ``h`` whose two samples are reused.
    """
    judge = projector(xp, weights) if weights is not None else None
    best = sample(g, g0, h, method, eval_eps, xp, first if first is not None and method != "complex" else None)
    if method == "richardson":
        best = _best_richardson_step(g, g0, h, best, eval_eps, xp, judge)
    best_judged = best.map(*judge) if judge is not None else best
    best_score = _roughness_score(best_judged, xp)
    for _ in range(STEP_RETRIES):
        if best_score <= ROUGH_ESTIMATE or method == "complex":
            break
        h /= STEP_SHRINK
        candidate = sample(g, g0, h, method, eval_eps, xp)
        judged = candidate.map(*judge) if judge is not None else candidate
        score = _roughness_score(judged, xp)
        if score < best_score:
            best, best_judged, best_score = candidate, judged, score
    if judge is None:
        return best
    return replace(best, judged=best_judged, judged_weights=weights)


def projector(xp: Any, weights: Array) -> tuple[Linear, Linear]:
    """The projection of output-shaped samples on ``weights`` ((m,) or (P, m)), and its absolute twin."""
    magnitudes = xp.abs(weights)
    return (lambda a: backend.dot(xp, weights, a)), (lambda a: backend.dot(xp, magnitudes, a))


def _total_error(samples: Samples, xp: Any, judge: tuple[Linear, Linear] | None) -> float:
    estimate = (samples.map(*judge) if judge is not None else samples).estimate(xp)
    return float(xp.max(xp.reshape(xp.asarray(estimate.error), (-1,))))


def _best_richardson_step(
    g: Callable[[Any], Array], g0: Array, h: float, first: Samples, eval_eps: float, xp: Any, judge: Any
) -> Samples:
    """The 8th-order estimate's best step depends on how fast ``f`` varies: where round-off limits
    it, a wider step is more accurate (try 2x, 4x); where truncation does, a narrower one (1/2, 1/4).
    The smallest estimated error wins."""
    best, best_error = first, _total_error(first, xp, judge)
    for factors in ((2.0, 4.0), (0.5, 0.25)):
        moved = False
        for factor in factors:
            candidate = sample(g, g0, h * factor, "richardson", eval_eps, xp)
            error = _total_error(candidate, xp, judge)
            if not error < best_error:
                break
            best, best_error, moved = candidate, error, True
        if moved:
            break
    return best


def _roughness_score(samples: Samples, xp: Any) -> float:
    estimate = samples.estimate(xp)
    value = xp.reshape(xp.asarray(estimate.value), (-1,))
    if value.shape[0] == 0:
        return 0.0
    if not bool(xp.all(xp.isfinite(value))):
        return float("inf")
    truncation = xp.reshape(xp.asarray(estimate.truncation), (-1,))
    roundoff = xp.reshape(xp.asarray(estimate.roundoff), (-1,))
    # only truncation makes a step too large; an exactly zero derivative is judged against round-off
    scale = xp.abs(value) + 1e-3 * xp.max(xp.abs(value)) + 10 * roundoff + 1e-300
    return float(xp.max(truncation / scale))
