"""Each style of op a user's module may hold, made an :class:`~gradlab.ops.Op` with a whole-op VJP
(and JVP) that calls the user's code exactly as its author does:

1. **gradlab** -- :class:`~gradlab.ops.registry.Op` objects made with ``gradlab.ops.op`` and
   ``defvjp``/``defjvp``, with their inline spec (``op(..., spec={...})``).
2. **class** -- classes in the style of autodiff homework. The forward is ``compute(self, *arrays)``
   or ``forward(self, *arrays)``; the reverse rule one of

   - ``gradient(self, out_grad, node)`` (needle): run in the op's own framework, on its Tensors
     (:mod:`gradlab.cli.frameworks`), or with a stand-in node of NumPy arrays when there is none;
   - ``vjp(self, g, out, *arrays)``;
   - ``backward(self, g, *arrays)`` or ``backward(self, g)`` (called right after ``forward``,
     so a layer may keep what it needs on ``self``).

   An optional forward-mode rule is ``jvp(self, tangents, out, *arrays)``. The reverse rule returns
   one array or a tuple (one gradient per array). Non-array parameters belong to the constructor,
   drawn by their names (``scalar``, ``axes``, ``shape``: :mod:`gradlab.cli.classes`). A class attribute ``spec``
   (a table in the schema of ``specs/*.toml``) pins its spec. Base classes whose methods only
   ``raise NotImplementedError`` are skipped.
3. **course** -- CS231n layer pairs ``foo_forward(x, ...) -> (out, cache)`` with
   ``foo_backward(dout, cache) -> grads`` (the gradients of the forward's array arguments in
   order; one array when there is one); a variant ``foo_backward_alt`` pairs with ``foo_forward``
   too. Arguments named ``*_param`` (``conv_param``, ``bn_param``) are config dicts and ``G`` an
   integer, not differentiated: every call gets a fresh dict of values drawn from
   :mod:`gradlab.cli.conventions`. Arguments with a default keep it. And ``*_loss(x, y) -> (loss, dx)``
   (style ``"loss"``): x (N, C) scores, y (N,) integer labels in [0, C), checked as the forward
   ``loss`` with the VJP ``g * dx``.

Classes live in :mod:`gradlab.cli.classes`. Each ``*_op`` maker returns ``(op, its own spec,
problem)``: the op is None when ``problem`` says why it cannot be checked; it raises
:class:`~gradlab.cli.unfinished.Unfinished` for code not written yet.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradlab.cli import conventions
from gradlab.cli.infer import ones_like, required_args
from gradlab.cli.unfinished import Unfinished, unwritten
from gradlab.fuzz.strategies import core_dims
from gradlab.ops.registry import Op
from gradlab.ops.spec import Spec, parse_spec

LOSS_SIGNATURE = "(n,c),(n)->()"


def source_line(obj: Any) -> int:
    try:
        return inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        return getattr(getattr(obj, "__code__", None), "co_firstlineno", 0)


def gradlab_op(item: Op) -> tuple[Op | None, Spec | None, str | None]:
    if not item.has_vjp and not item.has_jvp:
        return None, item.spec, f"{item.name} has no rule to check: add a VJP with defvjp (and a JVP with defjvp)"
    return item, item.spec, None


def course_op(name: str, forward: Callable[..., Any], backward: Any, forward_name: str, backward_name: str) -> tuple:
    for p in inspect.signature(forward).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.KEYWORD_ONLY) and p.default is p.empty:
            return None, None, f"{forward_name} takes {p}: give its arrays one named parameter each"
    order = required_args(forward)  # arrays, config dicts and integers, in order
    arrays = [n for n in order if not conventions.is_config(n)]
    if not callable(backward):
        args = ", ".join(arrays)
        return None, None, f"found {forward_name} but no {backward_name}(dout, cache) returning the gradients of {args}"
    if not arrays:
        return None, None, f"{forward_name} has no array argument to differentiate"
    for fn, fn_name in ((forward, forward_name), (backward, backward_name)):
        missing = [n for n in unwritten(fn) if n != "cache"]
        if missing:
            raise Unfinished(f"{fn_name} returns {', '.join(missing)} still set to None: not written yet")

    flat = arrays[0] if conventions.flattened(name) else None

    def call(xs: Sequence[Any], params: dict[str, Any]) -> tuple[Any, Any]:
        given = dict(zip(arrays, xs, strict=True))
        if flat in given and params.get(f"{flat}.rank") == 3 and given[flat].ndim == 2:
            given[flat] = conventions.split_features(given[flat])
        problem = conventions.domain_problem(name, order, given, params)
        if problem:  # outside the layer's domain: the example is skipped
            raise ValueError(problem)
        args = [given[n] if n in given else conventions.value(n, params) for n in order]
        result = forward(*args)
        if result is None:
            raise Unfinished(f"{forward_name} returns None")
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(f"{forward_name} returned {type(result).__name__}, not the pair (out, cache)")
        return result

    def fwd(*xs: Any, **params: Any) -> Any:
        return as_array(call(xs, params)[0], xs)

    def vjp(g: Any, out: Any, *xs: Any, **params: Any) -> Any:
        grads = backward(g, call(xs, params)[1])
        if flat is None or params.get(f"{flat}.rank") != 3 or xs[arrays.index(flat)].ndim != 2:
            return grads
        # x went in as (n, a, d / a): its gradient must come back so, then it is compared as (n, d)
        i = arrays.index(flat)
        x = xs[i]
        split = conventions.split_features(x)
        got = grads[i] if isinstance(grads, (tuple, list)) and len(arrays) > 1 else grads
        if getattr(got, "shape", None) != split.shape:
            raise ValueError(
                f"{backward_name} returned the gradient of {flat} with shape {getattr(got, 'shape', None)}"
                f" for {flat} of shape {split.shape}: return it in {flat}'s own shape"
            )
        if len(arrays) == 1:
            return got.reshape(x.shape)
        return (*grads[:i], got.reshape(x.shape), *grads[i + 1 :])

    return Op(name, fwd, vjp_joint=vjp, arg_names=tuple(arrays)), None, None


def loss_op(name: str, loss: Callable[..., Any], shown: str) -> tuple:
    x_name, y_name = required_args(loss)

    def call(x: Any, y: Any) -> tuple[Any, Any]:
        result = loss(x, y)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(f"{name} returned {type(result).__name__}, not the pair (loss, dx)")
        return result

    def fwd(x: Any, y: Any) -> Any:
        return as_array(call(x, y)[0], (x,), cast=True)

    def vjp(g: Any, out: Any, x: Any, y: Any) -> Any:
        dx = call(x, y)[1]
        return (g * dx if isinstance(dx, (np.ndarray, np.generic)) else dx), None

    table = {
        "shape": LOSS_SIGNATURE,
        "batch": False,
        "min_side": 2,  # two classes at least: a softmax over one class is constant
        "inputs": [{"name": x_name, "domain": "real"}, {"name": y_name, "domain": "labels", "classes": "c"}],
        "checks": ["rev", "form"],
    }
    spec = parse_spec(name, table, f"<the *_loss convention, for {shown}::{name}>")
    return Op(name, fwd, vjp_joint=vjp, arg_names=(x_name, y_name)), spec, None


def as_array(out: Any, xs: Sequence[Any], cast: bool = False) -> Any:
    """A Python float (or, with ``cast``, any scalar) as a 0-d array of the inputs' float dtype."""
    dtype = next((x.dtype for x in xs if isinstance(x, np.ndarray) and x.dtype.kind == "f"), np.float64)
    if out is None:  # not written yet: the caller says so
        return None
    if isinstance(out, float) or (cast and np.ndim(out) == 0 and not isinstance(out, (tuple, list))):
        return np.asarray(out, dtype=dtype)
    return out


def arity_problem(op: Op, spec: Spec) -> str | None:
    if op.vjp_joint is None or len(spec.inputs) == len(op.arg_names):
        return None
    return (
        f"the spec from {spec.source} has {len(spec.inputs)} inputs but {op.name} takes {len(op.arg_names)} arrays"
        f" ({', '.join(op.arg_names)}): give one input per array, in order"
    )


def first_call(op: Op, spec: Spec) -> None:
    """Call the forward and the reverse rule once, at sizes the spec allows: raises
    :class:`~gradlab.cli.unfinished.Unfinished` when either is not written yet (returns None for the
    output or for a gradient, or raises NotImplementedError). Other errors are left to the check."""
    rng = np.random.default_rng(0)
    dims, _ = core_dims(spec.shape)
    # falling sizes first: a window (a kernel's k after the image's h) fits in what it slides over
    size = {d: s for d, s in zip(dict.fromkeys(d for g in dims for d in g), (5, 4, 3, 2, 6, 7, 8, 9), strict=False)}
    size["1"] = 1
    xs = []
    for x, group in zip(spec.inputs, dims, strict=True):
        shape = tuple(size.get(d.rstrip("?"), 1) if not d.isdigit() else int(d) for d in group)
        if x.domain == "labels":
            xs.append(rng.integers(0, size.get(x.classes or "", 1), size=shape))
        else:
            low, high = x.bounds
            xs.append(rng.uniform(max(low, -2.0), min(high, 2.0), size=shape).astype(spec.dtypes[0]))
    try:
        out = op(*xs)
        grads = None if out is None else op.vjp(ones_like(out), out, *xs)
    except NotImplementedError as exc:
        raise Unfinished(f"{op.name} raises NotImplementedError: not written yet") from exc
    except Unfinished:
        raise
    except Exception:  # a rule that crashes is checked, and the check reports it
        return
    if out is None:
        raise Unfinished(f"{op.name}'s forward returns None for its output")
    grads = grads if isinstance(grads, (tuple, list)) else [grads]
    if len(grads) == len(xs):
        missing = [spec.inputs[i].name for i in spec.wrt if grads[i] is None]
    else:
        missing = [] if all(g is not None for g in grads) else [spec.inputs[i].name for i in spec.wrt]
    if missing:
        raise Unfinished(f"{op.name}'s backward returns None for the gradient of {', '.join(missing)}")
