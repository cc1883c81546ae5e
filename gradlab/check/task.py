"""What one call of :func:`~gradlab.check.grads.check_grads` asks for, validated: a :class:`Task`.

The function and its rules, the inputs and which of them are differentiated, their names for the
report, and how to check (mode, numerical method, probes, tolerances). Every misuse is a
:class:`~gradlab.errors.GradlabError` that says what to give instead.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from gradlab import backend
from gradlab.check import tolerances
from gradlab.check.numerics import METHODS
from gradlab.check.results import CheckName
from gradlab.check.tolerances import Tolerance
from gradlab.errors import GradlabError

CHECKS: tuple[CheckName, ...] = ("rev", "fwd", "adj", "form")
MODES = ("auto", "full", "projected")
# ``auto`` differentiates element by element up to this many differentiated input elements
FULL_MODE_LIMIT = 256


@dataclass
class Task:
    """One function at one input, its rules, and how they are to be checked."""

    f: Callable[..., Any]
    vjp: Callable[..., Any] | None
    jvp: Callable[..., Any] | None
    inputs: list[Any]
    xp: Any  # the array namespace of the inputs
    name: str
    names: list[str]
    wrt: tuple[int, ...]
    mode: str  # "full" or "projected" ("auto" is resolved here)
    method: str
    n_probes: int
    seed: int
    rtol: float | None
    atol: float | None
    checks: tuple[str, ...]
    # the forward accepts complex input and is analytic there: the complex step may decide what the
    # real step search leaves undecided
    complex_safe: bool = False

    @classmethod
    def from_arguments(
        cls,
        f: Callable[..., Any],
        inputs: Sequence[Any],
        vjp: Callable[..., Any] | None,
        jvp: Callable[..., Any] | None,
        wrt: Sequence[int] | None,
        mode: str,
        method: str,
        rtol: float | None,
        atol: float | None,
        probes: int | None,
        seed: int,
        checks: Sequence[str],
        name: str | None,
        names: Sequence[str] | None,
        complex_safe: bool = False,
    ) -> Task:
        """The task of :func:`~gradlab.check.grads.check_grads`'s arguments; raises ``GradlabError``."""
        if not callable(f):
            raise GradlabError(f"f must be callable, got {type(f).__name__}")
        if vjp is None and jvp is None:
            raise GradlabError("give a vjp=, a jvp= or both: there is no rule to check")
        for label, rule in (("vjp", vjp), ("jvp", jvp)):
            if rule is not None and not callable(rule):
                raise GradlabError(f"{label} must be callable, got {type(rule).__name__}")
        if mode not in MODES:
            raise GradlabError(f"mode={mode!r} is not one of {', '.join(MODES)}")
        if method not in METHODS:
            raise GradlabError(f"method={method!r} is not one of {', '.join(METHODS)}")
        unknown = set(checks) - set(CHECKS)
        if unknown:
            raise GradlabError(f"unknown checks {sorted(unknown)}: choose from {', '.join(CHECKS)}")
        if probes is not None and probes < 1:
            raise GradlabError(f"probes must be at least 1, got {probes}")
        xp = backend.namespace(*inputs)
        given = list(inputs)
        labels = input_names(f, len(given), names)
        chosen = _resolve_wrt(xp, given, wrt, labels)
        if mode == "auto":
            mode = "full" if sum(int(given[i].size) for i in chosen) <= FULL_MODE_LIMIT else "projected"
        return cls(
            f=f, vjp=vjp, jvp=jvp, inputs=given, xp=xp,
            # an Op knows its name; a function its __name__
            name=name or cast(str, getattr(f, "name", None) or getattr(f, "__name__", type(f).__name__)),
            names=labels, wrt=chosen, mode=mode, method=method,
            n_probes=probes if probes is not None else (2 if mode == "full" else 1),
            seed=seed, rtol=rtol, atol=atol, checks=tuple(checks), complex_safe=complex_safe,
        )  # fmt: skip

    @property
    def strict(self) -> bool:
        """Whether the ``form`` check runs: copies, mutation and determinism checks of the rules."""
        return "form" in self.checks

    def tolerance(self, dtype: Any) -> Tolerance:
        """The tolerance of values of ``dtype``: the one given, else the dtype's default."""
        return tolerances.resolve(dtype, self.rtol, self.atol)


def input_names(f: Callable[..., Any], n: int, names: Sequence[str] | None) -> list[str]:
    """The names of ``f``'s ``n`` positional inputs: ``names`` when given, else its parameters'."""
    if names is not None:
        if len(names) != n:
            raise GradlabError(f"names has {len(names)} entries for {n} inputs")
        return list(names)
    known = getattr(f, "arg_names", None)  # an Op: its forward's parameter names
    if known:
        return [known[i] if i < len(known) else f"x{i}" for i in range(n)]
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        params = []
    found = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return [found[i] if i < len(found) else f"x{i}" for i in range(n)]


def _resolve_wrt(xp: Any, inputs: list[Any], wrt: Sequence[int] | None, names: list[str]) -> tuple[int, ...]:
    floating = [i for i, x in enumerate(inputs) if backend.is_array(x) and backend.is_floating(xp, x.dtype)]
    if wrt is None:
        if not floating:
            raise GradlabError("no input is a real floating array: there is nothing to differentiate")
        return tuple(floating)
    chosen = []
    for i in wrt:
        if not isinstance(i, int) or not -len(inputs) <= i < len(inputs):
            raise GradlabError(f"wrt={tuple(wrt)!r}: {i!r} is not an index of the {len(inputs)} inputs")
        i %= len(inputs)
        if i not in floating:
            kind = inputs[i].dtype if backend.is_array(inputs[i]) else type(inputs[i]).__name__
            raise GradlabError(
                f"input {i} ({names[i]}) is {kind}: only real floating arrays can be differentiated;"
                " leave it out of wrt"
            )
        chosen.append(i)
    if not chosen:
        raise GradlabError("wrt is empty: name at least one input to differentiate")
    return tuple(dict.fromkeys(chosen))


def check_keywords(f: Callable[..., Any], kwargs: dict[str, Any], options: Sequence[str]) -> None:
    """Raise ``GradlabError`` for a keyword meant for ``check_grads`` but misspelled: one that
    ``f`` does not take either (a keyword ``f`` takes is passed to it and to the rules)."""
    try:
        signature = inspect.signature(f)
    except (TypeError, ValueError):  # a builtin or a ufunc: let f say what it takes
        return
    try:
        signature.bind_partial(**kwargs)
    except TypeError:
        unknown = [k for k in kwargs if k not in signature.parameters]
        close = {k: difflib.get_close_matches(k, options, n=1) for k in unknown}
        hints = [f"{k!r} (did you mean {close[k][0]}=?)" if close[k] else repr(k) for k in unknown]
        raise GradlabError(
            f"{', '.join(hints)}: neither an option of the check nor a parameter of"
            f" {getattr(f, '__name__', 'f')}; keywords the check does not know go to f and its rules"
        ) from None
