"""Rules written in another autodiff framework (a ``torch.autograd.Function``, a ``jax.custom_vjp``,
a HIPS autograd primitive), checked as gradlab checks any rule.

When ``check_grads`` is given no ``vjp`` and no ``jvp``, and the function or an input belongs to a
framework with a bridge, the bridge supplies them: the framework's own reverse mode (which runs the
user's ``backward`` / ``bwd`` / registered VJP) and its forward mode (``jvp`` / ``custom_jvp`` /
``defjvp``) where the rule defines one. The checks run on arrays of gradlab's namespaces (NumPy on
the CPU, CuPy on a GPU), viewed without a copy where DLPack allows, and every rule is called on the
framework's own values.

Bridges register under the entry-point group ``gradlab.bridges``, each named by the top-level
module of its framework (``torch``, ``jax``, ``autograd``); one is loaded only when that module is
already imported, so gradlab never imports a framework the user's objects do not come from.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

from gradlab.check import pytree

GROUP = "gradlab.bridges"


@dataclass
class Bridged:
    """A framework's function made ready for the checks: forward and rules on gradlab's arrays."""

    forward: Callable[..., Any]
    vjp: Callable[..., Any] | None
    jvp: Callable[..., Any] | None
    inputs: tuple[Any, ...]  # the user's inputs, every array leaf one of gradlab's namespaces
    name: str | None = None  # the rule's own name (a Function's class), when the user gave none
    names: list[str] | None = None  # its inputs' names, from the rule's signature
    convention: str = "torch"  # how the framework writes complex cotangents
    notes: list[str] = field(default_factory=list)  # what is left out, and why
    once: str | None = None  # why the rules cannot be differentiated again (order=2 leaves them out)
    # a rule found in a module: its forward's positional parameters with defaults, after ``names``,
    # each passed at its default (``Function.apply`` takes no keywords; a backward may count them)
    defaults: dict[str, Any] = field(default_factory=dict)
    rtol: float | None = None  # tolerances the framework's values need (bfloat16), unless the user gives them
    atol: float | None = None


class Bridge(Protocol):
    """How gradlab reaches the rules of one framework."""

    name: str

    def owns(self, f: Callable[..., Any], leaves: Sequence[Any]) -> bool:
        """Whether ``f`` is a function of the framework or a leaf an array of it."""
        ...

    def bridge(
        self, f: Callable[..., Any], inputs: Sequence[Any], wrt: Sequence[int] | None, kwargs: Mapping[str, Any]
    ) -> Bridged:
        """``f`` with the framework's rules, on gradlab's arrays."""
        ...

    def rule(self, value: Any) -> Bridged | None:
        """``value``, an object found in a user's module, as a rule to check on inputs gradlab draws
        (a ``Function`` subclass, a ``custom_vjp`` function, a primitive with a VJP): its forward
        and rules on arrays, its inputs' names (``inputs`` empty); None when it is not one."""
        ...


_LOADED: dict[str, Bridge | None] = {}


def _bridge(module: str, load: Callable[[], Any]) -> Bridge | None:
    if module not in _LOADED:
        try:
            _LOADED[module] = load()
        except ImportError:  # a bridge whose own imports fail bridges nothing here
            _LOADED[module] = None
    return _LOADED[module]


@functools.cache
def _entries() -> tuple[Any, ...]:
    """The installed bridges' entry points (read once: scanning the installed packages costs
    milliseconds, and a test suite checks many functions)."""
    return tuple(entry_points(group=GROUP))


def imported() -> list[Bridge]:
    """The bridges of the frameworks imported so far (after a user's module is imported: those its
    objects can come from)."""
    found = []
    for entry in _entries():
        if entry.name in sys.modules:
            bridge = _bridge(entry.name, entry.load)
            if bridge is not None:
                found.append(bridge)
    return found


def find(f: Callable[..., Any], inputs: Sequence[Any]) -> Bridge | None:
    """The bridge of the framework ``f`` or an input belongs to (None: plain arrays)."""
    leaves = [leaf for x in inputs for leaf in pytree.flatten(x)[0]]
    return next((bridge for bridge in imported() if bridge.owns(f, leaves)), None)


def adopt(
    f: Callable[..., Any], inputs: Sequence[Any], wrt: Sequence[int] | None, kwargs: Mapping[str, Any], order: int
) -> Bridged | None:
    """``f`` with its framework's rules, when ``f`` or an input belongs to a framework (None: plain
    arrays); at ``order=2``, rules the framework cannot differentiate again are left out, with a note."""
    bridge = find(f, inputs)
    if bridge is None:
        return None
    bridged = bridge.bridge(f, inputs, wrt, kwargs)
    if order == 2 and bridged.once:
        bridged.notes.append(f"order 2: {bridged.once}")
    return bridged
