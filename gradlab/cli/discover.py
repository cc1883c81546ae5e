"""Find the checkable ops of a user's module and make each a :class:`Target` to fuzz.

``discover("layers.py")`` imports the module by path (its folder on ``sys.path`` meanwhile, so
its own imports work) and returns one :class:`Target` per op found at its top level, in any of the
styles of :mod:`gradlab.cli.adapters` (gradlab ops, homework classes, course layer pairs and losses),
or of the dlsys homework's graph API (:mod:`gradlab.cli.graph_api`: op classes making ``Node`` objects,
recognised before the homework classes, whose ``compute(self, node, input_vals)`` they would misread).

A spec comes from the op (inline or ``spec`` attribute), from ``<module>.toml`` beside the file
(tables by op name, the schema of ``specs/*.toml``; it wins over an inline spec), or is inferred:
:func:`infer_shapes` asks the op itself which shapes it accepts. Checking a module never needs a
change to it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from gradlab.check import bridges
from gradlab.check.form import describe_exception
from gradlab.cli import conventions, framework_rules, graph_api, isolate
from gradlab.cli.adapters import (
    arity_problem,
    course_op,
    first_call,
    gradlab_op,
    loss_op,
    source_line,
)
from gradlab.cli.classes import class_methods, class_op, unchosen
from gradlab.cli.importing import ImportProblem, import_file, module_files
from gradlab.cli.infer import infer_shapes, quiet, required_args
from gradlab.cli.unfinished import Unfinished
from gradlab.errors import GradlabError
from gradlab.fuzz.driver import OpTimeout, time_limit
from gradlab.ops.registry import Op
from gradlab.ops.spec import Spec, SpecError, load_specs

__all__ = ["DiscoveryError", "Target", "discover"]

STYLES = ("gradlab", "class", "graph", "course", "loss")


class DiscoveryError(GradlabError):
    """A problem with the whole file: the message names the file and says how to fix it."""


@dataclass
class Target:
    """One op found in a user's module: ready for :func:`~gradlab.fuzz.driver.fuzz_op`, unless
    ``problem`` says why not."""

    name: str
    op: Op | None
    spec: Spec | None
    style: str
    source: str
    inferred: str | None = None  # how the shapes were found, when no spec gave them
    pin: str | None = None  # how to pin them instead
    problem: str | None = None
    unfinished: str | None = None  # the user's code is not written yet: what is missing
    aliases: tuple[str, ...] = field(default=(), repr=False)


def discover(
    path: str | Path,
    select: str | None = None,
    timeout: float | None = None,
    specs: dict[str, Spec] | None = None,
    isolated: bool = False,
) -> list[Target]:
    """The ops of the module at ``path`` (``"file.py"``, ``"file.py::name"`` or a package folder), in
    the order of the source.

    Raises :class:`DiscoveryError` for a problem with the whole input (missing, not Python, a syntax
    or import error of the one file given, nothing to check, an unknown ``::name``, an invalid
    ``<module>.toml``); a problem of one op, or of one module of a folder, is its target's
    ``problem``, code not written yet its ``unfinished``. Every call of the user's code while
    inspecting an op runs under ``timeout`` seconds. ``specs`` are the project's op specs by name
    (``[tool.gradlab.ops]``); a table in the ``.toml`` beside a module wins over them. ``isolated``:
    each op is inspected in a forked child (:mod:`gradlab.cli.isolate`), so a crash in compiled
    code is that op's problem, not the end of the process.
    """
    text = str(path)
    if "::" in text:
        text, named = text.rsplit("::", 1)
        select = named if select is None else select
    try:
        files = module_files(Path(text), text)
    except ImportProblem as exc:
        raise DiscoveryError(str(exc)) from None
    found: list[_Candidate] = []
    broken: list[Target] = []
    beside: dict[str, Spec] = {}
    for file in files:
        shown = text if len(files) == 1 else str(file)
        try:
            module = import_file(file, shown)
        except ImportProblem as exc:
            if len(files) == 1:
                raise DiscoveryError(str(exc)) from None
            broken.append(Target(file.stem, None, None, "module", shown, problem=str(exc)))
            continue
        beside |= _toml_specs(file)
        found += sorted(_candidates(module, shown), key=lambda c: c.line)
    if not found and not broken:
        raise DiscoveryError(
            f"{text}: nothing to check: no op found at the module's top level. gradlab recognises these styles:"
            " ops made with gradlab.ops.op and defvjp/defjvp; classes with compute(self, *arrays) or"
            " forward(self, *arrays) and gradient(self, out_grad, node), vjp(self, g, out, *arrays) or"
            " backward(self, g, *arrays) (needle's ops, run on its Tensors); the graph API of dlsys autodiff.py"
            " (op singletons with compute(self, node, input_vals) and gradient(self, node, output_grad));"
            " torch.autograd.Function subclasses, jax.custom_vjp / custom_jvp functions and HIPS autograd"
            " primitives with a VJP (run through their framework); and course layer pairs"
            " foo_forward(x, ...) -> (out, cache) with foo_backward(dout, cache) -> grads, or"
            " foo_loss(x, y) -> (loss, dx). Define one of them in the module."
        )
    names = [c.name for c in found]
    for name, spec in beside.items():
        if name not in names:
            raise DiscoveryError(
                f"{spec.source}: op {name!r}: no op of that name in {text}; the ops found are {', '.join(names)}."
                " Name the table after one of them."
            )
    if select is not None:
        found = [c for c in found if select == c.name or select in c.aliases]
        broken = []
        if not found:
            raise DiscoveryError(
                f"{text}: no op named {select!r}; the ops found are {', '.join(names)}."
                f" Use {text}::NAME with one of these names."
            )
    given = (specs or {}) | beside
    fork = isolated and isolate.available() and isolate.unsafe() is None
    build = _Candidate.build_isolated if fork else _Candidate.build
    return broken + [build(c, given.get(c.name), timeout) for c in found]


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
    config: tuple[str, ...] = ()  # a course forward's config arguments (conv_param, G)

    def build(self, toml_spec: Spec | None, timeout: float | None = None) -> Target:
        target = Target(self.name, None, None, self.style, self.source, aliases=self.aliases)
        try:
            self._build(target, toml_spec, timeout)
        except Unfinished as exc:
            target.op, target.unfinished = None, str(exc)
        except OpTimeout:
            target.op, target.problem = (
                None,
                (
                    f"{self.name}: one call of its code took more than {timeout:g} s while gradlab inspected it"
                    " (does it hang?); raise the limit with --timeout"
                ),
            )
        except (Exception, SystemExit) as exc:  # a user's code misbehaving while being inspected
            target.op, target.problem = None, describe_exception(f"inspecting {self.name}", exc)
        if target.problem and not target.problem.endswith("."):
            target.problem += "."
        return target

    def build_isolated(self, toml_spec: Spec | None, timeout: float | None = None) -> Target:
        """:meth:`build` in a forked child: what it found comes back without the op, which is made
        again here (making one calls no forward)."""
        try:
            target = isolate.call(self._found, toml_spec, timeout)
        except isolate.Died as exc:
            return Target(
                self.name, None, None, self.style, self.source, aliases=self.aliases,
                problem=(
                    f"the process inspecting {self.name} died: {exc}, in code its forward or rules call, while"
                    f" gradlab tried its forward on inputs of several shapes. {self.pin[0].upper()}{self.pin[1:]}"
                    " to skip the search, or run it alone with PYTHONFAULTHANDLER=1 to see where."
                ),
            )  # fmt: skip
        if target.problem is None and target.unfinished is None:
            target.op = self.make()[0]
        return target

    def _found(self, toml_spec: Spec | None, timeout: float | None, progress: Any = None) -> Target:
        target = self.build(toml_spec, timeout)
        target.op = None  # a closure: made again in the parent
        return target

    def _build(self, target: Target, toml_spec: Spec | None, timeout: float | None) -> None:
        with time_limit(timeout, self.name):
            op, spec, target.problem = self.make()
        target.op, target.spec = op, _without_spaces(toml_spec or spec)
        if op is not None and self.style in ("class", "graph"):
            target.problem = (unchosen if self.style == "class" else graph_api.unchosen)(op, target.spec)
            if target.problem:
                target.op = None
                return
        if op is not None and target.spec is None:
            hint = getattr(op, "shape_hint", None) or conventions.shape_hint(self.name)
            shapes = infer_shapes(op, hint=hint, timeout=timeout, arrays_batch=self.style == "class")
            if isinstance(shapes, str):
                target.op, target.problem = None, f"{shapes}. If it works on shapes not tried, {self.pin}"
                return
            checks = ["rev", "fwd", "adj", "form"] if op.has_jvp else ["rev", "form"]
            constructor = getattr(op, "constructor", None)  # a class's constructor parameters
            first = op.arg_names[0] if op.arg_names else "x"  # a NumPy 1.x ufunc has no argument names
            params = constructor or conventions.param_table(self.config, self.name, first)
            framework = getattr(op, "framework", None)
            if framework is not None and shapes.domain == "real":
                shapes.domain = "nonzero"  # divisions, logs and powers are singular at 0: stay a margin away
            target.spec = shapes.spec(self.name, checks, self.source, params)
            if getattr(op, "dtypes", None):  # what its framework's tensors keep (a float32-only backend)
                target.spec = dataclasses.replace(target.spec, dtypes=tuple(op.dtypes))
            config = conventions.describe(self.config, self.name, first)
            if constructor:
                drawn = ", ".join(constructor)
                config = f"{self.name}({drawn})" if self.style in ("class", "graph") else drawn
                config += " drawn per example"
            target.inferred = f"shapes inferred: {shapes.describe()}" + (f"; {config}" if config else "")
            if framework is not None:
                target.inferred += f"; run {framework.describe()}"
            if getattr(op, "runs_in", None):
                target.inferred += f"; run {op.runs_in}"
            target.pin = self.pin
        elif op is not None and target.spec is not None:
            target.problem = arity_problem(op, target.spec) or _kept_dtypes(op, target)
            target.op = None if target.problem else op
            if self.style == "loss" and toml_spec is None:
                x, y = op.arg_names
                target.inferred = (
                    f"shapes from the *_loss convention: {x} (n, c) scores, {y} (n,) integer labels in [0, c)"
                )
                target.pin = self.pin
        if target.op is not None and target.spec is not None:
            with time_limit(timeout, self.name), quiet():
                first_call(target.op, target.spec)  # raises Unfinished for code not written yet


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
    frameworks = bridges.imported()  # those the module's objects can come from
    # a module written for torch, JAX or autograd: its foo_forward / foo_loss are the framework's
    # functions, not course layers returning their cache or their gradient
    courses = not any(_framework_module(value) for _, value in members)
    for attr, value in members:
        if id(value) in seen:
            continue
        try:
            made = _framework_rule(attr, value, module, frameworks, shown, toml_hint)
            if made == []:  # not a framework's rule
                made = _candidates_of(attr, value, module, members, classes, shown, toml_hint, courses)
        except Exception:  # an odd object at module level: not an op
            made = []
        if made:
            seen.add(id(value))
            found += made
    return found


def _kept_dtypes(op: Op, target: Target) -> str | None:
    """A spec's dtypes narrowed to those the op's framework keeps (a float32-only needle backend refuses
    float64 whatever a spec asks); why none is left, or None."""
    kept = getattr(op, "dtypes", None)
    if not kept or target.spec is None:
        return None
    dtypes = tuple(d for d in target.spec.dtypes if d in kept)
    if not dtypes:
        return f"its spec asks for {', '.join(target.spec.dtypes)}, but its framework keeps {', '.join(kept)} only"
    target.spec = dataclasses.replace(target.spec, dtypes=dtypes)
    return None


def _framework_rule(attr, value, module, frameworks, shown, toml_hint) -> list[_Candidate] | None:
    """A torch Function, a JAX custom rule or an autograd primitive defined in the module ([]: not
    one; None: one to leave out, a private base class the module's rules share)."""
    if getattr(framework_rules.primal(value), "__module__", None) != module.__name__:
        return []
    private_base = (
        inspect.isclass(value)
        and value.__name__.startswith("_")
        and any(c is not value and inspect.isclass(c) and issubclass(c, value) for c in vars(module).values())
    )
    for bridge in frameworks:
        bridged = bridge.rule(value)
        if bridged is not None and private_base:  # a base the module's rules share (they are checked)
            return None
        if bridged is not None:
            name = getattr(value, "__name__", attr)
            line = source_line(framework_rules.primal(value))
            pin = f"pin them with a [{name}] table in {toml_hint}"
            make = functools.partial(framework_rules.framework_op, name, value, bridge, bridged)
            return [_Candidate(name, bridge.name, line, f"{shown}:{line}", (attr,), make, pin)]
    return []


def _framework_module(value: Any) -> bool:
    """Whether ``value`` is (or comes from) the module of an autodiff framework gradlab bridges."""
    name = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
    return isinstance(name, str) and name.split(".")[0] in ("torch", "jax", "autograd")


def _candidates_of(attr, value, module, members, classes, shown, toml_hint, courses=True) -> list[_Candidate]:
    mine = module.__name__
    if isinstance(value, Op) and (
        getattr(value.forward, "__module__", None) == mine
        or (value.family == "user" and not inspect.isfunction(value.forward))  # op("exp", np.exp)
    ):
        line = source_line(value.forward)
        pin = f"pin them with an inline spec (op(..., spec={{...}})) or a [{value.name}] table in {toml_hint}"
        return [_Candidate(value.name, "gradlab", line, f"{shown}:{line}", (attr,), lambda: gradlab_op(value), pin)]
    if inspect.isclass(value) and value in classes and graph_api.is_graph_class(value):
        if not graph_api.is_graph_op(value, classes):
            return []  # the graph API's base Op, PlaceholderOp
        line = source_line(value)
        pin = f"pin them with a class attribute spec = {{...}} or a [{value.__name__}] table in {toml_hint}"
        make = lambda: graph_api.graph_op(value, shown)  # noqa: E731
        return [_Candidate(value.__name__, "graph", line, f"{shown}:{line}", (), make, pin)]
    if inspect.isclass(value) and value in classes:
        methods = class_methods(value, classes)
        if methods is None:
            return []
        line = source_line(value)
        pin = f"pin them with a class attribute spec = {{...}} or a [{value.__name__}] table in {toml_hint}"
        make = lambda: class_op(value, methods, shown)  # noqa: E731
        return [_Candidate(value.__name__, "class", line, f"{shown}:{line}", (), make, pin)]
    if not (inspect.isfunction(value) and value.__module__ == mine and courses):
        return []
    match = re.fullmatch(r"(\w+?)_forward(\w*)", attr)
    if match:
        return _course_pairs(attr, value, match.group(1), match.group(2), dict(members), shown, toml_hint)
    if attr.endswith("_loss") and len(required_args(value)) == 2:
        line = source_line(value)
        pin = f"pin them with a [{attr}] table in {toml_hint}"
        return [_Candidate(attr, "loss", line, f"{shown}:{line}", (), lambda: loss_op(attr, value, shown), pin)]
    return []


def _course_pairs(attr, forward, stem, suffix, members, shown, toml_hint) -> list[_Candidate]:
    """``foo_forward`` with ``foo_backward``, and with each variant ``foo_backward_alt`` (its own op)."""
    backwards = [f"{stem}_backward{suffix}"]
    if not suffix:
        variants = (n for n in members if n.startswith(f"{stem}_backward_") and n != backwards[0])
        backwards += sorted(n for n in variants if inspect.isfunction(members[n]))
    config = tuple(a for a in required_args(forward) if conventions.is_config(a))
    found = []
    for backward_name in backwards:
        name = stem + suffix + backward_name[len(f"{stem}_backward{suffix}") :]
        backward = members.get(backward_name)
        alias = (attr,) if backward_name == backwards[0] else (backward_name,)
        line = source_line(forward if backward_name == backwards[0] or backward is None else backward)
        pin = f"pin them with a [{name}] table in {toml_hint}"

        def make(backward=backward, backward_name=backward_name, name=name) -> tuple:
            return course_op(name, forward, backward, attr, backward_name)

        found.append(_Candidate(name, "course", line, f"{shown}:{line}", alias, make, pin, config))
    return found
