"""One registration mechanism for ops: a forward, one VJP rule and one JVP rule per argument.

Built-in ops and users' own modules use the same three calls::

    exp = op("exp", lambda x: ns(x).exp(x), family="elementwise")
    defvjp(exp, lambda g, ans, x: g * ans)
    defjvp(exp, lambda t, ans, x: t * ans)

A VJP rule ``rule(g, ans, *inputs, **params)`` returns the cotangent of its argument; a JVP rule
``rule(t, ans, *inputs, **params)`` returns that argument's contribution to the output tangent.
Rules are shape-free math: the machinery sums a cotangent over the axes its argument was
broadcast along (:func:`unbroadcast`), broadcasts each tangent contribution to the output's
shape and adds them. ``None`` in place of a rule marks an argument that is not differentiated
(integer labels, a mask). A linear op declares itself with :func:`deflinear`: its JVP is the op
applied to the tangent.

An op made with ``op(..., saves=True)`` keeps what its rules would otherwise recompute: its
forward returns ``(out, saved)`` (a tuple of arrays), calling the op still returns ``out``, and
its rules receive ``saved=`` as a keyword. The training core passes the forward's own ``saved``;
a check without one (``Op.vjp`` / ``Op.jvp`` called with inputs only) runs the forward to get it,
so the rules are always checked the way they are used.

Every rule takes the cotangent (or tangent) first, then the output, then the inputs, then the
keyword params: the per-argument rules above, the whole-op rules ``vjp_joint(g, out, *inputs,
**params)`` and ``jvp_joint(tangents, out, *inputs, **params)`` of ops written in other styles,
and :meth:`Op.vjp` / :meth:`Op.jvp` themselves, which are whole-function rules for
:func:`~gradlab.check.grads.check_grads` (``vjp=op.vjp``).

Called with a training-core ``Tensor`` among its arguments, an op records itself in the tensors'
graph (:mod:`~gradlab.ops.tracing`), so a rule written with ops (``g * gradlab.ops.cos(x)``) runs on arrays
and, to be differentiated itself, on tensors; :meth:`Op.vjp` and :meth:`Op.jvp` accept tensors too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradlab import backend
from gradlab.errors import GradlabError
from gradlab.ops.spec import builtin_specs, parse_spec
from gradlab.ops.tracing import TRACERS, array_of, traced

Array = Any
Rule = Callable[..., Array]


def ns(*xs: Any) -> Any:
    """The array namespace of the arrays among ``xs`` (what every rule computes with)."""
    return backend.namespace(*xs)


@dataclass
class Op:
    """A differentiable function with its rules; calling it runs the forward."""

    name: str
    forward: Callable[..., Array]
    family: str = "user"
    vjp_rules: tuple[Rule | None, ...] | None = None
    jvp_rules: tuple[Rule | None, ...] | None = None
    # whole-op rules, for ops written in other styles (a course's backward returning every
    # gradient at once): ``vjp_joint(g, out, *inputs, **params) -> cotangents`` and
    # ``jvp_joint(tangents, out, *inputs, **params) -> tangent``, checked verbatim (no unbroadcast)
    vjp_joint: Callable[..., Any] | None = None
    jvp_joint: Callable[..., Any] | None = None
    linear: bool = False
    linear_args: tuple[int, ...] | None = None  # the arguments a linear op is linear in (None: all)
    saves: bool = False  # the forward returns (out, saved) and the rules take saved= (see above)
    complex_safe: bool = False
    spec: Any = None
    doc: str = ""
    arg_names: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.arg_names:
            self.arg_names = _positional_names(self.forward)
        if not self.doc:
            self.doc = (inspect.getdoc(self.forward) or "").split("\n", 1)[0]

    def __call__(self, *inputs: Any, **params: Any) -> Array:
        """The forward, its result in the floating dtype of its floating inputs (NumPy 1.x turns a
        float32 0-d result into float64 when a Python float takes part).

        With a training-core ``Tensor`` among the inputs, the op is applied to them and recorded
        in their graph instead (``gradlab.train.autograd.apply``), and the result is a ``Tensor``.
        """
        if TRACERS:
            for x in inputs:
                if x.__class__ in TRACERS:
                    return TRACERS[x.__class__](self, *inputs, **params)
        out = self.forward(*inputs, **params)
        return self._output_dtype(out[0] if self.saves else out, inputs)

    def evaluate(self, *arrays: Any, **params: Any) -> Array:
        """The forward on arrays, as calling the op without looking for tensors (the training core's way)."""
        out = self.forward(*arrays, **params)
        return self._output_dtype(out[0] if self.saves else out, arrays)

    def call_saving(self, *inputs: Any, **params: Any) -> tuple[Array, tuple[Array, ...] | None]:
        """The forward's output (as :meth:`__call__`) and what it saved for the rules (None
        unless the op ``saves``)."""
        out = self.forward(*inputs, **params)
        saved = None
        if self.saves:
            out, saved = out
        return self._output_dtype(out, inputs), saved

    def _output_dtype(self, out: Array, inputs: tuple[Any, ...]) -> Array:
        if not _is_float(out):
            return out
        dtype = out.dtype
        for x in inputs:
            if x.__class__ is np.ndarray:  # the common case, without the namespace lookup
                if x.dtype != dtype and x.dtype.kind == "f":
                    break
            elif _is_float(x) and x.dtype != dtype:
                break
        else:  # no floating input, or all of the output's dtype: the common case
            return out
        floats = [x for x in inputs if _is_float(x)]
        xp = ns(out)
        wanted = xp.result_type(*floats)
        return xp.astype(out, wanted) if out.dtype != wanted else out

    @property
    def has_vjp(self) -> bool:
        return self.vjp_rules is not None or self.vjp_joint is not None

    @property
    def has_jvp(self) -> bool:
        return self.jvp_rules is not None or self.linear or self.jvp_joint is not None

    def vjp(
        self,
        g: Array,
        out: Array,
        *inputs: Any,
        needed: Sequence[bool] | None = None,
        saved: tuple[Array, ...] | None = None,
        **params: Any,
    ) -> tuple[Array | None, ...]:
        """Cotangents of every input (``None`` for the undifferentiated ones, and for those that
        ``needed`` marks False: their rules are not run), in the order of a whole-function rule:
        ``op.vjp`` is itself a ``vjp=`` for :func:`~gradlab.check.grads.check_grads`. ``saved``:
        what the forward saved, for an op that ``saves`` (run again when not given)."""
        return self.pull(g, out, inputs, needed, saved, params)

    def pull(
        self,
        g: Array,
        out: Array,
        inputs: Sequence[Any],
        needed: Sequence[bool] | None,
        saved: tuple[Array, ...] | None,
        params: Mapping[str, Any],
    ) -> tuple[Array | None, ...]:
        """:meth:`vjp` with its arguments as the training core stores them (no packing into
        ``*inputs`` and ``**params`` at every node of every step)."""
        if self.vjp_joint is not None:
            return self.vjp_joint(g, out, *inputs, **params)
        if self.vjp_rules is None:
            raise GradlabError(f"op {self.name!r} has no VJP: add one with defvjp")
        if self.saves:
            params = {**params, "saved": saved if saved is not None else self.call_saving(*inputs, **params)[1]}
        rules = self.vjp_rules
        cotangents: list[Array | None] = []
        for i, x in enumerate(inputs):
            rule = rules[i] if i < len(rules) else None
            if rule is None or (needed is not None and not needed[i]):
                cotangents.append(None)
                continue
            cot = rule(g, out, *inputs, **params)
            if type(cot) is np.ndarray and type(x) is np.ndarray:  # the common case, checked inline
                if cot.shape != x.shape:
                    cot = unbroadcast(cot, x.shape)
                if cot.dtype != x.dtype and x.dtype.kind == "f":
                    cot = cot.astype(x.dtype)
            elif backend.is_array(x) and backend.is_array(cot):
                cot = _same_dtype(unbroadcast(cot, tuple(x.shape)), x)
            elif traced(x) or (traced(cot) and backend.is_array(x)):  # a rule run on tensors
                cot = unbroadcast(cot, tuple(x.shape))
            cotangents.append(cot)
        return tuple(cotangents)

    def jvp(
        self,
        tangents: tuple[Array | None, ...],
        out: Array,
        *inputs: Any,
        saved: tuple[Array, ...] | None = None,
        **params: Any,
    ) -> Array:
        """The output tangent for input tangents (``None`` for inputs held fixed), in the order of
        a whole-function rule (``op.jvp`` is a ``jvp=``); ``saved`` as for :meth:`vjp`."""
        if self.jvp_joint is not None:
            return self.jvp_joint(tangents, out, *inputs, **params)
        xp = ns(out)
        if self.linear:
            # the JVP of a linear op is the op itself, applied to the tangents of the arguments it
            # is linear in (zeros where none); the other arguments pass through unchanged
            linear_in = self.linear_args if self.linear_args is not None else range(len(inputs))
            filled = list(inputs)
            for i in linear_in:  # all of argnums (numbers too: x + 1 is add's), else the floating arrays
                if self.linear_args is not None or _is_float(inputs[i]):
                    filled[i] = tangents[i] if tangents[i] is not None else _zeros_like(inputs[i])
            return self(*filled, **params)
        if self.jvp_rules is None:
            raise GradlabError(f"op {self.name!r} has no JVP: add one with defjvp or deflinear")
        if self.saves:  # params is this call's own dict, as in vjp
            params["saved"] = saved if saved is not None else self.call_saving(*inputs, **params)[1]
        total = None
        for i, t in enumerate(tangents):
            rule = self.jvp_rules[i] if i < len(self.jvp_rules) else None
            if t is None or rule is None:
                continue
            term = rule(t, out, *inputs, **params)
            if tuple(term.shape) != tuple(out.shape):
                broadcast = REGISTRY["broadcast_to"] if traced(term) else xp.broadcast_to
                term = broadcast(term, shape=tuple(out.shape))
            total = term if total is None else total + term
        return _same_dtype(total, out) if total is not None else _zeros_like(out)


def unbroadcast(cotangent: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``cotangent`` (an array or a tensor) over the axes along which an input of ``shape`` was
    broadcast. Leaves it unchanged when it cannot be reduced to ``shape`` (the form check reports that).
    """
    if tuple(cotangent.shape) == shape:
        return cotangent
    extra = cotangent.ndim - len(shape)
    if extra < 0:
        return cotangent
    # NumPy's reduction called directly: a bias gradient is summed at every training step
    if type(cotangent) is np.ndarray:
        total = np.add.reduce
    else:  # a tensor's sum is the registry's, recorded in its graph
        total = REGISTRY["sum"] if traced(cotangent) else ns(cotangent).sum
    if extra:
        cotangent = total(cotangent, axis=0 if extra == 1 else tuple(range(extra)))
        if tuple(cotangent.shape) == shape:  # a bias: summed over the batch, nothing kept at 1
            return cotangent
    axes = tuple(i for i, (s, c) in enumerate(zip(shape, cotangent.shape, strict=True)) if s == 1 and c != 1)
    if axes:
        cotangent = total(cotangent, axis=axes, keepdims=True)
    return cotangent


class Registry:
    """Ops by name."""

    def __init__(self) -> None:
        self._ops: dict[str, Op] = {}

    def add(self, item: Op) -> Op:
        old = self._ops.get(item.name)
        if old is not None and _origin(old.forward) != _origin(item.forward):
            raise GradlabError(
                f"an op named {item.name!r} is already registered (from {_origin(old.forward)}): choose another name"
            )
        self._ops[item.name] = item
        return item

    def __getitem__(self, name: str) -> Op:
        try:
            return self._ops[name]
        except KeyError:
            raise GradlabError(
                f"no op named {name!r}; known ops: {', '.join(sorted(self._ops))}"
                " (the training core's layers register when gradlab.train is imported)"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __iter__(self) -> Iterator[Op]:
        return iter(sorted(self._ops.values(), key=lambda o: (o.family, o.name)))

    def __len__(self) -> int:
        return len(self._ops)

    def names(self) -> list[str]:
        return sorted(self._ops)


REGISTRY = Registry()


def op(
    name: str | Callable[..., Array] | None = None,
    forward: Callable[..., Array] | None = None,
    *,
    family: str = "user",
    linear: bool = False,
    complex_safe: bool = False,
    saves: bool = False,
    spec: Any = None,
    registry: Registry | None = None,
) -> Any:
    """Create an op; usable as ``op("name", forward)``, ``@op(...)`` or ``@op``.

    Built-in ops (a ``family`` other than ``"user"``) land in the global registry, where
    ``gradlab check --registry`` and the training core find them; a user's ops stay plain
    objects of their module (``gradlab check module.py`` finds them there), unless a
    ``registry`` is given. ``spec`` is a :class:`~gradlab.ops.spec.Spec` or a table in the schema
    of ``specs/*.toml``; a built-in op without one takes its table from ``specs/``. Registering a
    second op under a taken name is an error, unless it is the same function again (a module
    imported twice). ``saves=True``: the forward returns ``(out, saved)`` and the rules take
    ``saved=`` (see the module's docstring).
    """
    if callable(name):  # bare @op
        forward, name = name, None

    def make(fn: Callable[..., Array]) -> Op:
        op_name = name or fn.__name__
        target = registry if registry is not None else (REGISTRY if family != "user" else None)
        parsed = spec
        if isinstance(spec, dict):
            parsed = parse_spec(op_name, spec, f"<inline spec of {fn.__module__}.{op_name}>")
        elif spec is None and target is REGISTRY:  # a built-in op: its table in specs/
            parsed = builtin_specs().get(op_name)
        made = Op(op_name, fn, family=family, linear=linear, complex_safe=complex_safe, saves=saves, spec=parsed)
        return target.add(made) if target is not None else made

    return make(forward) if forward is not None else make


def defvjp(target: Op, *rules: Rule | None) -> Op:
    """Give ``target`` one VJP rule per positional argument (``None``: not differentiated)."""
    target.vjp_rules = tuple(rules)
    return target


def defjvp(target: Op, *rules: Rule | None) -> Op:
    """Give ``target`` one JVP rule per positional argument (``None``: not differentiated)."""
    target.jvp_rules = tuple(rules)
    return target


def deflinear(target: Op, *argnums: int) -> Op:
    """Declare ``target`` linear in its floating array arguments, or in those at ``argnums``
    (numbers too), the others held fixed (a mask): its JVP is the op applied to the tangents."""
    target.linear = True
    target.linear_args = tuple(argnums) if argnums else None
    return target


def _same_dtype(value: Array, like: Array) -> Array:
    """``value`` in ``like``'s floating dtype: NumPy 1.x promotes float32 0-d arrays times Python
    floats to float64, and a rule is shape- and dtype-free math (NEP 50 made this moot in 2.x)."""
    if backend.is_array(value) and value.dtype != like.dtype and _is_float(like):
        return ns(value).astype(value, like.dtype)
    return value


def _is_float(x: Any) -> bool:
    if isinstance(x, (np.ndarray, np.generic)):  # the common case, without the namespace lookup
        return x.dtype.kind == "f"
    x = array_of(x)
    return backend.is_array(x) and backend.is_floating(ns(x), x.dtype)


def _zeros_like(x: Array) -> Array:
    """Zeros like ``x``: an array for a tensor (a constant), a Python number for one (weakly typed)."""
    if isinstance(x, (int, float, complex)):
        return type(x)(0)
    x = array_of(x)
    return ns(x).zeros_like(x)


def _origin(fn: Callable[..., Any]) -> str:
    code = getattr(fn, "__code__", None)
    line = f":{code.co_firstlineno}" if code is not None else ""
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}{line}"


def _positional_names(fn: Callable[..., Any]) -> tuple[str, ...]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
