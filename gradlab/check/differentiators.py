"""Who can differentiate a rule: the frameworks a first-order rule may be written in.

``order=2`` checks a rule's own derivatives, which only the framework the rule is written in can
give: gradlab's training core for a rule written with ``gradlab.ops``, torch's double backward for
a ``torch.autograd.Function``, JAX for a ``custom_vjp``. The check wing knows them only through
this small interface; each registers itself under the entry-point group ``gradlab.differentiators``
(gradlab's own in ``pyproject.toml``), loaded the first time one is needed, so ``gradlab.check``
imports no framework.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any, Protocol

Array = Any

GROUP = "gradlab.differentiators"


class Differentiator(Protocol):
    """A framework that can differentiate a function written in it."""

    name: str

    def lift(self, x: Array) -> Any:
        """``x`` as a traced value of the framework (a leaf whose derivatives are wanted)."""
        ...

    def owns(self, value: Any) -> bool:
        """Whether ``value`` is a traced value of the framework (not a plain array)."""
        ...

    def grad(self, fn: Callable[..., Any], primals: Sequence[Array]) -> tuple[Array, ...]:
        """The gradient of the traced scalar ``fn(*primals)``: one array per primal."""
        ...

    def jvp(self, fn: Callable[..., Any], primals: Sequence[Array], tangents: Sequence[Array]) -> Array:
        """The directional derivative of the traced ``fn`` at ``primals`` along ``tangents``, an array."""
        ...


_LOADED: list[Differentiator] = []


def registered() -> list[Differentiator]:
    """The differentiators of the installed packages (loaded once)."""
    if not _LOADED:
        for entry in entry_points(group=GROUP):
            try:
                _LOADED.append(entry.load())
            except ImportError:  # a framework that is not installed: it differentiates nothing here
                continue
    return _LOADED
