"""Tensors that record the ops called on them: the registry's one hook for a training core.

The registry imports nothing of the training core built on it. The core registers its tensor type
here (:func:`trace_calls`); calling an op with an instance of that type among its arguments then
hands the call to the core's recorder (``gradlab.train.autograd.apply``) instead of running the
forward, so a rule written with ops (``g * gradlab.ops.cos(x)``) runs on arrays and on tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# tensor type -> the function recording an op called with one of its instances
TRACERS: dict[type, Callable[..., Any]] = {}


def trace_calls(tensor_type: type, record: Callable[..., Any]) -> None:
    """Make calling any op with an argument of exactly ``tensor_type`` (a subclass registers too)
    return ``record(op, *inputs, **params)`` instead of running the forward.

    A tensor type has ``.data`` (its array), ``.shape``, ``.ndim`` and the arithmetic operators.
    """
    TRACERS[tensor_type] = record


def traced(x: Any) -> bool:
    """Whether ``x`` is a tensor whose op calls are recorded."""
    return x.__class__ in TRACERS


def array_of(x: Any) -> Any:
    """The array a tensor holds, and anything else as it is."""
    return x.data if x.__class__ in TRACERS else x
