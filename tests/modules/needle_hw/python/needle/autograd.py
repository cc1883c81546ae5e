"""The framework: Values with cached NumPy data, Ops with compute/gradient, Tensors made from ops."""

import numpy

array_api = numpy  # the course's backend switch: NumPy in this homework
NDArray = numpy.ndarray


class CPUDevice:
    def __repr__(self):
        return "cpu()"


def cpu():
    return CPUDevice()


class Op:
    def __call__(self, *args):
        raise NotImplementedError()

    def compute(self, *args: tuple[NDArray]):
        raise NotImplementedError()

    def gradient(self, out_grad, node):
        raise NotImplementedError()

    def gradient_as_tuple(self, out_grad, node):
        output = self.gradient(out_grad, node)
        return tuple(output) if isinstance(output, (tuple, list)) else (output,)


class TensorOp(Op):
    def __call__(self, *args):
        return Tensor.make_from_op(self, args)


class Value:
    op: Op | None
    inputs: list["Value"]
    cached_data: NDArray
    requires_grad: bool

    def realize_cached_data(self):
        if self.cached_data is None:
            self.cached_data = self.op.compute(*[x.realize_cached_data() for x in self.inputs])
        return self.cached_data

    def _init(self, op, inputs, *, cached_data=None, requires_grad=True):
        self.op, self.inputs, self.cached_data, self.requires_grad = op, list(inputs), cached_data, requires_grad


class Tensor(Value):
    def __init__(self, array, *, device=None, dtype=None, requires_grad=True):
        data = array.realize_cached_data() if isinstance(array, Tensor) else array
        self._init(None, [], cached_data=numpy.array(data, dtype=dtype or "float32"), requires_grad=requires_grad)

    @staticmethod
    def make_from_op(op: Op, inputs: list[Value]):
        tensor = Tensor.__new__(Tensor)
        tensor._init(op, inputs)
        tensor.realize_cached_data()
        return tensor

    @staticmethod
    def make_const(data, requires_grad=False):
        tensor = Tensor.__new__(Tensor)
        tensor._init(None, [], cached_data=data, requires_grad=requires_grad)
        return tensor

    @property
    def shape(self):
        return self.realize_cached_data().shape

    @property
    def dtype(self):
        return self.realize_cached_data().dtype

    def numpy(self):
        return self.realize_cached_data()

    def __add__(self, other):
        from . import ops

        return ops.EWiseAdd()(self, other) if isinstance(other, Tensor) else ops.AddScalar(other)(self)

    def __mul__(self, other):
        from . import ops

        return ops.EWiseMul()(self, other) if isinstance(other, Tensor) else ops.MulScalar(other)(self)

    def __truediv__(self, other):
        from . import ops

        return ops.EWiseDiv()(self, other) if isinstance(other, Tensor) else ops.MulScalar(1 / other)(self)

    def __neg__(self):
        from . import ops

        return ops.MulScalar(-1)(self)

    def __sub__(self, other):
        return self + (-other)

    __radd__ = __add__
    __rmul__ = __mul__
