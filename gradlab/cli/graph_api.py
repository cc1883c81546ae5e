"""Ops of the graph API of the older dlsys homework (UW CSE 599W ``autodiff.py``): symbolic gradients.

There an op is a singleton (``add_op = AddOp()``) whose ``__call__(node_A, node_B)`` makes a ``Node``
with those ``inputs``; ``compute(self, node, input_vals)`` gives the node's value from its inputs'
values (the GPU assignment: ``compute(self, node, input_vals, output_val, use_numpy=True)`` writes
into ``output_val``, allocated in the shape ``infer_shape(self, node, input_shapes)`` gives), and
``gradient(self, node, output_grad)`` returns one Node per input, built with the module's ops: a
graph, evaluated later by the module's ``Executor``.

gradlab runs such an op in that framework (:class:`Graph`): the inputs are placeholders made with the
module's own ``Variable(name)``, the forward is ``compute`` on the arrays, and the VJP is the graph
``gradient`` builds with a placeholder for ``output_grad``, evaluated node by node with ``compute``
(gradlab's own small evaluator: the module's ``Executor`` may be unfinished). A gradient that is
not a Node (a NumPy array, a number) is an error of the rule, since no ``Executor`` can evaluate
it; ``None`` in the list means no gradient flows to that input (zeros). ``__call__``'s parameters
other than the input nodes are drawn per example: ``const_val`` (or ``const``) like needle's ``scalar``,
``trans_A`` and ``trans_B`` both ways (gradlab draws the matrix as the op uses it and passes its
transpose, so one signature serves all four); any other keeps its default.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradlab.cli import conventions
from gradlab.cli.adapters import as_array
from gradlab.cli.classes import Argument, own_spec, param_table
from gradlab.cli.unfinished import Unfinished, is_stub
from gradlab.ops.registry import Op
from gradlab.ops.spec import Spec

# ``__call__`` parameters by name: how each is drawn; a ``trans_X`` flag transposes input X
CALL_PARAMS: dict[str, dict[str, Any]] = {
    "const_val": conventions.CONSTRUCTOR_PARAMS["scalar"],
    "const": conventions.CONSTRUCTOR_PARAMS["scalar"],  # a student's PowerOp(node_A, const)
    "trans_A": {"kind": "bool"},
    "trans_B": {"kind": "bool"},
}
# the names of input nodes: node_A, node, nodeB, node1, input_a, lhs, a, B, x1, x_2 (not dim, axis, val)
NODE_NAME = re.compile(r"(node|input|lhs|rhs|left|right|operand)(_?[A-Za-z0-9]{1,2})?|[a-zA-Z](_?\d+|_\w{1,2})?")
# Node operators a gradient is written with: a stub one makes gradients None
OPERATORS = ("__add__", "__mul__", "__radd__", "__rmul__", "__sub__", "__rsub__", "__truediv__", "__neg__")


def _parameters(fn: Any) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(fn).parameters.values())[1:]  # without self
    except (TypeError, ValueError):
        return []


def _own_call(cls: type) -> Any:
    """``__call__`` as the op class (or a base class of it) defines it; None when only ``type`` has one."""
    return next((vars(c)["__call__"] for c in cls.__mro__ if c is not object and "__call__" in vars(c)), None)


def is_graph_class(cls: type) -> bool:
    """Whether ``cls`` belongs to the graph API: ``compute(self, node, input_vals, ...)`` and
    ``gradient(self, node, output_grad)`` (its base ``Op`` and ``PlaceholderOp`` too)."""
    compute, gradient = getattr(cls, "compute", None), getattr(cls, "gradient", None)
    if not (callable(compute) and callable(gradient)):
        return False
    names = [[p.name for p in _parameters(f)] for f in (compute, gradient)]
    return all(len(n) >= 2 and n[0] == "node" for n in names)


def is_graph_op(cls: type, classes: Sequence[type]) -> bool:
    """Whether graph class ``cls`` is an op to check: its ``__call__`` takes input nodes (not the base
    ``Op`` nor ``PlaceholderOp``), and it is not an abstract base of other op classes."""
    if inspect.isabstract(cls) or not call_parameters(cls)[0]:
        return False
    return not (any(c is not cls and issubclass(c, cls) for c in classes) and is_stub(cls.compute))


def call_parameters(cls: type) -> tuple[list[str], list[Argument]]:
    """The input nodes of ``cls.__call__`` and its other parameters (how each is drawn, or its default)."""
    nodes: list[str] = []
    arguments: list[Argument] = []
    for p in _parameters(_own_call(cls)):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        required = p.default is p.empty
        kind = CALL_PARAMS.get(p.name)
        if kind is None and required and NODE_NAME.fullmatch(p.name):
            nodes.append(p.name)
            continue
        if kind is None and required:
            kind = conventions.constructor_param(cls, p.name)
        arguments.append(Argument(p.name, kind, None if required else p.default, required=required))
    return nodes, arguments


def unchosen(op: Op, spec: Spec | None) -> str | None:
    """Why a graph op cannot be made: a ``__call__`` parameter with no default that neither gradlab's
    names nor the spec's params draw."""
    drawn = {p.name for p in spec.params} if spec is not None else set()
    arguments = getattr(op, "call_arguments", [])
    missing = [a.name for a in arguments if a.required and a.kind is None and a.name not in drawn]
    if not missing:
        return None
    names = ", ".join(missing)
    return (
        f"{op.name}.__call__ takes {names}, which gradlab cannot choose by name: give {names} a default, or pin"
        f" the op's spec with a [{op.name}] table that draws it (params.{missing[0]} = {{ kind = ... }})"
    )


@dataclass
class Call:
    """The op with its drawn parameters: called with input nodes, it makes the op's node (each
    passed by its name: ``DivConstByNodeOp.__call__(self, const_val, node_A)`` takes the node last)."""

    op: Any
    names: Sequence[str]
    params: dict[str, Any] = field(default_factory=dict)

    def __call__(self, *nodes: Any) -> Any:
        return self.op(**dict(zip(self.names, nodes, strict=True)), **self.params)


class Graph:
    """The module's graph framework: placeholders from its ``Variable``, values from each node's
    ``compute``, in topological order over ``inputs``."""

    name = "graph"

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.module = sys.modules[cls.__module__]
        self.variable = _variable_maker(cls)
        self.node_type = type(self.placeholder("x"))

    def describe(self) -> str:
        where = getattr(self.module, "__file__", None) or self.module.__name__
        # a loose file is imported under a name of gradlab's own (gradlab_user_autodiff_0): show its own
        shown = re.sub(r"^gradlab_user_(\w+)_\d+$", r"\1", self.module.__name__)
        return f"in its graph framework: {self.node_type.__name__} of {shown} ({where}), evaluated node by node"

    def placeholder(self, name: str) -> Any:
        if self.variable is None:
            raise TypeError(f"no Variable(name) or placeholder_op beside {self.cls.__name__} to make its input nodes")
        return self.variable(name)

    def build(self, op: Call, n: int) -> tuple[Any, list[Any]]:
        """The op's node over ``n`` fresh placeholders, and the placeholders."""
        inputs = [self.placeholder(f"x{i}") for i in range(n)]
        node = op(*inputs)
        if [id(x) for x in getattr(node, "inputs", ())] != [id(x) for x in inputs]:
            raise TypeError(
                f"{self.cls.__name__}.__call__ returned {type(node).__name__} whose inputs are not the {n} nodes"
                " given to it, in order: gradlab checks ops whose node holds its input nodes in .inputs"
            )
        return node, inputs

    def forward(self, op: Call, method: str, xs: Sequence[np.ndarray]) -> Any:
        node, inputs = self.build(op, len(xs))
        return self.evaluate([node], dict(zip(map(id, inputs), xs, strict=True)))[0]

    def vjp(self, op: Call, method: str, g: np.ndarray, xs: Sequence[np.ndarray], out: np.ndarray) -> Any:
        node, inputs = self.build(op, len(xs))
        output_grad = self.placeholder("output_grad")
        grads = getattr(node.op, method)(node, output_grad)
        if grads is None:
            return None  # not written yet: the first call says so
        if not isinstance(grads, (list, tuple)):
            raise TypeError(
                f"gradient returned a {type(grads).__name__}, not a list of {len(xs)} Node(s) (one per input)"
            )
        for i, grad in enumerate(grads):
            if grad is not None and not _is_node(grad):
                raise TypeError(
                    f"gradient returned a {type(grad).__name__} for input {i}, not a Node: a gradient is a graph built"
                    " with the module's ops (zeroslike_op(node.inputs[0]) for a zero), which its Executor evaluates"
                )
        if any(grad is None for grad in grads):
            self.unfinished_operators()
        feed = dict(zip(map(id, inputs), xs, strict=True)) | {id(node): out, id(output_grad): g}
        values = iter(self.evaluate([grad for grad in grads if grad is not None], feed))
        return tuple(
            (np.zeros_like(xs[i]) if i < len(xs) else None) if grad is None else next(values)
            for i, grad in enumerate(grads)
        )

    def unfinished_operators(self) -> None:
        """Raise :class:`Unfinished` when an operator of the Node class is a stub: the gradients
        written with it are None (the template's ``__mul__``)."""
        stubs = [m for m in OPERATORS if is_stub(getattr(self.node_type, m, None))]
        if stubs:
            raise Unfinished(
                f"{self.node_type.__name__}.{stubs[0]} is not written yet: the gradients made with it are None"
            )

    def evaluate(self, roots: Sequence[Any], feed: dict[int, Any]) -> list[Any]:
        """The values of ``roots``: the fed values (by node id), the others computed in topological order."""
        values = dict(feed)
        for node in _topological(roots):
            if id(node) not in values:
                values[id(node)] = _compute(node, [values[id(n)] for n in node.inputs])
        return [values[id(root)] for root in roots]


def _is_node(value: Any) -> bool:
    return hasattr(value, "op") and isinstance(getattr(value, "inputs", None), (list, tuple))


def _topological(roots: Sequence[Any]) -> list[Any]:
    """The nodes ``roots`` depend on, each after its inputs (a post-order walk over ``inputs``)."""
    order: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False) for root in reversed(roots)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack += [(n, False) for n in reversed(node.inputs) if id(n) not in seen]
    return order


def writes_output(compute: Any) -> bool:
    """Whether ``compute`` writes into an ``output_val`` it is given (its third parameter, required)."""
    params = [p for p in _parameters(compute) if p.kind is p.POSITIONAL_OR_KEYWORD]
    return len(params) >= 3 and (params[2].default is params[2].empty or params[2].name == "output_val")


def _compute(node: Any, values: list[Any]) -> Any:
    """One node's value, called as its course's executor calls it (into ``output_val`` when it takes one)."""
    compute = node.op.compute
    if not writes_output(type(node.op).compute):
        return compute(node, values)
    params = list(inspect.signature(compute).parameters.values())
    shape = node.op.infer_shape(node, [np.shape(v) for v in values])
    floats = [v.dtype for v in values if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
    output_val = np.empty(shape, dtype=np.result_type(*floats) if floats else np.float64)
    extra = [True] if len(params) > 3 and params[3].default is params[3].empty else []
    returned = compute(node, values, output_val, *extra)
    return output_val if returned is None else returned


def _variable_maker(cls: type) -> Any:
    """How the op's module makes an input node: ``Variable(name)``, else ``placeholder_op()`` named."""
    for c in cls.__mro__:
        module = sys.modules.get(c.__module__)
        variable = getattr(module, "Variable", None)
        if callable(variable):
            return variable
        placeholder = getattr(module, "placeholder_op", None)
        if callable(placeholder):
            return lambda name, placeholder=placeholder: _named(placeholder(), name)
    return None


def _named(node: Any, name: str) -> Any:
    node.name = name
    return node


def _singleton(cls: type) -> Any:
    """The module's instance of ``cls`` (``add_op``), else a new one."""
    module = sys.modules.get(cls.__module__)
    found = (v for v in vars(module).values() if type(v) is cls) if module is not None else iter(())
    return next(found, None) or cls()


def graph_op(cls: type, shown: str) -> tuple[Op | None, Spec | None, str | None]:
    """Op class ``cls`` of the graph API as an :class:`Op` (with its own spec, or why it cannot be
    made); raises :class:`Unfinished` when its ``compute`` or ``gradient`` is not written yet."""
    name = cls.__name__
    spec, problem = own_spec(cls, shown)
    if problem:
        return None, None, problem
    writes = writes_output(cls.compute)
    for method in ("compute", "gradient", "infer_shape") if writes else ("compute", "gradient"):
        if is_stub(getattr(cls, method, None)):
            raise Unfinished(f"{name}.{method} is not written yet (its body is only pass or raise NotImplementedError)")
    nodes, arguments = call_parameters(cls)
    graph = Graph(cls)
    instance = _singleton(cls)
    flags = {a.name: i for a in arguments if (i := _flag_input(a.name, nodes)) is not None}

    def call(params: dict[str, Any], xs: Sequence[Any]) -> tuple[Call, list[Any], set[int]]:
        """The op with its parameters, the arrays it gets, and which of them are transposed: a
        transposed input is drawn as the op uses it, and the op gets its transpose."""
        shape = tuple(getattr(xs[0], "shape", ())) if xs else ()
        kwargs = {}
        for a in arguments:
            if a.name in params:
                kwargs[a.name] = params[a.name]
            elif a.kind is not None:
                kwargs[a.name] = False if a.kind["kind"] == "bool" else conventions.first_value(a.kind, shape)
            elif not a.required:
                kwargs[a.name] = a.default
        transposed = {i for flag, i in flags.items() if kwargs.get(flag)}
        return Call(instance, nodes, kwargs), [_swap(x) if i in transposed else x for i, x in enumerate(xs)], transposed

    def fwd(*xs: Any, **params: Any) -> Any:
        op, passed, _ = call(params, xs)
        return as_array(graph.forward(op, "compute", passed), xs)

    def vjp(g: Any, out: Any, *xs: Any, **params: Any) -> Any:
        op, passed, transposed = call(params, xs)
        grads = graph.vjp(op, "gradient", g, passed, out)
        return None if grads is None else tuple(_swap(v) if i in transposed else v for i, v in enumerate(grads))

    result = Op(name, fwd, vjp_joint=vjp, arg_names=tuple(nodes))
    result.framework = graph  # type: ignore[attr-defined]  # read by discover for the report and the domain
    result.constructor = param_table(arguments)  # type: ignore[attr-defined]
    result.call_arguments = arguments  # type: ignore[attr-defined]  # read by unchosen
    if len(nodes) == 2 and len(flags) == 2:  # matmul_op(node_A, node_B, trans_A, trans_B): matrices, not vectors
        result.shape_hint = "(n,k),(k,m)"  # type: ignore[attr-defined]  # read by discover
    return result, spec, None


def _flag_input(flag: str, nodes: Sequence[str]) -> int | None:
    """The input a ``trans_X`` flag transposes: the node named ``..X`` (node_A), else the X-th (A: 0)."""
    match = re.fullmatch(r"trans_?([A-Za-z])", flag)
    if match is None:
        return None
    letter = match.group(1)
    named = [i for i, n in enumerate(nodes) if n.endswith(letter) or n == letter.lower()]
    if named:
        return named[0]
    position = ord(letter.upper()) - ord("A")
    return position if position < len(nodes) else None


def _swap(x: Any) -> Any:
    return np.swapaxes(x, -1, -2) if isinstance(x, np.ndarray) and x.ndim >= 2 else x
