"""Linear algebra ops over the last two axes (leading axes are batch axes and broadcast).

The rules are the standard matrix-calculus results (M. B. Giles, "An extended collection of
matrix derivative results for forward and reverse mode algorithmic differentiation", 2008;
I. Murray, "Differentiation of the Cholesky decomposition", 2016, for ``cholesky``), written with
array-API calls only: no triangular solve exists there, so the Cholesky rules use ``inv(L)``, and
``solve`` broadcasts its batch axes itself (CuPy's does not).
"""

from __future__ import annotations

from gradlab import backend
from gradlab.ops.registry import defjvp, deflinear, defvjp, ns, op

FAMILY = "linalg"


# --- products ---


@op(family=FAMILY)
def matmul(a, b):
    """a @ b: a 1-D operand is a vector (its axis is dropped from the result), batch axes broadcast."""
    return ns(a, b).matmul(a, b)


def _matmul_vjp_a(g, ans, a, b):
    g2, _, b2 = _as_matrices(g, a, b)
    ga = ns(g).matmul(g2, _mT(b2))
    return ga[..., 0, :] if a.ndim == 1 else ga


def _matmul_vjp_b(g, ans, a, b):
    g2, a2, _ = _as_matrices(g, a, b)
    gb = ns(g).matmul(_mT(a2), g2)
    return gb[..., 0] if b.ndim == 1 else gb


defvjp(matmul, _matmul_vjp_a, _matmul_vjp_b)
defjvp(matmul, lambda t, ans, a, b: ns(t).matmul(t, b), lambda t, ans, a, b: ns(t).matmul(a, t))


@op(family=FAMILY)
def outer(a, b):
    """The outer product of two vectors: out[i, j] = a[i] * b[j]."""
    return ns(a, b).expand_dims(a, axis=-1) * b


defvjp(outer, lambda g, ans, a, b: ns(g).matmul(g, b), lambda g, ans, a, b: ns(g).matmul(a, g))
defjvp(outer, lambda t, ans, a, b: outer(t, b), lambda t, ans, a, b: outer(a, t))


@op(family=FAMILY)
def trace(x):
    """The sum of the diagonal of the last two axes."""
    return ns(x).linalg.trace(x)


defvjp(trace, lambda g, ans, x: _scalar_times(g, _eye(x)))
deflinear(trace)


# --- solving and inverting ---


@op(family=FAMILY)
def solve(a, b):
    """x with a @ x = b, for a (..., n, n) and b (..., n, k) or a vector b (n,)."""
    return _uncol(_solve(a, _col(b, b)), b)


def _solve_vjp_b(g, ans, a, b):
    return _uncol(_solve(_mT(a), _col(g, b)), b)


def _solve_vjp_a(g, ans, a, b):
    gb = _solve(_mT(a), _col(g, b))
    return -ns(g).matmul(gb, _mT(_col(ans, b)))


defvjp(solve, _solve_vjp_a, _solve_vjp_b)
defjvp(
    solve,
    lambda t, ans, a, b: -_uncol(_solve(a, ns(t).matmul(t, _col(ans, b))), b),
    lambda t, ans, a, b: _uncol(_solve(a, _col(t, b)), b),
)


@op(family=FAMILY)
def inv(a):
    """The inverse of a square matrix."""
    return ns(a).linalg.inv(a)


defvjp(inv, lambda g, ans, a: -ns(g).matmul(_mT(ans), ns(g).matmul(g, _mT(ans))))
defjvp(inv, lambda t, ans, a: -ns(t).matmul(ans, ns(t).matmul(t, ans)))


# --- determinants ---


@op(family=FAMILY)
def det(a):
    """The determinant of a square matrix; d det = det * trace(inv(a) @ da)."""
    return ns(a).linalg.det(a)


defvjp(det, lambda g, ans, a: _scalar_times(g * ans, _mT(ns(a).linalg.inv(a))))
defjvp(det, lambda t, ans, a: ans * _inner(_mT(ns(a).linalg.inv(a)), t))


@op(family=FAMILY)
def slogdet(a):
    """log |det a| (only this output: the sign of the determinant is piecewise constant, its
    derivative is zero wherever it is defined, so it is left out)."""
    return ns(a).linalg.slogdet(a)[1]


defvjp(slogdet, lambda g, ans, a: _scalar_times(g, _mT(ns(a).linalg.inv(a))))
defjvp(slogdet, lambda t, ans, a: _inner(_mT(ns(a).linalg.inv(a)), t))


# --- Cholesky ---


@op(family=FAMILY)
def cholesky(a):
    """The lower Cholesky factor L of the symmetric part of a: L @ L^T = (a + a^T) / 2.

    Symmetrising first makes the function defined (and differentiable) for a perturbation of any
    single entry of a symmetric positive definite ``a``, not only for symmetric perturbations: the
    derivative with respect to a[i, j] and to a[j, i] are then equal (each half of the symmetric one).
    """
    return ns(a).linalg.cholesky(_sym(a))


def _cholesky_vjp(g, ans, a):
    # Murray 2016: P = L^-T Phi(L^T G) L^-1, and the symmetrising forward makes the cotangent sym(P)
    xp = ns(g)
    linv = xp.linalg.inv(ans)
    return _sym(xp.matmul(_mT(linv), xp.matmul(_phi(xp.matmul(_mT(ans), g)), linv)))


def _cholesky_jvp(t, ans, a):
    # dS = L dL^T + dL L^T  =>  dL = L Phi(L^-1 dS L^-T), with dS = sym(da)
    xp = ns(t)
    linv = xp.linalg.inv(ans)
    return xp.matmul(ans, _phi(xp.matmul(linv, xp.matmul(_sym(t), _mT(linv)))))


defvjp(cholesky, _cholesky_vjp)
defjvp(cholesky, _cholesky_jvp)


# --- helpers ---


def _mT(x):
    return ns(x).matrix_transpose(x)


def _sym(x):
    return (x + _mT(x)) / 2


def _phi(x):
    """The lower triangle of x with its diagonal halved."""
    xp = ns(x)
    return xp.tril(x, k=-1) + 0.5 * x * _eye(x)


def _eye(x):
    return ns(x).eye(x.shape[-1], dtype=x.dtype, device=backend.device(x))


def _scalar_times(s, m):
    """Each matrix of the stack ``m`` times the matching entry of the batch-shaped ``s``."""
    xp = ns(s, m)
    return xp.expand_dims(xp.expand_dims(s, axis=-1), axis=-1) * m


def _inner(x, y):
    """sum(x * y) over the last two axes (trace(x^T y))."""
    return ns(x, y).sum(x * y, axis=(-2, -1))


def _as_matrices(g, a, b):
    """g, a, b of matmul with the vector operands (and their axes in g) made matrices."""
    xp = ns(g, a, b)
    if b.ndim == 1:
        g, b = xp.expand_dims(g, axis=-1), xp.expand_dims(b, axis=-1)
    if a.ndim == 1:
        g, a = xp.expand_dims(g, axis=-2), xp.expand_dims(a, axis=0)
    return g, a, b


def _col(x, b):
    """x as a stack of columns when solve's right-hand side b is a vector."""
    return ns(x).expand_dims(x, axis=-1) if b.ndim == 1 else x


def _uncol(x, b):
    return x[..., 0] if b.ndim == 1 else x


def _solve(a, b):
    """a^-1 b for a (..., n, n) and b (..., n, k), broadcasting the batch axes explicitly."""
    xp = ns(a, b)
    batch = _broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    a = xp.broadcast_to(a, batch + tuple(a.shape[-2:]))
    b = xp.broadcast_to(b, batch + tuple(b.shape[-2:]))
    return xp.linalg.solve(a, b)


def _broadcast_shapes(s, t):
    n = max(len(s), len(t))
    s, t = (1,) * (n - len(s)) + s, (1,) * (n - len(t)) + t
    out = []
    for p, q in zip(s, t, strict=True):
        if p != q and 1 not in (p, q):
            raise ValueError(f"batch shapes {s} and {t} do not broadcast")
        out.append(q if p == 1 else p)
    return tuple(out)
