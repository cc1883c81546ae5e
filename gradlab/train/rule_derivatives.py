"""gradlab's training core as a differentiator of rules (``check_grads(..., order=2)``).

A forward and rules written with ``gradlab.ops`` functions and tensor operators run on plain
arrays (the first-order checks) and on the core's :class:`~gradlab.train.autograd.Tensor`, where
they record a graph; its reverse and forward passes are the rules' own VJP and JVP. Registered as
the entry point ``gradlab`` of the group ``gradlab.differentiators``
(:mod:`gradlab.check.differentiators`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gradlab import backend
from gradlab.train import autograd
from gradlab.train.autograd import Tensor

Array = Any


class TensorDifferentiator:
    """Differentiates functions written with ``gradlab.ops`` by tracing them on Tensors."""

    name = "gradlab"

    def lift(self, x: Array) -> Tensor:
        return Tensor(x, requires_grad=True)

    def owns(self, value: Any) -> bool:
        # a Tensor holding an object array was made by a NumPy function fed Tensors: its graph is cut
        return isinstance(value, Tensor) and backend.is_array(value.data) and value.data.dtype != object

    def grad(self, fn: Callable[..., Any], primals: Sequence[Array]) -> tuple[Array, ...]:
        value, pullback = autograd.vjp(fn, primals)
        return pullback(backend.namespace(value).ones_like(value))

    def jvp(self, fn: Callable[..., Any], primals: Sequence[Array], tangents: Sequence[Array]) -> Array:
        return autograd.jvp(fn, primals, tangents)[1]


TENSORS = TensorDifferentiator()
