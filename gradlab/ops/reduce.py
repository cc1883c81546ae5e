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


# --- smooth ---


@op(family=FAMILY)
def prod(x, axis=None, keepdims=False):
    """Product over ``axis`` (rules divide by x: x != 0)."""
    return ns(x).prod(x, axis=axis, keepdims=keepdims)


defvjp(prod, lambda g, ans, x, axis=None, keepdims=False: _expand(g * ans, x, axis, keepdims) / x)
defjvp(
    prod, lambda t, ans, x, axis=None, keepdims=False: _reduce(t * _expand(ans, x, axis, keepdims) / x, axis, keepdims)
)


@op(family=FAMILY)
def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, stable: the max is subtracted before exp."""
    xp = ns(x)
    top = xp.max(x, axis=axis, keepdims=True)
    total = xp.sum(xp.exp(x - top), axis=axis, keepdims=keepdims)
    return xp.log(total) + xp.reshape(top, total.shape)


defvjp(
    logsumexp,
    lambda g, ans, x, axis=None, keepdims=False: _expand(g, x, axis, keepdims) * _softmax(ans, x, axis, keepdims),
)
defjvp(
    logsumexp,
    lambda t, ans, x, axis=None, keepdims=False: _reduce(t * _softmax(ans, x, axis, keepdims), axis, keepdims),
)


@op(family=FAMILY)
def var(x, axis=None, keepdims=False, ddof=0):
    """Variance over ``axis``: sum((x - mean)**2) / (N - ddof) (numpy's default ddof=0)."""
    d = _centered(x, axis)
    return ns(x).sum(d * d, axis=axis, keepdims=keepdims) / (_count(x, axis) - ddof)


defvjp(var, lambda g, ans, x, axis=None, keepdims=False, ddof=0: _expand(g, x, axis, keepdims) * _dvar(x, axis, ddof))
defjvp(var, lambda t, ans, x, axis=None, keepdims=False, ddof=0: _reduce(t * _dvar(x, axis, ddof), axis, keepdims))


@op(family=FAMILY)
def std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation over ``axis``: sqrt(var(x, axis, ddof))."""
    return ns(x).sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


# d std = d var / (2 std); NOTE: where std == 0 the rules return 0: exact for one element (std is
# constant 0 there), a valid subgradient at a constant slice of >= 2 elements (a kink, like abs at 0)
defvjp(
    std,
    lambda g, ans, x, axis=None, keepdims=False, ddof=0: (
        _expand(g * _half_inv(ans), x, axis, keepdims) * _dvar(x, axis, ddof)
    ),
)
defjvp(
    std,
    lambda t, ans, x, axis=None, keepdims=False, ddof=0: (
        _reduce(t * _dvar(x, axis, ddof), axis, keepdims) * _half_inv(ans)
    ),
)


@op(family=FAMILY)
def norm(x, axis=None, keepdims=False):
    """The 2-norm sqrt(sum(x**2)) over ``axis``, scaled by max|x| against overflow and underflow."""
    xp = ns(x)
    top = xp.max(xp.abs(x), axis=axis, keepdims=True)
    scale = xp.where(top > 0, top, xp.ones_like(top))
    root = xp.sqrt(xp.sum((x / scale) ** 2, axis=axis, keepdims=keepdims))
    return root * xp.reshape(scale, root.shape)


# NOTE: where the norm is 0 (all of a slice is 0: a kink) the rules return the subgradient 0
defvjp(norm, lambda g, ans, x, axis=None, keepdims=False: _expand(g * _inv(ans), x, axis, keepdims) * x)
defjvp(norm, lambda t, ans, x, axis=None, keepdims=False: _reduce(t * x, axis, keepdims) * _inv(ans))


# --- kinks at ties ---


@op(family=FAMILY)
def max(x, axis=None, keepdims=False):
    """Largest value over ``axis``."""
    return ns(x).max(x, axis=axis, keepdims=keepdims)


@op(family=FAMILY)
def min(x, axis=None, keepdims=False):
    """Smallest value over ``axis``."""
    return ns(x).min(x, axis=axis, keepdims=keepdims)


# NOTE: max and min share the derivative evenly among tied extremes (a subgradient at the kink)
for _extreme in (max, min):
    defvjp(
        _extreme,
        lambda g, ans, x, axis=None, keepdims=False: _expand(g, x, axis, keepdims) * _winners(ans, x, axis, keepdims),
    )
    defjvp(
        _extreme,
        lambda t, ans, x, axis=None, keepdims=False: _reduce(t * _winners(ans, x, axis, keepdims), axis, keepdims),
    )


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


def _half_inv(a):
    return 0.5 * _inv(a)
