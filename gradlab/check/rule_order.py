"""The one rule convention, and the order gradlab used before it.

Every rule takes what flows in first, then the forward's output, then the inputs, then keyword
arguments: ``vjp(g, out, *inputs, **kwargs)``, ``jvp(tangents, out, *inputs, **kwargs)``, as the
registry's per-argument rules ``rule(g, ans, *inputs, **params)`` (``defvjp``, ``defjvp``). A
whole-function rule in the old order ``vjp(g, *inputs, out)`` keeps working, with a
``DeprecationWarning`` that says how to reorder it.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

# the names a rule in the old order ``vjp(g, *inputs, out)`` gave its last parameter
_OUTPUT_NAMES = {"out", "ans", "output", "outputs", "result", "res", "primal_out"}


def in_old_order(rule: Callable[..., Any], skip: int = 0) -> bool:
    """Whether ``rule`` is written in the old order ``rule(g, *inputs, out)``: its last positional
    parameter is named like an output (``out``, ``ans``...) and its second is not (``skip``: leading
    parameters that are not the rule's, ``self`` of a method read from its class)."""
    code = getattr(rule, "__code__", None)
    if code is not None and not hasattr(rule, "__self__"):  # a plain function: its code says it at once
        n_defaults = len(getattr(rule, "__defaults__", None) or ())
        names = list(code.co_varnames[: code.co_argcount - n_defaults])[skip:]
    else:
        try:
            parameters = inspect.signature(rule).parameters.values()
        except (TypeError, ValueError):
            return False
        names = [
            p.name
            for p in parameters
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ][skip:]
    return len(names) >= 3 and names[-1] in _OUTPUT_NAMES and names[1] not in _OUTPUT_NAMES


def reordered(rule: Callable[..., Any] | None, label: str) -> Callable[..., Any] | None:
    """``rule`` in the one convention (``label(g, out, *inputs)``); a rule in the old order
    ``label(g, *inputs, out)`` keeps working, with a ``DeprecationWarning``."""
    if rule is None or not in_old_order(rule):
        return rule
    warnings.warn(
        f"{label}={getattr(rule, '__name__', 'rule')} takes the output last, {label}(g, *inputs, out): that order"
        f" is deprecated; write {label}(g, out, *inputs), as defvjp/defjvp rules (g, ans, *inputs)",
        DeprecationWarning,
        stacklevel=4,
    )

    def in_new_order(g: Any, out: Any, *inputs: Any, **kwargs: Any) -> Any:
        return rule(g, *inputs, out, **kwargs)

    return in_new_order
