"""Shape ops: reshape, transpose, broadcast, expand/squeeze, concatenate/stack, slicing and padding.

All of them are linear, so their JVP is the op applied to the tangent (:func:`deflinear`); each
VJP undoes the data movement: it reshapes, permutes back, sums over broadcast axes, slices out or
scatters into zeros. Everything is written with array-API calls on the inputs' namespace.
"""

from __future__ import annotations

from gradlab import backend
from gradlab.ops.registry import deflinear, defvjp, ns, op, unbroadcast

FAMILY = "shape"

# concatenate and stack take their arrays positionally; one VJP rule per position up to this many
MAX_ARRAYS = 16


# --- one input ---


@op(family=FAMILY)
def reshape(x, shape=(-1,)):
    """x with the same elements in a new shape (one entry may be -1)."""
    return ns(x).reshape(x, tuple(shape))


defvjp(reshape, lambda g, ans, x, shape=(-1,): ns(g).reshape(g, tuple(x.shape)))
deflinear(reshape)


@op(family=FAMILY)
def transpose(x, axes=None):
    """x with its axes permuted (``axes=None`` reverses them)."""
    return ns(x).permute_dims(x, _axes(x.ndim, axes))


defvjp(transpose, lambda g, ans, x, axes=None: ns(g).permute_dims(g, _inverse(_axes(x.ndim, axes))))
deflinear(transpose)


@op(family=FAMILY)
def broadcast_to(x, shape=()):
    """x broadcast to ``shape``; the VJP sums over the broadcast axes."""
    return ns(x).broadcast_to(x, tuple(shape))


defvjp(broadcast_to, lambda g, ans, x, shape=(): unbroadcast(g, tuple(x.shape)))
deflinear(broadcast_to)


@op(family=FAMILY)
def expand_dims(x, axis=0):
    """x with a new size-1 axis at position ``axis`` of the result."""
    return ns(x).expand_dims(x, axis=axis)


defvjp(expand_dims, lambda g, ans, x, axis=0: ns(g).squeeze(g, axis=axis))
deflinear(expand_dims)


@op(family=FAMILY)
def squeeze(x, axis=None):
    """x without the size-1 axes ``axis`` (an int, a tuple, or ``None``: every size-1 axis)."""
    if axis is None:
        axis = tuple(i for i, s in enumerate(x.shape) if s == 1)
    return ns(x).squeeze(x, axis=axis)


defvjp(squeeze, lambda g, ans, x, axis=None: ns(g).reshape(g, tuple(x.shape)))
deflinear(squeeze)


# --- several inputs ---


@op(family=FAMILY)
def concatenate(*arrays, axis=0):
    """The arrays joined along the existing axis ``axis`` (at most MAX_ARRAYS of them)."""
    _count(arrays, "concatenate")
    return ns(*arrays).concat(arrays, axis=axis)


def _concatenate_vjp(i):
    def rule(g, ans, *arrays, axis=0):
        ax = axis % g.ndim
        start = sum(int(a.shape[ax]) for a in arrays[:i])
        return g[_along(ax, slice(start, start + int(arrays[i].shape[ax])))]

    return rule


defvjp(concatenate, *(_concatenate_vjp(i) for i in range(MAX_ARRAYS)))
deflinear(concatenate)


@op(family=FAMILY)
def stack(*arrays, axis=0):
    """The arrays (of one shape) joined along a new axis ``axis`` (at most MAX_ARRAYS of them)."""
    _count(arrays, "stack")
    return ns(*arrays).stack(arrays, axis=axis)


def _stack_vjp(i):
    return lambda g, ans, *arrays, axis=0: g[_along(axis % g.ndim, i)]


defvjp(stack, *(_stack_vjp(i) for i in range(MAX_ARRAYS)))
deflinear(stack)


# --- slicing and padding ---


@op(family=FAMILY)
def getitem(x, index=()):
    """x[index] for basic indices (ints and slices, any step); the VJP scatters into zeros."""
    return x[_full_index(index)]


def _getitem_vjp(g, ans, x, index=()):
    cot = _zeros(g, tuple(x.shape))
    cot[_full_index(index)] = g
    return cot


defvjp(getitem, _getitem_vjp)
deflinear(getitem)


@op(family=FAMILY)
def pad(x, pad_width=()):
    """x padded with zeros: ``pad_width`` holds one ``(before, after)`` pair per axis."""
    widths = _widths(x, pad_width)
    out = _zeros(x, tuple(s + before + after for s, (before, after) in zip(x.shape, widths, strict=True)))
    out[_interior(x, widths)] = x
    return out


defvjp(pad, lambda g, ans, x, pad_width=(): g[_interior(x, _widths(x, pad_width))])
deflinear(pad)


# --- helpers ---


def _axes(ndim, axes):
    return tuple(reversed(range(ndim))) if axes is None else tuple(int(a) % ndim for a in axes)


def _inverse(axes):
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return tuple(inverse)


def _along(axis, index):
    """An index selecting ``index`` along ``axis`` and everything along the other axes."""
    return (slice(None),) * axis + (index, ...)


def _full_index(index):
    """``index`` as a tuple ending in an ellipsis (the array API wants every axis indexed)."""
    index = index if isinstance(index, tuple) else (index,)
    return index if any(i is Ellipsis for i in index) else (*index, ...)


def _widths(x, pad_width):
    widths = tuple((int(before), int(after)) for before, after in pad_width)
    if len(widths) != x.ndim:
        raise ValueError(f"pad_width has {len(widths)} (before, after) pairs for an array of {x.ndim} dims")
    return widths


def _interior(x, widths):
    return (*(slice(before, before + s) for s, (before, _) in zip(x.shape, widths, strict=True)), ...)


def _zeros(like, shape):
    return ns(like).zeros(shape, dtype=like.dtype, device=backend.device(like))


def _count(arrays, name):
    if not 1 <= len(arrays) <= MAX_ARRAYS:
        raise ValueError(f"{name} takes 1 to {MAX_ARRAYS} arrays (one VJP rule per position), got {len(arrays)}")
