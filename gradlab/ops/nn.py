"""Neural-network ops: softmax, losses, linear and normalisation layers, dropout.

Every rule computes in the array namespace of its inputs (array-API functions only), so the
same code runs on NumPy, CuPy and array_api_strict. Work shared by an op's VJP and JVP rules
(softmax probabilities, a normalisation's ``xhat`` and ``1 / std``) lives in small helpers.
"""

from __future__ import annotations

import math

import numpy as np

from gradlab import backend
from gradlab.ops.registry import defjvp, defvjp, ns, op

FAMILY = "nn"


# --- softmax and log_softmax ---


def _softmax(x, axis):
    xp = ns(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis):
    xp = ns(x)
    z = x - xp.max(x, axis=axis, keepdims=True)
    return z - xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True))


@op(family=FAMILY)
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, stable (the max along ``axis`` is subtracted first)."""
    return _softmax(x, axis)


# J = diag(y) - y y^T along the axis: symmetric, so the VJP and JVP have the same form
defvjp(softmax, lambda g, ans, x, axis=-1: ans * (g - ns(g).sum(g * ans, axis=axis, keepdims=True)))
defjvp(softmax, lambda t, ans, x, axis=-1: ans * (t - ns(t).sum(t * ans, axis=axis, keepdims=True)))


@op(family=FAMILY)
def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``, computed directly (not as log(softmax(x)))."""
    return _log_softmax(x, axis)


# J = I - 1 softmax^T along the axis, with softmax = exp(ans)
defvjp(log_softmax, lambda g, ans, x, axis=-1: g - ns(g).exp(ans) * ns(g).sum(g, axis=axis, keepdims=True))
defjvp(log_softmax, lambda t, ans, x, axis=-1: t - ns(t).sum(ns(t).exp(ans) * t, axis=axis, keepdims=True))


# --- losses ---


@op(family=FAMILY, saves=True)
def softmax_cross_entropy(logits, labels):
    """Mean over the batch of -log softmax(logits)[n, labels[n]]; logits (N, C), integer labels (N,).

    Saves the probabilities softmax(logits): the rules need softmax - onehot(labels), which the
    forward has all but computed (the training loop would otherwise redo it every step). The
    loss is mean(logsumexp(logits) - logits[n, labels[n]]), both shifted by the row maximum."""
    xp = ns(logits)
    z = logits - xp.max(logits, axis=-1, keepdims=True)
    e = xp.exp(z)
    total = xp.sum(e, axis=-1, keepdims=True)
    loss = (xp.sum(xp.log(total)) - xp.sum(_picked(z, labels))) * (1 / logits.shape[0])
    return loss, (e / total,)


def _xent_vjp(g, ans, logits, labels, *, saved):
    """g * (softmax(logits) - onehot(labels)) / N, the 0-d factor applied once to each term."""
    (probabilities,) = saved
    if type(probabilities) is np.ndarray:  # NumPy: subtract at the labels instead of a one-hot
        scale = float(g) / logits.shape[0]  # g is 0-d: a Python float spares two 0-d array ops
        slope = probabilities * scale
        slope[_rows(labels.shape[0]), labels] -= scale
        return slope
    return (probabilities - _onehot(logits, labels)) * (g * (1 / logits.shape[0]))


def _xent_jvp(t, ans, logits, labels, *, saved):
    """(sum(softmax * t) - sum over rows of t[n, labels[n]]) / N."""
    (probabilities,) = saved
    xp = ns(t)
    return (xp.sum(probabilities * t) - xp.sum(_picked(t, labels))) * (1 / logits.shape[0])


defvjp(softmax_cross_entropy, _xent_vjp, None)
defjvp(softmax_cross_entropy, _xent_jvp, None)


@op(family=FAMILY)
def mse(pred, target):
    """Mean of (pred - target) ** 2 over all elements (of the broadcast shape when they broadcast)."""
    diff = pred - target
    return ns(diff).sum(diff * diff) / _size(diff)


def _mse_slope(pred, target):
    """d mse / d pred, of the broadcast shape (the machinery sums it back to each input's shape)."""
    diff = pred - target
    return 2 * diff / _size(diff)


defvjp(
    mse,
    lambda g, ans, pred, target: g * _mse_slope(pred, target),
    lambda g, ans, pred, target: -g * _mse_slope(pred, target),
)
defjvp(
    mse,
    lambda t, ans, pred, target: ns(t).sum(_mse_slope(pred, target) * t),
    lambda t, ans, pred, target: -ns(t).sum(_mse_slope(pred, target) * t),
)


# --- linear layer ---


@op(family=FAMILY)
def linear(x, w, b):
    """x @ w + b for x (..., D), w (D, M), b (M,)."""
    return x @ w + b


def _linear_vjp_w(g, ans, x, w, b):
    # sum over the batch of x^T g: flatten the batch dims and contract them in one matmul
    if x.ndim != 2:
        xp = ns(g)
        d, m = w.shape
        x, g = xp.reshape(x, (-1, d)), xp.reshape(g, (-1, m))
    return x.T @ g


defvjp(
    linear,
    lambda g, ans, x, w, b: g @ w.T,  # w is 2-D
    _linear_vjp_w,
    lambda g, ans, x, w, b: g,  # summed over the batch dims by the machinery
)
defjvp(
    linear,
    lambda t, ans, x, w, b: t @ w,
    lambda t, ans, x, w, b: x @ t,
    lambda t, ans, x, w, b: t,  # broadcast over the batch dims by the machinery
)


# --- normalisation layers ---
# Both normalise x to xhat = (x - mean) / sqrt(var + eps) along an axis (biased variance) and
# return xhat * w + b. With r = 1 / sqrt(var + eps) the derivative of xhat, applied to h, is
#   r * (h - mean(h) - xhat * mean(h * xhat))
# which is self-adjoint: the VJP (h = g * w) and the JVP (h = t, then times w) share it.


def _normalised(x, axis, eps):
    """(xhat, 1 / std) of x along ``axis``, both keeping ``axis``."""
    centred = x - _mean(x, axis)
    # corrected two-pass: remove the rounding error of the first mean (large in float32 when the
    # mean is far larger than the spread), so xhat is accurate to the dtype's precision
    centred = centred - _mean(centred, axis)
    rstd = 1 / ns(x).sqrt(_mean(centred * centred, axis) + eps)
    return centred * rstd, rstd


def _normalise_derivative(h, saved, axis):
    """d xhat applied to ``h`` (self-adjoint, so both the VJP and the JVP of xhat)."""
    xhat, rstd = saved
    return rstd * (h - _mean(h, axis) - xhat * _mean(h * xhat, axis))


def _mean(x, axis):
    """The mean along one axis, keeping it (a sum and a division: cheaper than NumPy's mean)."""
    return ns(x).sum(x, axis=axis, keepdims=True) / x.shape[axis]


# both save (xhat, 1 / std): every rule needs them, and the forward has computed them already


@op(family=FAMILY, saves=True)
def layer_norm(x, w, b, eps=1e-5):
    """Layer normalisation of x (..., D) over its last axis, with weight and bias (D,)."""
    xhat, rstd = _normalised(x, -1, eps)
    return xhat * w + b, (xhat, rstd)


@op(family=FAMILY, saves=True)
def batch_norm(x, w, b, eps=1e-5):
    """Batch normalisation (training mode) of x (N, D) over the batch axis, with weight and bias (D,)."""
    xhat, rstd = _normalised(x, 0, eps)
    return xhat * w + b, (xhat, rstd)


def _defnorm(target, axis):
    """The rules of ``xhat(x) * w + b`` normalised along ``axis``.

    The cotangents of w and b keep x's shape: the machinery sums them over the other axes.
    """
    defvjp(
        target,
        lambda g, ans, x, w, b, eps=1e-5, *, saved: _normalise_derivative(g * w, saved, axis),
        lambda g, ans, x, w, b, eps=1e-5, *, saved: g * saved[0],
        lambda g, ans, x, w, b, eps=1e-5, *, saved: g,
    )
    defjvp(
        target,
        lambda t, ans, x, w, b, eps=1e-5, *, saved: _normalise_derivative(t, saved, axis) * w,
        lambda t, ans, x, w, b, eps=1e-5, *, saved: t * saved[0],
        lambda t, ans, x, w, b, eps=1e-5, *, saved: t,
    )


_defnorm(layer_norm, -1)
_defnorm(batch_norm, 0)


# --- dropout ---


@op(family=FAMILY)
def dropout(x, mask, p=0.5):
    """x * mask / (1 - p) with an explicit 0/1 keep-mask (deterministic); the mask is not differentiated."""
    return x * mask / (1 - p)


# explicit rules rather than deflinear: deflinear would replace the (floating) mask by zeros
defvjp(dropout, lambda g, ans, x, mask, p=0.5: g * mask / (1 - p), None)
defjvp(dropout, lambda t, ans, x, mask, p=0.5: t * mask / (1 - p), None)


# --- helpers ---


def _onehot(logits, labels):
    """One-hot rows (N, C) of the integer ``labels`` (N,), in the dtype of ``logits``."""
    xp = ns(logits)
    return xp.astype(labels[..., None] == _classes(xp, logits.shape[-1], labels), logits.dtype)


def _picked(x, labels):
    """``x[n, labels[n]]`` for each row n of ``x`` (N, C): NumPy indexes; the array API has no
    integer-array indexing, so elsewhere a one-hot mask picks them."""
    if type(x) is np.ndarray and type(labels) is np.ndarray:
        return x[_rows(labels.shape[0]), labels]
    return ns(x).sum(_onehot(x, labels) * x, axis=-1)


def _classes(xp, count, labels):
    """``arange(count)`` in the dtype and on the device of ``labels``."""
    if type(labels) is np.ndarray:
        return _arange(count, labels.dtype)
    return xp.arange(count, dtype=labels.dtype, device=backend.device(labels))


def _rows(count):
    """``arange(count)``, NumPy's row indices."""
    return _arange(count, np.dtype(np.intp))


_ARANGES: dict[tuple, np.ndarray] = {}


def _arange(count, dtype):
    """NumPy's ``arange(count, dtype=dtype)``, made once per size and dtype (the training loop
    asks for class and row indices at every step)."""
    key = (count, dtype)
    found = _ARANGES.get(key)
    if found is None:
        found = _ARANGES[key] = np.arange(count, dtype=dtype)
    return found


def _size(x):
    return math.prod(x.shape)
