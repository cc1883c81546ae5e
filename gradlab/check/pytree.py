"""Pytrees: values nested in tuples, lists, named tuples and dicts, and their leaves' names.

A few dozen lines of our own rather than a dependency (optree, or JAX's and torch's pytree
modules): gradlab needs only the Python containers, paths written the way a user reads them
(``params['W']``, ``out[1]``, ``res.eigenvalues``), and a cotangent or tangent checked against
the structure it must mirror with a message naming the first place it does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gradlab.errors import GradlabError


class StructureError(GradlabError):
    """A rule's result is not shaped like the value it belongs to (a missing key, a wrong length)."""


@dataclass(frozen=True)
class Tree:
    """The structure of a value: a leaf, or a container (its type, its keys, its children)."""

    kind: str  # "leaf", "tuple", "list", "namedtuple" or "dict"
    children: tuple[Tree, ...] = ()
    keys: tuple[Any, ...] = ()  # a dict's keys (in the value's order) or a named tuple's fields
    type: Any = None  # a named tuple's class

    @property
    def is_leaf(self) -> bool:
        return self.kind == "leaf"

    @property
    def num_leaves(self) -> int:
        return 1 if self.is_leaf else sum(child.num_leaves for child in self.children)


LEAF = Tree("leaf")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, tuple):
        return "namedtuple" if hasattr(type(value), "_fields") else "tuple"
    if isinstance(value, list):
        return "list"
    return "leaf"


def _items(value: Any, kind: str) -> tuple[tuple[Any, ...], list[Any]]:
    if kind == "dict":
        return tuple(value), list(value.values())
    if kind == "namedtuple":
        return tuple(type(value)._fields), list(value)
    return (), list(value)


def flatten(value: Any, path: str = "") -> tuple[list[Any], Tree, list[str]]:
    """The leaves of ``value`` (depth first), its structure, and each leaf's path below ``path``."""
    kind = _kind(value)
    if kind == "leaf":
        return [value], LEAF, [path]
    keys, children = _items(value, kind)
    leaves: list[Any] = []
    paths: list[str] = []
    trees = []
    for k, child in enumerate(children):
        below, tree, child_paths = flatten(child, path + _step(kind, keys, k))
        leaves += below
        paths += child_paths
        trees.append(tree)
    return leaves, Tree(kind, tuple(trees), keys, type(value) if kind == "namedtuple" else None), paths


def _step(kind: str, keys: tuple[Any, ...], k: int) -> str:
    if kind == "dict":
        return f"[{keys[k]!r}]"
    if kind == "namedtuple":
        return f".{keys[k]}"
    return f"[{k}]"


def unflatten(tree: Tree, leaves: list[Any]) -> Any:
    """The value of structure ``tree`` with these leaves (the inverse of :func:`flatten`)."""
    it = iter(leaves)
    value = _build(tree, it)
    return value


def _build(tree: Tree, it: Any) -> Any:
    if tree.is_leaf:
        return next(it)
    children = [_build(child, it) for child in tree.children]
    if tree.kind == "dict":
        return dict(zip(tree.keys, children, strict=True))
    if tree.kind == "namedtuple":
        return tree.type(*children)
    return tuple(children) if tree.kind == "tuple" else children


def flatten_like(value: Any, tree: Tree, path: str, what: str) -> list[Any]:
    """The leaves of ``value``, which must have structure ``tree`` (a rule's cotangent or tangent
    mirrors its primal); ``None`` stands for a whole subtree of ``None`` (nothing flows there).
    Raises :class:`StructureError` naming ``what`` and the first path that differs."""
    if value is None:
        return [None] * tree.num_leaves
    if tree.is_leaf:
        return [value]
    kind = _kind(value)
    if kind == "leaf" or (kind == "dict") != (tree.kind == "dict"):
        shape = "a dict" if tree.kind == "dict" else f"a sequence of {len(tree.children)}"
        raise StructureError(
            f"{what} for {path} is {type(value).__name__}, but {path} is {shape}: mirror its structure"
        )
    if tree.kind == "dict":
        missing = [k for k in tree.keys if k not in value]
        extra = [k for k in value if k not in tree.keys]
        if missing or extra:
            raise StructureError(
                f"{what} for {path} has keys {sorted(map(repr, value))} but {path} has {sorted(map(repr, tree.keys))}"
                + (f": {', '.join(map(repr, missing))} missing" if missing else "")
                + (f"; {', '.join(map(repr, extra))} not in the input" if extra else "")
            )
        children = [value[k] for k in tree.keys]
    else:
        children = list(value.values()) if kind == "dict" else list(value)
        if len(children) != len(tree.children):
            raise StructureError(f"{what} for {path} has {len(children)} entries but {path} has {len(tree.children)}")
    leaves: list[Any] = []
    for k, (child, sub) in enumerate(zip(children, tree.children, strict=True)):
        leaves += flatten_like(child, sub, path + _step(tree.kind, tree.keys, k), what)
    return leaves
