"""Patterns found in real course ``layers.py`` files, rewritten small for gradlab's tests.

Each function is named for what it shows; ``EXPECTED`` (in tests/test_course.py) says what gradlab
must report for it. Nothing here is copied from a student's file.
"""

import numpy as np


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    # the course's template, not written yet
    _x, _w, _b = cache
    dx, dw, db = None, None, None
    pass
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    x = cache
    dout[x <= 0] = 0  # writes into the caller's dout
    return dout


def batchnorm_forward(x, gamma, beta, bn_param):
    eps = bn_param.get("eps", 1e-5)
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, np.sqrt(var + eps))


def batchnorm_backward(dout, cache):
    # right values, but dgamma and dbeta of shape (1, D) for parameters of shape (D,)
    xhat, gamma, std = cache
    n = dout.shape[0]
    dxhat = dout * gamma
    dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (n * std)
    return dx, (dout * xhat).sum(axis=0, keepdims=True), dout.sum(axis=0, keepdims=True)


def batchnorm_backward_alt(dout, cache):
    # the simplified formula, right (gradlab must find it as its own op)
    xhat, gamma, std = cache
    dxhat = dout * gamma
    dx = (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0)) / std
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    # right at stride 1 only: the windows of dx are placed without the stride
    x, w, _, conv_param = cache
    pad = conv_param["pad"]
    stride = conv_param["stride"]
    _, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            dw += np.tensordot(dout[:, :, i, j], xp[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW],
                               axes=([0], [0]))  # fmt: skip
            dxp[:, :, i : i + HH, j : j + WW] += np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
    return dxp[:, :, pad : pad + x.shape[2], pad : pad + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))


def dropout_forward(x, dropout_param):
    raise NotImplementedError("dropout is part 3 of the assignment")


def dropout_backward(dout, cache):
    raise NotImplementedError


def softmax_loss(x, y):
    # not written yet
    loss, dx = None, None
    return loss, dx


def affine_flat_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_flat_backward(dout, cache):
    # right values, but dx comes back flattened, (N, D) for an x of (N, d_1, d_2)
    x, w, _ = cache
    x2 = x.reshape(x.shape[0], -1)
    return dout @ w.T, x2.T @ dout, dout.sum(axis=0)
