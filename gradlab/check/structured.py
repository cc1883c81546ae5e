"""A user's function as the checks see it: real floating arrays in, one real floating array out.

The user's function may take and return pytrees (:mod:`gradlab.check.pytree`), complex arrays
(:mod:`gradlab.check.complex_values`), inputs confined to a tangent space
(:mod:`gradlab.check.spaces`) and keyword arguments that are never differentiated. A
:class:`Structured` problem turns it into the *canonical* one the checks are written for:

* every array leaf of the inputs is one canonical input, named by its path (``params['W']``); a
  complex leaf is its real pair (``z.shape + (2,)``), or only its real part when the function is
  holomorphic (the imaginary part is then held fixed: a complex-linear rule is fixed by it);
* the output's floating leaves are flattened and joined into one vector (a single real array is
  kept as it is, so its shape still reaches the diagnosis);
* the rules are called in the user's terms (cotangents and tangents shaped like the output and
  the inputs, complex in the chosen convention) and their results are put in canonical terms.

The rule convention is one for everything (:mod:`gradlab.check.rule_order`):
``vjp(g, out, *inputs, **kwargs)`` and ``jvp(tangents, out, *inputs, **kwargs)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gradlab import backend
from gradlab.check import complex_values as cv
from gradlab.check import pytree, spaces
from gradlab.check.pytree import StructureError, Tree
from gradlab.errors import GradlabError

Array = Any


@dataclass
class Leaf:
    """One leaf of the inputs: where it is, what it is, and how the checks see it."""

    path: str
    value: Any
    position: int  # the positional input it belongs to
    kind: str  # "real", "complex" (its real pair), "holomorphic" (its real part) or "other"
    space: spaces.Space | None = None
    differentiated: bool = False


@dataclass
class OutLeaf:
    """One leaf of the forward's output: its path, and where its values sit in the canonical output."""

    path: str
    kind: str  # "real", "complex" or "other" (not differentiated: an integer array, a Python value)
    shape: tuple[int, ...]
    dtype: Any
    start: int = 0
    stop: int = 0
    value: Any = None  # an "other" leaf's value, handed back to the rules as the forward gave it


class Structured:
    """The canonical problem of one :func:`~gradlab.check.grads.check_grads` call."""

    def __init__(
        self,
        xp: Any,
        f: Callable[..., Any],
        inputs: Sequence[Any],
        names: list[str],
        wrt: Sequence[int] | None,
        kwargs: Mapping[str, Any],
        convention: str = "torch",
        holomorphic: bool = False,
        given_spaces: Mapping[Any, Any] | None = None,
    ) -> None:
        cv.check_convention(convention)
        self.xp, self.f, self.kwargs, self.convention = xp, f, dict(kwargs), convention
        self.trees: list[Tree] = []
        self.roots = list(names)
        self.leaves: list[Leaf] = []
        for p, value in enumerate(inputs):
            values, tree, paths = pytree.flatten(value, names[p])
            self.trees.append(tree)
            for leaf_value, path in zip(values, paths, strict=True):
                self.leaves.append(Leaf(path, leaf_value, p, self._kind(leaf_value, holomorphic)))
        self._choose(wrt, names, len(inputs))
        self._give_spaces(given_spaces or {})
        # every input a real array or a value passed through, none in a container or a space
        self.plain = all(tree.is_leaf for tree in self.trees) and all(
            leaf.kind in ("real", "other") and leaf.space is None for leaf in self.leaves
        )
        self.out_tree: Tree | None = None
        self.out_leaves: list[OutLeaf] = []
        self.single = True  # the output is one real array, kept as it is

    # ---- the inputs ------------------------------------------------------------------------------

    def _kind(self, value: Any, holomorphic: bool) -> str:
        if not backend.is_array(value):
            return "other"
        if backend.is_floating(self.xp, value.dtype):
            return "real"
        if backend.is_complex(self.xp, value.dtype):
            return "holomorphic" if holomorphic else "complex"
        return "other"

    def _choose(self, wrt: Sequence[int] | None, names: list[str], n: int) -> None:
        positions = range(n)
        if wrt is not None:
            chosen = []
            for i in wrt:
                if not isinstance(i, int) or not -n <= i < n:
                    raise GradlabError(f"wrt={tuple(wrt)!r}: {i!r} is not an index of the {n} inputs")
                chosen.append(i % n)
            if not chosen:
                raise GradlabError("wrt is empty: name at least one input to differentiate")
            positions = chosen  # type: ignore[assignment]
            for p in chosen:
                if not any(leaf.kind != "other" for leaf in self.leaves if leaf.position == p):
                    kinds = [type(leaf.value).__name__ if not backend.is_array(leaf.value) else str(leaf.value.dtype)
                             for leaf in self.leaves if leaf.position == p]  # fmt: skip
                    raise GradlabError(
                        f"input {p} ({names[p]}) is {', '.join(kinds) or 'empty'}: only floating (real or complex)"
                        " arrays can be differentiated; leave it out of wrt"
                    )
        for leaf in self.leaves:
            leaf.differentiated = leaf.kind != "other" and leaf.position in positions
        if not any(leaf.differentiated for leaf in self.leaves):
            raise GradlabError("no input is a floating array: there is nothing to differentiate")

    def _give_spaces(self, given: Mapping[Any, Any]) -> None:
        for key, value in given.items():
            if isinstance(key, int) and not isinstance(key, bool):
                if not -len(self.trees) <= key < len(self.trees):
                    raise GradlabError(f"spaces: {key} is not an index of the {len(self.trees)} inputs")
                matched = [leaf for leaf in self.leaves if leaf.position == key % len(self.trees)]
            else:
                matched = [leaf for leaf in self.leaves if leaf.path == key]
            if len(matched) != 1:
                known = ", ".join(leaf.path for leaf in self.leaves if leaf.kind == "real")
                raise GradlabError(
                    f"spaces: {key!r} names {len(matched)} array leaves; name one real floating input by its index,"
                    f" its name or its path ({known})"
                )
            leaf = matched[0]
            space = spaces.resolve(value, leaf.path)
            if leaf.kind not in ("real", "complex"):
                raise GradlabError(
                    f"spaces: {leaf.path} is {'holomorphic' if leaf.kind == 'holomorphic' else 'not a floating array'};"
                    " a space moves real or (not holomorphic) complex inputs"
                )
            space.validate(self.xp, leaf.value, leaf.path)
            leaf.space = space

    @property
    def names(self) -> list[str]:
        return [leaf.path for leaf in self.leaves]

    @property
    def wrt(self) -> tuple[int, ...]:
        return tuple(i for i, leaf in enumerate(self.leaves) if leaf.differentiated)

    @property
    def inputs(self) -> list[Any]:
        """The canonical inputs: every leaf, a complex one as its real pair (or real part)."""
        xp = self.xp
        return [
            cv.pair(xp, leaf.value) if leaf.kind == "complex"
            else xp.real(leaf.value) if leaf.kind == "holomorphic"
            else leaf.value
            for leaf in self.leaves
        ]  # fmt: skip

    def user_leaf(self, leaf: Leaf, value: Any, moving: bool) -> Any:
        """The user's leaf for a canonical input value (``moving``: the numerics moved it there)."""
        xp = self.xp
        if leaf.kind == "complex":
            z = cv.unpair(xp, value)
            return spaces.moved(xp, leaf.space, leaf.value, z) if leaf.space is not None and moving else z
        if leaf.kind == "holomorphic":
            dtype = cv.complex_dtype(xp, value.dtype)
            return xp.astype(value, dtype) + xp.astype(xp.imag(leaf.value), dtype) * 1j
        if leaf.space is not None and moving:
            return spaces.moved(xp, leaf.space, leaf.value, value)
        return value

    def user_arguments(self, canonical: Sequence[Any], moving: bool) -> list[Any]:
        values = [self.user_leaf(leaf, v, moving) for leaf, v in zip(self.leaves, canonical, strict=True)]
        return self.per_position(values)

    def per_position(self, values: list[Any]) -> list[Any]:
        args = []
        for p, tree in enumerate(self.trees):
            args.append(pytree.unflatten(tree, [v for leaf, v in zip(self.leaves, values, strict=True)
                                                if leaf.position == p]))  # fmt: skip
        return args

    # ---- the output ----------------------------------------------------------------------------

    def forward(self, *canonical: Any) -> Array:
        """The canonical forward: the user's function at the user's values, its output joined."""
        if self.plain and self.single and self.out_tree is not None:  # arrays in, one array out: as given
            return self.f(*canonical, **self.kwargs)
        out = self.f(*self.user_arguments(canonical, moving=True), **self.kwargs)
        if self.out_tree is None:
            self._learn_output(out)
        return self._join(out, "the forward's output")

    def _learn_output(self, out: Any) -> None:
        xp = self.xp
        values, tree, paths = pytree.flatten(out, "out")
        self.out_tree = tree
        self.single = tree.is_leaf and not cv.is_complex(xp, out)
        offset = 0
        for value, path in zip(values, paths, strict=True):
            kind = "other"
            if backend.is_array(value) and backend.is_floating(xp, value.dtype):
                kind = "real"
            elif cv.is_complex(xp, value):
                kind = "complex"
            shape = tuple(value.shape) if backend.is_array(value) else ()
            size = (int(value.size) * (2 if kind == "complex" else 1)) if kind != "other" else 0
            leaf = OutLeaf(path, kind, shape, getattr(value, "dtype", None), offset, offset + size, value)
            offset += size
            self.out_leaves.append(leaf)

    def _join(self, out: Any, what: str) -> Array:
        """One real array of the output's (or an output tangent's) floating leaves."""
        xp = self.xp
        assert self.out_tree is not None
        if self.single:
            return out  # one real array (or something the checks report as not an array)
        leaves = pytree.flatten_like(out, self.out_tree, "out", what)
        parts = []
        for leaf, value in zip(self.out_leaves, leaves, strict=True):
            if leaf.kind == "other":
                continue
            if not backend.is_array(value):
                raise StructureError(f"{what} at {leaf.path} is {type(value).__name__}, not an array")
            if tuple(value.shape) != leaf.shape:
                raise StructureError(f"{what} at {leaf.path} has shape {tuple(value.shape)}, not {leaf.shape}")
            if leaf.kind == "complex":
                value = cv.pair(xp, xp.astype(value, leaf.dtype) if not cv.is_complex(xp, value) else value)
            parts.append(xp.reshape(value, (-1,)))
        if not parts:
            raise GradlabError("no leaf of the forward's output is a floating array: there is nothing to differentiate")
        if len(self.out_leaves) == 1 and self.out_leaves[0].kind == "complex":
            return cv.pair(
                xp, leaves[0] if cv.is_complex(xp, leaves[0]) else xp.astype(leaves[0], self.out_leaves[0].dtype)
            )
        dtype = max((p.dtype for p in parts), key=lambda d: backend.eps(xp, d))  # the coarsest
        return xp.concat([xp.astype(p, dtype) if p.dtype != dtype else p for p in parts])

    def _split(self, flat: Array, cotangent: bool) -> Any:
        """The user's output (or cotangent) of a canonical one: leaves in their own dtype,
        complex ones from their pairs (a cotangent in the convention), the others as the
        forward gave them (``None`` in a cotangent: nothing flows back through them)."""
        xp = self.xp
        assert self.out_tree is not None
        if self.single:
            return flat
        if len(self.out_leaves) == 1 and self.out_leaves[0].kind == "complex":
            parts = [flat]
        else:
            parts = [xp.reshape(flat[leaf.start : leaf.stop], (-1,)) for leaf in self.out_leaves]
        values = []
        for leaf, part in zip(self.out_leaves, parts, strict=True):
            if leaf.kind == "other":
                values.append(None if cotangent else leaf.value)
                continue
            if leaf.kind == "complex":
                pairs = xp.reshape(part, (*leaf.shape, 2))
                z = cv.cotangent_to_user(xp, pairs, self.convention) if cotangent else cv.unpair(xp, pairs)
                values.append(z)
            else:
                values.append(xp.reshape(part, leaf.shape))
        return pytree.unflatten(self.out_tree, values)

    # ---- the rules -----------------------------------------------------------------------------

    def vjp_rule(self, vjp: Callable[..., Any]) -> Callable[..., Any]:
        """The canonical VJP ``(g, out, *canonical) -> one cotangent per canonical input``."""

        def canonical_vjp(g: Array, out: Array, *canonical: Any) -> tuple[Any, ...]:
            args = self.user_arguments(canonical, moving=False)
            result = vjp(self._split(g, cotangent=True), self._split(out, cotangent=False), *args, **self.kwargs)
            per_position = self._per_input(result)
            cotangents: list[Any] = []
            for p, tree in enumerate(self.trees):
                mine = [(i, leaf) for i, leaf in enumerate(self.leaves) if leaf.position == p]
                given = pytree.flatten_like(per_position[p], tree, self.roots[p], "the cotangent")
                for (i, leaf), cot in zip(mine, given, strict=True):
                    cotangents.append(self._cotangent(leaf, cot, canonical[i]) if leaf.differentiated else None)
            return tuple(cotangents)

        return canonical_vjp

    def _per_input(self, result: Any) -> list[Any]:
        """One cotangent per positional input from what the VJP returned: a sequence of one per
        input, or of one per differentiated input, or a single one when one input is differentiated."""
        n = len(self.trees)
        diff = sorted({leaf.position for leaf in self.leaves if leaf.differentiated})
        if isinstance(result, (tuple, list)) and not hasattr(type(result), "_fields"):
            if len(result) == n and (n > 1 or self._fits(result[0], 0)):
                return list(result)
            if len(result) == len(diff) and (len(diff) > 1 or self._fits(result[0], diff[0])):
                return self._spread(list(result), diff)
        if len(diff) == 1:
            return self._spread([result], diff)
        expected = f"{n} (one per input)" + (
            f" or {len(diff)} (one per differentiated input)" if len(diff) != n else ""
        )
        got = f"{len(result)} cotangents" if isinstance(result, (tuple, list)) else f"a single {type(result).__name__}"
        raise StructureError(f"the VJP returned {got}; expected {expected}")

    def _fits(self, value: Any, p: int) -> bool:
        try:
            pytree.flatten_like(value, self.trees[p], "", "")
        except StructureError:
            return False
        return True

    def _spread(self, given: list[Any], positions: list[int]) -> list[Any]:
        per: list[Any] = [None] * len(self.trees)
        for p, value in zip(positions, given, strict=True):
            per[p] = value
        return per

    def _cotangent(self, leaf: Leaf, cot: Any, at: Array) -> Any:
        """A rule's cotangent for ``leaf`` in canonical terms (anything unusable is passed on
        as it is, for the form check to name)."""
        xp = self.xp
        if not backend.is_array(cot) or tuple(cot.shape) != tuple(leaf.value.shape):
            if leaf.kind in ("complex",) and backend.is_array(cot):
                raise StructureError(
                    f"the cotangent for {leaf.path} has shape {tuple(cot.shape)} but {leaf.path} has shape"
                    f" {tuple(leaf.value.shape)}"
                )
            return cot
        if leaf.kind == "complex":
            if leaf.space is not None:  # projected as a torch-convention gradient (a+bj: dL/da + i dL/db)
                cot = xp.astype(cot, leaf.value.dtype) if not cv.is_complex(xp, cot) else cot
                torch_form = xp.conj(cot) if self.convention == "jax" else cot
                torch_form = leaf.space.project(xp, torch_form, leaf.value)
                cot = xp.conj(torch_form) if self.convention == "jax" else torch_form
            return cv.cotangent_from_user(xp, cot, self.convention, at.dtype)
        if leaf.kind == "holomorphic":
            return xp.real(cot) if cv.is_complex(xp, cot) else cot
        if leaf.space is not None:
            return leaf.space.project(
                xp, cot, xp.astype(leaf.value, cot.dtype) if backend.is_floating(xp, cot.dtype) else leaf.value
            )
        return cot

    def jvp_rule(self, jvp: Callable[..., Any]) -> Callable[..., Any]:
        """The canonical JVP ``(tangents, out, *canonical) -> the output tangent, joined``."""

        def canonical_jvp(tangents: Sequence[Any], out: Array, *canonical: Any) -> Array:
            xp = self.xp
            values: list[Any] = []
            for leaf, t in zip(self.leaves, tangents, strict=True):
                if t is None or not leaf.differentiated:
                    values.append(None)
                elif leaf.kind == "complex":
                    z = cv.unpair(xp, t)
                    values.append(leaf.space.project(xp, z, leaf.value) if leaf.space is not None else z)
                elif leaf.kind == "holomorphic":
                    values.append(xp.astype(t, cv.complex_dtype(xp, t.dtype)))
                elif leaf.space is not None:
                    values.append(leaf.space.project(xp, t, xp.astype(leaf.value, t.dtype)))
                else:
                    values.append(t)
            args = self.user_arguments(canonical, moving=False)
            result = jvp(tuple(self.per_position(values)), self._split(out, cotangent=False), *args, **self.kwargs)
            if self.single and isinstance(result, (tuple, list)) and len(result) == 1:
                result = result[0]
            return self._join(result, "the JVP's output tangent")

        return canonical_jvp

    # ---- the report ----------------------------------------------------------------------------

    def output_place(self, flat_index: int) -> tuple[str, tuple[int, ...], int | None]:
        """Where entry ``flat_index`` of the canonical output is: the leaf's path, the index in the
        leaf, and the part (0 real, 1 imaginary) of a complex leaf (``None`` for a real one)."""
        for leaf in self.out_leaves:
            if leaf.kind != "other" and leaf.start <= flat_index < leaf.stop:
                j = flat_index - leaf.start
                part = None
                if leaf.kind == "complex":
                    j, part = divmod(j, 2)
                return leaf.path, _unravel(j, leaf.shape), part
        return "out", (flat_index,), None


def _unravel(j: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        j, r = divmod(j, size)
        index.append(r)
    return tuple(reversed(index))
