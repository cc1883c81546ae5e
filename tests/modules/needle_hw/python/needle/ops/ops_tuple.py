"""The homework's tuple ops: values that are tuples of tensors in, out, or both."""

import numpy as array_api

from ..autograd import Tensor, TensorOp, TensorTuple, TensorTupleOp


class MakeTensorTuple(TensorTupleOp):
    def compute(self, *args) -> tuple:
        return tuple(args)

    def gradient(self, out_grad, node):
        assert isinstance(out_grad, TensorTuple)
        return tuple([out_grad[i] for i in range(len(out_grad))])


def make_tuple(*args):
    return MakeTensorTuple()(*args)


class TupleGetItem(TensorOp):
    def __init__(self, index):
        self.index = index

    def __call__(self, a: TensorTuple, fold_const=True) -> Tensor:
        assert isinstance(a, TensorTuple)
        if fold_const and isinstance(a.op, MakeTensorTuple):  # constant folding
            return a.inputs[self.index]
        return Tensor.make_from_op(self, [a])

    def compute(self, a):
        return a[self.index]

    def gradient(self, out_grad, node):
        parts = node.inputs[0]
        grads = [
            out_grad if i == self.index else Tensor.make_const(array_api.zeros_like(parts[i].numpy()))
            for i in range(len(parts))
        ]
        return MakeTensorTuple()(*grads)


def tuple_get_item(value, index):
    return TupleGetItem(index)(value)


class FusedAddScalars(TensorTupleOp):
    def __init__(self, c0: float, c1: float):
        self.c0, self.c1 = c0, c1

    def compute(self, a):
        return a + self.c0, a + self.c1

    def gradient(self, out_grad, node):
        return out_grad[0] + out_grad[1]


class Stack(TensorOp):
    def __init__(self, axis: int):
        self.axis = axis

    def compute(self, args: TensorTuple):
        return array_api.stack(args, axis=self.axis)

    def gradient(self, out_grad, node):
        return Split(self.axis)(out_grad)


class Split(TensorTupleOp):
    def __init__(self, axis: int):
        self.axis = axis

    def compute(self, A):
        return tuple(array_api.squeeze(part, self.axis) for part in array_api.split(A, A.shape[self.axis], self.axis))

    def gradient(self, out_grad, node):
        return Stack(self.axis)(out_grad)


# ---- planted bugs, one per kind the course's starter code and students show ----


class MakeTensorTupleStarred(MakeTensorTuple):
    def gradient(self, out_grad, node):
        return tuple(*[out_grad[i] for i in range(len(out_grad))])  # tuple() of several arguments: a crash


class TupleGetItemUndefined(TupleGetItem):
    def gradient(self, out_grad, node):
        grads = [out_grad if i == self.index else zeros_like(v) for i, v in enumerate(node.inputs[0].tuple())]  # noqa: F821
        return MakeTensorTuple()(*grads)


class StackAlongFirst(Stack):
    def gradient(self, out_grad, node):
        return Split(0)(out_grad)  # the stacking axis forgotten: right only for axis 0


class StackPythonTuple(Stack):
    def gradient(self, out_grad, node):
        return tuple(Split(self.axis)(out_grad).tuple())  # one Tensor per stacked tensor, not one TensorTuple
