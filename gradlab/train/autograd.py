"""A small reverse- and forward-mode automatic differentiation over the op registry.

A :class:`Tensor` wraps an array and remembers the registry op and inputs that made it.
``backward()`` walks the graph in reverse topological order; a node's adjoint is the sum over its
consumers of what each consumer's VJP sends back (a tensor used twice gets both contributions;
the walks are in :mod:`~gradlab.train.graph`). Forward mode (:func:`jvp`) walks the same graph the
other way with the registered JVPs. Every derivative used is one gradlab checks.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from gradlab import backend
from gradlab.errors import GradlabError
from gradlab.ops.registry import REGISTRY, Op
from gradlab.ops.tracing import trace_calls
from gradlab.train.graph import pullback, topological

Array = Any

_GRAD_ENABLED = [True]
_MADE = itertools.count()  # the order apply records nodes in: a node is made after its inputs
_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Within this block, results of ops record no graph (evaluation, optimiser updates)."""
    _GRAD_ENABLED.append(False)
    try:
        yield
    finally:
        _GRAD_ENABLED.pop()


class Tensor:
    """An array with an optional gradient and the op that produced it.

    Registry ops called with a tensor among their arguments record themselves like its operators
    (``gradlab.ops.cos(t)`` is ``apply("cos", t)``). NumPy defers to the tensor's operators
    (``array * t`` is ``t.__rmul__(array)``) and refuses its ufuncs on tensors (``np.cos(t)``
    raises TypeError: ``gradlab.ops.cos(t)`` records the op, NumPy would not).
    """

    __slots__ = ("arrays", "data", "grad", "inputs", "made", "needed", "op", "params", "requires_grad", "saved")
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if not backend.is_array(data) or dtype is not None:
            xp = backend.namespace(data)
            data = xp.asarray(data, dtype=dtype)
        self.data = data
        self.grad: Array | None = None
        self.requires_grad = requires_grad
        self.op: Op | None = None
        self.inputs: tuple[Any, ...] = ()
        self.params: Mapping[str, Any] = _NO_PARAMS
        # what the op saw, recorded by apply: the inputs' arrays and which inputs need a cotangent
        self.arrays: Sequence[Any] = ()
        self.needed: Sequence[bool] = ()
        self.saved: tuple[Any, ...] | None = None  # what an op that ``saves`` kept for its rules
        self.made = -1  # when apply recorded it (a count): leaves come before every node

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass (``nn.Parameter``) records the ops called on it too: the registry looks up
        exact types, to keep the test cheap."""
        super().__init_subclass__(**kwargs)
        trace_calls(cls, apply)

    # ---- basics --------------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({backend.to_host(self.data)!r}{grad})"

    def numpy(self) -> Any:
        return backend.to_host(self.data)

    def item(self) -> float:
        return float(self.data)

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def backward(self, grad: Array | None = None) -> None:
        """Accumulate into ``.grad`` of every leaf that requires it the derivative of this tensor
        (a scalar, unless ``grad``, the cotangent, is given)."""
        if grad is None:
            if self.data.size != 1:
                raise ValueError("backward() of a non-scalar needs the cotangent: t.backward(grad)")
            data = self.data
            grad = (
                np.ones(data.shape, data.dtype)
                if isinstance(data, (np.ndarray, np.generic))
                else backend.namespace(data).ones_like(data)
            )
        adjoints, leaves = pullback(self, grad)
        for leaf in leaves:
            if leaf.requires_grad:
                g = adjoints[id(leaf)]
                leaf.grad = g if leaf.grad is None else leaf.grad + g

    # ---- operators -----------------------------------------------------------------------------

    def __add__(self, other: Any) -> Tensor:
        return apply("add", self, other)

    def __radd__(self, other: Any) -> Tensor:
        return apply("add", other, self)

    def __sub__(self, other: Any) -> Tensor:
        return apply("subtract", self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return apply("subtract", other, self)

    def __mul__(self, other: Any) -> Tensor:
        return apply("multiply", self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return apply("multiply", other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return apply("divide", self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return apply("divide", other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return apply("matmul", self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return apply("matmul", other, self)

    def __pow__(self, exponent: Any) -> Tensor:
        if isinstance(exponent, (int, float)):
            return apply("power_scalar", self, exponent=float(exponent))
        return apply("power", self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return apply("power", base, self)

    def __neg__(self) -> Tensor:
        return apply("negative", self)

    def __abs__(self) -> Tensor:
        return apply("abs", self)

    # comparisons give a plain boolean array, a constant of the graph: ``g * (x > 0)`` is a
    # rule's mask on arrays and on tensors alike (equality stays identity: tensors are dict keys)
    def __lt__(self, other: Any) -> Array:
        return self.data < _data(other)

    def __le__(self, other: Any) -> Array:
        return self.data <= _data(other)

    def __gt__(self, other: Any) -> Array:
        return self.data > _data(other)

    def __ge__(self, other: Any) -> Array:
        return self.data >= _data(other)

    def __getitem__(self, index: Any) -> Tensor:
        return apply("getitem", self, index=index if isinstance(index, tuple) else (index,))

    @property
    def T(self) -> Tensor:
        return apply("transpose", self, axes=tuple(reversed(range(self.ndim))))

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return apply("sum", self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return apply("mean", self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return apply("max", self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        target = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
        return apply("reshape", self, shape=target)

    def transpose(self, *axes: int) -> Tensor:
        return apply("transpose", self, axes=tuple(axes) or tuple(reversed(range(self.ndim))))

    def exp(self) -> Tensor:
        return apply("exp", self)

    def log(self) -> Tensor:
        return apply("log", self)

    def relu(self) -> Tensor:
        return apply("relu", self)

    def tanh(self) -> Tensor:
        return apply("tanh", self)

    def sigmoid(self) -> Tensor:
        return apply("sigmoid", self)


def apply(op: str | Op, *args: Any, **params: Any) -> Tensor:
    """Run a registry op on tensors (or arrays and constants) and record it in the graph."""
    target = REGISTRY[op] if isinstance(op, str) else op
    arrays = []
    needed = []
    tracked = False
    for a in args:
        if isinstance(a, Tensor):
            arrays.append(a.data)
            needed.append(a.requires_grad)
            tracked = tracked or a.requires_grad
        else:
            arrays.append(a)
            needed.append(False)
    out = Tensor.__new__(Tensor)  # every slot is set below: no argument checks on the hot path
    out.grad = out.saved = None
    if tracked and _GRAD_ENABLED[-1]:
        if target.saves:
            data, out.saved = target.call_saving(*arrays, **params)
        else:
            data = target.evaluate(*arrays, **params)
        out.requires_grad = True
        out.op, out.inputs, out.params, out.arrays, out.needed = target, args, params, arrays, needed
        out.made = next(_MADE)
    else:
        data = target.evaluate(*arrays, **params)
        out.requires_grad, out.op, out.inputs, out.params, out.arrays, out.needed = False, None, (), _NO_PARAMS, (), ()
        out.made = -1
    out.data = data if backend.is_array(data) else backend.namespace(*arrays).asarray(data)  # a Python scalar
    return out


def backpropagate(root: Tensor, cotangent: Array) -> dict[int, Array]:
    """Adjoints of every node under ``root`` (by ``id``) for the cotangent of ``root``."""
    return pullback(root, cotangent)[0]


def vjp(
    f: Callable[..., Any], primals: Sequence[Any], argnums: int | Sequence[int] | None = None
) -> tuple[Array, Callable[[Array], tuple[Array, ...]]]:
    """``f(*primals)`` and the function mapping a cotangent of it to the cotangents of the primals.

    Parameters
    ----------
    f : callable
        Written with tensor operators and registry ops (``gradlab.ops.<name>``), so that called
        with tensors it records its graph; returns one tensor (or an array, a constant).
    primals : sequence
        The arguments of ``f``.
    argnums : int or sequence of int, optional
        The primals to differentiate (default: all); ``f`` gets the others as given (arrays: constants).

    Returns
    -------
    value : array
        ``f(*primals)``.
    pullback : callable
        From a cotangent of the value's shape to the cotangents of the primals at ``argnums``, in
        that order: zeros for a primal the value does not depend on.
    """
    leaves, out = _trace(f, primals, argnums)

    def pullback(cotangent: Array) -> tuple[Array, ...]:
        adjoints = backpropagate(out, _fitting(cotangent, out, "cotangent"))
        return tuple(adjoints[id(leaf)] if id(leaf) in adjoints else _zeros(leaf) for leaf in leaves)

    return out.data, pullback


def jvp(
    f: Callable[..., Any],
    primals: Sequence[Any],
    tangents: Sequence[Array],
    argnums: int | Sequence[int] | None = None,
) -> tuple[Array, Array]:
    """``f(*primals)`` and its directional derivative along ``tangents``, from the registered JVPs.

    ``f``, ``primals`` and ``argnums`` are as for :func:`vjp`; ``tangents`` holds one tangent per
    differentiated primal, of its shape. The derivative is zeros where the value does not depend
    on those primals.
    """
    leaves, out = _trace(f, primals, argnums)
    if len(tangents) != len(leaves):
        raise GradlabError(f"jvp: {len(tangents)} tangents for {len(leaves)} differentiated primals")
    tangent_of: dict[int, Array] = {
        id(leaf): _fitting(t, leaf, "tangent") for leaf, t in zip(leaves, tangents, strict=True)
    }
    for node in topological(out):
        if node.op is None or id(node) in tangent_of:
            continue
        inputs_tangents = tuple(tangent_of.get(id(a)) if isinstance(a, Tensor) else None for a in node.inputs)
        tangent_of[id(node)] = node.op.jvp(inputs_tangents, node.data, *node.arrays, saved=node.saved, **node.params)
    return out.data, tangent_of[id(out)] if id(out) in tangent_of else _zeros(out)


def _trace(
    f: Callable[..., Any], primals: Sequence[Any], argnums: int | Sequence[int] | None
) -> tuple[list[Tensor], Tensor]:
    """The leaves made for the primals at ``argnums`` and ``f``'s output, as a tensor."""
    count = len(primals)
    chosen = tuple(range(count)) if argnums is None else (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if len(set(chosen)) != len(chosen) or not all(isinstance(i, int) and 0 <= i < count for i in chosen):
        raise GradlabError(f"argnums {argnums!r}: distinct positions among the {count} primals")
    args = list(primals)
    leaves = []
    for i in chosen:
        leaf = args[i] = Tensor(_data(primals[i]), requires_grad=True)
        leaves.append(leaf)
    out = f(*args)
    if not isinstance(out, Tensor):
        if not (backend.is_array(out) or isinstance(out, (int, float))):
            raise GradlabError(f"the function returned {type(out).__name__}: it should return one tensor or array")
        out = Tensor(out)
    return leaves, out


def _fitting(value: Any, like: Tensor, what: str) -> Array:
    """``value`` as an array of ``like``'s shape (a Python number for a 0-d one), or an error."""
    if not backend.is_array(value):
        value = backend.namespace(like.data).asarray(value, dtype=like.dtype)
    if tuple(value.shape) != like.shape:
        raise GradlabError(f"a {what} of shape {tuple(value.shape)} for a value of shape {like.shape}")
    return value


def _zeros(like: Tensor) -> Array:
    return backend.namespace(like.data).zeros_like(like.data)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


trace_calls(Tensor, apply)  # registry ops called with a tensor record themselves (Op.__call__)
