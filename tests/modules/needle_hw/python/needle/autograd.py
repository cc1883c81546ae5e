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


class TensorTupleOp(Op):
    """An op whose output is a tuple of tensors."""

    def __call__(self, *args):
        return TensorTuple.make_from_op(self, args)


class Value:
    op: Op | None
    inputs: list["Value"]
    cached_data: NDArray
    requires_grad: bool

    def realize_cached_data(self):
        if self.cached_data is None:
            self.cached_data = self.op.compute(*[x.realize_cached_data() for x in self.inputs])
        return self.cached_data

    def _init(self, op, inputs, *, cached_data=None, requires_grad=None):
        if requires_grad is None:
            requires_grad = any(x.requires_grad for x in inputs)
        self.op, self.inputs, self.cached_data, self.requires_grad = op, list(inputs), cached_data, requires_grad

    @classmethod
    def make_const(cls, data, *, requires_grad=False):
        value = cls.__new__(cls)
        value._init(None, [], cached_data=data, requires_grad=requires_grad)
        return value

    @classmethod
    def make_from_op(cls, op: Op, inputs: list["Value"]):
        value = cls.__new__(cls)
        value._init(op, inputs)
        if not value.requires_grad:  # as needle does: no graph kept for constants
            return cls.make_const(value.realize_cached_data())
        value.realize_cached_data()
        return value


class TensorTuple(Value):
    """A tuple of tensors, as one value of the graph (its cached data is a tuple of arrays)."""

    def __len__(self):
        return len(self.realize_cached_data())

    def __getitem__(self, index: int):
        from . import ops

        return ops.tuple_get_item(self, index)

    def tuple(self):
        return tuple(self[i] for i in range(len(self)))

    def __add__(self, other):
        from . import ops

        return ops.make_tuple(*[self[i] + other[i] for i in range(len(self))])


class Tensor(Value):
    def __init__(self, array, *, device=None, dtype=None, requires_grad=True):
        data = array.realize_cached_data() if isinstance(array, Tensor) else array
        self._init(None, [], cached_data=numpy.array(data, dtype=dtype or "float32"), requires_grad=requires_grad)

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
