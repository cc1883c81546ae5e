"""Ops in the style of the needle homework (CMU 10-414): one class per op, in plain NumPy.

``compute(self, *arrays)`` is the forward; ``gradient(self, out_grad, node)`` returns the
gradient of every input, where ``node.inputs`` holds the input arrays and
``node.realize_cached_data()`` the forward's output. Non-array parameters go to the constructor.
Exp and EWiseMul also have a forward-mode rule, ``jvp(self, tangents, out, *arrays)``.

All correct. Check them with ``gradlab check examples/class_style.py``.
"""

import numpy as np


class TensorOp:
    """The base class: a subclass fills in the forward and its gradient."""

    def __call__(self, *args):
        return self.compute(*args)

    def compute(self, *args):
        raise NotImplementedError()

    def gradient(self, out_grad, node):
        raise NotImplementedError()


class EWiseMul(TensorOp):
    def compute(self, a, b):
        return a * b

    def gradient(self, out_grad, node):
        lhs, rhs = node.inputs
        return out_grad * rhs, out_grad * lhs

    def jvp(self, tangents, out, a, b):
        da, db = tangents
        return da * b + a * db


class PowerScalar(TensorOp):
    """a ** scalar for an integer scalar."""

    def __init__(self, scalar=3):
        self.scalar = scalar

    def compute(self, a):
        return a**self.scalar

    def gradient(self, out_grad, node):
        (a,) = node.inputs
        return out_grad * self.scalar * a ** (self.scalar - 1)


class MatMul(TensorOp):
    def compute(self, a, b):
        return a @ b

    def gradient(self, out_grad, node):
        lhs, rhs = node.inputs
        lgrad = out_grad @ np.swapaxes(rhs, -1, -2)
        rgrad = np.swapaxes(lhs, -1, -2) @ out_grad
        # sum over the batch dimensions an input was broadcast along (missing ones, and ones of size 1)
        return _unbroadcast(lgrad, lhs.shape), _unbroadcast(rgrad, rhs.shape)


def _unbroadcast(grad, shape):
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape)))) if grad.ndim > len(shape) else grad
    ones = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    return grad.sum(axis=ones, keepdims=True) if ones else grad


class Summation(TensorOp):
    """Sum over ``axes`` (all of them when None)."""

    def __init__(self, axes=None):
        self.axes = axes

    def compute(self, a):
        return np.sum(a, axis=self.axes)

    def gradient(self, out_grad, node):
        (a,) = node.inputs
        axes = range(a.ndim) if self.axes is None else self.axes
        shape = list(a.shape)
        for axis in axes:
            shape[axis] = 1
        return np.broadcast_to(np.reshape(out_grad, shape), a.shape)


class Exp(TensorOp):
    def compute(self, a):
        return np.exp(a)

    def gradient(self, out_grad, node):
        return out_grad * node.realize_cached_data()

    def jvp(self, tangents, out, a):
        (da,) = tangents
        return da * out
