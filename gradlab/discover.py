"""Find the checkable ops of a user's module, in any of three styles, and make each an :class:`Op`.

``discover("layers.py")`` imports the module by path (its folder on ``sys.path`` meanwhile, so
its own imports work) and returns one :class:`Target` per op found at its top level:

1. **gradlab** -- :class:`~gradlab.ops.registry.Op` objects made with ``gradlab.ops.op`` and
   ``defvjp``/``defjvp``, with their inline spec (``op(..., spec={...})``).
2. **class** -- classes in the style of autodiff homework. The forward is ``compute(self, *arrays)``
   or ``forward(self, *arrays)``; the reverse rule one of

   - ``gradient(self, out_grad, node)`` (needle): ``node.inputs`` is the list of input arrays,
     ``node.realize_cached_data()`` (or ``node.cached_data``) the forward's output;
   - ``vjp(self, g, *arrays, out)``;
   - ``backward(self, g, *arrays)`` or ``backward(self, g)`` (called right after ``forward``,
     so a layer may keep what it needs on ``self``).

   An optional forward-mode rule is ``jvp(self, tangents, *arrays, out)``. The reverse rule returns
   one array or a tuple (one gradient per array). Non-array parameters belong to the constructor:
   the class is instantiated with no arguments, so give them defaults. A class attribute ``spec``
   (a table in the schema of ``specs/*.toml``) pins its spec. Base classes whose methods only
   ``raise NotImplementedError`` are skipped.
3. **course** -- CS231n layer pairs ``foo_forward(x, ...) -> (out, cache)`` with
   ``foo_backward(dout, cache) -> grads`` (the gradients of the forward's array arguments in
   order; one array when there is one). Arguments named ``*_param`` (``bn_param``,
   ``dropout_param``) are config dicts, not differentiated: every call gets a fresh copy of
   :data:`CONFIG`. Arguments with a default keep it. And ``*_loss(x, y) -> (loss, dx)``
   (style ``"loss"``): x (N, C) scores, y (N,) integer labels in [0, C), checked as the forward
   ``loss`` with the VJP ``g * dx``.

A spec comes from the op (inline or ``spec`` attribute), from ``<module>.toml`` beside the file
(tables by op name, the schema of ``specs/*.toml``; it wins over an inline spec), or is inferred:
:func:`infer_shapes` asks the op itself which shapes it accepts. Checking a module never needs a
change to it.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib.util
import inspect
import itertools
import re
import sys
import textwrap
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from gradlab.errors import GradlabError
from gradlab.form import describe_exception
from gradlab.infer import Shapes, infer_shapes, quiet, required_args
from gradlab.ops.registry import Op
from gradlab.spec import Spec, SpecError, load_specs, parse_spec

__all__ = ["CONFIG", "DiscoveryError", "Shapes", "Target", "discover", "infer_shapes"]

# every course config dict (``*_param``) is a fresh deep copy of this (the forward may mutate it)
CONFIG: dict[str, Any] = {"mode": "train", "p": 0.5, "seed": 0, "stride": 1, "pad": 1, "pool_height": 2,
                          "pool_width": 2}  # fmt: skip
STYLES = ("gradlab", "class", "course", "loss")
_LOSS_SIGNATURE = "(n,c),(n)->()"


class DiscoveryError(GradlabError):
    """A problem with the whole file: the message names the file and says how to fix it."""


@dataclass
class Target:
    """One op found in a user's module, ready for :func:`gradlab.fuzz.fuzz_op` unless ``problem`` says why not."""

    name: str
    op: Op | None
    spec: Spec | None
    style: str
    source: str
    inferred: str | None = None
    problem: str | None = None
    aliases: tuple[str, ...] = field(default=(), repr=False)


def discover(path: str | Path, select: str | None = None) -> list[Target]:
    """The ops of the module at ``path`` (``"file.py"`` or ``"file.py::name"``), sorted by line.

    Raises :class:`DiscoveryError` for a problem with the whole file (missing, not Python, a
    syntax or import error, nothing to check, an unknown ``::name``, an invalid ``<module>.toml``);
    a problem of one op is its target's ``problem``.
    """
    text = str(path)
    if "::" in text:
        text, named = text.rsplit("::", 1)
        select = named if select is None else select
    file = Path(text)
    module = _import(file, text)
    specs = _toml_specs(file)
    found = sorted(_candidates(module, text), key=lambda c: c.line)
    if not found:
        raise DiscoveryError(
            f"{text}: nothing to check: no op found at the module's top level. gradlab recognises three styles:"
            " ops made with gradlab.ops.op and defvjp/defjvp; classes with compute(self, *arrays) or"
            " forward(self, *arrays) and gradient(self, out_grad, node), vjp(self, g, *arrays, out) or"
            " backward(self, g, *arrays); and course layer pairs foo_forward(x, ...) -> (out, cache) with"
            " foo_backward(dout, cache) -> grads, or foo_loss(x, y) -> (loss, dx). Define one of them in the module."
        )
    names = [c.name for c in found]
    for name, spec in specs.items():
        if name not in names:
            raise DiscoveryError(
                f"{spec.source}: op {name!r}: no op of that name in {text}; the ops found are {', '.join(names)}."
                " Name the table after one of them."
            )
    if select is not None:
        found = [c for c in found if select == c.name or select in c.aliases]
        if not found:
            raise DiscoveryError(
                f"{text}: no op named {select!r}; the ops found are {', '.join(names)}."
                f" Use {text}::NAME with one of these names."
            )
    return [c.build(specs.get(c.name)) for c in found]


# ---- importing ------------------------------------------------------------------------------

_counter = itertools.count()


def _import(file: Path, shown: str) -> ModuleType:
    if not file.exists():
        raise DiscoveryError(f"{shown}: no such file. Give the path of a Python module, e.g. gradlab check layers.py")
    if file.is_dir() or file.suffix != ".py":
        what = "a folder" if file.is_dir() else "not a Python module"
        raise DiscoveryError(
            f"{shown}: {what}. gradlab reads ops from one .py file (add ::name to pick one op), e.g. layers.py"
        )
    try:
        source = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DiscoveryError(f"{shown}: cannot read the file ({exc}). Save it as UTF-8 text.") from None
    try:
        compile(source, str(file), "exec")
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        message = getattr(exc, "msg", str(exc))
        raise DiscoveryError(
            f"{shown}:{line}: syntax error: {message}. Fix it (python {shown} shows the same error) and run again."
        ) from None
    name = "gradlab_user_{}_{}".format(re.sub(r"\W", "_", file.stem), next(_counter))
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    sys.path.insert(0, str(file.resolve().parent))
    sys.modules[name] = module
    try:
        with quiet():
            spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        del sys.modules[name]
        raise DiscoveryError(_import_problem(exc, file, shown)) from None
    finally:
        sys.path[:] = saved
    return module


def _import_problem(exc: BaseException, file: Path, shown: str) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<frozen")]
    mine = [i for i, f in enumerate(frames) if Path(f.filename).resolve() == file.resolve()]
    where = f"{shown}:{frames[mine[-1]].lineno}" if mine else shown
    deeper = frames[-1] if mine and mine[-1] < len(frames) - 1 else None
    inside = f" (raised in {deeper.filename}:{deeper.lineno})" if deeper is not None else ""
    what = f"{type(exc).__name__}: {exc}".rstrip(": ")
    return (
        f"{where}: importing the module raised {what}{inside}. gradlab imports the module to find its ops, with its"
        " folder on sys.path; fix the error, or put code that should run only as a script under"
        " if __name__ == '__main__':"
    )


def _toml_specs(file: Path) -> dict[str, Spec]:
    beside = file.with_suffix(".toml")
    if not beside.is_file():
        return {}
    try:
        return load_specs([beside])
    except SpecError as exc:
        raise DiscoveryError(f"{exc}. Fix the table in {beside} (the schema of specs/*.toml).") from None


# ---- finding candidates ---------------------------------------------------------------------


@dataclass
class _Candidate:
    name: str
    style: str
    line: int
    source: str
    aliases: tuple[str, ...]
    make: Callable[[], tuple[Op | None, Spec | None, str | None]]  # op, own spec, problem
    pin: str  # how to pin a spec, for the inferred text

    def build(self, toml_spec: Spec | None) -> Target:
        target = Target(self.name, None, None, self.style, self.source, aliases=self.aliases)
        try:
            op, spec, target.problem = self.make()
        except (Exception, SystemExit) as exc:  # a user's code misbehaving while being inspected
            target.problem = describe_exception(f"inspecting {self.name}", exc)
            return target
        target.op, target.spec = op, _without_spaces(toml_spec or spec)
        if op is not None and target.spec is None:
            try:
                shapes = infer_shapes(op)
            except (Exception, SystemExit) as exc:  # a user's object misbehaving in a way _try did not expect
                shapes = describe_exception(f"searching the shapes of {self.name}", exc)
            if isinstance(shapes, str):
                target.op, target.problem = None, f"{shapes}. If it works on shapes not tried, {self.pin}"
            else:
                checks = ["rev", "fwd", "adj", "form"] if op.has_jvp else ["rev", "form"]
                target.spec = shapes.spec(self.name, checks, self.source)
                target.inferred = f"shapes inferred: {shapes.describe()}; {self.pin}"
        elif op is not None and target.spec is not None:
            target.problem = _arity_problem(op, target.spec)
            target.op = None if target.problem else op
            if self.style == "loss" and toml_spec is None:
                x, y = op.arg_names
                target.inferred = (
                    f"shapes from the *_loss convention: {x} (n, c) scores, {y} (n,) integer labels in [0, c);"
                    f" {self.pin}"
                )
        if target.problem and not target.problem.endswith("."):
            target.problem += "."
        return target


def _without_spaces(spec: Spec | None) -> Spec | None:
    """The spec with its signature's spaces dropped (Hypothesis rejects "(n, d)->(n, d)")."""
    if spec is None or not re.search(r"\s", spec.shape):
        return spec
    return dataclasses.replace(spec, shape=re.sub(r"\s", "", spec.shape))


def _candidates(module: ModuleType, shown: str) -> list[_Candidate]:
    found: list[_Candidate] = []
    seen: set[int] = set()
    stem = Path(shown).stem
    toml_hint = stem + ".toml beside the module (the schema of specs/*.toml)"
    members = list(vars(module).items())
    classes = [v for _, v in members if inspect.isclass(v) and v.__module__ == module.__name__]
    for attr, value in members:
        if id(value) in seen:
            continue
        try:
            made = _candidate(attr, value, module, members, classes, shown, toml_hint)
        except Exception:  # an odd object at module level: not an op
            made = None
        if made is not None:
            seen.add(id(value))
            found.append(made)
    return found


def _candidate(attr, value, module, members, classes, shown, toml_hint) -> _Candidate | None:
    mine = module.__name__
    if isinstance(value, Op) and (
        getattr(value.forward, "__module__", None) == mine
        or (value.family == "user" and not inspect.isfunction(value.forward))  # op("exp", np.exp)
    ):
        line = _line(value.forward)
        pin = f"pin them with an inline spec (op(..., spec={{...}})) or a [{value.name}] table in {toml_hint}"
        return _Candidate(value.name, "gradlab", line, f"{shown}:{line}", (attr,), lambda: _gradlab_op(value), pin)
    if inspect.isclass(value) and value in classes:
        methods = _class_methods(value, classes)
        if methods is None:
            return None
        line = _line(value)
        pin = f"pin them with a class attribute spec = {{...}} or a [{value.__name__}] table in {toml_hint}"
        make = lambda: _class_op(value, methods, shown)  # noqa: E731
        return _Candidate(value.__name__, "class", line, f"{shown}:{line}", (), make, pin)
    if not (inspect.isfunction(value) and value.__module__ == mine):
        return None
    match = re.fullmatch(r"(\w+?)_forward(\w*)", attr)
    name = match.group(1) + match.group(2) if match else attr
    pin = f"pin them with a [{name}] table in {toml_hint}"
    if match:
        backward = dict(members).get(f"{match.group(1)}_backward{match.group(2)}")
        line = _line(value)
        make = lambda: _course_op(name, value, backward, attr)  # noqa: E731
        return _Candidate(name, "course", line, f"{shown}:{line}", (attr,), make, pin)
    if attr.endswith("_loss") and len(required_args(value)) == 2:
        line = _line(value)
        return _Candidate(attr, "loss", line, f"{shown}:{line}", (), lambda: _loss_op(attr, value, shown), pin)
    return None


def _line(obj: Any) -> int:
    try:
        return inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        return getattr(getattr(obj, "__code__", None), "co_firstlineno", 0)


def _is_stub(fn: Any) -> bool:
    """True for a method whose body is only ``pass``, ``...`` or ``raise NotImplementedError``."""
    try:
        node = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return False
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False

    def empty(s: ast.stmt) -> bool:
        if isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)):
            return True  # pass, ..., a docstring
        exc = s.exc if isinstance(s, ast.Raise) else None
        exc = exc.func if isinstance(exc, ast.Call) else exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"

    return all(empty(s) for s in node.body)


def _class_methods(cls: type, classes: Sequence[type]) -> dict[str, str] | None:
    """The forward/reverse/jvp method names of an op class; None when ``cls`` is not one."""
    forward = next((m for m in ("compute", "forward") if callable(getattr(cls, m, None))), None)
    reverse = next((m for m in ("gradient", "vjp", "backward") if callable(getattr(cls, m, None))), None)
    if forward is None or inspect.isabstract(cls):
        return None
    if reverse is None and forward != "compute":
        return None  # a class with only a forward (a model, a module) is not an op
    if any(other is not cls and issubclass(other, cls) for other in classes) and _is_stub(getattr(cls, forward)):
        return None  # a base class
    methods = {"forward": forward, "reverse": reverse or ""}
    if callable(getattr(cls, "jvp", None)) and not _is_stub(cls.jvp):
        methods["jvp"] = "jvp"
    return methods


# ---- adapters: each style as an Op with a whole-op VJP (and JVP) ------------------------------


def _gradlab_op(item: Op) -> tuple[Op | None, Spec | None, str | None]:
    if not item.has_vjp and not item.has_jvp:
        return None, item.spec, f"{item.name} has no rule to check: add a VJP with defvjp (and a JVP with defjvp)"
    return item, item.spec, None


def _class_op(cls: type, methods: dict[str, str], shown: str) -> tuple[Op | None, Spec | None, str | None]:
    name = cls.__name__
    forward_name, reverse = methods["forward"], methods["reverse"]
    spec = None
    if isinstance(getattr(cls, "spec", None), dict):
        try:
            spec = parse_spec(name, cls.spec, f"{shown}:{_line(cls)} ({name}.spec)")
        except SpecError as exc:
            return None, None, str(exc)
    for method in (forward_name, reverse):
        if method and _is_stub(getattr(cls, method)):
            return None, spec, f"{name}.{method} is not implemented yet (it only raises NotImplementedError)"
    if not reverse:
        return None, spec, f"{name} has {forward_name} but no gradient(self, out_grad, node), vjp or backward to check"
    try:
        instance = cls()
    except Exception as exc:
        why = f"{name}() failed ({type(exc).__name__}: {exc}): gradlab makes the op with no arguments"
        return None, spec, f"{why}, so give every constructor parameter a default, e.g. def __init__(self, scalar=3)"
    forward = getattr(instance, forward_name)
    arrays = required_args(forward)
    rule = getattr(instance, reverse)
    takes_arrays = len(required_args(rule)) > 1

    def fwd(*xs: Any, **params: Any) -> Any:
        return _as_array(forward(*xs, **params), xs)

    def vjp(g: Any, *args: Any, **params: Any) -> Any:
        *xs, out = args
        if reverse == "gradient":
            return rule(g, _Node(instance, xs, out))
        if reverse == "vjp":
            return rule(g, *xs, out)
        forward(*xs, **params)  # a layer may keep what its backward needs on self
        return rule(g, *xs) if takes_arrays else rule(g)

    jvp = instance.jvp if "jvp" in methods else None
    return Op(name, fwd, vjp_joint=vjp, jvp_joint=jvp, arg_names=tuple(arrays)), spec, None


class _Node:
    """What a needle ``gradient(out_grad, node)`` reads: the inputs and the forward's output."""

    def __init__(self, op: Any, inputs: Sequence[Any], out: Any) -> None:
        self.op, self.inputs, self.cached_data = op, list(inputs), out
        self.shape, self.dtype = getattr(out, "shape", ()), getattr(out, "dtype", None)

    def realize_cached_data(self) -> Any:
        return self.cached_data


def _course_op(name: str, forward: Callable[..., Any], backward: Any, forward_name: str) -> tuple:
    for p in inspect.signature(forward).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.KEYWORD_ONLY) and p.default is p.empty:
            return None, None, f"{forward_name} takes {p}: give its arrays one named parameter each"
    order = required_args(forward)  # arrays and config dicts, in order
    arrays = [n for n in order if not n.endswith("_param")]
    backward_name = forward_name.replace("_forward", "_backward", 1)
    if not callable(backward):
        args = ", ".join(arrays)
        return None, None, f"found {forward_name} but no {backward_name}(dout, cache) returning the gradients of {args}"
    if not arrays:
        return None, None, f"{forward_name} has no array argument to differentiate"

    def call(xs: Sequence[Any], params: dict[str, Any]) -> tuple[Any, Any]:
        given = dict(zip(arrays, xs, strict=True))
        args = [given[n] if n in given else copy.deepcopy(CONFIG) for n in order]
        result = forward(*args, **params)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(f"{forward_name} returned {type(result).__name__}, not the pair (out, cache)")
        return result

    def fwd(*xs: Any, **params: Any) -> Any:
        return _as_array(call(xs, params)[0], xs)

    def vjp(g: Any, *args: Any, **params: Any) -> Any:
        return backward(g, call(args[:-1], params)[1])

    return Op(name, fwd, vjp_joint=vjp, arg_names=tuple(arrays)), None, None


def _loss_op(name: str, loss: Callable[..., Any], shown: str) -> tuple:
    x_name, y_name = required_args(loss)

    def call(x: Any, y: Any) -> tuple[Any, Any]:
        result = loss(x, y)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(f"{name} returned {type(result).__name__}, not the pair (loss, dx)")
        return result

    def fwd(x: Any, y: Any) -> Any:
        return _as_array(call(x, y)[0], (x,), cast=True)

    def vjp(g: Any, x: Any, y: Any, out: Any) -> Any:
        dx = call(x, y)[1]
        return (g * dx if isinstance(dx, (np.ndarray, np.generic)) else dx), None

    table = {
        "shape": _LOSS_SIGNATURE,
        "batch": False,
        "inputs": [{"name": x_name, "domain": "real"}, {"name": y_name, "domain": "labels", "classes": "c"}],
        "checks": ["rev", "form"],
    }
    spec = parse_spec(name, table, f"<the *_loss convention, for {shown}::{name}>")
    return Op(name, fwd, vjp_joint=vjp, arg_names=(x_name, y_name)), spec, None


def _as_array(out: Any, xs: Sequence[Any], cast: bool = False) -> Any:
    """A Python float (or, with ``cast``, any scalar) as a 0-d array of the inputs' float dtype."""
    dtype = next((x.dtype for x in xs if isinstance(x, np.ndarray) and x.dtype.kind == "f"), np.float64)
    if isinstance(out, float) or (cast and np.ndim(out) == 0 and not isinstance(out, (tuple, list))):
        return np.asarray(out, dtype=dtype)
    return out


def _arity_problem(op: Op, spec: Spec) -> str | None:
    if op.vjp_joint is None or len(spec.inputs) == len(op.arg_names):
        return None
    return (
        f"the spec from {spec.source} has {len(spec.inputs)} inputs but {op.name} takes {len(op.arg_names)} arrays"
        f" ({', '.join(op.arg_names)}): give one input per array, in order"
    )
