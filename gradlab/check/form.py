"""Calling a user's forward, VJP and JVP safely, and the ``form`` problems found on the way.

Every call gets fresh copies of its arguments, so a rule that mutates them is caught (and cannot
corrupt the next call); whatever a rule returns is normalised to one array per differentiated
input, or explained in a sentence. Whether a rule is deterministic is a second call at the first
probe (:func:`vjp_determinism`, :func:`jvp_determinism`), made when no passing check vouches for the
first calls' values (:func:`gradlab.check.grads.check_grads` decides).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from gradlab import backend
from gradlab.check import diagnose
from gradlab.check.sampling import Probes, as_float
from gradlab.check.task import Task

_NUMPY_MAJOR = int(np.__version__.split(".")[0])

Array = Any


@dataclass
class Call:
    """The result of calling one rule: its value (when usable) and the problems seen."""

    value: Any = None
    problems: list[str] = field(default_factory=list)
    usable: bool = True
    # legal but suspect (a float32 input's gradient promoted to float64): fails only when strict
    warnings: list[str] = field(default_factory=list)


class RuleProblem(Exception):
    """What is wrong with a rule, in a sentence, raised where it is seen while calling the rule (a
    bridge to a framework: a torch backward that is not reentrant); the ``form`` check reports the
    sentence as it is."""


def describe_exception(what: str, exc: BaseException) -> str:
    if isinstance(exc, RuleProblem):
        return str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{what} raised {type(exc).__name__}: {exc}{where}"


def _copies(xp: Any, values: Sequence[Any]) -> list[Any]:
    return [backend.copy(xp, v) if backend.is_array(v) else v for v in values]


def _mutated(xp: Any, originals: Sequence[Any], passed: Sequence[Any], names: Sequence[str]) -> list[str]:
    return [
        name
        for name, before, after in zip(names, originals, passed, strict=True)
        if backend.is_array(before) and not _unchanged(xp, before, after)
    ]


def _unchanged(xp: Any, before: Array, after: Array) -> bool:
    """:func:`gradlab.backend.same_values`, in one comparison where nothing changed: an argument
    with NaN in it (rare) or one that did change takes the long way, which sees NaN as equal to NaN."""
    if tuple(before.shape) != tuple(after.shape) or before.dtype != after.dtype:
        return False
    return bool(xp.all(before == after)) or backend.same_values(xp, before, after)


def call_forward(
    xp: Any, f: Callable[..., Any], inputs: Sequence[Any], names: Sequence[str], strict: bool = True
) -> Call:
    """Call the forward; ``strict``: on copies, checking that none is mutated."""
    passed = _copies(xp, inputs) if strict else list(inputs)
    try:
        out = f(*passed)
    except Exception as exc:  # a user's forward may raise anything: report it, do not crash
        return Call(problems=[describe_exception("the forward", exc)], usable=False)
    call = Call(value=out)
    mutated = _mutated(xp, inputs, passed, names) if strict else []
    if mutated:
        call.problems.append(f"the forward mutates its input(s) {', '.join(mutated)}: work on a copy")
    if not backend.is_array(out):
        call.problems.append(f"the forward returned {type(out).__name__}, not an array")
        call.usable = False
    elif not (backend.is_floating(xp, out.dtype) or backend.is_complex(xp, out.dtype)):
        call.problems.append(f"the forward returned a {out.dtype} array: there is nothing to differentiate")
        call.usable = False
    return call


def call_vjp(
    xp: Any,
    vjp: Callable[..., Any],
    cotangent: Array,
    inputs: Sequence[Any],
    out: Array,
    wrt: Sequence[int],
    names: Sequence[str],
    strict: bool = True,
) -> Call:
    """Call ``vjp(g, out, *inputs)`` and normalise its result to one array per ``wrt`` input."""
    args = [cotangent, out, *inputs]
    passed = _copies(xp, args) if strict else args
    try:
        result = vjp(*passed)
    except Exception as exc:  # a user's rule may raise anything
        return Call(problems=[describe_exception("the VJP", exc)], usable=False)
    call = Call()
    mutated = _mutated(xp, args, passed, ["the cotangent g", "the forward's output", *names]) if strict else []
    if mutated:
        call.problems.append(f"the VJP mutates {', '.join(mutated)}: work on a copy")
    cotangents = _select(result, len(inputs), wrt, names, call)
    if cotangents is None:
        call.usable = False
        return call
    shapes = [tuple(x.shape) if backend.is_array(x) else None for x in inputs]
    for i, cot in zip(wrt, cotangents, strict=True):
        others = [shape for j, shape in enumerate(shapes) if j != i and shape is not None]
        _check_array(xp, f"the cotangent for {names[i]}", cot, inputs[i], out.shape, names[i], call, others)
    call.value = cotangents
    return call


def call_jvp(
    xp: Any,
    jvp: Callable[..., Any],
    tangents: Sequence[Array | None],
    inputs: Sequence[Any],
    out: Array,
    names: Sequence[str],
    strict: bool = True,
) -> Call:
    """Call ``jvp(tangents, out, *inputs)``; ``tangents`` holds ``None`` for undifferentiated inputs."""
    passed_tangents = _copies(xp, tangents) if strict else list(tangents)
    args = [out, *inputs]
    passed = _copies(xp, args) if strict else args
    try:
        result = jvp(tuple(passed_tangents), *passed)
    except Exception as exc:  # a user's rule may raise anything
        return Call(problems=[describe_exception("the JVP", exc)], usable=False)
    call = Call(value=result)
    mutated = _mutated(xp, args, passed, ["the forward's output", *names]) if strict else []
    if strict:
        mutated += [f"the tangent for {names[i]}" for i in _changed(xp, tangents, passed_tangents)]
    if mutated:
        call.problems.append(f"the JVP mutates {', '.join(mutated)}: work on a copy")
    if isinstance(result, (tuple, list)) and len(result) == 1:
        result = call.value = result[0]
    _check_array(xp, "the JVP's output tangent", result, out, out.shape, "the output", call)
    return call


def _changed(xp: Any, originals: Sequence[Any], passed: Sequence[Any]) -> list[int]:
    return [
        i
        for i, (a, b) in enumerate(zip(originals, passed, strict=True))
        if backend.is_array(a) and not _unchanged(xp, a, b)
    ]


def _select(result: Any, n_inputs: int, wrt: Sequence[int], names: Sequence[str], call: Call) -> list[Any] | None:
    if backend.is_array(result) or result is None:
        if len(wrt) == 1:
            return [result]
        call.problems.append(
            f"the VJP returned a single {'None' if result is None else 'array'}; expected a tuple of"
            f" {n_inputs} cotangents (one per input) or {len(wrt)} (one per differentiated input:"
            f" {', '.join(names[i] for i in wrt)})"
        )
        return None
    if not isinstance(result, (tuple, list)):
        call.problems.append(f"the VJP returned {type(result).__name__}; expected a tuple of arrays")
        return None
    if len(result) == n_inputs:
        return [result[i] for i in wrt]
    if len(result) == len(wrt):
        return list(result)
    expected = f"{n_inputs} (one per input)"
    if len(wrt) != n_inputs:
        expected += f" or {len(wrt)} (one per differentiated input)"
    call.problems.append(f"the VJP returned {len(result)} cotangents; expected {expected}")
    return None


def _check_array(
    xp: Any, what: str, value: Any, like: Array, out_shape: tuple, name: str, call: Call, others: Sequence[tuple] = ()
) -> None:
    if value is None:
        call.problems.append(f"{what} is None: return an array of zeros when the derivative is zero")
        call.usable = False
        return
    if not backend.is_array(value):
        call.problems.append(f"{what} is a {type(value).__name__}, not an array")
        call.usable = False
        return
    if tuple(value.shape) != tuple(like.shape):
        if what.startswith("the cotangent"):
            call.problems.append(diagnose.shape_problem(name, tuple(value.shape), tuple(like.shape), out_shape, others))
        else:
            call.problems.append(f"{what} has shape {tuple(value.shape)} but the output has shape {tuple(like.shape)}")
        call.usable = False
        return
    if value.dtype != like.dtype and not _numpy1_scalar_promotion(value, like):
        got, want = dtype_name(value.dtype), dtype_name(like.dtype)
        text = diagnose.dtype_problem(name, got, want) if what.startswith("the cotangent") else None
        text = text or f"{what} is {got} but the output is {want}"
        (call.warnings if _promoted(xp, value.dtype, like.dtype) else call.problems).append(text)
    # a non-finite entry of the input (or output) it belongs to is left out of the check
    if (backend.is_floating(xp, value.dtype) or backend.is_complex(xp, value.dtype)) and not bool(
        xp.all(xp.isfinite(value) | ~xp.isfinite(like))
    ):
        call.problems.append(f"{what} contains NaN or Inf where the forward is finite")


def _promoted(xp: Any, got: Any, want: Any) -> bool:
    """A real floating result wider than its input's (float32 in, float64 out): legal, suspect."""
    return (
        backend.is_floating(xp, got) and backend.is_floating(xp, want) and backend.eps(xp, got) < backend.eps(xp, want)
    )


def _numpy1_scalar_promotion(value: Array, like: Array) -> bool:
    """NumPy 1.x computes with 0-d float32 arrays as with scalars: ``x * 0.5`` is float64 there.
    A rule cannot reasonably avoid that, so it is not reported (NumPy 2 keeps float32)."""
    return (
        _NUMPY_MAJOR < 2
        and isinstance(value, np.ndarray | np.generic)
        and value.ndim == 0
        and np.dtype(like.dtype).kind == "f"
        and np.dtype(value.dtype).kind == "f"
    )


def dtype_name(dtype: Any) -> str:
    return str(dtype).rsplit(".", 1)[-1].strip("'>")


def differs(xp: Any, a: Array, b: Array) -> float | None:
    """``None`` when two results of the same call agree to rounding, else their max difference."""
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0 or backend.same_values(xp, a, b):  # NaN where the other is NaN too: the same result
        return None
    finite = xp.isfinite(a) & xp.isfinite(b)
    if not bool(xp.all(finite | (xp.isnan(a) & xp.isnan(b)) | (a == b))):
        return float("inf")  # non-finite in one call only
    zeros = xp.zeros_like(a)
    a, b = xp.where(finite, a, zeros), xp.where(finite, b, zeros)
    diff = float(xp.max(xp.abs(a - b)))
    scale = float(xp.max(xp.abs(a)))
    if diff <= 8 * backend.eps(xp, a.dtype) * scale:
        return None
    return diff


# ---- the rules at every probe ----------------------------------------------------------------


def vjp_values(
    task: Task, out: Array, probes: Probes, problems: list[str], warnings: list[str] | None = None
) -> list[list[Array]] | None:
    """The VJP's cotangents at every probe ``v[k]`` (None when they are unusable); the form
    problems of the first call go to ``problems`` (what is legal but suspect to ``warnings``)."""
    vjp = cast(Callable[..., Any], task.vjp)  # called only when there is one
    xp, strict = task.xp, task.strict
    calls = (call_vjp(xp, vjp, v, task.inputs, out, task.wrt, task.names, strict) for v in probes.v)
    return _every_probe(calls, problems, warnings)


def jvp_values(
    task: Task, out: Array, probes: Probes, problems: list[str], warnings: list[str] | None = None
) -> list[Array] | None:
    """The JVP's output tangents at every probe ``u[k]``, as :func:`vjp_values`."""
    jvp = cast(Callable[..., Any], task.jvp)  # called only when there is one
    xp, strict = task.xp, task.strict
    calls = (call_jvp(xp, jvp, t, task.inputs, out, task.names, strict) for t in _tangents(task, probes))
    return _every_probe(calls, problems, warnings)


def _tangents(task: Task, probes: Probes) -> list[list[Array | None]]:
    return [[u.get(i) for i in range(len(task.inputs))] for u in probes.u]


def vjp_determinism(task: Task, out: Array, probes: Probes, values: list[list[Array]]) -> list[str]:
    """The VJP called again at the first probe: what differs from ``values[0]``, in sentences."""
    xp, problems = task.xp, []
    again = call_vjp(xp, cast(Callable[..., Any], task.vjp), probes.v[0], task.inputs, out, task.wrt, task.names)
    if again.usable:
        for i, a, b in zip(task.wrt, values[0], again.value, strict=True):
            gap = differs(xp, as_float(xp, a), as_float(xp, b))
            if gap is not None:
                problems.append(
                    f"the VJP is not deterministic: two calls give cotangents for {task.names[i]}"
                    f" that differ by up to {gap:.3g}"
                )
    return problems


def jvp_determinism(task: Task, out: Array, probes: Probes, values: list[Array]) -> list[str]:
    """The JVP called again at the first probe: what differs from ``values[0]``, in a sentence."""
    xp = task.xp
    again = call_jvp(xp, cast(Callable[..., Any], task.jvp), _tangents(task, probes)[0], task.inputs, out, task.names)
    if again.usable:
        gap = differs(xp, as_float(xp, values[0]), as_float(xp, again.value))
        if gap is not None:
            return [f"the JVP is not deterministic: two calls differ by up to {gap:.3g}"]
    return []


def _every_probe(calls: Iterator[Call], problems: list[str], warnings: list[str] | None) -> list[Any] | None:
    """The values of a rule's calls, one per probe, made one by one until one is unusable (then
    None); the first call's problems go to ``problems``, its warnings to ``warnings`` (the other
    calls would repeat them)."""
    values = []
    for k, call in enumerate(calls):
        if k == 0:
            problems += call.problems
            if warnings is not None:
                warnings += call.warnings
        if not call.usable:
            return None
        values.append(call.value)
    return values
