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

import sys
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np


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
        self.package = sys.modules.get(module.__name__.split(".")[0])
        self.device: Any = None
        self.backend = (
            "NumPy" if getattr(module, "array_api", np) is np else type(getattr(module, "array_api", None)).__name__
        )

    def describe(self) -> str:
        where = getattr(self.module, "__file__", self.module.__name__)
        return f"in its framework: {self.tensor.__name__} of {self.module.__name__} ({where}), backend {self.backend}"

    def wrap(self, x: np.ndarray) -> Any:
        if self.device is None:
            try:
                return self.tensor(x, dtype=str(x.dtype))
            except Exception:  # a framework that wants its device named (needle's cpu())
                cpu = getattr(self.package, "cpu", None) or getattr(self.module, "cpu", None)
                if cpu is None:
                    raise
                self.device = cpu()
        return self.tensor(x, device=self.device, dtype=str(x.dtype))

    def unwrap(self, value: Any) -> Any:
        if value is None or isinstance(value, np.ndarray):
            return value
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
        if isinstance(grads, (tuple, list)):
            return tuple(self.unwrap(v) for v in grads)
        return self.unwrap(grads)


def _write_back(array: np.ndarray, now: Any) -> None:
    if isinstance(now, np.ndarray) and now.shape == array.shape and not np.array_equal(now, array, equal_nan=True):
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
