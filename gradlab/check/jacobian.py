"""Whole Jacobian blocks of a function at one input, for pictures of a failed check.

The checks never keep a Jacobian (full mode streams it one column at a time); a report that draws
one asks for it here, once, at the shrunk example. Each differentiated input ``i`` has a block
``(output size, input i's size)``, row-major over both shapes: the numerical one (one column per
input element, from the same step search the checks use, :meth:`Sampler.element`), the VJP's (one
row per one-hot cotangent) and the JVP's (one column per one-hot tangent). Pytrees and complex
values are read as the checks read them (:class:`~gradlab.check.structured.Structured`): the
blocks are those of the canonical real problem.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradlab import backend
from gradlab.check import form, pytree
from gradlab.check.rule_order import reordered
from gradlab.check.sampling import Sampler
from gradlab.check.structured import Structured
from gradlab.check.task import Task, input_names

# the most entries of one block, and the most elements of the output or of one input, computed;
# beyond them a report draws the check's own vectors instead
BLOCK_LIMIT = 65536
SIDE_LIMIT = 1024


@dataclass
class Blocks:
    """The Jacobian blocks at one input, host NumPy float64 arrays keyed by the input's name; a rule
    whose block could not be computed is missing, with the reason in ``notes``."""

    out_shape: tuple[int, ...]
    input_shapes: dict[str, tuple[int, ...]]
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    vjp: dict[str, np.ndarray] = field(default_factory=dict)
    jvp: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def jacobian_blocks(
    f: Callable[..., Any],
    *inputs: Any,
    vjp: Callable[..., Any] | None = None,
    jvp: Callable[..., Any] | None = None,
    wrt: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    limit: int = BLOCK_LIMIT,
    **kwargs: Any,
) -> Blocks | None:
    """The Jacobian blocks of ``f`` at ``inputs`` (arguments as :func:`~gradlab.check.grads.check_grads`
    takes them), or None when the output or a differentiated input is too large to draw whole
    (more than ``limit`` entries in a block)."""
    vjp, jvp = reordered(vjp, "vjp"), reordered(jvp, "jvp")
    leaves = [leaf for x in inputs for leaf in pytree.flatten(x)[0]]
    xp = backend.namespace(*leaves)
    problem = Structured(xp, f, inputs, input_names(f, len(inputs), names), wrt, kwargs)
    task = Task.from_arguments(
        problem.forward, problem.inputs, problem.vjp_rule(vjp) if vjp else None,
        problem.jvp_rule(jvp) if jvp else None, problem.wrt, "full", "stencil", None, None, None, 0,
        ("rev",), None, problem.names,
    )  # fmt: skip
    with np.errstate(all="ignore"):
        first = form.call_forward(xp, task.f, task.inputs, task.names, strict=False)
        if not first.usable or not backend.is_array(first.value):
            return None
        out = first.value
        m = int(out.size)
        sizes = {i: int(task.inputs[i].size) for i in task.wrt}
        if m > SIDE_LIMIT or any(n > SIDE_LIMIT or m * n > limit for n in sizes.values()):
            return None
        blocks = Blocks(tuple(out.shape), {task.names[i]: tuple(task.inputs[i].shape) for i in task.wrt})
        sampler = Sampler(task, out)
        for i, n in sizes.items():
            columns = [sampler.element(i, j).estimate(xp).value for j in range(n)]
            blocks.numeric[task.names[i]] = _host(xp.stack(columns, axis=1)) if n else np.zeros((m, 0))
        if task.vjp is not None:
            _vjp_blocks(task, task.vjp, out, blocks)
        if task.jvp is not None:
            _jvp_blocks(task, task.jvp, out, blocks)
    return blocks


def _vjp_blocks(task: Task, vjp: Callable[..., Any], out: Any, blocks: Blocks) -> None:
    xp, m = task.xp, int(out.size)
    rows: dict[int, list[Any]] = {i: [] for i in task.wrt}
    for k in range(m):
        call = form.call_vjp(xp, vjp, _one_hot(xp, out, k), task.inputs, out, task.wrt, task.names, False)
        if not call.usable:
            blocks.notes.append(f"the VJP's block is not drawn: {'; '.join(call.problems) or 'unusable result'}")
            return
        for i, cot in zip(task.wrt, call.value, strict=True):
            rows[i].append(xp.reshape(_float(xp, cot), (-1,)))
    for i in task.wrt:
        n = int(task.inputs[i].size)
        blocks.vjp[task.names[i]] = _host(xp.stack(rows[i])) if m else np.zeros((0, n))


def _jvp_blocks(task: Task, jvp: Callable[..., Any], out: Any, blocks: Blocks) -> None:
    xp = task.xp
    for i in task.wrt:
        x = task.inputs[i]
        columns = []
        for j in range(int(x.size)):
            tangents: list[Any] = [None] * len(task.inputs)
            tangents[i] = _one_hot(xp, x, j)
            call = form.call_jvp(xp, jvp, tangents, task.inputs, out, task.names, False)
            if not call.usable:
                blocks.notes.append(f"the JVP's block is not drawn: {'; '.join(call.problems) or 'unusable result'}")
                blocks.jvp.clear()
                return
            columns.append(xp.reshape(_float(xp, call.value), (-1,)))
        blocks.jvp[task.names[i]] = _host(xp.stack(columns, axis=1)) if columns else np.zeros((int(out.size), 0))


def _one_hot(xp: Any, like: Any, k: int) -> Any:
    flat = xp.zeros((int(like.size),), dtype=like.dtype)
    flat[k] = 1
    return xp.reshape(flat, tuple(like.shape))


def _float(xp: Any, a: Any) -> Any:
    return xp.astype(a, xp.float64) if backend.has_float64(xp, backend.device(a)) else a


def _host(a: Any) -> np.ndarray:
    return np.asarray(backend.to_host(a), dtype=np.float64)
