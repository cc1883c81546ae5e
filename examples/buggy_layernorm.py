"""A CS231n-style layer norm whose backward has a bug: it forgets that the variance depends on x.

``gradlab check examples/buggy_layernorm.py`` catches it: the gradient of gamma and beta is
right, the gradient of x is not (it keeps only the path through the centring ``x - mu``).
"""

import numpy as np


def layernorm_forward(x, gamma, beta, ln_param):
    """Normalise every row of x (N, D) over its D features, then scale by gamma and shift by beta."""
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=1, keepdims=True)
    xc = x - mu
    var = np.mean(xc**2, axis=1, keepdims=True)
    std = np.sqrt(var + eps)
    xhat = xc / std
    out = gamma * xhat + beta
    cache = (xhat, gamma, std)
    return out, cache


def layernorm_backward(dout, cache):
    xhat, gamma, std = cache
    D = dout.shape[1]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    # BUG: the term - xhat * sum(dxhat * xhat) for the variance's dependence on x is missing
    dx = (D * dxhat - dxhat.sum(axis=1, keepdims=True)) / (D * std)
    return dx, dgamma, dbeta
