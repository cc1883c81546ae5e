"""A layer norm over the last axis with a hand-written VJP and JVP, and the same VJP with a bug.

``layernorm_vjp_buggy`` forgets that the variance depends on x: it differentiates only through
the centring, a mistake that passes a glance and most shape checks.
"""

import numpy as np

EPS = 1e-5


def layernorm(x, w, b):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w + b


def _normalised(x):
    mu = x.mean(axis=-1, keepdims=True)
    inv = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + EPS)
    return (x - mu) * inv, inv


def layernorm_vjp(g, x, w, b, out):
    xhat, inv = _normalised(x)
    gx = g * w
    dx = inv * (gx - gx.mean(axis=-1, keepdims=True) - xhat * (gx * xhat).mean(axis=-1, keepdims=True))
    batch = tuple(range(x.ndim - 1))
    return dx, (g * xhat).sum(axis=batch), g.sum(axis=batch)


def layernorm_jvp(tangents, x, w, b, out):
    dx, dw, db = tangents
    xhat, inv = _normalised(x)
    centred = dx - dx.mean(axis=-1, keepdims=True)
    dxhat = inv * (centred - xhat * (xhat * centred).mean(axis=-1, keepdims=True))
    return dxhat * w + xhat * dw + db


def layernorm_vjp_buggy(g, x, w, b, out):
    xhat, inv = _normalised(x)
    gx = g * w
    dx = inv * (gx - gx.mean(axis=-1, keepdims=True))  # the variance term is missing
    batch = tuple(range(x.ndim - 1))
    return dx, (g * xhat).sum(axis=batch), g.sum(axis=batch)
