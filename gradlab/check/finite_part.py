"""Inputs and outputs with non-finite entries: check the finite part, and say what was left out.

A softmax over logits masked with ``-inf``, ``exp(-x)`` at ``x = inf``, a loss with a padded ``NaN``:
the entries that are not finite have no derivative a finite difference can measure, but the others
do. The check goes on without them:

* a non-finite entry of a differentiated input is never moved (its probe entries are zero, full
  mode skips its column) and its cotangent entry is not compared;
* a non-finite entry of the output is left out of every comparison: the probes are zero there, the
  numerical samples read zero there, and the JVP's value there is not compared.

The report says which entries were left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradlab import backend

Array = Any

# entries named in the report before "and N more"
NAMED = 4


@dataclass(frozen=True)
class FinitePart:
    """Flat masks: ``kept`` (the output's finite entries; None when all are) and ``frozen`` (per
    differentiated input, its non-finite entries; only inputs that have some)."""

    kept: Array | None = None
    frozen: dict[int, Array] = field(default_factory=dict)

    @classmethod
    def of(cls, xp: Any, inputs: list[Any], wrt: tuple[int, ...], out: Array) -> FinitePart:
        flat = xp.reshape(out, (-1,))
        finite = xp.isfinite(flat)
        kept = None if bool(xp.all(finite)) else finite
        frozen = {}
        for i in wrt:
            bad = ~xp.isfinite(xp.reshape(inputs[i], (-1,)))
            if bool(xp.any(bad)):
                frozen[i] = bad
        return cls(kept, frozen)

    @property
    def whole(self) -> bool:
        return self.kept is None and not self.frozen

    def output(self, xp: Any, flat: Array) -> Array:
        """``flat`` (output-shaped, flattened) with the left-out entries zero."""
        return flat if self.kept is None else xp.where(self.kept, flat, xp.zeros_like(flat))

    def input(self, xp: Any, i: int, flat: Array) -> Array:
        """``flat`` (shaped like input ``i``, flattened) with its left-out entries zero."""
        bad = self.frozen.get(i)
        return flat if bad is None else xp.where(bad, xp.zeros_like(flat), flat)

    def probe_output(self, xp: Any, probe: Array) -> Array:
        return probe if self.kept is None else xp.reshape(self.output(xp, xp.reshape(probe, (-1,))), probe.shape)

    def probe_input(self, xp: Any, i: int, probe: Array) -> Array:
        if i not in self.frozen:
            return probe
        return xp.reshape(self.input(xp, i, xp.reshape(probe, (-1,))), probe.shape)

    def describe(self, names: list[str], inputs: list[Any], out: Array) -> list[str]:
        """What was left out, in words: one line per input and for the output."""
        lines = []
        for i, bad in self.frozen.items():
            lines.append(f"{names[i]}: {_entries(bad, tuple(inputs[i].shape), inputs[i])} (not finite, never moved)")
        if self.kept is not None:
            lines.append(f"the output: {_entries(~self.kept, tuple(out.shape), out)} (not finite, not compared)")
        return lines


def _entries(mask: Array, shape: tuple[int, ...], values: Array) -> str:
    host = backend.to_host(mask)
    flat_values = backend.to_host(values).reshape(-1)
    where = np.flatnonzero(host)
    named = [
        f"[{', '.join(str(int(c)) for c in np.unravel_index(int(j), shape))}] = {flat_values[j]}"
        if shape
        else f"{flat_values[j]}"
        for j in where[:NAMED]
    ]
    more = f" and {where.size - NAMED} more" if where.size > NAMED else ""
    return f"{where.size} entr{'y' if where.size == 1 else 'ies'} " + ", ".join(named) + more
