"""The two walks over a recorded graph: every node under a root in topological order, and the
reverse pass that sums each node's adjoint over its consumers.

A node is a :class:`~gradlab.train.autograd.Tensor`: ``op`` (None for a leaf), ``inputs``,
``needed`` (which inputs need a cotangent), what the op saw (``arrays``, ``params``, ``saved``),
its ``data``, and ``made``, the count :func:`~gradlab.train.autograd.apply` recorded it at: every
node is made after its inputs.
"""

from __future__ import annotations

import heapq
from typing import Any

Array = Any
Node = Any  # a Tensor (this module needs none of its methods)


def topological(root: Node) -> list[Node]:
    """The graph under ``root`` in topological order (inputs before the nodes using them): the
    order the nodes were made in, leaves first."""
    found = {id(root): root}
    stack = [root]
    while stack:
        for parent in _parents(stack.pop()):
            if id(parent) not in found:
                found[id(parent)] = parent
                stack.append(parent)
    return sorted(found.values(), key=_made)


def _made(node: Node) -> int:
    return node.made


def _parents(node: Node) -> list[Node]:
    """The inputs of ``node`` that needed a gradient when it was made."""
    return [p for p, need in zip(node.inputs, node.needed, strict=True) if need]


def pullback(root: Node, cotangent: Array) -> tuple[dict[int, Array], list[Node]]:
    """The adjoints (by ``id``) and the leaves reached, from one pass over the graph.

    Nodes are taken latest made first (a heap on the creation count): every consumer of a node
    is made after it, so its adjoint is complete, the sum over its consumers, when it is taken.
    Only the nodes a cotangent reaches are visited; no separate topological sort is needed."""
    adjoints: dict[int, Array] = {id(root): cotangent}
    leaves: list[Node] = []
    pending = [(-root.made, root)] if root.op is not None else []  # ``made`` is unique: no ties
    while pending:
        node = heapq.heappop(pending)[1]
        needed = node.needed
        cotangents = node.op.pull(adjoints[id(node)], node.data, node.arrays, needed, node.saved, node.params)
        for parent, cot, need in zip(node.inputs, cotangents, needed, strict=True):
            if not need or cot is None:
                continue
            key = id(parent)
            previous = adjoints.get(key)
            if previous is not None:
                adjoints[key] = previous + cot  # the sum over consumers
                continue
            adjoints[key] = cot
            if parent.op is None:
                leaves.append(parent)
            else:
                heapq.heappush(pending, (-parent.made, parent))
    if root.op is None:
        leaves.append(root)
    return adjoints, leaves
