"""Reductions over ``axis`` (None, an int, a tuple, negative allowed) with ``keepdims``.

Every rule re-expands what was reduced (the cotangent, the output) to the input's rank with
:func:`_expand`, so one line of math serves every axis/keepdims combination and 0-d inputs.
"""

from __future__ import annotations

import math

from gradlab.ops.registry import defjvp, deflinear, defvjp, ns, op

FAMILY = "reduce"


# --- linear ---


@op(family=FAMILY)
def sum(x, axis=None, keepdims=False):
    """Sum over ``axis``."""
    return ns(x).sum(x, axis=axis, keepdims=keepdims)


deflinear(sum)
defvjp(sum, lambda g, ans, x, axis=None, keepdims=False: _spread(g, x, axis, keepdims))


@op(family=FAMILY)
def mean(x, axis=None, keepdims=False):
    """Mean over ``axis``."""
    return ns(x).mean(x, axis=axis, keepdims=keepdims)


deflinear(mean)
defvjp(mean, lambda g, ans, x, axis=None, keepdims=False: _spread(g, x, axis, keepdims) / _count(x, axis))


def _reduction(name, forward, partial):
    """A reduction whose rules multiply by ``partial(ans, x, axis, keepdims, **params)``: the
    derivative of each output element with respect to each element of ``x`` it reduces (x's shape).

    VJP: the cotangent re-expanded over x, times ``partial``; JVP: ``partial`` times the tangent,
    reduced like the forward.
    """
    made = op(name, forward, family=FAMILY)

    def vjp(g, ans, x, axis=None, keepdims=False, **params):
        return _expand(g, x, axis, keepdims) * partial(ans, x, axis, keepdims, **params)

    def jvp(t, ans, x, axis=None, keepdims=False, **params):
        return _reduce(t * partial(ans, x, axis, keepdims, **params), axis, keepdims)

    defvjp(made, vjp)
    defjvp(made, jvp)
    return made


# --- smooth ---


def _prod(x, axis=None, keepdims=False):
    """Product over ``axis`` (the rules divide by x: x != 0)."""
    return ns(x).prod(x, axis=axis, keepdims=keepdims)


def _logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, stable: the max is subtracted before exp."""
    xp = ns(x)
    top = xp.max(x, axis=axis, keepdims=True)
    total = xp.sum(xp.exp(x - top), axis=axis, keepdims=keepdims)
    return xp.log(total) + xp.reshape(top, total.shape)


def _var(x, axis=None, keepdims=False, ddof=0):
    """Variance over ``axis``: sum((x - mean)**2) / (N - ddof) (numpy's default ddof=0)."""
    d = _centered(x, axis)
    return ns(x).sum(d * d, axis=axis, keepdims=keepdims) / (_count(x, axis) - ddof)


def _std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation over ``axis``: sqrt(var(x, axis, ddof))."""
    return ns(x).sqrt(_var(x, axis=axis, keepdims=keepdims, ddof=ddof))


def _norm(x, axis=None, keepdims=False):
    """The 2-norm sqrt(sum(x**2)) over ``axis``, scaled by max|x| against overflow and underflow."""
    xp = ns(x)
    top = xp.max(xp.abs(x), axis=axis, keepdims=True)
    scale = xp.where(top > 0, top, xp.ones_like(top))
    root = xp.sqrt(xp.sum((x / scale) ** 2, axis=axis, keepdims=keepdims))
    return root * xp.reshape(scale, root.shape)


# each partial(ans, x, axis, keepdims, **params): d out / d x, one value per element of x
prod = _reduction("prod", _prod, lambda ans, x, axis, keepdims: _expand(ans, x, axis, keepdims) / x)
logsumexp = _reduction("logsumexp", _logsumexp, lambda ans, x, axis, keepdims: _softmax(ans, x, axis, keepdims))
var = _reduction("var", _var, lambda ans, x, axis, keepdims, ddof=0: _dvar(x, axis, ddof))
# NOTE: where std == 0 (or norm == 0) the rules give 0: exact over one element (std is 0 for every
# x there), a valid subgradient at a constant (all-zero) slice of >= 2 elements, a kink like abs at 0
std = _reduction(
    "std", _std, lambda ans, x, axis, keepdims, ddof=0: _expand(_inv(2 * ans), x, axis, keepdims) * _dvar(x, axis, ddof)
)
norm = _reduction("norm", _norm, lambda ans, x, axis, keepdims: _expand(_inv(ans), x, axis, keepdims) * x)


# --- kinks at ties ---


def _max(x, axis=None, keepdims=False):
    """Largest value over ``axis``."""
    return ns(x).max(x, axis=axis, keepdims=keepdims)


def _min(x, axis=None, keepdims=False):
    """Smallest value over ``axis``."""
    return ns(x).min(x, axis=axis, keepdims=keepdims)


# NOTE: max and min share the derivative evenly among tied extremes (a subgradient at the kink)
max = _reduction("max", _max, lambda ans, x, axis, keepdims: _winners(ans, x, axis, keepdims))
min = _reduction("min", _min, lambda ans, x, axis, keepdims: _winners(ans, x, axis, keepdims))


# --- helpers ---


def _axes(axis, ndim):
    """``axis`` as a sorted tuple of non-negative axes (None: every axis)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % ndim for a in axis))


def _count(x, axis):
    """How many elements of ``x`` each output element reduces."""
    return math.prod(x.shape[a] for a in _axes(axis, x.ndim))


def _expand(a, x, axis, keepdims):
    """``a``, the result of reducing ``x`` over ``axis``, with the reduced axes back as size-1 dims."""
    if keepdims:
        return a
    axes = _axes(axis, x.ndim)
    return ns(a).reshape(a, tuple(1 if i in axes else n for i, n in enumerate(x.shape)))


def _spread(g, x, axis, keepdims):
    """A reduced cotangent broadcast back over ``x``'s shape."""
    return ns(g).broadcast_to(_expand(g, x, axis, keepdims), tuple(x.shape))


def _reduce(a, axis, keepdims):
    return ns(a).sum(a, axis=axis, keepdims=keepdims)


def _centered(x, axis):
    return x - ns(x).mean(x, axis=axis, keepdims=True)


def _dvar(x, axis, ddof):
    """The derivative of var with respect to each element of ``x``."""
    return 2 * _centered(x, axis) / (_count(x, axis) - ddof)


def _softmax(ans, x, axis, keepdims):
    """exp(x - logsumexp(x)): the derivative of logsumexp."""
    return ns(x).exp(x - _expand(ans, x, axis, keepdims))


def _winners(ans, x, axis, keepdims):
    """1 / (number of ties) where x equals the reduced extreme ``ans``, 0 elsewhere."""
    xp = ns(x)
    hit = xp.astype(x == _expand(ans, x, axis, keepdims), x.dtype)
    return hit / xp.sum(hit, axis=axis, keepdims=True)


def _inv(a):
    """1 / a, and 0 where a == 0."""
    xp = ns(a)
    nonzero = a != 0
    return xp.where(nonzero, 1 / xp.where(nonzero, a, xp.ones_like(a)), xp.zeros_like(a))
