"""The homework's ops: right ones, and one planted bug per kind that real homework shows."""

import numpy as array_api

from ..autograd import Tensor, TensorOp


class EWiseAdd(TensorOp):
    def compute(self, a, b):
        return a + b

    def gradient(self, out_grad, node):
        return out_grad, out_grad


class AddScalar(TensorOp):
    def __init__(self, scalar):
        self.scalar = scalar

    def compute(self, a):
        return a + self.scalar

    def gradient(self, out_grad, node):
        return out_grad


class MulScalar(TensorOp):
    def __init__(self, scalar):
        self.scalar = scalar

    def compute(self, a):
        return a * self.scalar

    def gradient(self, out_grad, node):
        return (out_grad * self.scalar,)


class EWiseMul(TensorOp):
    def compute(self, a, b):
        return a * b

    def gradient(self, out_grad, node):
        a, b = node.inputs
        return out_grad * b, out_grad * a


class EWiseDiv(TensorOp):
    def compute(self, a, b):
        return a / b

    def gradient(self, out_grad, node):
        a, b = node.inputs
        return out_grad / b, -out_grad * a / (b * b)


class PowerScalar(TensorOp):
    def __init__(self, scalar: int):
        self.scalar = scalar

    def compute(self, a):
        return array_api.power(a, self.scalar)

    def gradient(self, out_grad, node):
        (a,) = node.inputs
        return out_grad * self.scalar * Tensor.make_const(array_api.power(a.numpy(), self.scalar - 1))


class PowerScalarWrongValues(PowerScalar):
    def gradient(self, out_grad, node):
        # the exponent applied to out_grad instead of the input
        return Tensor.make_const(self.scalar * array_api.power(out_grad.numpy(), self.scalar - 1))


class Transpose(TensorOp):
    """needle's transpose: swaps two axes, the last two by default (not NumPy's permutation)."""

    def __init__(self, axes=None):
        self.axes = axes

    def _swap(self, ndim):
        i, j = self.axes if self.axes else (ndim - 2, ndim - 1)
        order = list(range(ndim))
        order[i], order[j] = order[j], order[i]
        return order

    def compute(self, a):
        return array_api.transpose(a, self._swap(a.ndim))

    def gradient(self, out_grad, node):
        return Transpose(self.axes)(out_grad)


class Reshape(TensorOp):
    def __init__(self, shape):
        self.shape = shape

    def compute(self, a):
        return array_api.reshape(a, self.shape)

    def gradient(self, out_grad, node):
        return Reshape(node.inputs[0].shape)(out_grad)


class BroadcastTo(TensorOp):
    def __init__(self, shape):
        self.shape = shape

    def compute(self, a):
        return array_api.broadcast_to(a, self.shape)

    def gradient(self, out_grad, node):
        in_shape = node.inputs[0].shape
        lead = len(self.shape) - len(in_shape)
        axes = tuple(range(lead)) + tuple(
            i + lead for i, s in enumerate(in_shape) if s == 1 and self.shape[i + lead] != 1
        )
        summed = array_api.sum(out_grad.numpy(), axis=axes)
        return Tensor.make_const(summed.reshape(in_shape))


class BroadcastToWrongShape(BroadcastTo):
    def gradient(self, out_grad, node):
        # sums the new leading axes only, so a (1, n) input of a (m, n) broadcast gets an (n,) gradient
        lead = len(self.shape) - len(node.inputs[0].shape)
        return Tensor.make_const(array_api.sum(out_grad.numpy(), axis=tuple(range(lead + 1))))


class Summation(TensorOp):
    def __init__(self, axes=None):
        self.axes = axes

    def compute(self, a):
        return array_api.sum(a, axis=self.axes)

    def gradient(self, out_grad, node):
        shape = list(node.inputs[0].shape)
        axes = range(len(shape)) if self.axes is None else self.axes
        for axis in axes:
            shape[axis] = 1
        kept = Reshape(tuple(shape))(out_grad)
        return BroadcastTo(node.inputs[0].shape)(kept)


class MatMul(TensorOp):
    def compute(self, a, b):
        return a @ b

    def gradient(self, out_grad, node):
        a, b = node.inputs
        return _reduce_to(MatMul()(out_grad, Transpose()(b)), a.shape), _reduce_to(
            MatMul()(Transpose()(a), out_grad), b.shape
        )


def _reduce_to(grad, shape):
    """Sum a gradient over the batch dimensions its input was broadcast along."""
    data = grad.numpy()
    data = data.sum(axis=tuple(range(data.ndim - len(shape)))) if data.ndim > len(shape) else data
    ones = tuple(i for i, size in enumerate(shape) if size == 1 and data.shape[i] != 1)
    return Tensor.make_const(data.sum(axis=ones, keepdims=True) if ones else data)


class Log(TensorOp):
    def compute(self, a):
        return array_api.log(a)

    def gradient(self, out_grad, node):
        return out_grad / node.inputs[0]


class ReLU(TensorOp):
    def compute(self, a):
        return array_api.maximum(a, 0)

    def gradient(self, out_grad, node):
        mask = node.inputs[0].numpy() > 0
        return Tensor.make_const(out_grad.numpy() * mask)


class ReLUMutatesOutGrad(ReLU):
    def gradient(self, out_grad, node):
        data = out_grad.numpy()
        data[node.inputs[0].numpy() <= 0] = 0  # writes into out_grad's own data
        return out_grad


class Negate(TensorOp):
    def compute(self, a):
        return -a

    def gradient(self, out_grad, node):
        raise NotImplementedError()


class Exp(TensorOp):
    def compute(self, a):
        return array_api.exp(a)

    def gradient(self, out_grad, node):
        return out_grad * node.inptus[0]  # a typo: crashes


class MatMulUnreduced(MatMul):
    def gradient(self, out_grad, node):
        # the batched case: b (k, m) broadcast over a (B, n, k) gets a (B, k, m) gradient, not summed
        a, b = node.inputs
        return MatMul()(out_grad, Transpose()(b)), MatMul()(Transpose()(a), out_grad)


class ExpReturnsArray(TensorOp):
    def compute(self, a):
        return array_api.exp(a)

    def gradient(self, out_grad, node):
        return out_grad.numpy() * array_api.exp(node.inputs[0].numpy())  # an array, not a Tensor
