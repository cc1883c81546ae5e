"""Rules of other autodiff frameworks found in a user's module -- a ``torch.autograd.Function``
subclass, a ``jax.custom_vjp`` / ``custom_jvp`` function, a HIPS autograd primitive with a VJP --
made ops whose forward and rules run in their framework (:mod:`gradlab.check.bridges`).

The forward's positional parameters are its arrays, except those that are plainly not arrays: a
parameter annotated ``float``, ``int`` or ``bool``, or named like a setting (``dim``, ``eps``,
``alpha``...). Those are drawn as params (every value tried shows in the report), passed in their
place: ``Function.apply`` takes positional arguments only.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from gradlab.check.bridges import Bridge, Bridged
from gradlab.cli import conventions
from gradlab.cli.unfinished import Unfinished, is_stub
from gradlab.ops.registry import Op
from gradlab.ops.spec import Spec, parse_spec

SCALAR = conventions.CONSTRUCTOR_PARAMS["scalar"]
# by name: settings a custom rule's forward takes beside its arrays
PARAMS_BY_NAME: dict[str, dict[str, Any]] = {
    "dim": {"kind": "axis", "none": False, "tuple": False, "negative": False},
    "axis": {"kind": "axis", "none": False, "tuple": False, "negative": False},
    "eps": {"kind": "choice", "values": [1e-5]},
    "epsilon": {"kind": "choice", "values": [1e-5]},
    # (not beta, gamma or scale: a norm layer's parameters are tensors by those names)
    **{name: SCALAR for name in ("alpha", "lambd", "lambda_", "tau", "temperature")},
    "inplace": {"kind": "choice", "values": [False]},
    "training": {"kind": "choice", "values": [True, False]},
}
PARAMS_BY_TYPE: dict[str, dict[str, Any]] = {
    "float": SCALAR,
    "int": {"kind": "choice", "values": [1, 2]},
    "bool": {"kind": "choice", "values": [False, True]},
}
# where the user's own code for each framework's rules lives on the object found
RULE_ATTRIBUTES = ("forward", "backward", "vjp", "jvp", "fwd", "bwd", "fun")


def primal(value: Any) -> Any:
    """The user's forward function of a framework rule (a Function's ``forward``, a custom_vjp's
    or a primitive's wrapped ``fun``)."""
    return getattr(value, "forward", None) if inspect.isclass(value) else getattr(value, "fun", value)


def param_kind(value: Any, name: str) -> dict[str, Any] | None:
    """How parameter ``name`` of the rule's forward is drawn, when it is not an array."""
    try:
        annotation = inspect.signature(primal(value)).parameters[name].annotation
    except (TypeError, ValueError, KeyError):
        annotation = inspect.Parameter.empty
    by_type = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None)
    return PARAMS_BY_TYPE.get(str(by_type)) or PARAMS_BY_NAME.get(name)


def framework_op(name: str, value: Any, bridge: Bridge, bridged: Bridged) -> tuple[Op | None, Spec | None, str | None]:
    """The rule ``value`` as an op: ``bridged`` (from ``bridge.rule(value)``) on positional arguments,
    the arrays drawn as the op's inputs and the settings as its params."""
    for attr in RULE_ATTRIBUTES:
        rule = getattr(value, attr, None)
        if inspect.isfunction(rule) and rule.__module__ == getattr(value, "__module__", None) and is_stub(rule):
            raise Unfinished(f"{name}.{attr} is not written yet (its body is only pass or raise NotImplementedError)")
    names = list(bridged.names or [])
    params = {n: kind for n in names if (kind := param_kind(value, n)) is not None}
    arrays = tuple(n for n in names if n not in params)
    if not arrays:
        return None, None, f"{name}'s forward takes no array to differentiate"
    fixed = list(bridged.defaults.values())  # passed at their defaults, as the author's callers do
    spec = _loss_spec(name, arrays, params, bridged)

    def positional(xs: Sequence[Any], drawn: dict[str, Any]) -> list[Any]:
        shape = tuple(getattr(xs[0], "shape", ())) if xs else ()
        it = iter(xs)
        given = [drawn.get(n, conventions.first_value(params[n], shape)) if n in params else next(it) for n in names]
        return given + fixed

    def fwd(*xs: Any, **drawn: Any) -> Any:
        return bridged.forward(*positional(xs, drawn))

    def vjp(g: Any, out: Any, *xs: Any, **drawn: Any) -> Any:
        grads = bridged.vjp(g, out, *positional(xs, drawn))  # type: ignore[misc]  (a rule has one)
        return tuple(grad for n, grad in zip(names, grads[: len(names)], strict=True) if n not in params)

    def jvp(tangents: Any, out: Any, *xs: Any, **drawn: Any) -> Any:
        it = iter(tangents)
        full = [None if n in params else next(it) for n in names] + [None] * len(fixed)
        return bridged.jvp(full, out, *positional(xs, drawn))  # type: ignore[misc]  (called when it has one)

    op = Op(name, fwd, vjp_joint=vjp if bridged.vjp else None, jvp_joint=jvp if bridged.jvp else None, arg_names=arrays)
    rules = "VJP and JVP rules" if bridged.jvp and bridged.vjp else "JVP rule" if bridged.jvp else "VJP rule only"
    op.runs_in = f"through {bridge.name}'s autodiff (its {rules})"  # type: ignore[attr-defined]
    op.constructor = params  # type: ignore[attr-defined]  (the spec's params: drawn per example)
    return op, spec, None


# the names of a loss's integer class labels (a custom loss Function's forward(ctx, X, target))
LABELS = ("target", "targets", "label", "labels")


def _loss_spec(name: str, arrays: tuple[str, ...], params: dict[str, Any], bridged: Bridged) -> Spec | None:
    """A loss of scores and integer class labels (``forward(ctx, X, target)``): X (n, c) scores,
    target (n,) labels in [0, c) -- inference cannot draw integers; None for any other rule."""
    if len(arrays) != 2 or arrays[1] not in LABELS:
        return None
    table = {
        "shape": "(n,c),(n)->()",
        "batch": False,
        "min_side": 2,  # two classes at least
        "inputs": [{"name": arrays[0], "domain": "real"}, {"name": arrays[1], "domain": "labels", "classes": "c"}],
        "checks": ["rev", "fwd", "adj", "form"] if bridged.jvp and bridged.vjp else ["rev", "form"],
        "params": params,
    }
    return parse_spec(name, table, f"<{name}: {arrays[0]} (n, c) scores, {arrays[1]} (n,) integer class labels>")
