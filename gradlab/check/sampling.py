"""The numerical side of a check: the precision it differences in, its probes, and the samples of the
forward along Jacobian columns or along the probes.

A :class:`Sampler` is made once per :func:`~gradlab.check.grads.check_grads` call. It chooses where
to difference (float64 when a float32 function runs there too), draws the random probes every check
shares (:class:`Probes`), and turns samples of the forward into the
:class:`~gradlab.check.compare.Numeric` values the checks compare with. Full mode streams the
Jacobian one column at a time (nothing of size inputs x outputs is kept); projected mode samples
along each probe once and shares it between the ``rev`` and ``fwd`` checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from gradlab import backend
from gradlab.check.compare import Numeric
from gradlab.check.finite_part import FinitePart
from gradlab.check.numerics import Samples, adaptive_sample, first_look, projector, step_factor
from gradlab.check.probes import Probes, as_float, xp_flat
from gradlab.check.task import Task
from gradlab.errors import GradlabError

Array = Any


# projected mode looks along a probe with the central difference first (two evaluations) and
# completes these methods' stencils only where the rule does not agree with it
QUICK_METHODS = ("stencil", "richardson")


class Sampler:
    """The numerics of one check run: precision, probes, samples and the derivatives they give."""

    def __init__(self, task: Task, out: Array) -> None:
        self.task, self.xp, self.out = task, task.xp, out
        self.evaluations = 0
        # non-finite entries of the inputs and the output are left out (gradlab.check.finite_part)
        self.part = FinitePart.of(self.xp, task.inputs, task.wrt, out)
        self.eval_inputs, g0 = _precision(task, out)
        self.g0 = self.part.output(self.xp, g0)  # g(0) of every derivative, flattened like them
        self.eval_eps = backend.eps(self.xp, self.g0.dtype)
        self.probes = Probes.draw(task, out, self.g0.dtype, self.part)
        # whether samples along a probe are judged by how well <v, J u> is known (when a VJP exists)
        self.judge = False
        # the rule's own rounding in low precision (gradlab.check.rounding), when measured
        self.rounding: Any = None
        self.along_cache: dict[tuple[int, int], Samples] = {}
        self.room_cache: dict[tuple[int, int], float] = {}

    def axis_sizes(self) -> tuple[int, ...]:
        """The sizes of the output's and the inputs' axes: factors a diagnosis may name."""
        inputs = self.task.inputs
        return tuple(self.out.shape) + tuple(s for x in inputs if backend.is_array(x) for s in x.shape)

    # ---- sampling ------------------------------------------------------------------------------

    def evaluate(self, args: list[Any]) -> Array:
        """The flat output at ``args`` (real or complex), the left-out entries zero."""
        self.evaluations += 1
        out = self.task.f(*args)
        if not backend.is_array(out) or tuple(out.shape) != tuple(self.out.shape):
            raise GradlabError(
                f"{self.task.name}: the forward returned {type(out).__name__} of shape"
                f" {getattr(out, 'shape', None)} at a perturbed input, not an array of shape {tuple(self.out.shape)}"
            )
        return self.part.output(self.xp, xp_flat(self.xp, out))

    def _room(self, directions: dict[int, Array]) -> float:
        """A ``t`` that moves no element of any input by more than ``max(1, |x|)``."""
        return min((_step_room(self.xp, self.eval_inputs[i], d) for i, d in directions.items()), default=1.0)

    def along(
        self,
        directions: dict[int, Array],
        judge: Array | None = None,
        room: float | None = None,
        first: Samples | bool | None = None,
    ) -> Samples:
        """Samples of the output (flattened) along ``directions`` (input index -> direction);
        ``room`` is :meth:`_room` of the directions, when known. ``first=True`` takes only a
        :func:`~gradlab.check.numerics.first_look`; ``first=`` such a look refines it to the method."""
        xp = self.xp
        g, h = self.direction_function(directions, room)

        if first is True:
            return first_look(g, self.g0, h, self.eval_eps, xp, judge)
        previous = first if isinstance(first, Samples) else None
        return adaptive_sample(g, self.g0, h, self.task.method, self.eval_eps, xp, judge, previous)

    def direction_function(
        self, directions: dict[int, Array], room: float | None = None
    ) -> tuple[Callable[[Any], Array], float]:
        """``g(t)``: the flat output at the inputs moved by ``t`` along ``directions``, and the
        default step there (``room``: :meth:`_room` of the directions, when known)."""
        xp = self.xp
        h = step_factor(self.task.method, self.eval_eps) * (room if room is not None else self._room(directions))
        base = {i: self._perturbable(i) for i in directions}
        dirs = {i: as_float(xp, d, base[i].dtype) for i, d in directions.items()}

        def g(t: Any) -> Array:
            args = list(self.eval_inputs)
            for i in directions:
                args[i] = backend.axpy(xp, t, dirs[i], base[i])
            return self.evaluate(args)

        return g, h

    def element_function(self, i: int, flat_index: int) -> tuple[Callable[[Any], Array], float, Any]:
        """``g(t)``: the flat output with one element of input ``i`` moved by ``t``; the default
        step there (rounded to the step actually taken); that element's value."""
        xp = self.xp
        base = self._perturbable(i)
        shape = tuple(base.shape)
        work = xp.reshape(backend.copy(xp, base), (-1,))
        x0 = backend.copy(xp, work[flat_index])  # a copy: on CuPy an indexed element is a view
        h = step_factor(self.task.method, self.eval_eps) * max(1.0, abs(complex(x0)))
        if self.task.method != "complex":
            h = float((x0 + h) - x0)  # the step actually taken, after rounding x0 + h

        def g(t: Any) -> Array:
            work[flat_index] = x0 + t
            args = list(self.eval_inputs)
            args[i] = xp.reshape(work, shape)
            try:
                # a copy: the output may be a view of the perturbed input, restored below
                return backend.copy(xp, self.evaluate(args))
            finally:
                work[flat_index] = x0

        return g, h, x0

    def _perturbable(self, i: int) -> Array:
        x = self.eval_inputs[i]
        if self.task.method == "complex":
            return self.xp.astype(x, self.xp.complex128 if x.dtype == self.xp.float64 else self.xp.complex64)
        return x

    def element(self, i: int, flat_index: int, judge: Array | None = None) -> Samples:
        """Samples of the output (flattened) along one element of input ``i``."""
        g, h, _ = self.element_function(i, flat_index)
        return adaptive_sample(g, self.g0, h, self.task.method, self.eval_eps, self.xp, judge)

    def weighted_derivative(self, samples: Samples, weights: Array, hull: bool = True) -> Numeric:
        """The derivative of ``<weights, f>`` from output samples: ``weights`` is one probe (m,)
        or several (P, m). The subgradient hull is taken per Jacobian entry (each entry's one-sided
        derivatives weighted by the probe's sign) before summing."""
        xp = self.xp
        # samples judged with these very weights were projected already
        judged = samples.judged if samples.judged_weights is weights else None
        projected = (judged or samples.map(*projector(xp, weights))).estimate(xp)
        lo = hi = None
        kink = _kink(xp, projected.roughness)
        if hull and samples.method != "complex":
            # per Jacobian entry: the kinks of several outputs must not cancel in the projection
            entries = samples.estimate(xp)
            sides = xp.stack(entries.one_sided)  # (sides, m)
            weighted = xp.expand_dims(weights, axis=-2) * sides  # (..., sides, m)
            lo = xp.sum(xp.min(weighted, axis=-2), axis=-1)
            hi = xp.sum(xp.max(weighted, axis=-2), axis=-1)
            rough = _rough_entries(xp, entries)
            kink = backend.dot(xp, xp.abs(weights), rough) if rough is not None else None
        return Numeric(projected.value, projected.error, kink, lo, hi)

    # ---- full mode: every Jacobian column once --------------------------------------------------

    def full_numerics(self) -> None:
        """Every Jacobian column once: the rev projections per element, the fwd sums per probe."""
        xp, dtype, n_probes = self.xp, self.g0.dtype, self.task.n_probes
        probes = xp.stack(self.probes.v_flat)  # (P, m)
        self.rev_numeric: dict[int, Numeric] = {}
        self.fwd_samples: list[Samples | None] = [None] * n_probes
        self.fwd_hull: list[list[Array]] = [[] for _ in range(n_probes)]
        self.fwd_kink: list[Array | None] = [None] * n_probes
        for i in self.task.wrt:
            rows: list[Numeric | None] = []
            u = [xp_flat(xp, xp.astype(self.probes.u[k][i], dtype)) for k in range(n_probes)]
            frozen = self.part.frozen.get(i)
            left_out = set(np.flatnonzero(backend.to_host(frozen)).tolist()) if frozen is not None else set()
            for j in range(int(self.task.inputs[i].size)):
                if j in left_out:  # a non-finite entry: never moved, compared with zero
                    rows.append(None)
                    continue
                samples = self.element(i, j, probes if self.judge else None)
                rows.append(self.weighted_derivative(samples, probes))
                self._accumulate_fwd(samples, [float(u[k][j]) for k in range(n_probes)])
            self.rev_numeric[i] = stack_numeric(xp, _zeros_where_none(xp, rows, n_probes, dtype), n_probes, dtype)

    def _accumulate_fwd(self, samples: Samples, weights: list[float]) -> None:
        """Add one column, weighted by each probe's entry, to the fwd sums: the samples, and per
        output element the subgradient hull and the kink evidence (in magnitude: the kinks of
        two inputs at one output must not cancel)."""
        xp = self.xp
        entries = samples.estimate(xp) if samples.method != "complex" else None
        sides = xp.stack(entries.one_sided) if entries is not None else None
        rough = _rough_entries(xp, entries) if entries is not None else None
        for k, w in enumerate(weights):
            term = samples.map(_times(w), _times(abs(w)))
            previous = self.fwd_samples[k]
            self.fwd_samples[k] = term if previous is None else previous + term
            if sides is not None:
                lo, hi = xp.min(w * sides, axis=0), xp.max(w * sides, axis=0)
                hull = self.fwd_hull[k]
                self.fwd_hull[k] = [lo, hi] if not hull else [hull[0] + lo, hull[1] + hi]
            if rough is not None:
                kink = self.fwd_kink[k]
                self.fwd_kink[k] = abs(w) * rough if kink is None else kink + abs(w) * rough

    # ---- projected mode: along each probe, shared by rev and fwd --------------------------------

    def projected_samples(self, k: int, i: int, refined: bool = False) -> Samples:
        """Samples along probe ``u[k]`` of input ``i``, computed once and shared by rev and fwd.

        At first only a quick look (the central difference at the method's step) where the method
        has more points; ``refined=True`` completes it to the method, for a check the quick look
        did not pass."""
        key = (k, i)
        samples = self.along_cache.get(key)
        u = self.probes.u[k][i]
        if samples is None:
            self.room_cache[key] = self._room({i: u})
            quick = self.task.method in QUICK_METHODS and not refined
            samples = self.along({i: u}, self._judge(k), self.room_cache[key], first=quick or None)
        elif refined and self.is_quick(samples):
            samples = self.along({i: u}, self._judge(k), self.room_cache[key], first=samples)
        self.along_cache[key] = samples
        return samples

    def _judge(self, k: int) -> Array | None:
        return self.probes.v_flat[k] if self.judge else None

    def is_quick(self, samples: Samples) -> bool:
        """Whether ``samples`` are a quick look that :meth:`projected_samples` can still refine."""
        return samples.method != self.task.method

    def quick_fwd(self, k: int) -> bool:
        """Whether the fwd numerics of probe ``k`` are (partly) a quick look."""
        return self.task.mode == "projected" and any(self.is_quick(self.along_cache[(k, i)]) for i in self.task.wrt)

    def along_probe(self, k: int, refined: bool = False) -> Samples:
        """Projected mode: the samples along all of probe ``u[k]`` (the sum of each input's)."""
        parts = [self.projected_samples(k, i, refined) for i in self.task.wrt]
        if len({part.method for part in parts}) > 1:  # some refined by rev already: refine all
            parts = [self.projected_samples(k, i, refined=True) for i in self.task.wrt]
        samples = parts[0]
        for part in parts[1:]:
            samples = samples + part
        return samples

    def fwd_numeric(self, k: int, refined: bool = False) -> Numeric:
        """The directional derivative ``J u[k]`` (both modes)."""
        xp = self.xp
        kink = None
        if self.task.mode == "full":
            samples, hull, kink = self.fwd_samples[k], self.fwd_hull[k], self.fwd_kink[k]
        else:
            samples, hull = self.along_probe(k, refined), []
        assert samples is not None
        estimate = samples.estimate(xp)
        if not hull and estimate.one_sided:
            sides = xp.stack(estimate.one_sided)
            hull = [xp.min(sides, axis=0), xp.max(sides, axis=0)]
        lo, hi = (hull[0], hull[1]) if hull else (None, None)
        if kink is None:
            kink = _kink(xp, estimate.roughness)
        return Numeric(estimate.value, estimate.error, kink, lo, hi)


def _precision(task: Task, out: Array) -> tuple[list[Any], Array]:
    """The inputs to difference at and the output there, flattened: widened to float64 when the
    function runs there (a float32 function is then differenced without float32 round-off), else
    the inputs as given."""
    xp = task.xp
    flat_out = xp.reshape(out, (-1,))
    low = [i for i, x in enumerate(task.inputs) if backend.is_array(x) and _is_low_float(xp, x.dtype)]
    if task.method == "complex" or not low or not backend.has_float64(xp, backend.device(out)):
        return list(task.inputs), flat_out
    widened = list(task.inputs)
    for i in low:
        widened[i] = xp.astype(task.inputs[i], xp.float64)
    try:
        wide_out = task.f(*widened)
    except Exception:  # the function only runs in its own precision: difference it there
        return list(task.inputs), flat_out
    if (
        backend.is_array(wide_out)
        and wide_out.dtype == xp.float64
        and tuple(wide_out.shape) == tuple(out.shape)
        and bool(xp.all(xp.isfinite(wide_out) == xp.isfinite(out)))
    ):
        return widened, xp.reshape(wide_out, (-1,))
    return list(task.inputs), flat_out


def _is_low_float(xp: Any, dtype: Any) -> bool:
    return backend.is_floating(xp, dtype) and backend.eps(xp, dtype) > 1e-15


def _zeros_where_none(xp: Any, rows: list[Numeric | None], n_probes: int, dtype: Any) -> list[Numeric]:
    """The rows, with zeros (and the fields the others have: the stencil's hull and kink) for the
    entries left out."""
    zero = xp.zeros(n_probes, dtype=dtype)
    template = next((r for r in rows if r is not None), None)
    filler = Numeric(zero, zero) if template is None or template.lo is None else Numeric(zero, zero, zero, zero, zero)
    return [filler if r is None else r for r in rows]


def numeric_fields(n: Numeric) -> tuple[Array | None, ...]:
    return (n.value, n.error, n.kink, n.lo, n.hi)


def numeric_column(n: Numeric, k: int) -> Numeric:
    """Column ``k`` of numerics stacked with one row per element (one column per probe)."""
    value, error, kink, lo, hi = (None if f is None else f[:, k] for f in numeric_fields(n))
    return Numeric(value, error, kink, lo, hi)


def stack_numeric(xp: Any, rows: list[Numeric], probes: int | None, dtype: Any) -> Numeric:
    """Stack per-element numerics into arrays with one row per element."""
    if not rows:
        empty = xp.zeros((0,) if probes is None else (0, probes), dtype=dtype)
        return Numeric(empty, empty)
    columns = zip(*(numeric_fields(r) for r in rows), strict=True)
    value, error, kink, lo, hi = (None if column[0] is None else xp.stack(list(column)) for column in columns)
    return Numeric(value, error, kink, lo, hi)


def _kink(xp: Any, roughness: tuple[Array, ...]) -> Array | None:
    """Non-smoothness from (projected) signed third and fourth differences; None without them."""
    if not roughness:
        return None
    total = xp.abs(roughness[0])
    for r in roughness[1:]:
        total = total + xp.abs(r)
    return total


# an entry is rough when its non-smoothness exceeds what smoothness explains there: 16 x its
# truncation estimate (about 4 x for a smooth function), 100 x its round-off, and a hundredth of its
# own derivative (with a floor of 1e-3 of the largest), so that summing entries cannot add up noise
_SMOOTH_TRUNCATION = 16.0
_SMOOTH_ROUNDOFF = 100.0
_KINK_RELATIVE = 1e-2


def _rough_entries(xp: Any, entries: Any) -> Array | None:
    """Per output entry, its kink evidence where it is rough, zero where smoothness explains it."""
    rough = _kink(xp, entries.roughness)
    if rough is None:
        return None
    size = xp.abs(entries.value)
    scale = size + 1e-3 * (xp.max(size) if size.shape[0] else 0.0)
    smooth = _SMOOTH_TRUNCATION * entries.truncation + _SMOOTH_ROUNDOFF * entries.roundoff + _KINK_RELATIVE * scale
    return xp.where(rough > smooth, rough, xp.zeros_like(rough))


def _step_room(xp: Any, x: Array, d: Array) -> float:
    """``max(1, min |x|) / max |d|``: no element ``j`` moves by more than ``max(1, |x_j|)`` along
    ``t d`` for ``|t|`` up to it (the exact bound, element by element, costs twice as many passes
    over large inputs and differs by at most the spread of the probe's magnitudes, 2x)."""
    if not d.size:
        return math.inf
    d = as_float(xp, d, x.dtype)
    largest = max(float(xp.max(d)), -float(xp.min(d)))
    if largest == 0:
        return math.inf  # a zero direction: no limit
    smallest = float(xp.min(xp.abs(x))) if x.size else 1.0
    return max(1.0, smallest) / largest


def _times(w: float) -> Callable[[Array], Array]:
    return lambda a: w * a
