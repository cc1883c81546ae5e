"""Homework op classes: made with their constructor parameters, run in their own framework.

A class with ``compute(self, *arrays)`` (or ``forward``) and ``gradient(self, out_grad, node)`` (or
``vjp(self, g, out, *arrays)``, or ``backward(self, g, ...)``) is one op. Its constructor parameters
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

from gradlab.check.rule_order import in_old_order
from gradlab.cli import conventions
from gradlab.cli.frameworks import Needle, Packing, framework_of
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
    required: bool = False


def constructor_arguments(cls: type) -> list[Argument]:
    """The constructor's parameters: how each is drawn, or its default (``required`` when neither)."""
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return []
    return [
        Argument(p.name, conventions.constructor_param(cls, p.name, p.annotation),
                 None if p.default is p.empty else p.default, required=p.default is p.empty)
        for p in params
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]  # fmt: skip


def unchosen(op: Op, spec: Spec | None) -> str | None:
    """Why a class op cannot be made: a constructor parameter with no default that neither gradlab's
    names nor the spec's params draw."""
    drawn = {p.name for p in spec.params} if spec is not None else set()
    missing = [a.name for a in getattr(op, "arguments", []) if a.required and a.kind is None and a.name not in drawn]
    if not missing:
        return None
    names = ", ".join(missing)
    return (
        f"{op.name}.__init__ takes {names}, which gradlab cannot choose by name: give {names} a default, or pin"
        f" the op's spec with a [{op.name}] table that draws it (params.{missing[0]} = {{ kind = ... }})"
    )


def param_table(arguments: Sequence[Argument]) -> dict[str, dict[str, Any]]:
    """The spec's params: every constructor parameter gradlab knows how to draw."""
    return {a.name: dict(a.kind) for a in arguments if a.kind is not None}


def own_spec(cls: type, shown: str) -> tuple[Spec | None, str | None]:
    """The class attribute ``spec = {...}`` of an op class, parsed (None when there is none), or why
    it cannot be read."""
    if not isinstance(getattr(cls, "spec", None), dict):
        return None, None
    try:
        return parse_spec(
            cls.__name__, cls.spec, f"{shown}:{inspect.getsourcelines(cls)[1]} ({cls.__name__}.spec)"
        ), None
    except (SpecError, OSError, TypeError) as exc:
        return None, str(exc)


def class_op(cls: type, methods: dict[str, str], shown: str) -> tuple[Op | None, Spec | None, str | None]:
    name = cls.__name__
    forward_name, reverse = methods["forward"], methods["reverse"]
    spec, problem = own_spec(cls, shown)
    if problem:
        return None, None, problem
    for method in (forward_name, reverse):
        if method and is_stub(getattr(cls, method)):
            raise Unfinished(f"{name}.{method} is not written yet (its body is only pass or raise NotImplementedError)")
    if not reverse:
        return None, spec, f"{name} has {forward_name} but no gradient(self, out_grad, node), vjp or backward to check"
    arguments = constructor_arguments(cls)
    framework = framework_of(cls) if forward_name == "compute" and reverse == "gradient" else None

    def make(params: dict[str, Any], xs: Sequence[Any]) -> Any:
        shape = tuple(getattr(xs[0], "shape", ())) if xs else ()
        kwargs = {}
        for a in arguments:
            if a.name in params:
                kwargs[a.name] = params[a.name]
            elif a.kind is None and a.required:
                continue  # not drawn by anything: discover reports it (unchosen) before any call
            elif a.default is not None or a.kind is None:
                kwargs[a.name] = a.default
            else:
                kwargs[a.name] = conventions.first_value(a.kind, shape)
        return cls(**kwargs)

    arrays = required_args(getattr(cls, forward_name))[1:]  # without self
    packing = Packing(tuple(arrays), (None,) * len(arrays))  # one array per input
    if isinstance(framework, Needle) and framework.tuple_type is not None:  # and tuples of them
        packing = Packing.of(arrays, framework.tuple_inputs(cls, forward_name), _variadic(getattr(cls, forward_name)))
    elif any(base.__name__ == "TensorTupleOp" for base in cls.__mro__):
        return None, spec, f"{name} is a TensorTupleOp, but gradlab found no TensorTuple class beside it"
    takes_arrays = len(required_args(getattr(cls, reverse))) > 2
    # a class written for gradlab's old order vjp(self, g, *arrays, out) keeps working
    old_order = reverse == "vjp" and in_old_order(cls.vjp, skip=1)

    def fwd(*xs: Any, **params: Any) -> Any:
        from gradlab.cli.adapters import as_array

        op = make(params, xs)
        if framework is not None:
            return as_array(framework.forward(op, forward_name, packing.pack(xs)), xs)
        return as_array(getattr(op, forward_name)(*xs), xs)

    def vjp(g: Any, out: Any, *xs: Any, **params: Any) -> Any:
        op = make(params, xs)
        if framework is not None:
            return packing.unpack(framework.vjp(op, forward_name, g, packing.pack(xs), out))
        rule = getattr(op, reverse)
        if reverse == "vjp":
            return rule(g, *xs, out) if old_order else rule(g, out, *xs)
        getattr(op, forward_name)(*xs)  # a layer may keep what its backward needs on self
        return rule(g, *xs) if takes_arrays else rule(g)

    def jvp(tangents: Any, out: Any, *xs: Any, **params: Any) -> Any:
        return make(params, xs).jvp(tangents, out, *xs)

    result = Op(name, fwd, vjp_joint=vjp, jvp_joint=jvp if "jvp" in methods else None, arg_names=packing.names)
    result.framework = framework  # type: ignore[attr-defined]  (read by discover for the report)
    result.dtypes = getattr(framework, "dtypes", None)  # type: ignore[attr-defined]  (what its tensors keep)
    result.constructor = param_table(arguments)  # type: ignore[attr-defined]
    result.arguments = arguments  # type: ignore[attr-defined]
    return result, spec, None


def _variadic(method: Any) -> bool:
    """Whether ``method`` takes ``*args`` (needle's ``MakeTensorTuple.compute(self, *args)``)."""
    try:
        return any(p.kind is p.VAR_POSITIONAL for p in inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return False
