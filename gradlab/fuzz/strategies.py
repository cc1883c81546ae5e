"""Hypothesis strategies that turn a spec into whole examples (inputs, params, dtype).

Public: the fuzzer draws its examples with them, and your own ``@given`` tests can too::

    from hypothesis import given
    from gradlab.fuzz import strategies as gs

    @given(gs.examples(gs.spec_of("softmax")))
    def test_my_softmax(example):
        out = my_softmax(*example.inputs, **example.params)
        ...

A spec comes from a registry op (:func:`spec_of`), from a user's op (``my_op.spec``, given
inline with ``gradlab.op(spec={...})``), or from :func:`gradlab.ops.spec.parse_spec` on a table in
the schema of ``specs/*.toml``.

Shapes include 0-d and size-1 dimensions, broadcast pairs whose broadcast dimension is not only
the leading one, matmul-compatible and batched shapes, permutations of any rank; values stay in
each input's domain, a margin away from declared kinks, with no NaN, Inf or subnormals. Everything
shrinks towards small shapes and simple values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradlab.errors import GradlabError
from gradlab.ops.spec import InputSpec, ParamSpec, Spec, builtin_specs

__all__ = ["Example", "arrays", "broadcastable_shapes", "examples", "params_for", "shapes_for", "spec_of"]

# values closer than this to a declared kink are moved to this distance (relative to max(1, |kink|))
KINK_MARGIN = 1e-2
# the smallest gap between values of a "distinct" input
DISTINCT_GAP = 1e-2


@dataclass(frozen=True)
class Example:
    """One drawn example: positional inputs, keyword params, the float dtype.

    Call the op as ``op(*example.inputs, **example.params)``. ``inputs`` are NumPy arrays (float
    arrays of ``dtype``; integer labels; float 0/1 masks); ``params`` the spec's parameters
    (an ``axis``, ``keepdims``...).
    """

    inputs: tuple[Any, ...]
    params: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float64"

    def describe(self, names: Sequence[str] | None = None, values: bool = True) -> str:
        """One line for a report: each input's name, dtype and shape, its values when small."""
        parts = []
        for i, x in enumerate(self.inputs):
            name = names[i] if names and i < len(names) else f"x{i}"
            if isinstance(x, np.ndarray):
                text = f"{name}: {x.dtype} {x.shape}"
                if values and x.size <= 12:
                    text += " = " + " ".join(np.array2string(x, precision=4).split())
            else:
                text = f"{name} = {x!r}"
            parts.append(text)
        parts += [f"{k} = {v!r}" for k, v in self.params.items()]
        return "; ".join(parts)


def spec_of(op_name: str) -> Spec:
    """The spec of a built-in op, from ``specs/*.toml`` (``gradlab list`` shows the names).

    Raises ``GradlabError`` for a name without a table there.
    """
    specs = builtin_specs()
    if op_name not in specs:
        raise GradlabError(f"no built-in op named {op_name!r} has a spec; the names are {', '.join(sorted(specs))}")
    return specs[op_name]


def examples(spec: Spec, dtype: str | None = None) -> st.SearchStrategy[Example]:
    """Whole examples for ``spec``: shapes, values in each input's domain, params, a dtype.

    Parameters
    ----------
    spec
        What the op accepts.
    dtype
        ``"float64"`` or ``"float32"``; by default one of the spec's dtypes is drawn.

    Returns
    -------
    SearchStrategy[Example]
        Examples that shrink towards small shapes and simple values.
    """
    return _examples(spec, dtype)


@st.composite
def _examples(draw: Any, spec: Spec, dtype: str | None) -> Example:
    dt = dtype or draw(st.sampled_from(spec.dtypes))
    shapes, sizes, rule_params = draw(shapes_for(spec))
    inputs = tuple(draw(arrays(x, shape, dt, spec.kinks, sizes)) for x, shape in zip(spec.inputs, shapes, strict=True))
    params = dict(rule_params)
    first = next((x for x in inputs if isinstance(x, np.ndarray)), np.zeros(()))
    for p in spec.params:
        if p.name not in params:
            params[p.name] = draw(params_for(p, tuple(first.shape)))
    return Example(inputs=inputs, params=params, dtype=dt)


# ---- shapes -------------------------------------------------------------------------------------

_CORE = re.compile(r"\(([^)]*)\)")


def core_dims(signature: str) -> tuple[list[list[str]], list[str]]:
    """The named core dimensions of a gufunc signature: per input, and of the output."""
    ins, out = signature.split("->")
    parse = [[d.strip() for d in group.split(",") if d.strip()] for group in _CORE.findall(ins)]
    out_dims = [d.strip() for d in _CORE.findall(out)[0].split(",") if d.strip()]
    return parse, out_dims


def shapes_for(spec: Spec) -> st.SearchStrategy[tuple[list[tuple[int, ...]], dict[str, int], dict[str, Any]]]:
    """Input shapes for ``spec``, the size of every named core dimension, and rule-drawn params.

    Draws ``(shapes, sizes, params)``: one shape per input (the signature's core dimensions
    with batch dimensions in front, broadcasting against each other unless the spec says
    ``broadcast = false``), the size drawn for each named dimension (``{"n": 3, "k": 2}``), and
    the parameters a shape rule fixes (the ``axis`` of ``concatenate``).
    """
    if spec.shape == "concatenate":
        return _concatenate_shapes(spec)
    return _signature_shapes(spec)


@st.composite
def _signature_shapes(draw: Any, spec: Spec) -> tuple[list[tuple[int, ...]], dict[str, int], dict[str, Any]]:
    assert spec.signature is not None
    core = draw(
        hnp.mutually_broadcastable_shapes(
            signature=_inputs_only(spec.signature), max_dims=0, min_side=spec.min_side, max_side=spec.max_side
        )
    ).input_shapes
    dims, _ = core_dims(spec.signature)
    sizes: dict[str, int] = {}
    for names, shape in zip(dims, core, strict=True):
        present = [n.rstrip("?") for n in names if not (n.endswith("?") and len(shape) < len(names))]
        sizes.update(zip(present, shape, strict=False))
    # an input that lost an optional core dim (a matmul vector) takes no batch dims
    full_rank = [len(shape) == len(names) for names, shape in zip(dims, core, strict=True)]
    batched = [i for i, x in enumerate(spec.inputs) if x.batch and full_rank[i]] if spec.batch else []
    batch: list[tuple[int, ...]] = [() for _ in spec.inputs]
    if batched and spec.max_dims:
        if spec.broadcast and len(batched) > 1:
            drawn = draw(broadcastable_shapes(len(batched), spec.max_dims, spec.max_side, ones=spec.broadcast_ones))
        else:
            one = draw(hnp.array_shapes(min_dims=0, max_dims=spec.max_dims, min_side=1, max_side=spec.max_side))
            drawn = [one] * len(batched)
        for i, shape in zip(batched, drawn, strict=True):
            batch[i] = tuple(shape)
    shapes = [batch[i] + tuple(core[i]) for i in range(len(spec.inputs))]
    return shapes, sizes, {}


def _inputs_only(signature: str) -> str:
    """The signature with the output's dimensions that no input has (a convolution's output
    height) left out: they follow from the inputs, and Hypothesis cannot draw them."""
    ins, out = signature.split("->")
    known = set(re.findall(r"\w+", ins))
    kept = [d for d in _CORE.findall(out)[0].split(",") if d.strip().rstrip("?") in known or d.strip().isdigit()]
    return f"{ins}->({','.join(kept)})"


@st.composite
def broadcastable_shapes(
    draw: Any, count: int, max_dims: int = 3, max_side: int = 4, ones: bool = True
) -> list[tuple[int, ...]]:
    """``count`` shapes that broadcast together, each a suffix of one drawn shape with any of its
    dimensions set to 1: broadcasting happens along leading, middle and trailing axes alike.

    Parameters
    ----------
    count
        How many shapes.
    max_dims, max_side
        Limits of the rank and of each dimension of the common shape (0-d shapes included).
    ones
        Whether dimensions are set to 1 (else the shapes differ only by missing leading dimensions).
    """
    full = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=1, max_side=max_side))
    shapes = []
    for _ in range(count):
        kept = full[len(full) - draw(st.integers(0, len(full))) :]
        set_to_one = (
            draw(st.lists(st.booleans(), min_size=len(kept), max_size=len(kept))) if ones else [False] * len(kept)
        )
        shapes.append(tuple(1 if one else size for size, one in zip(kept, set_to_one, strict=True)))
    return shapes


@st.composite
def _concatenate_shapes(draw: Any, spec: Spec) -> tuple[list[tuple[int, ...]], dict[str, int], dict[str, Any]]:
    base = draw(hnp.array_shapes(min_dims=1, max_dims=max(1, spec.max_dims), min_side=1, max_side=spec.max_side))
    axis = draw(st.integers(-len(base), len(base) - 1))
    shapes = []
    for _ in spec.inputs:
        shape = list(base)
        shape[axis] = draw(st.integers(1, spec.max_side))
        shapes.append(tuple(shape))
    return shapes, {}, {"axis": axis}


# ---- values -------------------------------------------------------------------------------------


def _floats(low: float, high: float, dtype: str) -> st.SearchStrategy[float]:
    width = 32 if dtype == "float32" else 64
    if width == 32:  # bounds exactly representable in float32, rounded inwards
        low32, high32 = np.float32(low), np.float32(high)
        low = float(low32 if low32 >= low else np.nextafter(low32, np.float32(np.inf)))
        high = float(high32 if high32 <= high else np.nextafter(high32, np.float32(-np.inf)))
    return st.floats(low, high, width=width, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def arrays(
    x: InputSpec, shape: tuple[int, ...], dtype: str, kinks: Sequence[float] = (), sizes: dict[str, int] | None = None
) -> st.SearchStrategy[np.ndarray]:
    """Values for one input of ``shape`` in its domain (and a margin away from ``kinks``).

    No NaN, Inf or subnormals; no repeated fill value (ties would be kinks for max or sort).

    Parameters
    ----------
    x
        The input's spec (``spec.inputs[i]``): its domain and bounds.
    shape, dtype
        Of the array drawn.
    kinks
        Values to keep a margin from (``KINK_MARGIN * max(1, |kink|)``).
    sizes
        The sizes of the signature's named dimensions, for a ``labels`` input (its classes).
    """
    low, high = x.bounds
    if x.domain == "labels":
        classes = (sizes or {}).get(x.classes or "", 1)
        return hnp.arrays(np.int64, shape, elements=st.integers(0, max(classes - 1, 0)))
    if x.domain == "mask":
        return hnp.arrays(np.bool_, shape).map(lambda m: m.astype(dtype))
    if x.domain == "nonzero":
        magnitude = hnp.arrays(dtype, shape, elements=_floats(low, high, dtype), fill=st.nothing())
        signs = hnp.arrays(np.bool_, shape)
        return st.tuples(magnitude, signs).map(lambda ms: np.where(ms[1], -ms[0], ms[0]).astype(dtype))
    if x.domain in ("spd", "well_conditioned"):
        return hnp.arrays(dtype, shape, elements=_floats(low, high, dtype), fill=st.nothing()).map(
            _spd if x.domain == "spd" else _well_conditioned
        )
    values = hnp.arrays(dtype, shape, elements=_floats(low, high, dtype), fill=st.nothing())
    if x.domain == "distinct":
        values = values.filter(_is_distinct)
    if kinks:
        values = values.map(lambda a: _away_from(a, kinks))
    return values


def _away_from(a: np.ndarray, kinks: Sequence[float]) -> np.ndarray:
    a = a.copy()
    for k in kinks:
        margin = KINK_MARGIN * max(1.0, abs(k))
        close = np.abs(a - k) < margin
        a[close] = np.where(a[close] >= k, k + margin, k - margin).astype(a.dtype)
    return a


def _is_distinct(a: np.ndarray) -> bool:
    flat = np.sort(a.reshape(-1).astype(np.float64))
    return bool(np.all(np.diff(flat) > DISTINCT_GAP * np.maximum(1.0, np.abs(flat[1:])))) if flat.size > 1 else True


def _well_conditioned(m: np.ndarray) -> np.ndarray:
    n = m.shape[-1] if m.ndim else 1
    return (m + n * np.eye(n, dtype=m.dtype)).astype(m.dtype) if m.ndim >= 2 else m


def _spd(m: np.ndarray) -> np.ndarray:
    if m.ndim < 2:
        return m
    n = m.shape[-1]
    return (m @ np.swapaxes(m, -1, -2) + n * np.eye(n, dtype=m.dtype)).astype(m.dtype)


# ---- params -------------------------------------------------------------------------------------


def params_for(p: ParamSpec, shape: tuple[int, ...]) -> st.SearchStrategy[Any]:
    """Values of a parameter (``spec.params[i]``) valid for an input of ``shape``: an axis within
    its rank, a permutation of its axes, a target shape of the same size..."""
    rank, opts = len(shape), p.options
    if p.kind == "bool":
        return st.booleans()
    if p.kind == "float":
        return st.floats(opts["low"], opts["high"], allow_nan=False, allow_subnormal=False)
    if p.kind == "int":
        return st.integers(opts["low"], opts["high"])
    if p.kind == "choice":
        return st.sampled_from(opts["values"])
    if p.kind == "axis":
        return _axis(rank, opts)
    if p.kind == "axis_pair":  # two distinct axes (needle's transpose swaps them), or None
        pairs = st.permutations(range(rank)).map(lambda order: tuple(sorted(order[:2]))) if rank >= 2 else st.nothing()
        return st.none() | pairs
    if p.kind == "permutation":
        return st.permutations(range(rank)).map(tuple)
    if p.kind == "expand_axis":
        return st.integers(-rank - 1, rank)
    if p.kind == "squeeze_axis":
        ones = [i for i, s in enumerate(shape) if s == 1]
        if not ones:
            return st.none()
        return st.one_of(
            st.none(), st.sampled_from(ones), st.lists(st.sampled_from(ones), unique=True, min_size=1).map(tuple)
        )
    if p.kind == "reshape":
        return _reshape_target(shape)
    if p.kind == "broadcast":
        return _broadcast_target(shape)
    if p.kind == "index":
        return _basic_index(shape)
    if p.kind == "pad_width":
        return st.tuples(*[st.tuples(st.integers(0, 2), st.integers(0, 2)) for _ in shape])
    raise AssertionError(f"unhandled parameter kind {p.kind}")


def _axis(rank: int, opts: Any) -> st.SearchStrategy[Any]:
    """None, an int or a tuple of axes, as the options allow (``none``, ``int``, ``tuple``: each on by
    default; ``negative``: negative axes too; ``empty``: the empty tuple too)."""
    options: list[st.SearchStrategy[Any]] = []
    if opts.get("none", True):
        options.append(st.none())
    if rank:
        low = -rank if opts.get("negative", True) else 0
        if opts.get("int", True):
            options.append(st.integers(low, rank - 1))
        if opts.get("tuple", True):
            min_size = 0 if opts.get("empty", True) else 1
            options.append(
                st.lists(
                    st.integers(low, rank - 1), unique_by=lambda a: a % rank, min_size=min_size, max_size=rank
                ).map(tuple)
            )
    # a 0-d input has no axis to give an op that needs one: no example
    return st.one_of(options) if options else st.nothing()


@st.composite
def _reshape_target(draw: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    size = math.prod(shape)
    dims: list[int] = []
    rest = size
    for _ in range(draw(st.integers(0, 3))):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = draw(st.sampled_from(divisors))
        dims.append(d)
        rest //= d
    if rest != 1 or not dims:
        dims.append(rest)
    if size and draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    return tuple(dims)


@st.composite
def _broadcast_target(draw: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    lead = draw(st.lists(st.integers(1, 3), max_size=2))
    grown = [draw(st.integers(1, 3)) if s == 1 else s for s in shape]
    return (*lead, *grown)


@st.composite
def _basic_index(draw: Any, shape: tuple[int, ...]) -> tuple[Any, ...]:
    index: list[Any] = []
    for size in shape[: draw(st.integers(0, len(shape)))]:
        kind = draw(st.sampled_from(["int", "slice", "full"]))
        if kind == "int":
            index.append(draw(st.integers(-size, size - 1)))
        elif kind == "slice":
            step = draw(st.sampled_from([1, 2, -1]))
            start = draw(st.none() | st.integers(-size, size - 1))
            stop = draw(st.none() | st.integers(-size, size))
            index.append(slice(start, stop, step))
        else:
            index.append(slice(None))
    return tuple(index)
