"""Code not written yet: how a course's template reads before the student fills it in.

Unfinished work is not a wrong rule: ``gradlab check`` names it in one line and counts it apart
(a failure of the run only with ``--strict``). It is recognised by reading the code, before any
call (:func:`is_stub`, :func:`unwritten`), and by what a call does: returning None, raising
NotImplementedError (:class:`Unfinished`, raised where a call shows it).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any


class Unfinished(Exception):
    """The user's code is not written yet: it returns None or raises NotImplementedError."""


def _function(fn: Any) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        node = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return None
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def is_stub(fn: Any) -> bool:
    """True for a function whose body is only ``pass``, ``...`` or ``raise NotImplementedError``."""
    node = _function(fn)
    if node is None:
        return False

    def empty(s: ast.stmt) -> bool:
        if isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)):
            return True  # pass, ..., a docstring
        exc = s.exc if isinstance(s, ast.Raise) else None
        exc = exc.func if isinstance(exc, ast.Call) else exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"

    return all(empty(s) for s in node.body)


def unwritten(fn: Any) -> list[str]:
    """The names ``fn`` returns that it never computes: bound only to None (``dx, dw = None, None``)
    or to a method of themselves (the template's ``out = out.astype(x.dtype)``). A course template
    returns them with the student's part still ``pass``; a finished function binds them to values.
    """
    node = _function(fn)
    if node is None:
        return []
    written: set[str] = set()
    nones: set[str] = set()  # bound to None somewhere: the template's placeholders
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assign):
            for target in sub.targets:
                _bind(target, sub.value, written, nones)
        elif isinstance(sub, (ast.AugAssign, ast.AnnAssign)) and sub.value is not None:
            _bind(sub.target, sub.value, written, nones)
        elif isinstance(sub, (ast.For, ast.AsyncFor, ast.comprehension)):
            written |= _names(sub.target)
        elif isinstance(sub, (ast.With, ast.AsyncWith)):
            written |= {n for item in sub.items if item.optional_vars is not None for n in _names(item.optional_vars)}
        elif isinstance(sub, ast.NamedExpr):
            written |= _names(sub.target)
    returned: list[str] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Return) and sub.value is not None:
            values = sub.value.elts if isinstance(sub.value, ast.Tuple) else [sub.value]
            returned += [v.id for v in values if isinstance(v, ast.Name)]
    return list(dict.fromkeys(n for n in returned if n in nones and n not in written))


def _bind(target: ast.expr, value: ast.expr, written: set[str], nones: set[str]) -> None:
    pairs = isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List))
    if pairs and len(target.elts) == len(value.elts):  # type: ignore[attr-defined]
        for t, v in zip(target.elts, value.elts, strict=True):  # type: ignore[attr-defined]
            _bind(t, v, written, nones)
        return
    if isinstance(target, ast.Name):
        if _is_none(value):
            nones.add(target.id)
        elif not _of_itself(value, target.id):
            written.add(target.id)
        return
    written |= _names(target)  # subscripts, attributes, unpacking of a call: computed


def _is_none(value: ast.expr) -> bool:
    return isinstance(value, ast.Constant) and value.value is None


def _of_itself(value: ast.expr, name: str) -> bool:
    """``name.method(...)``, a chain rooted at ``name`` itself (nothing new computed into it)."""
    while isinstance(value, (ast.Call, ast.Attribute)):
        value = value.func if isinstance(value, ast.Call) else value.value
    return isinstance(value, ast.Name) and value.id == name


def _names(target: ast.expr) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
