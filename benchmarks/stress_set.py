"""A stress set for gradient checkers: right derivative rules at hard inputs (issue #16).

Every case is a function with a VJP and a JVP rule that are *right*, evaluated at an input where
numerical differentiation is hard, together with an exact reference Jacobian (closed form, in
``np.longdouble`` where it helps) that confirms the rule really is right there, and a planted-bug
variant of the rule that measures how much a checker still catches at that input. A checker that
"never cries wolf" calls none of the right rules wrong; one that is also useful catches the bugs.

Why the inputs are hard for gradlab
-----------------------------------
gradlab differentiates element by element (full mode) or along random probes (projected mode)
with a 4th-order central stencil at ``t = +-h, +-2h`` and the step ``h = eps**(1/5) * max(1, |x|)``
per element, ``eps**(1/5) = 7.4e-4`` for float64 (:data:`STEP_FACTOR`). A float32 input whose
function also runs in float64 is widened and differenced in float64 with that same step, so the
float32 variant of a case is hard in the same way (its rule, though, computes in float32). Where the
stencil's own truncation estimate says the step is too large (or a point leaves the domain: NaN),
the step is divided by 16 up to three times. The step is relative to ``max(1, |x|)``, so it fails
wherever the function varies on a scale much shorter than that:

``domain`` (domain edge)
    ``log``, ``sqrt``, ``1/x``, ``x**1.5``, ``log1p``, ``arcsin``, ``arccos`` with entries 1e-12 to
    1e-6 away from the boundary of their domain: the step (7.4e-4, and 1.8e-7 after three
    shrinks) crosses the boundary (NaN), or the derivative changes by orders of magnitude within it.
``scale`` (small function scale)
    ``tanh(x/s)``, ``sin(x/s)``, a Gaussian ``exp(-(x/s)**2)``, a softmax with temperature 1e-3, a
    sigmoid step ``(x - 1000)/0.01`` and a layer normalisation without epsilon at nearly constant
    rows (``1 + 1e-6 * noise``): the function changes on a scale ``s`` far below ``max(1, |x|)``,
    so the step spans many times the scale on which the function varies.
``periodic`` (large ``|x|`` in oscillating functions)
    ``sin``, ``cos``, ``cos(3x)``, ``x sin(x)`` at ``|x|`` from 1e4 to 1e6: the relative step is
    ``7.4e-4 * |x|``, 7 to 740, many periods. Two cases put ``x = 2 pi k / STEP_FACTOR`` so that the
    step is (to rounding) a multiple of the period: every stencil point sees the same value, the
    numerical derivative is 0 up to rounding and so is its truncation estimate (aliasing), and one
    puts ``sin`` at a maximum, where the derivative is ~1e-11.
``overflow`` (near overflow)
    ``exp``, ``cosh``, ``sinh`` at 700 to 709, ``x**2`` near 1.3e154 and ``x**3`` near 5.6e102 (the
    result near 1.8e308), ``softplus`` at 1e4, ``logsumexp`` of values near 700: a step of 0.5 (or
    0.15% of ``x``) overflows to ``inf``, and the stencil's sums of samples of size 1e308 / h can
    overflow even where the samples do not. Most have no float32 variant (the input overflows).
``linalg`` (ill-conditioned linear algebra)
    ``inv(A)``, ``solve(A, b)``, ``det(A)`` and ``log det(A)`` with condition numbers from 1e8 to
    1e12 (unit triangular ``[[1, n], [0, 1]]``, the det-1 integer matrix ``[[n, n-1], [n+1, n]]``,
    a Hilbert matrix, a matrix 2**-20 or 2**-30 from singular): a step of 7.4e-4 * max(1, |a_ij|)
    moves ``A`` across (or next to) a singular matrix, and the result's rounding is amplified by
    the condition number. The rules are the textbook ones; where they run through LAPACK their
    rounding grows with the condition number too (``rule_tol``).
``nonfinite``
    Inputs holding ``inf``, ``-inf`` or ``NaN`` in some entries where the function is still finite
    (``exp(-x)`` at ``inf``, ``arctan``, ``tanh``, a sigmoid at ``+-inf``, a masked softmax with
    ``-inf`` logits, ``where(isfinite(x), x**2, 0)``): the derivative there is 0 (or undefined for
    ``NaN``), the step ``eps**(1/5) * max(1, |x|)`` is itself ``inf``; a checker should check the
    finite part and leave the rest alone.

Each :class:`StressCase` holds the forward ``f`` (NumPy; float32 in, float32 out), the rules in
gradlab's conventions (``vjp(g, out, *inputs)`` returns one cotangent per input, a single array
for one input; ``jvp(tangents, out, *inputs)`` returns the output tangent), the hard ``inputs``
(float64; the float32 variant is the same cast to float32 unless ``skip32`` says why not), the
exact reference ``jacobian(*inputs)``, the planted bug (``bug``, ``bug_vjp``, ``bug_jvp``: both rules
wrong the same way, as when they differentiate a different function) and ``ordinary`` inputs of the
same shapes where the same op is easy, to show that a checker catches the bug there.

Used by ``tests/test_stress.py`` (the rules are right, checkers must not call them wrong, the bugs
are caught at ordinary inputs) and ``benchmarks/numerics_accuracy.py`` (its part two, alone with
``--stress-only``: gradlab against torch- and JAX-style fixed-step checks).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray
Rule = Callable[..., Any]

CLASSES = ("domain", "scale", "periodic", "overflow", "linalg", "nonfinite")
EPS64 = float(np.finfo(np.float64).eps)
# gradlab's default relative step (4th-order stencil): h = STEP_FACTOR * max(1, |x|) per element
STEP_FACTOR = EPS64**0.2
# extended precision for the references where the platform has it (80-bit on x86-64)
LD = np.longdouble if np.finfo(np.longdouble).eps < 1e-18 else np.float64


@dataclass(frozen=True)
class StressCase:
    """A right rule at a hard input, its exact reference Jacobian and a planted bug."""

    name: str
    cls: str  # one of CLASSES
    f: Callable[..., Array]
    vjp: Rule
    jvp: Rule
    inputs: tuple[Array, ...]  # float64, the hard point
    jacobian: Callable[..., tuple[Array, ...]]  # exact: per input, (out.size, x.size) in float64
    bug: str  # what the planted bug does
    bug_vjp: Rule
    bug_jvp: Rule
    ordinary: tuple[Array, ...]  # float64, same shapes, where the op is easy
    why: str  # why the input is hard
    skip32: str | None = None  # why there is no float32 variant
    # how close the rule is to the reference: |rule - ref| <= tol * (|ref| + 1e-3 max|ref|)
    rule_tol: float = 1e-12
    rule_tol32: float = 1e-5

    @property
    def dtypes(self) -> tuple[str, ...]:
        return ("float64",) if self.skip32 else ("float64", "float32")

    def inputs_as(self, dtype: str, ordinary: bool = False) -> tuple[Array, ...]:
        """The hard (or ordinary) inputs cast to ``dtype``."""
        xs = self.ordinary if ordinary else self.inputs
        return tuple(np.asarray(x, dtype=dtype) for x in xs)


# ---- helpers -------------------------------------------------------------------------------------


def _ld(x: Array) -> Array:
    return np.asarray(x, dtype=np.float64).astype(LD)


def _diag(d: Array) -> tuple[Array, ...]:
    return (np.diag(np.asarray(d, dtype=LD).reshape(-1)).astype(np.float64),)


def _safe(x: Array) -> Array:
    """``x`` with its non-finite entries replaced by 0 (rules then pick 0 there without warnings)."""
    return np.where(np.isfinite(x), x, np.zeros_like(x))


def _unary(
    name: str,
    cls: str,
    fn: Callable[[Array], Array],
    d: Callable[[Array, Array], Array],
    ref: Callable[[Array], Array],
    x: list[float],
    bug: str,
    bug_d: Callable[[Array, Array], Array],
    ordinary: list[float],
    why: str,
    **extra: Any,
) -> StressCase:
    """An elementwise case: ``d(x, out)`` the derivative (in x's dtype), ``ref(x)`` it in long double."""

    def f(x: Array) -> Array:
        return fn(x)

    def vjp(g: Array, out: Array, x: Array) -> Array:
        return g * d(x, out)

    def jvp(t: tuple[Array, ...], out: Array, x: Array) -> Array:
        return t[0] * d(x, out)

    def bug_vjp(g: Array, out: Array, x: Array) -> Array:
        return g * bug_d(x, out)

    def bug_jvp(t: tuple[Array, ...], out: Array, x: Array) -> Array:
        return t[0] * bug_d(x, out)

    f.__name__ = name
    return StressCase(
        name, cls, f, vjp, jvp, (np.array(x, dtype=np.float64),), lambda x: _diag(ref(_ld(x))),
        bug, bug_vjp, bug_jvp, (np.array(ordinary, dtype=np.float64),), why, **extra,
    )  # fmt: skip


def _sigmoid(x: Array) -> Array:
    """The logistic function without overflow (and exact 0 and 1 at -inf and inf)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softmax(z: Array) -> Array:
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _softmax_jacobian(p: Array) -> Array:
    """Block-diagonal Jacobian of a softmax over the last axis with output ``p`` (long double)."""
    p = np.asarray(p, dtype=LD)
    rows = p.reshape(-1, p.shape[-1])
    n, m = rows.shape
    jac = np.zeros((n * m, n * m), dtype=LD)
    for r, q in enumerate(rows):
        jac[r * m : (r + 1) * m, r * m : (r + 1) * m] = np.diag(q) - np.outer(q, q)
    return jac


def _inv_ld(a: Array) -> Array:
    """The inverse in long double: the closed form for 2x2, Gauss-Jordan with partial pivoting
    otherwise (exact for the unit triangular integer matrices used here)."""
    a = _ld(a)
    n = a.shape[0]
    if n == 2:
        det = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
        return np.array([[a[1, 1], -a[0, 1]], [-a[1, 0], a[0, 0]]], dtype=LD) / det
    m = np.concatenate([a, np.eye(n, dtype=LD)], axis=1)
    for c in range(n):
        p = c + int(np.argmax(np.abs(m[c:, c])))
        m[[c, p]] = m[[p, c]]
        m[c] = m[c] / m[c, c]
        for r in range(n):
            if r != c:
                m[r] = m[r] - m[r, c] * m[c]
    return m[:, n:]


def _det_ld(a: Array) -> Any:
    """The determinant in long double by elimination with partial pivoting."""
    m = _ld(a).copy()
    n, det = m.shape[0], LD(1)
    for c in range(n):
        p = c + int(np.argmax(np.abs(m[c:, c])))
        if p != c:
            m[[c, p]] = m[[p, c]]
            det = -det
        det = det * m[c, c]
        m[c + 1 :] = m[c + 1 :] - np.outer(m[c + 1 :, c] / m[c, c], m[c])
    return det


def _cofactor(a: Array) -> Array:
    """The cofactor matrix (the gradient of det) of a 2x2 or 3x3 matrix from its minors, in a's dtype."""
    if a.shape == (2, 2):
        return np.stack([np.stack([a[1, 1], -a[1, 0]]), np.stack([-a[0, 1], a[0, 0]])])
    rows = []
    for i in range(3):
        r0, r1 = [k for k in range(3) if k != i]
        row = []
        for j in range(3):
            c0, c1 = [k for k in range(3) if k != j]
            minor = a[r0, c0] * a[r1, c1] - a[r0, c1] * a[r1, c0]
            row.append(minor if (i + j) % 2 == 0 else -minor)
        rows.append(np.stack(row))
    return np.stack(rows)


def _inv_jacobian(a: Array) -> tuple[Array, ...]:
    b = _inv_ld(a)
    n = b.shape[0]
    return ((-np.einsum("ik,lj->ijkl", b, b)).reshape(n * n, n * n).astype(np.float64),)


def _solve_jacobian(a: Array, rhs: Array) -> tuple[Array, ...]:
    b = _inv_ld(a)
    x = b @ _ld(rhs)
    n = b.shape[0]
    return (-np.einsum("ik,l->ikl", b, x).reshape(n, n * n).astype(np.float64), b.astype(np.float64))


def _hilbert(n: int) -> Array:
    i = np.arange(n, dtype=np.float64)
    return 1.0 / (i[:, None] + i[None, :] + 1.0)


# ---- the rules of the non-elementwise ops ------------------------------------------------------------


def _inv(a: Array) -> Array:
    return np.linalg.inv(a)


def _inv_vjp(g: Array, out: Array, a: Array) -> Array:
    return -(out.T @ g @ out.T)


def _inv_jvp(t: tuple[Array, ...], out: Array, a: Array) -> Array:
    return -(out @ t[0] @ out)


def _inv_bug_vjp(g: Array, out: Array, a: Array) -> Array:
    return -(out @ g @ out)  # the transposes forgotten


def _inv_bug_jvp(t: tuple[Array, ...], out: Array, a: Array) -> Array:
    return -(out.T @ t[0] @ out.T)  # the adjoint of the bug above


def _solve(a: Array, b: Array) -> Array:
    return np.linalg.solve(a, b)


def _solve_vjp(g: Array, out: Array, a: Array, b: Array) -> tuple[Array, Array]:
    gb = np.linalg.solve(a.T, g)
    return -np.outer(gb, out), gb


def _solve_jvp(t: tuple[Array, ...], out: Array, a: Array, b: Array) -> Array:
    return np.linalg.solve(a, t[1] - t[0] @ out)


def _solve_bug_vjp(g: Array, out: Array, a: Array, b: Array) -> tuple[Array, Array]:
    gb = np.linalg.solve(a.T, g)
    return np.outer(gb, out), gb  # sign of the matrix cotangent


def _solve_bug_jvp(t: tuple[Array, ...], out: Array, a: Array, b: Array) -> Array:
    return np.linalg.solve(a, t[1] + t[0] @ out)


def _det(a: Array) -> Array:
    return np.reshape(np.linalg.det(a), (1,))


def _det_vjp(g: Array, out: Array, a: Array) -> Array:
    return g * _cofactor(a)


def _det_jvp(t: tuple[Array, ...], out: Array, a: Array) -> Array:
    return np.reshape(np.sum(_cofactor(a) * t[0]), (1,))


def _det_bug_vjp(g: Array, out: Array, a: Array) -> Array:
    return g * _cofactor(a).T  # the adjugate instead of its transpose


def _det_bug_jvp(t: tuple[Array, ...], out: Array, a: Array) -> Array:
    return np.reshape(np.sum(_cofactor(a).T * t[0]), (1,))


def _det_unsigned_vjp(g: Array, out: Array, a: Array) -> Array:
    return g * _cofactor(a) * _CHECKERBOARD.astype(a.dtype)  # the minors without their signs


def _det_unsigned_jvp(t: tuple[Array, ...], out: Array, a: Array) -> Array:
    return np.reshape(np.sum(_cofactor(a) * _CHECKERBOARD.astype(a.dtype) * t[0]), (1,))


_CHECKERBOARD = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, -1.0], [1.0, -1.0, 1.0]])


def _det_jacobian(a: Array) -> tuple[Array, ...]:
    return ((_det_ld(a) * _inv_ld(a).T).reshape(1, -1).astype(np.float64),)


def _logdet(a: Array) -> Array:
    sign, logabs = np.linalg.slogdet(a)
    logabs = np.reshape(logabs, (1,))
    return np.where(np.reshape(sign, (1,)) > 0, logabs, np.nan)  # log det is defined for det > 0


def _logdet_vjp(g: Array, out: Array, a: Array) -> Array:
    return g * np.linalg.inv(a).T


def _logdet_jvp(t: tuple[Array, ...], out: Array, a: Array) -> Array:
    return np.reshape(np.sum(np.linalg.inv(a).T * t[0]), (1,))


def _logdet_bug_vjp(g: Array, out: Array, a: Array) -> Array:
    return g * np.diag(np.diag(np.linalg.inv(a)))  # only the diagonal of A^-T


def _logdet_bug_jvp(t: tuple[Array, ...], out: Array, a: Array) -> Array:
    return np.reshape(np.sum(np.diag(np.linalg.inv(a)) * np.diag(t[0])), (1,))


def _logdet_jacobian(a: Array) -> tuple[Array, ...]:
    return (_inv_ld(a).T.reshape(1, -1).astype(np.float64),)


def _layernorm(x: Array) -> Array:
    c = x - np.mean(x, axis=-1, keepdims=True)
    return c / np.sqrt(np.mean(c * c, axis=-1, keepdims=True))


def _std(x: Array) -> Array:
    c = x - np.mean(x, axis=-1, keepdims=True)
    return np.sqrt(np.mean(c * c, axis=-1, keepdims=True))


def _layernorm_vjp(g: Array, out: Array, x: Array) -> Array:
    mean = np.mean(g, axis=-1, keepdims=True)
    return (g - mean - out * np.mean(g * out, axis=-1, keepdims=True)) / _std(x)


def _layernorm_jvp(t: tuple[Array, ...], out: Array, x: Array) -> Array:
    return _layernorm_vjp(t[0], out, x)  # the Jacobian of each row is symmetric


def _layernorm_bug_vjp(g: Array, out: Array, x: Array) -> Array:
    return (g - np.mean(g, axis=-1, keepdims=True)) / _std(x)  # forgets the variance term


def _layernorm_bug_jvp(t: tuple[Array, ...], out: Array, x: Array) -> Array:
    return _layernorm_bug_vjp(t[0], out, x)


def _layernorm_jacobian(x: Array) -> tuple[Array, ...]:
    rows = _ld(x).reshape(-1, x.shape[-1])
    n, m = rows.shape
    jac = np.zeros((n * m, n * m), dtype=LD)
    for r, row in enumerate(rows):
        c = row - np.sum(row) / m
        s = np.sqrt(np.sum(c * c) / m)
        y = c / s
        jac[r * m : (r + 1) * m, r * m : (r + 1) * m] = (np.eye(m, dtype=LD) - 1 / LD(m) - np.outer(y, y) / m) / s
    return (jac.astype(np.float64),)


TEMPERATURE = 1e-3


def _tempered_softmax(z: Array) -> Array:
    return _softmax(z / TEMPERATURE)


def _tempered_vjp(g: Array, out: Array, z: Array) -> Array:
    return out * (g - np.sum(g * out, axis=-1, keepdims=True)) / TEMPERATURE


def _tempered_jvp(t: tuple[Array, ...], out: Array, z: Array) -> Array:
    return _tempered_vjp(t[0], out, z)  # the softmax Jacobian is symmetric


def _tempered_bug_vjp(g: Array, out: Array, z: Array) -> Array:
    return out * g / TEMPERATURE  # drops the -p <g, p> term


def _tempered_bug_jvp(t: tuple[Array, ...], out: Array, z: Array) -> Array:
    return _tempered_bug_vjp(t[0], out, z)


def _masked_softmax_vjp(g: Array, out: Array, z: Array) -> Array:
    return out * (g - np.sum(g * out, axis=-1, keepdims=True))


def _masked_softmax_jvp(t: tuple[Array, ...], out: Array, z: Array) -> Array:
    return _masked_softmax_vjp(t[0], out, z)


def _masked_softmax_bug_vjp(g: Array, out: Array, z: Array) -> Array:
    return out * g  # drops the -p <g, p> term


def _masked_softmax_bug_jvp(t: tuple[Array, ...], out: Array, z: Array) -> Array:
    return out * t[0]


def _logsumexp(z: Array) -> Array:
    m = np.max(z)
    return np.reshape(m + np.log(np.sum(np.exp(z - m))), (1,))


def _logsumexp_vjp(g: Array, out: Array, z: Array) -> Array:
    return g * _softmax(z)


def _logsumexp_jvp(t: tuple[Array, ...], out: Array, z: Array) -> Array:
    return np.reshape(np.sum(_softmax(z) * t[0]), (1,))


def _logsumexp_bug_vjp(g: Array, out: Array, z: Array) -> Array:
    return g * np.exp(z - np.max(z))  # the weights not normalised


def _logsumexp_bug_jvp(t: tuple[Array, ...], out: Array, z: Array) -> Array:
    return np.reshape(np.sum(np.exp(z - np.max(z)) * t[0]), (1,))


def _aliased(k: list[int]) -> list[float]:
    """Points where gradlab's default step ``STEP_FACTOR * x`` is ``2 pi k``: a whole number of periods."""
    return [2 * math.pi * j / STEP_FACTOR for j in k]


# ---- the cases -----------------------------------------------------------------------------------

_ONE = 1 - 1e-9
_NEAR = 1 - 2.0**-20  # 1 - 9.5e-7, representable in float32
_NO32_ONE = "1 - 1e-9 rounds to 1 in float32, where the derivative is infinite"
_S_TANH, _S_SIN, _S_GAUSS, _S_STEP, _C_STEP = 1e-4, 1e-5, 1e-3, 1e-2, 1000.0
_PEAK = math.pi / 2 + 2 * math.pi * 159155  # sin has a maximum here (x ~ 1e6): cos(x) ~ 1e-11
_RNG = np.random.default_rng(20250116)
_FLAT_ROWS = 1.0 + 1e-6 * _RNG.standard_normal((2, 5))
_ORDINARY_ROWS = _RNG.standard_normal((2, 5))
_ORDINARY_A2 = np.array([[2.0, 0.5], [-0.3, 1.5]])
_ORDINARY_A3 = np.array([[2.0, 0.5, 0.1], [-0.3, 1.5, 0.4], [0.2, -0.1, 1.0]])
_ORDINARY_SPD = np.array([[2.0, 0.3], [0.3, 1.0]])
_N2, _N3 = 1e4, 1e4
_TRI2 = np.array([[1.0, _N2], [0.0, 1.0]])  # cond 1e8, exact inverse [[1, -n], [0, 1]]
_TRI3 = np.array([[1.0, _N3, 0.0], [0.0, 1.0, _N3], [0.0, 0.0, 1.0]])  # cond 1e12
_INT2 = np.array([[_N2, _N2 - 1], [_N2 + 1, _N2]])  # det 1, cond 4e8
_SOLVE_TRI = np.array([[1.0, 1e3, 0.0], [0.0, 1.0, 1e3], [0.0, 0.0, 1.0]])  # cond 1e9
_SING3 = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0 + 2.0**-20]])  # det -3 * 2**-20
_SPD_NEAR = np.array([[1.0, 1.0], [1.0, 1.0 + 2.0**-30]])  # det 2**-30, cond 4e9

CASES: tuple[StressCase, ...] = (
    # ---- domain edge
    _unary(
        "log_near_0", "domain", np.log, lambda x, out: 1 / x, lambda x: 1 / x, [1e-8, 1e-12, 2.0],
        "factor 1.1", lambda x, out: 1.1 / x, [0.5, 1.3, 2.0],
        "the step 7.4e-4 (1.8e-7 after three shrinks) crosses 0 at 1e-8 and 1e-12",
    ),
    _unary(
        "sqrt_near_0", "domain", np.sqrt, lambda x, out: 0.5 / out, lambda x: 0.5 / np.sqrt(x), [1e-12, 1e-8, 4.0],
        "drops the 1/2: 1/sqrt(x)", lambda x, out: 1 / out, [0.5, 1.3, 2.0],
        "the stencil points below x leave the domain (NaN) at any step above x; the derivative is 5e5 and 5e3",
    ),
    _unary(
        "reciprocal_near_0", "domain", lambda x: 1 / x, lambda x, out: -(out * out), lambda x: -1 / (x * x),
        [1e-6, -1e-7, 3.0], "sign: +1/x**2", lambda x, out: out * out, [0.5, -1.5, 2.0],
        "the step crosses the pole at 0; the derivative is -1e12 and -1e14",
    ),
    _unary(
        "pow1.5_near_0", "domain", lambda x: x**1.5, lambda x, out: 1.5 * np.sqrt(x), lambda x: 1.5 * np.sqrt(x),
        [1e-9, 1e-12, 2.0], "drops the factor 1.5", lambda x, out: np.sqrt(x), [0.5, 1.3, 2.0],
        "x**1.5 is NaN for x < 0, one step away; the derivative 1.5 sqrt(x) is 5e-5 and 1.5e-6",
    ),
    _unary(
        "log1p_near_neg1", "domain", np.log1p, lambda x, out: 1 / (1 + x), lambda x: 1 / (1 + x),
        [-1 + 1e-9, -1 + 1e-6, 0.5], "the derivative of log: 1/x", lambda x, out: 1 / x, [-0.5, 0.5, 1.5],
        "1 + x is 1e-9 and 1e-6: the step crosses -1 (NaN)",
        skip32="-1 + 1e-9 rounds to -1 in float32, where log1p is -inf",
    ),
    _unary(
        "arcsin_near_1", "domain", np.arcsin, lambda x, out: 1 / np.sqrt((1 - x) * (1 + x)),
        lambda x: 1 / np.sqrt((1 - x) * (1 + x)), [_ONE, -_ONE, 0.3],
        "drops the (1 + x) factor: 1/sqrt(1 - x)", lambda x, out: 1 / np.sqrt(1 - x), [0.5, -0.6, 0.3],
        "1 -+ x is 1e-9: the step leaves [-1, 1] (NaN); the derivative is 2.2e4", skip32=_NO32_ONE,
    ),
    _unary(
        "arccos_near_1", "domain", np.arccos, lambda x, out: -1 / np.sqrt((1 - x) * (1 + x)),
        lambda x: -1 / np.sqrt((1 - x) * (1 + x)), [_NEAR, -_NEAR, -0.6],
        "sign: +1/sqrt(1 - x**2)", lambda x, out: 1 / np.sqrt((1 - x) * (1 + x)), [0.5, -0.6, 0.3],
        "1 -+ x is 9.5e-7 (representable in float32): the step leaves [-1, 1] (NaN); the derivative is 724",
    ),
    # ---- small function scale
    _unary(
        "tanh_x_over_1e-4", "scale", lambda x: np.tanh(x / _S_TANH),
        lambda x, out: 1 / (_S_TANH * np.cosh(x / _S_TANH) ** 2),
        lambda x: (1 - np.tanh(x / LD(_S_TANH)) ** 2) / LD(_S_TANH), [2e-4, -2e-4, 5e-5],
        "1 - tanh instead of 1 - tanh**2", lambda x, out: (1 - out) / _S_TANH,
        [0.5 * _S_TANH, -1.2 * _S_TANH, 2 * _S_TANH],
        "tanh varies on the scale 1e-4, the step is 7.4e-4 (4.6e-5 after one shrink)", rule_tol=1e-11,
    ),
    _unary(
        "sin_x_over_1e-5", "scale", lambda x: np.sin(x / _S_SIN), lambda x, out: np.cos(x / _S_SIN) / _S_SIN,
        lambda x: np.cos(x / LD(_S_SIN)) / LD(_S_SIN), [1e-5, 3e-5, -2.2e-5], "factor 1.1",
        lambda x, out: 1.1 * np.cos(x / _S_SIN) / _S_SIN, [0.5 * _S_SIN, -1.3 * _S_SIN, 2 * _S_SIN],
        "the period is 6.3e-5, the step 7.4e-4: 12 periods (and 0.7 after one shrink)", rule_tol=1e-11,
    ),
    _unary(
        "gaussian_x_over_1e-3", "scale", lambda x: np.exp(-((x / _S_GAUSS) ** 2)),
        lambda x, out: -2 * (x / _S_GAUSS) / _S_GAUSS * out,
        lambda x: -2 * x / LD(_S_GAUSS) ** 2 * np.exp(-((x / LD(_S_GAUSS)) ** 2)), [1e-3, -5e-4, 2e-3],
        "sign: +2 x/s**2 exp(-(x/s)**2)", lambda x, out: 2 * (x / _S_GAUSS) / _S_GAUSS * out,
        [0.5 * _S_GAUSS, -1.2 * _S_GAUSS, 2 * _S_GAUSS],
        "the bump has width 1e-3, the step 7.4e-4 and 1.5e-3: far beyond the Taylor range", rule_tol=1e-11,
    ),
    _unary(
        "sigmoid_step_at_1000", "scale", lambda x: 0.5 * (1 + np.tanh((x - _C_STEP) / (2 * _S_STEP))),
        lambda x, out: 1 / (4 * _S_STEP * np.cosh((x - _C_STEP) / (2 * _S_STEP)) ** 2),
        lambda x: _sigmoid((x - LD(_C_STEP)) / LD(_S_STEP)) * _sigmoid(-(x - LD(_C_STEP)) / LD(_S_STEP)) / LD(_S_STEP),
        [1000.005, 999.99, 1000.0], "the argument's 2 dropped: cosh((x - c)/s)",
        lambda x, out: 1 / (4 * _S_STEP * np.cosh((x - _C_STEP) / _S_STEP) ** 2),
        [1000.005, 999.99, 1000.02],
        "a step of width 0.01 at x = 1000: the relative step is 0.74, 74 widths", rule_tol=1e-9, rule_tol32=1e-4,
    ),
    StressCase(
        "layernorm_no_eps_flat_rows", "scale", _layernorm, _layernorm_vjp, _layernorm_jvp, (_FLAT_ROWS,),
        _layernorm_jacobian, "forgets the variance term", _layernorm_bug_vjp, _layernorm_bug_jvp,
        (_ORDINARY_ROWS,),
        "rows 1 + 1e-6 * noise: (x - mean)/std varies on the scale 1e-6, the step is 7.4e-4",
        skip32="the deviations 1e-6 are 8 float32 ulps of 1: the float32 forward and rule keep one digit",
        rule_tol=1e-8,
    ),
    StressCase(
        "softmax_temperature_1e-3", "scale", _tempered_softmax, _tempered_vjp, _tempered_jvp,
        (np.array([[1e-3, 1.5e-3, -2e-3, 1.2e-3]]),),
        lambda z: ((_softmax_jacobian(_softmax(_ld(z) / LD(TEMPERATURE))) / LD(TEMPERATURE)).astype(np.float64),),
        "drops the -p <g, p> term", _tempered_bug_vjp, _tempered_bug_jvp,
        (np.array([[0.5e-3, -1.3e-3, 2e-3, 0.9e-3]]),),
        "logits ~1e-3 at temperature 1e-3: the step 7.4e-4 moves a scaled logit z/T by 0.74", rule_tol=1e-11,
    ),
    # ---- large |x| in periodic functions
    _unary(
        "sin_large_x", "periodic", np.sin, lambda x, out: np.cos(x), np.cos, [1e4, -2.5e5, 1e6 + 0.5],
        "sign: -cos(x)", lambda x, out: -np.cos(x), [0.5, -1.3, 2.0],
        "the step 7.4e-4 |x| is 7.4 to 740: 1 to 118 periods",
    ),
    _unary(
        "sin_step_aliased", "periodic", np.sin, lambda x, out: np.cos(x), np.cos, _aliased([1, 10, 100]),
        "factor 1.1", lambda x, out: 1.1 * np.cos(x), [0.5, -1.3, 2.0],
        "x = 2 pi k / 7.4e-4 (k = 1, 10, 100): the step is k whole periods, every stencil point sees sin(x),"
        " the numerical derivative is 0 with a truncation estimate of 0",
    ),
    _unary(
        "cos_step_aliased", "periodic", np.cos, lambda x, out: -np.sin(x), lambda x: -np.sin(x),
        _aliased([2, 25, 110]), "sign: +sin(x)", lambda x, out: np.sin(x), [0.5, -1.3, 2.0],
        "x = 2 pi k / 7.4e-4 (k = 2, 25, 110): the step and twice it are whole periods",
    ),
    _unary(
        "cos_3x_large_x", "periodic", lambda x: np.cos(3 * x), lambda x, out: -3 * np.sin(3 * x),
        lambda x: -3 * np.sin(3 * x), [1e4 + 0.25, -7.5e4, 3.3e5], "drops the chain-rule factor 3",
        lambda x, out: -np.sin(3 * x), [0.5, -1.3, 2.0],
        "the step 7.4e-4 |x| spans 3.5 to 117 periods of cos(3x); 3x is exact in float32 at these x",
    ),
    _unary(
        "x_sin_x_large_x", "periodic", lambda x: x * np.sin(x), lambda x, out: np.sin(x) + x * np.cos(x),
        lambda x: np.sin(x) + x * np.cos(x), [1.2e4, -3e4, 5e5],
        "drops the product rule's sin(x) (a relative 1e-4 to 2e-6 here)", lambda x, out: x * np.cos(x),
        [0.5, -1.3, 2.0], "the step spans 1 to 60 periods; the amplitude grows with x",
    ),
    _unary(
        "sin_at_peak_1e6", "periodic", np.sin, lambda x, out: np.cos(x), np.cos, [_PEAK, 3e5, -7e5],
        "factor 1.1", lambda x, out: 1.1 * np.cos(x), [0.5, -1.3, 2.0],
        "sin has a maximum at the first entry: cos(x) = 2.7e-11, below the float64 atol, and the step is 740",
        rule_tol=1e-11,
    ),
    # ---- near overflow
    _unary(
        "exp_near_overflow", "overflow", np.exp, lambda x, out: out, np.exp, [700.0, 709.0, -700.0],
        "factor 1.1", lambda x, out: 1.1 * out, [0.5, -1.3, 2.0],
        "exp(709) = 8e307: x + 2h = 710 overflows; the samples / h are 1.6e308",
        skip32="exp(700) overflows float32 (max 3.4e38)",
    ),
    _unary(
        "cosh_near_overflow", "overflow", np.cosh, lambda x, out: np.sinh(x), np.sinh, [700.0, -705.0, 0.5],
        "cosh instead of sinh (equal at 700 in float64)", lambda x, out: np.cosh(x), [0.5, -1.3, 2.0],
        "cosh(705) = 7.5e305 and 2.1e306 at x + 2h; the samples / h (4e306) and their sums near the float64 limit",
        skip32="cosh(700) overflows float32",
    ),
    _unary(
        "sinh_near_overflow", "overflow", np.sinh, lambda x, out: np.cosh(x), np.cosh, [700.0, 708.0, -3.0],
        "factor 1.1", lambda x, out: 1.1 * np.cosh(x), [0.5, -1.3, 2.0],
        "sinh(708) = 1.5e307 and x + 2h = 709.05 gives 4.4e307; sinh(x + 2h) / h is 8e307",
        skip32="sinh(700) overflows float32",
    ),
    _unary(
        "square_near_overflow", "overflow", lambda x: x * x, lambda x, out: 2 * x, lambda x: 2 * x,
        [1.34e154, -1e150, 3.0], "factor 1.1", lambda x, out: 2.2 * x, [0.5, -1.3, 2.0],
        "x**2 = 1.796e308: x (1 + 2 * 7.4e-4) squared overflows", skip32="1.34e154 overflows float32",
    ),
    _unary(
        "cube_near_overflow", "overflow", lambda x: x * x * x, lambda x, out: 3 * (x * x), lambda x: 3 * x * x,
        [5.64e102, 1e100, -2.0], "drops the factor 3", lambda x, out: x * x, [0.5, -1.3, 2.0],
        "x**3 = 1.794e308: x (1 + 2 * 7.4e-4) cubed overflows", skip32="5.64e102 overflows float32",
    ),
    _unary(
        "softplus_large_x", "overflow", lambda x: np.logaddexp(0.0, x), lambda x, out: _sigmoid(x),
        _sigmoid, [800.0, 1e4, -800.0, 30.0], "factor 1.1", lambda x, out: 1.1 * _sigmoid(x),
        [0.5, -1.3, 2.0, 1.0],
        "exp(800) overflows (a naive softplus is inf); the step at 1e4 is 7.4",
    ),
    StressCase(
        "logsumexp_near_700", "overflow", _logsumexp, _logsumexp_vjp, _logsumexp_jvp,
        (np.array([700.0, 701.5, 699.0, 650.0]),), lambda z: (_softmax(_ld(z)).reshape(1, -1).astype(np.float64),),
        "the weights not normalised: exp(z - max z)", _logsumexp_bug_vjp, _logsumexp_bug_jvp,
        (np.array([0.5, -1.3, 2.0, 1.0]),),
        "exp(701.5) is 4.5e304, exp(710) overflows: the step 0.52 is safe only with max subtraction",
        rule_tol32=1e-4,
    ),
    # ---- ill-conditioned linear algebra
    StressCase(
        "inv_triangular_cond_1e8", "linalg", _inv, _inv_vjp, _inv_jvp, (_TRI2,), _inv_jacobian,
        "the transposes forgotten: -A^-1 G A^-1", _inv_bug_vjp, _inv_bug_jvp, (_ORDINARY_A2,),
        "[[1, 1e4], [0, 1]]: a step of 7.4e-4 in the zero entry makes det = 1 - 7.4 (singular in between)",
    ),
    StressCase(
        "inv_triangular_cond_1e12", "linalg", _inv, _inv_vjp, _inv_jvp, (_TRI3,), _inv_jacobian,
        "the transposes forgotten: -A^-1 G A^-1", _inv_bug_vjp, _inv_bug_jvp, (_ORDINARY_A3,),
        "unit upper bidiagonal with 1e4: the inverse holds 1e8; a step of 7.4e-4 in A[2, 0] changes det by 7e4",
        rule_tol32=1e-6,
    ),
    StressCase(
        "inv_det1_integer_cond_4e8", "linalg", _inv, _inv_vjp, _inv_jvp, (_INT2,), _inv_jacobian,
        "the transposes forgotten: -A^-1 G A^-1", _inv_bug_vjp, _inv_bug_jvp, (_ORDINARY_A2,),
        "[[n, n-1], [n+1, n]], n = 1e4, det 1: a step of 7.4 in any entry changes det by 7e4;"
        " LAPACK's inverse is off by a relative 1e-8",
        skip32="cond 4e8 times the float32 eps 6e-8 > 1: a float32 inverse has no correct digit",
        rule_tol=1e-6,
    ),
    StressCase(
        "solve_triangular_cond_1e9", "linalg", _solve, _solve_vjp, _solve_jvp,
        (_SOLVE_TRI, np.array([1.0, 2.0, 3.0])), _solve_jacobian, "sign of the matrix cotangent",
        _solve_bug_vjp, _solve_bug_jvp, (_ORDINARY_A3, np.array([0.5, -1.3, 2.0])),
        "A^-1 holds 1e6: the solution is 3e6, and a step of 7.4e-4 in A[2, 0] changes det by 740",
    ),
    StressCase(
        "solve_hilbert7_cond_5e8", "linalg", _solve, _solve_vjp, _solve_jvp, (_hilbert(7), np.ones(7)),
        _solve_jacobian, "sign of the matrix cotangent", _solve_bug_vjp, _solve_bug_jvp,
        (np.eye(7) * 2 + 0.1 * _hilbert(7), np.linspace(-1, 1, 7)),
        "the 7x7 Hilbert matrix, cond 4.8e8: a step of 7.4e-4 per entry is 2e5 x its smallest singular value 3.5e-9",
        skip32="cond 4.8e8 times the float32 eps 6e-8 > 1: a float32 solve has no correct digit",
        rule_tol=1e-5,
    ),
    StressCase(
        "det_det1_integer", "linalg", _det, _det_vjp, _det_jvp, (_INT2,), _det_jacobian,
        "the adjugate instead of its transpose (off by 2 in 1e4)", _det_bug_vjp, _det_bug_jvp, (_ORDINARY_A2,),
        "entries 1e4, det 1 (singular to a relative 1e-8): a step of 7.4 in an entry changes det by 7.4e4,"
        " and LU's rounding of det is 1e-8",
    ),
    StressCase(
        "det_3x3_near_singular", "linalg", _det, _det_vjp, _det_jvp, (_SING3,), _det_jacobian,
        "the minors without their signs (-1)**(i + j)", _det_unsigned_vjp, _det_unsigned_jvp, (_ORDINARY_A3,),
        "[[1, 2, 3], [4, 5, 6], [7, 8, 9 + 2**-20]]: det -2.9e-6, a step of 7e-3 changes it by 2e-2",
        rule_tol=1e-10, rule_tol32=1e-5,
    ),
    StressCase(
        "logdet_2x2_cond_4e9", "linalg", _logdet, _logdet_vjp, _logdet_jvp, (_SPD_NEAR,), _logdet_jacobian,
        "only the diagonal of A^-T", _logdet_bug_vjp, _logdet_bug_jvp, (_ORDINARY_SPD,),
        "[[1, 1], [1, 1 + 2**-30]]: det 9.3e-10, a step beyond 9.3e-10 the wrong way makes det negative (NaN)",
        skip32="1 + 2**-30 rounds to 1 in float32: the matrix is singular there (log det = -inf)",
    ),
    # ---- non-finite entries
    _unary(
        "exp_neg_x_at_inf", "nonfinite", lambda x: np.exp(-x), lambda x, out: -out, lambda x: -np.exp(-x),
        [1.0, np.inf, 2.0], "factor 1.1", lambda x, out: -1.1 * out, [0.5, 1.3, 2.0],
        "x = inf: exp(-inf) = 0 is finite, the derivative there is 0, the step eps**(1/5) |x| is inf",
    ),
    _unary(
        "square_where_finite_nan_inf", "nonfinite",
        lambda x: np.where(np.isfinite(x), _safe(x) * _safe(x), np.zeros_like(x)),
        lambda x, out: 2 * _safe(x), lambda x: 2 * _safe(x), [1.5, np.nan, -np.inf, 0.5],
        "drops the 2", lambda x, out: _safe(x), [1.5, -0.7, 1.2, 0.5],
        "NaN and -inf entries mapped to 0 by where(isfinite(x), x**2, 0): their derivative is 0",
    ),
    _unary(
        "arctan_at_inf", "nonfinite", np.arctan, lambda x, out: 1 / (1 + x * x), lambda x: 1 / (1 + x * x),
        [np.inf, -np.inf, 0.3], "forgets the square: 1/(1 + x)", lambda x, out: 1 / (1 + x), [0.5, 1.3, 0.3],
        "arctan(+-inf) = +-pi/2 is finite, the derivative there is 0",
    ),
    _unary(
        "tanh_at_inf", "nonfinite", np.tanh, lambda x, out: 1 / np.cosh(x) ** 2, lambda x: 1 - np.tanh(x) ** 2,
        [np.inf, -np.inf, 1.0, -0.3], "1 - tanh instead of 1 - tanh**2", lambda x, out: 1 - out,
        [0.5, -1.3, 1.0, -0.3], "tanh(+-inf) = +-1, the derivative there is 0",
    ),
    _unary(
        "sigmoid_at_inf", "nonfinite", _sigmoid, lambda x, out: out * (1 - out),
        lambda x: _sigmoid(x) * _sigmoid(-x), [-np.inf, 2.0, np.inf, -1.0], "factor 1.1",
        lambda x, out: 1.1 * out * (1 - out), [-0.5, 2.0, 1.3, -1.0],
        "sigmoid(-inf) = 0, sigmoid(inf) = 1, the derivative there is 0",
    ),
    StressCase(
        "softmax_masked_neg_inf", "nonfinite", _softmax, _masked_softmax_vjp, _masked_softmax_jvp,
        (np.array([[1.0, -np.inf, 0.5, -np.inf], [-np.inf, 2.0, -1.0, 0.0]]),),
        lambda z: (_softmax_jacobian(_softmax(_ld(z))).astype(np.float64),),
        "drops the -p <g, p> term", _masked_softmax_bug_vjp, _masked_softmax_bug_jvp,
        (np.array([[1.0, -0.3, 0.5, 1.2], [0.1, 2.0, -1.0, 0.0]]),),
        "an attention mask: -inf logits get probability 0 and derivative 0",
    ),
)  # fmt: skip


# ---- Jacobians of rules and of fixed-step differences (for tests and benchmarks) --------------------


def _as_tuple(result: Any) -> tuple[Array, ...]:
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def vjp_jacobian(f: Callable[..., Array], vjp: Rule, inputs: tuple[Array, ...]) -> tuple[Array, ...]:
    """The Jacobian of each input as the VJP gives it, row by row (unit cotangents), in float64."""
    out = f(*inputs)
    jac = [np.empty((out.size, x.size)) for x in inputs]
    for k in range(out.size):
        g = np.zeros_like(out)
        g.flat[k] = 1
        for i, cot in enumerate(_as_tuple(vjp(g, out, *inputs))):
            jac[i][k] = np.asarray(cot, dtype=np.float64).reshape(-1)
    return tuple(jac)


def jvp_jacobian(f: Callable[..., Array], jvp: Rule, inputs: tuple[Array, ...]) -> tuple[Array, ...]:
    """The Jacobian of each input as the JVP gives it, column by column (unit tangents), in float64."""
    out = f(*inputs)
    jac = [np.empty((out.size, x.size)) for x in inputs]
    for i, x in enumerate(inputs):
        for j in range(x.size):
            tangents = [np.zeros_like(y) for y in inputs]
            tangents[i].flat[j] = 1
            jac[i][:, j] = np.asarray(jvp(tuple(tangents), out, *inputs), dtype=np.float64).reshape(-1)
    return tuple(jac)


def fixed_step_jacobian(
    f: Callable[..., Array], inputs: tuple[Array, ...], h: float, safe_sub: bool = False
) -> tuple[Array, ...]:
    """Central differences with the fixed absolute step ``h`` per element, in the inputs' dtype
    (``x[j] +-= h`` in place, ``(f(x+) - f(x-)) / 2h`` in that dtype), as float64 Jacobians.
    ``safe_sub``: equal samples differ by 0 even where they are infinite (JAX's ``inf - inf == 0``)."""
    jac = []
    with np.errstate(all="ignore"):
        out = f(*inputs)
        for i, x in enumerate(inputs):
            step = x.dtype.type(h)
            cols = np.empty((out.size, x.size))
            for j in range(x.size):
                plus, minus = list(inputs), list(inputs)
                plus[i], minus[i] = x.copy(), x.copy()
                plus[i].flat[j] += step
                minus[i].flat[j] -= step
                fp, fm = f(*plus), f(*minus)
                delta = np.where(fp == fm, np.zeros_like(fp), fp - fm) if safe_sub else fp - fm
                diff = delta / (2 * step)
                cols[:, j] = np.asarray(diff, dtype=np.float64).reshape(-1)
            jac.append(cols)
    return tuple(jac)
