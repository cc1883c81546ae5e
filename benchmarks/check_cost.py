"""Cost of one :func:`gradlab.check_grads` call as the input grows, against one forward + one VJP.

What it measures
----------------
For ``n = 10, 100, 1000, 10000, 10**6`` and two functions with exact VJP and JVP rules,

* ``tanh(x) * x``: elementwise, output of size ``n`` (its Jacobian is diagonal, but gradlab's full
  mode still stores ``n x n`` columns);
* ``sum(softplus(x))``: a scalar loss (output of size 1),

it runs ``check_grads(f, x, vjp=..., jvp=..., mode=M, checks=C)`` for ``M`` in ``full`` and
``projected`` and ``C`` = ``("rev",)`` (``rev``: the rev-only cost) or the default, all four checks
(``all``), and in projected mode the default checks of the VJP alone, ``check_grads(f, x, vjp=...)``
(``vjp``: the ``rev`` and ``form`` checks, reverse mode only, as torch's gradcheck), and reports

* ``evals``: ``report.evaluations`` (forward calls at perturbed inputs) and the forward, VJP and JVP
  calls counted by wrappers around the rules (the ``form`` check calls the forward or a rule a
  second time, to test that it is deterministic, only where no passing check used its values:
  in these passing runs, never);
* ``wall ms``: best wall time (``time.perf_counter``) over several repeats; repeats and inner loops
  are chosen so each size takes about a second at most, a call that takes over a second runs
  twice, one over 15 s once. ``1st call ms`` is the first, cold call (it also counts the calls): in full mode at large
  ``n`` it pays the page faults of gigabytes of fresh memory, which later calls in the same
  process partly reuse;
* ``ratio``: that wall time divided by the wall time of one forward plus one VJP of the same
  function at the same input, measured in the same run (the "floor" a gradient check is compared
  with: a training step costs at least that much).

Full mode is capped at ``n = 10000`` (pass ``--full-limit`` to lower it: the elementwise function
at ``n = 10000`` takes ~40 s and ~12 GB, the ``n x n`` columns of value, error, kink and one-sided
slopes); beyond the cap it prints the number of evaluations it would take and a time extrapolated
as ``n**2`` from the largest measured size.

Where PyTorch is importable, ``torch.autograd.gradcheck(fn, (x,), fast_mode=True)`` on the same
function in float64 is timed too (a row below each size), next to gradlab's projected check of the
very same torch kernels, ``rev``, ``all`` and ``vjp`` as above (the forward, a hand-written VJP
and JVP called through zero-copy NumPy views): torch's fused, threaded softplus is
several times faster than NumPy's ``logaddexp``, and a comparison with gradlab checking the NumPy
function would measure the kernels, not the checkers. Without torch it prints
``torch not installed: skipped``.

Targets (PASS/MISS), projected mode:

* rev check flat in n: the same number of evaluations and VJP calls at every ``n``, and beyond the fixed cost
  of a call (its Python and validation, measured as the wall time at ``n = 10``), a cost in
  proportion to the floor: ``(wall(n) - wall(10)) / floor(n)`` at ``n = 10**6`` at most 2x that
  at ``n = 10**4``. (The plain ratio cannot be flat from ``n = 10``: there the floor is a few
  microseconds and any call with argument checks costs more.)
* rev check at most 4x the forward + VJP floor at ``n = 10**6``;
* rev check faster than torch's fast mode where torch exists;
* the default checks (``all``: ``rev``, ``fwd``, ``adj``, ``form``) at most 1.2x the rev-only
  check, projected mode, at ``n = 10**2, 10**4, 10**6``, on the NumPy function and on the torch
  kernels where torch exists: a compact table gives, per size, the ``rev``, ``all`` and ``vjp`` wall
  times, their ratios to ``rev``, and each against torch's fast mode on the same kernels.

Always exits with 0.

Run: ``python benchmarks/check_cost.py [--full-limit N]`` (about two minutes, ~13 GB of memory at the
default cap).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit

from gradlab import check_grads

SIZES = (10, 100, 1000, 10_000, 1_000_000)
# the sizes of the compact default-vs-rev table and its target
SUMMARY_SIZES = (100, 10_000, 1_000_000)
DEFAULT_OVER_REV_LIMIT = 1.2
FULL_LIMIT = 10_000
ALL_CHECKS = ("rev", "fwd", "adj", "form")
# label: (checks, whether the JVP is given); "vjp" is the default checks of a VJP alone (rev and
# form), what torch's gradcheck checks too (reverse mode), and is timed in projected mode only
CHECK_SETS = {"rev": (("rev",), True), "all": (ALL_CHECKS, True), "vjp": (ALL_CHECKS, False)}
SEED = 0
# timing: inner loops until one measurement takes this long, repeats within this budget
MIN_MEASUREMENT_S = 0.005
BUDGET_S = 1.0
ONCE_ABOVE_S = 1.0
# a call slower than this is not repeated at all (full mode at n = 10000)
NO_REPEAT_ABOVE_S = 15.0
# the stencil (gradlab's default method) spends this many evaluations per element in full mode
FULL_EVALS_PER_ELEMENT = 4

Array = np.ndarray


@dataclass
class Counted:
    """A function with an exact VJP and JVP, each wrapped to count its calls."""

    name: str
    forward: Callable[[Array], Array]
    derivative: Callable[[Array], Array]  # elementwise d out / d x (of the summand for a loss)
    scalar: bool
    calls: dict[str, int] = field(default_factory=lambda: {"f": 0, "vjp": 0, "jvp": 0})

    def f(self, x: Array) -> Array:
        self.calls["f"] += 1
        return self.forward(x)

    def vjp(self, g: Array, out: Array, x: Array) -> Array:
        self.calls["vjp"] += 1
        return g * self.derivative(x)

    def jvp(self, tangents: tuple[Array | None, ...], out: Array, x: Array) -> Array:
        self.calls["jvp"] += 1
        (u,) = tangents
        assert u is not None
        product = u * self.derivative(x)
        return np.asarray(np.sum(product)) if self.scalar else product

    def reset(self) -> None:
        for k in self.calls:
            self.calls[k] = 0


def _tanh_x_derivative(x: Array) -> Array:
    t = np.tanh(x)
    return t + x * (1 - t * t)


def _softplus_loss(x: Array) -> Array:
    return np.asarray(np.sum(np.logaddexp(0.0, x)))


def _functions() -> list[Counted]:
    return [
        Counted("tanh(x) * x  (elementwise, output size n)", lambda x: np.tanh(x) * x, _tanh_x_derivative, False),
        Counted("sum(softplus(x))  (scalar loss)", _softplus_loss, expit, True),
    ]


def best_time(fn: Callable[[], Any], first: float | None = None) -> float:
    """Best wall time of ``fn()`` in seconds: a warm-up call, then loops and repeats within ``BUDGET_S``.

    ``first`` is the time of a warm-up call already made; a call slower than ``ONCE_ABOVE_S`` is
    repeated once only, one slower than ``NO_REPEAT_ABOVE_S`` not at all.
    """
    if first is None:
        start = time.perf_counter()
        fn()
        first = time.perf_counter() - start
    if first >= NO_REPEAT_ABOVE_S:
        return first
    if first >= ONCE_ABOVE_S:
        start = time.perf_counter()
        fn()
        return min(first, time.perf_counter() - start)
    loops = max(1, math.ceil(MIN_MEASUREMENT_S / max(first, 1e-9)))
    repeats = max(1, min(7, int(BUDGET_S / max(first * loops, 1e-9))))
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - start) / loops)
    return best


@dataclass
class Row:
    n: int
    mode: str
    checks: str
    wall: float
    floor: float
    evaluations: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    status: str = ""
    first: float = math.nan
    skipped: str = ""

    @property
    def ratio(self) -> float:
        return self.wall / self.floor


def measure_check(fn: Counted, x: Array, mode: str, label: str, floor: float) -> Row:
    checks, with_jvp = CHECK_SETS[label]
    jvp = fn.jvp if with_jvp else None

    def run() -> Any:
        return check_grads(fn.f, x, vjp=fn.vjp, jvp=jvp, mode=mode, checks=checks, seed=SEED)

    fn.reset()
    start = time.perf_counter()
    report = run()
    first = time.perf_counter() - start
    calls = dict(fn.calls)
    status = "pass" if report.passed else "FAIL"
    return Row(x.size, mode, label, best_time(run, first), floor, report.evaluations, calls, status, first)


def load_torch() -> tuple[Any, str]:
    """PyTorch, or None and why not (a missing or a broken installation)."""
    try:
        import torch
    except ImportError:
        return None, "torch not installed"
    except Exception as exc:  # a half-installed torch raises OSError from its shared libraries
        return None, f"torch not importable ({type(exc).__name__}: {exc})"
    return torch, ""


def _torch_function(torch: Any, fn: Counted) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """``fn``'s forward and its elementwise derivative written with torch operations."""
    if fn.scalar:
        return (lambda v: torch.nn.functional.softplus(v).sum()), torch.sigmoid

    def derivative(v: Any) -> Any:
        t = torch.tanh(v)
        return t + v * (1 - t * t)

    return (lambda v: torch.tanh(v) * v), derivative


@dataclass
class TorchTimes:
    """Best wall times (s) and verdicts on the same torch kernels: ``torch.autograd.gradcheck``
    in fast mode, and gradlab's projected check, rev only and with the default checks."""

    torch: float
    torch_passed: bool
    rev: float
    rev_passed: bool
    default: float  # all four checks (VJP and JVP given)
    default_passed: bool
    vjp: float  # the default checks of the VJP alone: rev and form
    vjp_passed: bool


def torch_timing(torch: Any, fn: Counted, x: Array) -> TorchTimes:
    """Times and verdicts of ``torch.autograd.gradcheck(fast_mode=True)`` on ``fn`` at ``x`` and of
    gradlab's projected check (rev only, and the default checks) on the very same torch kernels.

    gradlab calls the torch forward and hand-written torch VJP and JVP through zero-copy NumPy
    views (``torch.from_numpy`` / ``.numpy()``), so the two checkers differentiate the same function
    with the same kernels: the comparison is of the checkers, not of NumPy against torch.
    """
    forward, derivative = _torch_function(torch, fn)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)

    def run_torch() -> bool:
        return bool(torch.autograd.gradcheck(forward, (xt,), fast_mode=True, raise_exception=False))

    def f(a: Array) -> Array:
        with torch.no_grad():
            return forward(torch.from_numpy(a)).numpy()

    def vjp(g: Array, out: Array, a: Array) -> Array:
        with torch.no_grad():
            return (torch.from_numpy(np.asarray(g)) * derivative(torch.from_numpy(a))).numpy()

    def jvp(tangents: tuple[Array | None, ...], out: Array, a: Array) -> Array:
        (u,) = tangents
        with torch.no_grad():
            product = torch.from_numpy(np.asarray(u)) * derivative(torch.from_numpy(a))
            return (product.sum() if fn.scalar else product).numpy()

    def run_gradlab(label: str) -> Callable[[], bool]:
        checks, with_jvp = CHECK_SETS[label]
        rule = jvp if with_jvp else None
        return lambda: check_grads(f, x, vjp=vjp, jvp=rule, mode="projected", checks=checks, seed=SEED).passed

    runs = [run_torch] + [run_gradlab(label) for label in CHECK_SETS]
    timed = [(best_time(run), run()) for run in runs]
    return TorchTimes(*(value for pair in timed for value in pair))


def _verdict(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def _print_header() -> None:
    print(
        f"{'n':>9} {'mode':<9} {'checks':<6} {'evals':>9} {'f calls':>9} {'vjp':>4} {'jvp':>4} {'status':<6}"
        f" {'1st call ms':>11} {'wall ms':>11} {'f+vjp ms':>10} {'ratio':>9}"
    )


def _print_row(row: Row) -> None:
    prefix = f"{row.n:>9} {row.mode:<9} {row.checks:<6}"
    if row.skipped:
        print(f"{prefix} {row.skipped}")
        return
    print(
        f"{prefix} {row.evaluations:>9} {row.calls['f']:>9} {row.calls['vjp']:>4} {row.calls['jvp']:>4}"
        f" {row.status:<6} {row.first * 1e3:>11.3f} {row.wall * 1e3:>11.3f} {row.floor * 1e3:>10.4f} {row.ratio:>9.1f}"
    )


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def benchmark(fn: Counted, full_limit: int, torch: Any) -> tuple[list[Row], dict[int, TorchTimes]]:
    print(f"f(x) = {fn.name}")
    _print_header()
    rows: list[Row] = []
    torch_times: dict[int, TorchTimes] = {}
    largest_full: dict[str, Row] = {}
    rng = np.random.default_rng(SEED)
    for n in SIZES:
        x = rng.normal(size=n)
        v = np.asarray(1.0) if fn.scalar else rng.normal(size=n)
        floor = best_time(lambda x=x, v=v: fn.vjp(v, fn.forward(x), x))
        for mode in ("full", "projected"):
            for label in CHECK_SETS:
                if mode == "full" and label == "vjp":
                    continue
                if mode == "full" and n > full_limit:
                    evals = FULL_EVALS_PER_ELEMENT * n
                    text = f"skipped: would take ~{evals:,} evaluations"
                    ref = largest_full.get(label)
                    if ref is not None:
                        text += f" (~{_duration(ref.wall * (n / ref.n) ** 2)}, extrapolated as n**2 from n={ref.n})"
                    row = Row(n, mode, label, math.nan, floor, skipped=text)
                else:
                    row = measure_check(fn, x, mode, label, floor)
                    if mode == "full":
                        largest_full[label] = row
                rows.append(row)
                _print_row(row)
        if torch is not None:
            times = torch_times[n] = torch_timing(torch, fn, x)
            print(
                f"{n:>9} same torch kernels: torch gradcheck fast_mode {_verdict(times.torch_passed)}"
                f" {times.torch * 1e3:.3f} ms, gradlab projected rev {_verdict(times.rev_passed)}"
                f" {times.rev * 1e3:.3f} ms, all checks {_verdict(times.default_passed)}"
                f" {times.default * 1e3:.3f} ms, VJP alone {_verdict(times.vjp_passed)} {times.vjp * 1e3:.3f} ms"
            )
    print()
    return rows, torch_times


def report_targets(fn: Counted, rows: list[Row], torch_times: dict[int, TorchTimes], torch_missing: str) -> None:
    def projected(n: int, checks: str = "rev") -> Row:
        return _projected(rows, n, checks)

    smallest, middle, large = SIZES[0], 10_000, SIZES[-1]
    print(f"targets, f(x) = {fn.name}:")
    evals = {n: (projected(n).evaluations, projected(n).calls["vjp"]) for n in SIZES}
    same = len(set(evals.values())) == 1
    fixed = projected(smallest).wall
    # beyond the fixed per-call cost (Python, validation: what n = 10 costs), in units of the floor
    marginal = {n: (projected(n).wall - fixed) / projected(n).floor for n in (middle, large)}
    flat = same and marginal[large] <= 2 * marginal[middle]
    print(
        f"  {_hit(flat)}  projected rev flat in n: {evals[large][0]} evaluations and"
        f" {evals[large][1]} VJP call(s) at every n ({'same' if same else 'NOT the same'});"
        f" beyond the fixed {fixed * 1e3:.2f} ms per call, {marginal[middle]:.1f}x the floor at n={middle:,}"
        f" and {marginal[large]:.1f}x at n={large:,} (limit: 2x growth)"
    )
    r_large = projected(large).ratio
    print(f"  {_hit(r_large <= 4)}  projected rev <= 4x forward+VJP at n={large:,}: ratio {r_large:.1f}")
    print(f"        (all checks, projected, n={large:,}: ratio {projected(large, 'all').ratio:.1f})")
    if not torch_times:
        print(f"  {torch_missing}: skipped (faster than torch.autograd.gradcheck fast_mode)")
    for n, times in torch_times.items():
        print(
            f"  {_hit(times.rev < times.torch)}  n={n:>9,} faster than torch fast_mode (same torch kernels):"
            f" gradlab projected rev {times.rev * 1e3:.3f} ms, torch {times.torch * 1e3:.3f} ms,"
            f" gradlab/torch {times.rev / times.torch:.2f}"
        )
    report_default_cost(fn, rows, torch_times)


def report_default_cost(fn: Counted, rows: list[Row], torch_times: dict[int, TorchTimes]) -> None:
    """The compact table: the default checks against rev only, and each against torch's fast mode."""
    limit = DEFAULT_OVER_REV_LIMIT
    print(f"  default checks vs rev only, projected mode, f(x) = {fn.name}:")
    print(
        f"        {'n':>9} {'kernels':<7} {'rev ms':>9} {'all ms':>9} {'all/rev':>7} {'vjp ms':>9} {'vjp/rev':>7}"
        f" {'torch ms':>9} {'rev/torch':>9} {'all/torch':>9} {'vjp/torch':>9}"
    )
    for n in SUMMARY_SIZES:
        rev, default, vjp = (_projected(rows, n, label).wall for label in CHECK_SETS)
        lines = [("NumPy", rev, default, vjp, None)]
        times = torch_times.get(n)
        if times is not None:
            lines.append(("torch", times.rev, times.default, times.vjp, times.torch))
        for kernels, rev, default, vjp, torch in lines:
            line = (
                f"{n:>9,} {kernels:<7} {rev * 1e3:>9.3f} {default * 1e3:>9.3f} {default / rev:>7.2f}"
                f" {vjp * 1e3:>9.3f} {vjp / rev:>7.2f}"
            )
            if torch is not None:
                line += f" {torch * 1e3:>9.3f} {rev / torch:>9.2f} {default / torch:>9.2f} {vjp / torch:>9.2f}"
            print(f"  {_hit(default <= limit * rev)}  {line}")
    print(
        f"        PASS: all <= {limit}x rev. all: the default checks, VJP and JVP given (rev, fwd, adj, form);"
        " vjp: the default checks of the VJP alone (rev, form); torch: gradcheck fast_mode on torch's kernels"
    )


def _projected(rows: list[Row], n: int, checks: str) -> Row:
    return next(r for r in rows if r.n == n and r.mode == "projected" and r.checks == checks)


def _hit(target_met: bool) -> str:
    return "PASS" if target_met else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-limit", type=int, default=FULL_LIMIT, help="largest n run in full mode")
    args = parser.parse_args()
    start = time.perf_counter()
    print("gradlab.check_grads cost; ratio = check wall time / (one forward + one VJP) wall time, same run")
    print("evals = report.evaluations (perturbed forward calls); f/vjp/jvp calls counted around the rules\n")
    torch, torch_missing = load_torch()
    if torch is None:
        print(f"{torch_missing}: skipped\n")
    else:
        print(f"torch {torch.__version__}: gradcheck(fast_mode=True) timed on the same functions (CPU, float64)\n")
    results = [(fn, *benchmark(fn, args.full_limit, torch)) for fn in _functions()]
    for fn, rows, torch_times in results:
        report_targets(fn, rows, torch_times, torch_missing)
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
