"""Running a homework op in its own framework: one small interface, an adapter per framework.

A class-style op (``compute`` + ``gradient``) is called the way its course calls it. With a
framework (needle: a ``Tensor`` class beside the op's base class, with ``.numpy()``), the op runs on
that framework's Tensors: ``op(*tensors)`` builds the node, ``gradient(out_grad, node)`` receives
Tensors and returns Tensors, read back with ``.numpy()``. Without one, ``compute`` gets NumPy arrays
and ``gradient`` a stand-in node (:class:`Node`). gradlab's checks see NumPy arrays either way; what
a rule writes into the framework's copies (``out_grad``, the inputs, the node's data) is written back
to gradlab's arrays, so the form check reports the mutation.

The interface (:class:`Framework`) is what an adapter for torch, JAX or HIPS autograd provides too:
``forward(op, xs)`` and ``vjp(op, g, xs)`` on NumPy arrays, and a sentence for the report.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

# arrays in a tuple value gradlab makes (Stack's TensorTuple; TupleGetItem picks index 0, 1 or 2),
# and in a forward of any number of arrays (make_tuple's compute(self, *args))
TUPLE_LENGTH = 3


@dataclass(frozen=True)
class Packing:
    """How the arrays gradlab draws make an op's inputs: one array per input, or a tuple of
    :data:`TUPLE_LENGTH` for an input that takes a tuple value (named ``args[0]``, ``args[1]``...)."""

    inputs: tuple[str, ...]  # the forward's parameters
    sizes: tuple[int | None, ...]  # per parameter: None for one array, k for a tuple of k

    @classmethod
    def of(cls, params: Sequence[str], tuples: Sequence[bool], variadic: bool = False) -> Packing:
        """For a forward with ``params`` (``tuples``: which take a tuple value); a forward of
        ``*args`` alone takes :data:`TUPLE_LENGTH` arrays."""
        if variadic and not params:
            return cls(tuple(f"args[{i}]" for i in range(TUPLE_LENGTH)), (None,) * TUPLE_LENGTH)
        return cls(tuple(params), tuple(TUPLE_LENGTH if t else None for t in tuples))

    @property
    def names(self) -> tuple[str, ...]:
        """The arrays' names: a parameter's, or ``args[0]``, ``args[1]``... for a tuple's."""
        pairs = zip(self.inputs, self.sizes, strict=True)
        return tuple(name for p, k in pairs for name in ([p] if k is None else [f"{p}[{i}]" for i in range(k)]))

    def pack(self, xs: Sequence[Any]) -> list[Any]:
        """The op's inputs from gradlab's arrays: a tuple input gets its arrays as one tuple."""
        values, i = [], 0
        for size in self.sizes:
            values.append(xs[i] if size is None else tuple(xs[i : i + size]))
            i += 1 if size is None else size
        return values

    def unpack(self, grads: Any) -> Any:
        """Gradients per array from the rule's gradients per input; a tuple input's gradient must be a
        tuple value of one gradient per array."""
        if all(size is None for size in self.sizes):
            return grads
        if len(grads) != len(self.sizes):
            raise TypeError(
                f"the gradient gives {len(grads)} values for {len(self.sizes)} input(s) ({', '.join(self.inputs)}):"
                " a tuple input's gradient is one TensorTuple (make_tuple(...)), not a Python tuple of Tensors"
            )
        flat: list[Any] = []
        for name, size, grad in zip(self.inputs, self.sizes, grads, strict=True):
            if size is None:
                flat.append(grad)
            elif isinstance(grad, tuple) and len(grad) == size:
                flat.extend(grad)
            else:
                what = f"a tuple of {len(grad)}" if isinstance(grad, tuple) else f"a {type(grad).__name__}"
                raise TypeError(
                    f"the gradient of {name}, a tuple of {size} tensors, is {what}: return a TensorTuple"
                    " (make_tuple(...)) with one gradient per tensor"
                )
        return tuple(flat)


class Framework(Protocol):
    name: str

    def describe(self) -> str: ...

    def forward(self, op: Any, method: str, xs: Sequence[np.ndarray]) -> Any: ...

    def vjp(self, op: Any, method: str, g: np.ndarray, xs: Sequence[np.ndarray], out: np.ndarray) -> Any: ...


class Node:
    """What a needle ``gradient(out_grad, node)`` reads: the inputs and the forward's output."""

    def __init__(self, op: Any, inputs: Sequence[Any], out: Any) -> None:
        self.op, self.inputs, self.cached_data = op, list(inputs), out
        self.shape, self.dtype = getattr(out, "shape", ()), getattr(out, "dtype", None)

    def realize_cached_data(self) -> Any:
        return self.cached_data


class Plain:
    """No framework: ``compute`` on NumPy arrays, ``gradient`` with a :class:`Node` of them."""

    name = "numpy"

    def describe(self) -> str:
        return "on NumPy arrays (no framework found beside the class)"

    def forward(self, op: Any, method: str, xs: Sequence[np.ndarray]) -> Any:
        return getattr(op, method)(*xs)

    def vjp(self, op: Any, method: str, g: np.ndarray, xs: Sequence[np.ndarray], out: np.ndarray) -> Any:
        return op.gradient(g, Node(op, xs, out))


class Needle:
    """The op's own needle-style framework: its ``Tensor`` made from NumPy arrays, read back with ``.numpy()``."""

    name = "needle"

    def __init__(self, tensor: type, module: Any) -> None:
        self.tensor, self.module = tensor, module
        tuple_type = getattr(module, "TensorTuple", None)
        self.tuple_type: type | None = tuple_type if isinstance(tuple_type, type) else None
        self.package = sys.modules.get(module.__name__.split(".")[0])
        self.device: Any = None
        api = getattr(module, "array_api", np)
        self.backend = "NumPy" if api is np else getattr(api, "__name__", type(api).__name__)

    def describe(self) -> str:
        where = getattr(self.module, "__file__", self.module.__name__)
        kept = " (float32 only: it keeps no float64, so float64 is not checked)" if "float64" not in self.dtypes else ""
        name = f"{self.tensor.__name__} of {self.module.__name__} ({where})"
        return f"in its framework: {name}, backend {self.backend}{kept}"

    @functools.cached_property
    def dtypes(self) -> tuple[str, ...]:
        """The floating dtypes the framework's Tensors keep: float64 and float32, or float32 alone (the
        course's compiled NDArray backend asserts float32)."""
        kept = []
        for dtype in ("float64", "float32"):
            try:
                back = self.unwrap(self._tensor(np.ones(2, dtype=dtype)))
            except Exception:  # the framework refuses the dtype
                continue
            if isinstance(back, np.ndarray) and back.dtype == dtype:
                kept.append(dtype)
        return tuple(kept) or ("float32",)

    def wrap(self, x: Any) -> Any:
        if isinstance(x, tuple):
            return self.wrap_tuple([self.wrap(v) for v in x])
        if x.dtype.kind == "f" and x.dtype.name not in self.dtypes:  # float64 differencing is refused: done in float32
            raise TypeError(f"{self.tensor.__name__} of backend {self.backend} keeps {' and '.join(self.dtypes)} only")
        return self._tensor(x)

    def _tensor(self, x: np.ndarray) -> Any:
        if self.device is None:
            try:
                return self.tensor(x, dtype=str(x.dtype))
            except Exception:  # a framework that wants its device named (needle's cpu())
                cpu = getattr(self.package, "cpu", None) or getattr(self.module, "cpu", None)
                if cpu is None:
                    raise
                self.device = cpu()
        return self.tensor(x, device=self.device, dtype=str(x.dtype))

    def wrap_tuple(self, tensors: Sequence[Any]) -> Any:
        """A constant TensorTuple of ``tensors``' data: made without the homework's own tuple ops,
        which may be the ones under check (and ``TupleGetItem`` folds a ``make_tuple`` away)."""
        if self.tuple_type is None:
            raise TypeError(f"{self.module.__name__} has no TensorTuple for a tuple value")
        data = tuple(t.realize_cached_data() for t in tensors)
        made = getattr(self.tuple_type, "make_const", None)
        value = made(data) if callable(made) else None
        if not isinstance(value, self.tuple_type):  # a make_const of Tensor only: fill one by hand
            value = self.tuple_type.__new__(self.tuple_type)
            value._init(None, [], cached_data=data)
        # as the op's inputs are: needle detaches the node of an op of constants that need no gradient
        value.requires_grad = True
        return value

    def unwrap(self, value: Any) -> Any:
        if value is None or isinstance(value, np.ndarray):
            return value
        if self.tuple_type is not None and isinstance(value, self.tuple_type):
            return tuple(self.unwrap(v) for v in value.realize_cached_data())
        if callable(getattr(value, "numpy", None)):
            return np.array(value.numpy())
        return np.asarray(value)

    def forward(self, op: Any, method: str, xs: Sequence[np.ndarray]) -> Any:
        return self.unwrap(op(*[self.wrap(x) for x in xs]))

    def vjp(self, op: Any, method: str, g: np.ndarray, xs: Sequence[np.ndarray], out: np.ndarray) -> Any:
        tensors = [self.wrap(x) for x in xs]
        node = op(*tensors)
        g_tensor = self.wrap(g)
        grads = op.gradient(g_tensor, node)
        # what the rule wrote into the framework's copies shows on gradlab's arrays (the form check)
        for array, tensor in ((g, g_tensor), (out, node), *zip(xs, tensors, strict=True)):
            _write_back(array, self.unwrap(tensor))
        # one gradient per input, as needle's gradient_as_tuple reads them: a Python tuple or list
        # holds one per input; anything else (a Tensor, a TensorTuple) is the one input's
        per_input = list(grads) if isinstance(grads, (tuple, list)) else [grads]
        values = (self.tensor, self.tuple_type) if self.tuple_type is not None else (self.tensor,)
        for k, grad in enumerate(per_input):
            if grad is not None and not isinstance(grad, values):  # needle's backward adds Tensors
                raise TypeError(
                    f"the gradient of input {k} is a {type(grad).__name__}, not a {self.tensor.__name__}: the"
                    f" framework's backward adds gradients as {self.tensor.__name__}s; return one (e.g."
                    f" {self.tensor.__name__}.make_const(...), or build it with the framework's ops)"
                )
        return tuple(self.unwrap(v) for v in per_input)

    def tuple_inputs(self, cls: type, method: str) -> list[bool]:
        """Which of ``cls``'s forward parameters take a TensorTuple: annotated so on ``compute`` or
        ``__call__`` (needle's ``Stack.compute(self, args: TensorTuple)``, ``TupleGetItem.__call__(self,
        a: TensorTuple)``), or a lone parameter named ``args``."""
        params = _positional(getattr(cls, method))
        if self.tuple_type is None:
            return [False] * len(params)
        called = dict(_positional(cls.__call__))
        marked = [_is_tuple(note) or _is_tuple(called.get(name)) for name, note in params]
        if not any(marked) and [name for name, _ in params] == ["args"]:
            marked = [True]
        return marked


def _positional(fn: Any) -> list[tuple[str, Any]]:
    """A method's positional parameters after ``self`` with their annotations."""
    try:
        params = list(inspect.signature(fn).parameters.values())[1:]
    except (TypeError, ValueError):
        return []
    return [(p.name, p.annotation) for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _is_tuple(note: Any) -> bool:
    text = note if isinstance(note, str) else getattr(note, "__name__", "")
    return text in ("TensorTuple", "Tuple", "tuple") or text.endswith(".TensorTuple")


def _write_back(array: Any, now: Any) -> None:
    if isinstance(array, tuple) and isinstance(now, tuple) and len(now) == len(array):
        for part, value in zip(array, now, strict=True):
            _write_back(part, value)
    elif isinstance(now, np.ndarray) and now.shape == array.shape and not np.array_equal(now, array, equal_nan=True):
        array[...] = now


def framework_of(cls: type) -> Framework:
    """The framework an op class belongs to: needle when a base class's module has a ``Tensor`` class
    with ``.numpy()`` (the course's autograd module); else plain NumPy."""
    for base in cls.__mro__[1:]:
        module = sys.modules.get(base.__module__)
        tensor = getattr(module, "Tensor", None)
        if isinstance(tensor, type) and callable(getattr(tensor, "numpy", None)):
            return Needle(tensor, sys.modules.get(tensor.__module__, module))
    return Plain()
