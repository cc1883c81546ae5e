"""Accuracy of gradlab's numerical derivatives against exact derivatives, next to common baselines.

What it measures
----------------
For each test function and each of 1000 seeded random points, the relative error of a numerical
directional derivative against the exact one. The gradlab methods (``stencil`` = default,
``richardson`` = high accuracy, ``central``, ``complex``) are called through
:func:`gradlab.check.numerics.adaptive_sample` exactly as :mod:`gradlab.check.grads` calls it:
``g(t) = f(x + t d)`` returning a flat float64 (or complex128) array, ``g0 = g(0)`` and the step
``h = step_factor(method, eps) * min_j max(1, |x_j|) / |d_j|`` (for a scalar ``x`` with ``d = 1`` this
is ``step_factor * max(1, |x|)``). The complex step perturbs complex128 inputs with ``t = i h``.

Baselines, measured in the same run:

* ``scipy fprime``: ``scipy.optimize.approx_fprime`` with its default epsilon (forward difference,
  absolute step ``sqrt(eps) ~ 1.5e-8`` per element); the directional derivative is ``grad . d``.
* ``fixed 1e-6``: a central difference with the fixed absolute step ``h = 1e-6`` per element
  (``torch.autograd.gradcheck``'s default), then ``. d``.
* ``f32 fixed 1e-6``: the same fixed-step central difference with the function evaluated in
  float32 at the float32-rounded point (what checkers without widening do for float32 inputs).
* ``f32->gradlab``: gradlab's default (stencil) on the float32 point, evaluated in float64 (what
  :func:`gradlab.check_grads` does for a float32 input whose function also runs in float64).

Both float32 columns are compared with the exact derivative at the float32-rounded point (and the
float32-rounded direction).

Test functions: ``exp``, ``sin``, ``tanh``, ``1/(1+x^2)`` at ``x ~ U[-3, 3]``; ``log`` at
``x ~ U(0.1, 10)``; the softmax cross-entropy ``logsumexp(z) - z[y]`` of ``z ~ N(0, 2^2)`` in R^10 with
the fixed label ``y = 3``, and ``logsumexp(z)``, both along a random direction ``d ~ N(0, 1)``
(exact: ``(softmax(z) - onehot(y)) . d`` and ``softmax(z) . d``). All are written complex-safe
(``np.exp``/``np.log``, max-subtraction on the real part).

Error measure
-------------
The exact derivatives are computed in extended precision (``np.longdouble``, 64-bit mantissa on
x86-64) so that the rounding of the reference itself (up to 0.5 ulp of float64) does not count
against a method; on platforms without extended precision they fall back to float64. The error is

    rel = |num - exact| / max(|exact|, 1e-8 * S)

with ``S`` the largest ``|exact|`` over the 1000 points of that function. The floor only matters
where the exact derivative is nearly zero (``cos`` near +-pi/2, ``-2x/(1+x^2)^2`` near 0, an
accidental cancellation in ``grad . d``): there any finite difference has an absolute error set by
``|f| eps / h``, not by ``|f'|``, and a pure relative error would report the distance to the zero
rather than the method's accuracy. These points show up in the max column, not in the median.

Targets (float64 median relative error, every function): stencil <= 1e-10, richardson <= 1e-13,
complex <= 2e-16. The script always exits with 0 and prints PASS/MISS per target.

Part two: the stress set
------------------------
Every case of :mod:`stress_set` (``benchmarks/stress_set.py``: 40 right derivative rules at hard
inputs, six classes: domain edge, small function scale, large ``|x|`` in periodic functions, near
overflow, ill-conditioned linear algebra, non-finite entries), in float64 and, where the case has
one, float32. One row per case and dtype, the verdicts on the RIGHT rule side by side:

* ``gradlab``: ``check_grads(f, *inputs, vjp=, jvp=).status`` with default settings;
* ``gl full``: the same with ``mode="full"`` (the default picks full mode up to 256 input elements,
  so on these small inputs the two differ only where the default is changed);
* ``torch``: a ``torch.autograd.gradcheck``-style check: the Jacobian from the VJP (unit cotangents,
  row by row) against central differences with the fixed absolute step ``h = 1e-6`` per element,
  computed in the input's dtype, passing where ``|analytic - numeric| <= atol + rtol * |numeric|``
  for every entry with gradcheck's defaults ``atol = 1e-5``, ``rtol = 1e-3``;
* ``jax``: a ``jax.test_util.check_grads``-style check: central differences with JAX's fixed step
  ``EPS = 1e-4`` in the input's dtype (equal samples differ by 0, JAX's ``inf - inf == 0``), both the
  JVP's Jacobian (column by column) and the VJP's (row by row) compared entry by entry with
  ``atol = rtol`` from ``default_gradient_tolerance`` in ``jax/_src/public_test_util.py`` (read at
  jax-ml/jax 055a883; ``check_vjp``/``check_jvp`` merge it into both atol and rtol): 1e-5 for
  float64, 2e-3 for float32. (JAX itself compares one random direction, with the tolerance scaled
  by the size of the compared array; here every Jacobian entry is compared, as gradcheck does.)

A non-finite numerical value, or an exception of the forward at a perturbed point, fails a baseline.
``bug``: gradlab's default verdict on the case's planted bug at the same hard input. A right rule
called ``fail`` is a false alarm; the summary counts them per checker, and the planted bugs each
checker fails (and how many of those at inputs where it did not also fail the right rule).

Run: ``python benchmarks/numerics_accuracy.py`` (under a minute: part one takes 10 to 25 seconds),
or only the stress set with ``--stress-only`` (a few seconds).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import approx_fprime

# run as a script, this file's folder is on sys.path: the stress set is the module beside it
from stress_set import CASES as STRESS_CASES
from stress_set import StressCase, fixed_step_jacobian, jvp_jacobian, vjp_jacobian

from gradlab import check_grads
from gradlab.check.numerics import adaptive_sample, step_factor

N_POINTS = 1000
SEED = 20240607
LABEL = 3
LOGITS = 10
TORCH_EPS = 1e-6
FLOOR = 1e-8
EPS64 = float(np.finfo(np.float64).eps)
LD = np.longdouble if np.finfo(np.longdouble).eps < 1e-18 else np.float64

GRADLAB_METHODS = ("stencil", "richardson", "central", "complex")
BASELINES = ("scipy fprime", "fixed 1e-6", "f32 fixed 1e-6", "f32->gradlab")
TARGETS = (("stencil", "default (stencil)", 1e-10), ("richardson", "high accuracy (richardson)", 1e-13))
TARGETS += (("complex", "complex step", 2e-16),)

Array = np.ndarray


def _logsumexp(z: Array) -> Any:
    m = np.max(z.real)
    return m + np.log(np.sum(np.exp(z - m)))


def _softmax_ld(z: Array) -> Array:
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


@dataclass(frozen=True)
class Case:
    """A test function: complex-safe ``f`` (1-element output), exact gradient, point sampler."""

    name: str
    f: Callable[[Array], Array]
    grad: Callable[[Array], Array]  # exact gradient, evaluated in extended precision
    sample: Callable[[np.random.Generator], tuple[Array, Array]]


def _scalar(name: str, f: Callable[[Array], Array], fprime: Callable[[Array], Array], lo: float, hi: float) -> Case:
    def sample(rng: np.random.Generator) -> tuple[Array, Array]:
        return rng.uniform(lo, hi, size=1), np.ones(1)

    return Case(name, f, fprime, sample)


def _vector(name: str, f: Callable[[Array], Array], grad: Callable[[Array], Array]) -> Case:
    def sample(rng: np.random.Generator) -> tuple[Array, Array]:
        return rng.normal(0.0, 2.0, size=LOGITS), rng.normal(size=LOGITS)

    return Case(name, f, grad, sample)


def _onehot(z: Array) -> Array:
    e = np.zeros_like(z)
    e[LABEL] = 1
    return e


CASES = (
    _scalar("exp", np.exp, np.exp, -3.0, 3.0),
    _scalar("sin", np.sin, np.cos, -3.0, 3.0),
    _scalar("log", np.log, lambda x: 1 / x, 0.1, 10.0),
    _scalar("tanh", np.tanh, lambda x: 1 / np.cosh(x) ** 2, -3.0, 3.0),
    _scalar("1/(1+x^2)", lambda x: 1 / (1 + x * x), lambda x: -2 * x / (1 + x * x) ** 2, -3.0, 3.0),
    _vector(
        "softmax CE",
        lambda z: np.reshape(_logsumexp(z) - z[LABEL], (1,)),
        lambda z: _softmax_ld(z) - _onehot(z),
    ),
    _vector("logsumexp", lambda z: np.reshape(_logsumexp(z), (1,)), _softmax_ld),
)


def _step(factor: float, x: Array, d: Array) -> float:
    """``factor * min_j max(1, |x_j|) / |d_j|``, the step :mod:`gradlab.check.grads` takes along ``d``."""
    ad = np.abs(d)
    room = np.maximum(np.abs(x.real), 1.0)
    return factor * float(np.min(room[ad > 0] / ad[ad > 0]))


def gradlab_derivative(f: Callable[[Array], Array], x: Array, d: Array, method: str) -> float:
    """Directional derivative of ``f`` at ``x`` along ``d`` as gradlab's checks compute it (float64)."""
    if method == "complex":
        x, d = x.astype(np.complex128), d.astype(np.complex128)

    def g(t: float | complex) -> Array:
        return np.reshape(f(x + t * d), (-1,))

    h = _step(step_factor(method, EPS64), x, d)
    value = adaptive_sample(g, g(0.0), h, method, EPS64, np).estimate(np).value
    return float(np.real(value[0]))


def fixed_step(f: Callable[[Array], Array], x: Array, d: Array, h: float, dtype: type) -> float:
    """Central difference with a fixed absolute step per element in ``dtype``, then ``grad . d``.

    Like ``torch.autograd.gradcheck``: ``x[j] +-= h`` in place in the input's precision, the
    difference divided by ``2 h``.
    """
    xs = x.astype(dtype)
    step = dtype(h)
    grad = np.empty(x.size)
    for j in range(x.size):
        plus, minus = xs.copy(), xs.copy()
        plus[j] += step
        minus[j] -= step
        grad[j] = float((f(plus)[0] - f(minus)[0]) / (2 * step))
    return float(grad @ d)


def scipy_fprime(f: Callable[[Array], Array], x: Array, d: Array) -> float:
    grad = approx_fprime(x, lambda v: float(f(v)[0]))
    return float(np.asarray(grad) @ d)


def exact(case: Case, x: Array, d: Array) -> Any:
    return np.sum(case.grad(x.astype(LD)) * d.astype(LD))


def measure(case: Case, seed: int) -> dict[str, tuple[float, float]]:
    """Median and max relative error of every method over ``N_POINTS`` points of ``case``."""
    rng = np.random.default_rng(seed)
    columns = GRADLAB_METHODS + BASELINES
    nums = {c: np.empty(N_POINTS, dtype=LD) for c in columns}
    exact64 = np.empty(N_POINTS, dtype=LD)
    exact32 = np.empty(N_POINTS, dtype=LD)
    for k in range(N_POINTS):
        x, d = case.sample(rng)
        exact64[k] = exact(case, x, d)
        for method in GRADLAB_METHODS:
            nums[method][k] = gradlab_derivative(case.f, x, d, method)
        nums["scipy fprime"][k] = scipy_fprime(case.f, x, d)
        nums["fixed 1e-6"][k] = fixed_step(case.f, x, d, TORCH_EPS, np.float64)
        # the float32 cases: the float32-rounded point and direction, exact derivative there
        x32, d32 = x.astype(np.float32), d.astype(np.float32)
        exact32[k] = exact(case, x32.astype(np.float64), d32.astype(np.float64))
        nums["f32 fixed 1e-6"][k] = fixed_step(case.f, x32, d32.astype(np.float64), TORCH_EPS, np.float32)
        nums["f32->gradlab"][k] = gradlab_derivative(case.f, x32.astype(np.float64), d32.astype(np.float64), "stencil")
    scale = float(np.max(np.abs(exact64)))
    out = {}
    for c in columns:
        ref = exact32 if c.startswith("f32") else exact64
        rel = np.abs(nums[c] - ref) / np.maximum(np.abs(ref), LD(FLOOR * scale))
        out[c] = (float(np.median(rel)), float(np.max(rel)))
    return out


def _table(title: str, columns: tuple[str, ...], results: dict[str, dict[str, tuple[float, float]]]) -> None:
    width = 19
    print(title)
    print(f"{'function':<12}" + "".join(f"{c:>{width}}" for c in columns))
    for name, row in results.items():
        cells = "".join(f"{f'{row[c][0]:.1e} / {row[c][1]:.1e}':>{width}}" for c in columns)
        print(f"{name:<12}{cells}")
    print()


# ---- part two: the stress set --------------------------------------------------------------------

TORCH_TOL = (1e-5, 1e-3)  # torch.autograd.gradcheck's atol, rtol
JAX_EPS = 1e-4  # jax._src.public_test_util.EPS
JAX_TOL = {"float64": 1e-5, "float32": 2e-3}  # default_gradient_tolerance, used as atol and rtol


def _close(analytic: tuple[Array, ...], numeric: tuple[Array, ...], atol: float, rtol: float) -> bool:
    for a, n in zip(analytic, numeric, strict=True):
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(n))):
            return False
        if np.any(np.abs(a - n) > atol + rtol * np.abs(n)):
            return False
    return True


def torch_style(case: StressCase, inputs: tuple[Array, ...], vjp: Callable[..., Any]) -> str:
    """gradcheck's verdict: the VJP's Jacobian against fixed-step central differences (h = 1e-6)."""
    try:
        with np.errstate(all="ignore"):
            analytic = vjp_jacobian(case.f, vjp, inputs)
            numeric = fixed_step_jacobian(case.f, inputs, TORCH_EPS)
    except Exception:  # the forward fails at a perturbed point (a singular matrix)
        return "fail"
    return "pass" if _close(analytic, numeric, *TORCH_TOL) else "fail"


def jax_style(case: StressCase, inputs: tuple[Array, ...], vjp: Callable[..., Any], jvp: Callable[..., Any]) -> str:
    """check_grads' verdict: the JVP's and the VJP's Jacobians against central differences (h = 1e-4)."""
    tol = JAX_TOL[inputs[0].dtype.name]
    try:
        with np.errstate(all="ignore"):
            numeric = fixed_step_jacobian(case.f, inputs, JAX_EPS, safe_sub=True)
            rules = (jvp_jacobian(case.f, jvp, inputs), vjp_jacobian(case.f, vjp, inputs))
    except Exception:
        return "fail"
    return "pass" if all(_close(analytic, numeric, tol, tol) for analytic in rules) else "fail"


@dataclass(frozen=True)
class StressRow:
    case: StressCase
    dtype: str
    gradlab: str
    full: str
    torch: str
    jax: str
    bug: str
    bug_torch: str
    bug_jax: str


def stress_row(case: StressCase, dtype: str) -> StressRow:
    xs = case.inputs_as(dtype)

    def gradlab(vjp: Callable[..., Any], jvp: Callable[..., Any], **options: Any) -> str:
        return check_grads(case.f, *xs, vjp=vjp, jvp=jvp, name=case.name, **options).status

    return StressRow(
        case, dtype,
        gradlab(case.vjp, case.jvp), gradlab(case.vjp, case.jvp, mode="full"),
        torch_style(case, xs, case.vjp), jax_style(case, xs, case.vjp, case.jvp),
        gradlab(case.bug_vjp, case.bug_jvp), torch_style(case, xs, case.bug_vjp),
        jax_style(case, xs, case.bug_vjp, case.bug_jvp),
    )  # fmt: skip


def _mark(status: str) -> str:
    return "FAIL" if status == "fail" else status


def stress_report() -> None:
    start = time.perf_counter()
    rows = [stress_row(case, dtype) for case in STRESS_CASES for dtype in case.dtypes]
    print(f"stress set: {len(STRESS_CASES)} right rules at hard inputs (benchmarks/stress_set.py), {len(rows)} rows")
    print("verdicts on the RIGHT rule (FAIL = false alarm); bug: gradlab (default) on the planted bug there\n")
    for dtype in ("float64", "float32"):
        print(f"{'case':<30}{'class':<10}{'dtype':<9}{'gradlab':<10}{'gl full':<10}{'torch':<8}{'jax':<8}bug")
        for r in rows:
            if r.dtype == dtype:
                cells = f"{_mark(r.gradlab):<10}{_mark(r.full):<10}{_mark(r.torch):<8}{_mark(r.jax):<8}{r.bug}"
                print(f"{r.case.name:<30}{r.case.cls:<10}{r.dtype:<9}{cells}")
        print()
    skipped = [c for c in STRESS_CASES if c.skip32]
    print(f"no float32 variant ({len(skipped)}):")
    for c in skipped:
        print(f"  {c.name}: {c.skip32}")
    print()

    n = len(rows)
    checkers = (("gradlab (default)", "gradlab", "bug"), ("gradlab (full)", "full", None))
    checkers += (("torch-style (h=1e-6)", "torch", "bug_torch"), ("JAX-style (h=1e-4)", "jax", "bug_jax"))
    print(f"summary over {n} case/dtype rows:")
    for label, right, bug in checkers:
        alarms = sum(getattr(r, right) == "fail" for r in rows)
        line = f"  {label:<22} false alarms {alarms:>2}/{n}"
        if bug is not None:
            caught = [r for r in rows if getattr(r, bug) == "fail"]
            clean = sum(getattr(r, right) != "fail" for r in caught)
            line += f"   planted bugs caught {len(caught):>2}/{n} ({clean} where the right rule was not failed too)"
        print(line)
    for label, right in (("gradlab (default)", "gradlab"), ("gradlab (full)", "full")):
        counts = Counter(getattr(r, right) for r in rows)
        print(f"  {label} verdicts on right rules: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"\n({time.perf_counter() - start:.1f} s)")


def accuracy_report() -> None:
    start = time.perf_counter()
    results = {case.name: measure(case, SEED + i) for i, case in enumerate(CASES)}
    print(f"relative error of the directional derivative, median / max over {N_POINTS} points per function")
    print(f"reference in {np.dtype(LD).name}; rel = |num - exact| / max(|exact|, {FLOOR:g} * max|exact|)\n")
    _table("gradlab methods (float64 evaluation)", GRADLAB_METHODS, results)
    _table("baselines (float64) and float32 inputs", BASELINES, results)
    print("targets (float64 median relative error, worst function):")
    for method, label, target in TARGETS:
        worst_name, worst = max(((n, r[method][0]) for n, r in results.items()), key=lambda p: p[1])
        verdict = "PASS" if worst <= target else "MISS"
        line = f"  {verdict}  {label:<28} median <= {target:.0e}: worst {worst:.2e} ({worst_name})"
        misses = [f"{n} {r[method][0] / target:.1f}x" for n, r in results.items() if r[method][0] > target]
        if misses:
            line += "; over target: " + ", ".join(misses)
        print(line)
    print(f"\n({time.perf_counter() - start:.1f} s)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stress-only", action="store_true", help="only part two: the stress set")
    args = parser.parse_args(argv)
    if not args.stress_only:
        accuracy_report()
        print()
    stress_report()


if __name__ == "__main__":
    main()
