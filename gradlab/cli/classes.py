"""Homework op classes: made with their constructor parameters, run in their own framework.

A class with ``compute(self, *arrays)`` (or ``forward``) and ``gradient(self, out_grad, node)`` (or
``vjp(self, g, *arrays, out)``, or ``backward(self, g, ...)``) is one op. Its constructor parameters
are drawn per example from their names (:data:`~gradlab.cli.conventions.CONSTRUCTOR_PARAMS`:
``scalar``, ``axes``, ``shape``...), so ``AddScalar(scalar)`` or ``Reshape(shape)`` are checked
without a change to graded code; a parameter gradlab cannot choose keeps its default, or is named
in the problem. ``gradient`` runs in the op's framework (:mod:`gradlab.cli.frameworks`).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gradlab.cli import conventions
from gradlab.cli.frameworks import framework_of
from gradlab.cli.infer import required_args
from gradlab.cli.unfinished import Unfinished, is_stub
from gradlab.ops.registry import Op
from gradlab.ops.spec import Spec, SpecError, parse_spec


def class_methods(cls: type, classes: Sequence[type]) -> dict[str, str] | None:
    """The forward/reverse/jvp method names of an op class; None when ``cls`` is not one."""
    forward = next((m for m in ("compute", "forward") if callable(getattr(cls, m, None))), None)
    reverse = next((m for m in ("gradient", "vjp", "backward") if callable(getattr(cls, m, None))), None)
    if forward is None or inspect.isabstract(cls):
        return None
    if reverse is None and forward != "compute":
        return None  # a class with only a forward (a model, a module) is not an op
    if any(other is not cls and issubclass(other, cls) for other in classes) and is_stub(getattr(cls, forward)):
        return None  # a base class
    methods = {"forward": forward, "reverse": reverse or ""}
    if callable(getattr(cls, "jvp", None)) and not is_stub(cls.jvp):
        methods["jvp"] = "jvp"
    return methods


@dataclass(frozen=True)
class Argument:
    """A constructor parameter: how it is drawn (a spec params entry), or its default."""

    name: str
    kind: dict[str, Any] | None
    default: Any


def constructor_arguments(cls: type) -> list[Argument] | str:
    """The constructor's parameters, or why one of them cannot be chosen."""
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return []
    found = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        kind = conventions.constructor_param(cls, p.name)
        if kind is None and p.default is p.empty:
            return (
                f"{cls.__name__}.__init__ takes {p.name}, which gradlab cannot choose by its name: add a"
                f" [{cls.__name__}] table with params.{p.name} = {{ kind = ... }} (the schema of specs/*.toml),"
                " or give it a default"
            )
        found.append(Argument(p.name, kind, None if p.default is p.empty else p.default))
    return found


def param_table(arguments: Sequence[Argument]) -> dict[str, dict[str, Any]]:
    """The spec's params: every constructor parameter gradlab knows how to draw."""
    return {a.name: dict(a.kind) for a in arguments if a.kind is not None}


def class_op(cls: type, methods: dict[str, str], shown: str) -> tuple[Op | None, Spec | None, str | None]:
    name = cls.__name__
    forward_name, reverse = methods["forward"], methods["reverse"]
    spec = None
    if isinstance(getattr(cls, "spec", None), dict):
        try:
            spec = parse_spec(name, cls.spec, f"{shown}:{inspect.getsourcelines(cls)[1]} ({name}.spec)")
        except (SpecError, OSError, TypeError) as exc:
            return None, None, str(exc)
    for method in (forward_name, reverse):
        if method and is_stub(getattr(cls, method)):
            raise Unfinished(f"{name}.{method} is not written yet (its body is only pass or raise NotImplementedError)")
    if not reverse:
        return None, spec, f"{name} has {forward_name} but no gradient(self, out_grad, node), vjp or backward to check"
    arguments = constructor_arguments(cls)
    if isinstance(arguments, str):
        return None, spec, arguments
    framework = framework_of(cls) if forward_name == "compute" and reverse == "gradient" else None

    def make(params: dict[str, Any], xs: Sequence[Any]) -> Any:
        shape = tuple(getattr(xs[0], "shape", ())) if xs else ()
        kwargs = {}
        for a in arguments:
            if a.name in params:
                kwargs[a.name] = params[a.name]
            elif a.default is not None or a.kind is None:
                kwargs[a.name] = a.default
            else:
                kwargs[a.name] = conventions.first_value(a.kind, shape)
        return cls(**kwargs)

    probe = make({}, [])
    arrays = required_args(getattr(probe, forward_name))
    takes_arrays = len(required_args(getattr(probe, reverse))) > 1

    def fwd(*xs: Any, **params: Any) -> Any:
        from gradlab.cli.adapters import as_array

        op = make(params, xs)
        if framework is not None:
            return as_array(framework.forward(op, forward_name, xs), xs)
        return as_array(getattr(op, forward_name)(*xs), xs)

    def vjp(g: Any, *args: Any, **params: Any) -> Any:
        *xs, out = args
        op = make(params, xs)
        if framework is not None:
            return framework.vjp(op, forward_name, g, xs, out)
        rule = getattr(op, reverse)
        if reverse == "vjp":
            return rule(g, *xs, out)
        getattr(op, forward_name)(*xs)  # a layer may keep what its backward needs on self
        return rule(g, *xs) if takes_arrays else rule(g)

    jvp = probe.jvp if "jvp" in methods else None
    result = Op(name, fwd, vjp_joint=vjp, jvp_joint=jvp, arg_names=tuple(arrays))
    result.framework = framework  # type: ignore[attr-defined]  (read by discover for the report)
    result.constructor = param_table(arguments)  # type: ignore[attr-defined]
    return result, spec, None
