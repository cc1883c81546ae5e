"""What every bridge does to values: map the leaves of a pytree, name a rule's inputs."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gradlab.check import pytree
from gradlab.check.bridges import Bridged

# torch.testing's tolerances for bfloat16 (rtol), and an atol for sums that cancel
BFLOAT16_TOLERANCE = (1.6e-2, 1e-3)


def bfloat16_leaves(inputs: Sequence[Any]) -> set[int]:
    """The positions, among the leaves of all ``inputs`` in order, of the bfloat16 arrays (a torch
    tensor's or a JAX array's dtype prints as ``bfloat16``; NumPy has none)."""
    return {k for k, x in enumerate(leaves(tuple(inputs))) if str(getattr(x, "dtype", "")).endswith("bfloat16")}


def in_bfloat16(bridged: Bridged) -> Bridged:
    """``bridged`` with bfloat16's tolerances and the note saying how its values are checked."""
    bridged.rtol, bridged.atol = BFLOAT16_TOLERANCE
    bridged.notes.append(
        "bfloat16: its values are checked as float32 arrays and differenced in float64; the rules run in"
        f" bfloat16, with rtol={bridged.rtol:g}, atol={bridged.atol:g}; what a rule writes into a bfloat16 input"
        " is not seen"
    )
    return bridged


def bridged_run(
    run: Callable[[Callable[..., Any], list[bool]], Any],
    f: Callable[..., Any],
    inputs: Sequence[Any],
    wrt: Sequence[int] | None,
    kwargs: Mapping[str, Any],
    native: Callable[[Any], bool],
    to_array: Callable[[Any], Any],
) -> Bridged:
    """What every bridge's ``bridge`` does: the framework's values among ``inputs`` (``native``) as
    gradlab's arrays, ``f`` run by the bridge's ``run`` class on them, in bfloat16 where an input is."""
    arrays = tuple(map_leaves(lambda x: to_array(x) if native(x) else x, x) for x in inputs)
    runner = run(f, differentiated(inputs, wrt))
    runner.low = bfloat16_leaves(inputs)
    bridged: Bridged = runner.bridged(arrays, kwargs)
    return in_bfloat16(bridged) if runner.low else bridged


def map_leaves(fn: Callable[[Any], Any], value: Any) -> Any:
    """``value`` with ``fn`` applied to every leaf (containers rebuilt as they were)."""
    leaves, tree, _ = pytree.flatten(value)
    return pytree.unflatten(tree, [fn(leaf) for leaf in leaves])


def leaves(value: Any) -> list[Any]:
    return pytree.flatten(value)[0]


def parameter_names(fn: Callable[..., Any], skip: int, count: int) -> list[str] | None:
    """The names of ``fn``'s first ``count`` positional parameters after ``skip`` (``ctx``), or None
    when its signature does not give them (``*args``)."""
    try:
        params = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):
        return None
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional[:count] if len(positional) >= count else None


def required_names(fn: Callable[..., Any], skip: int = 0) -> list[str] | None:
    """The names of ``fn``'s required positional parameters after ``skip`` (``ctx``): the inputs a
    rule found in a module is checked on; None when its signature cannot be read."""
    try:
        params = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]


def differentiated(inputs: Sequence[Any], wrt: Sequence[int] | None) -> list[bool]:
    """Per input, whether its floating leaves are differentiated."""
    chosen = set(range(len(inputs)) if wrt is None else wrt)
    return [i in chosen for i in range(len(inputs))]
