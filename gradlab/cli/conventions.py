"""Course conventions as data: the config dicts and integer arguments of course layers, and the
few input shapes the forward alone cannot reveal.

A course forward ``conv_forward_naive(x, w, b, conv_param)`` takes a config dict; gradlab draws each
of its fields from the valid values below, so a bug that shows only at stride 2 is found. The first
value of each field is the one shape inference uses (the course's own default). A ``*_param`` not
listed gets :data:`FALLBACK`. To add a course, add rows: no code path is per layer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

# config dicts (``NAME_param``): field -> valid values, the first one used to infer shapes
PARAM_DICTS: dict[str, dict[str, tuple[Any, ...]]] = {
    "conv_param": {"stride": (1, 2), "pad": (1, 0, 2)},
    "pool_param": {"pool_height": (2, 1, 3), "pool_width": (2, 1, 3), "stride": (2, 1)},
    "bn_param": {"mode": ("train",), "eps": (1e-5,), "momentum": (0.9,)},
    "ln_param": {"eps": (1e-5,)},
    "gn_param": {"eps": (1e-5,)},
    "dropout_param": {"mode": ("train", "test"), "p": (0.5, 0.25, 0.75), "seed": (0, 1)},
}
# a ``*_param`` of another name: every field a course layer reads, at its usual value
FALLBACK: dict[str, tuple[Any, ...]] = {
    "mode": ("train",), "p": (0.5,), "seed": (0,), "stride": (1,), "pad": (1,), "pool_height": (2,),
    "pool_width": (2,), "eps": (1e-5,), "momentum": (0.9,),
}  # fmt: skip
# integer (non-array) arguments by name: valid values, the first used to infer shapes
INTEGER_ARGS: dict[str, tuple[int, ...]] = {"G": (2, 1, 3)}
# an integer that must divide an array's dimension: (array argument, axis); the course's G splits the channels
DIVIDES: dict[str, tuple[str, int]] = {"G": ("x", 1)}
# normalisation layers, by name (a prefix): the axes of their first input each statistic runs over (divided
# into G groups when the layer takes G). A statistic of one value is degenerate (variance 0): the course
# normalises batches and groups of two values or more, and so are they drawn
STATISTICS: dict[str, tuple[int, ...]] = {
    "batchnorm": (0,), "layernorm": (1,), "spatial_batchnorm": (0, 2, 3), "spatial_groupnorm": (1, 2, 3),
}  # fmt: skip
# layers whose first input also comes with more dimensions that the layer flattens, by layer name (a
# prefix): the course's affine takes x (N, d_1, ..., d_k) with w (d_1 * ... * d_k, M); drawn as rank 2 or 3
FLATTENED: tuple[str, ...] = ("affine",)
# input shapes the forward accepts in a wrong form too (a (w,) gamma broadcasts against (n, c, h, w)
# as well as the course's (1, c, 1, 1)); dlsys's BroadcastToOp(node_A, node_B) takes B only for its shape, which adds
# one leading axis to A's; needle's Conv(stride, padding) takes A (N, H, W, C_in) and a square kernel B (K, K, C_in,
# C_out), and its compiled backend runs (or crashes) on other layouts without a word; the images are square, as in
# the course's tests (a hw4 gradient written for them fails at stride 2 where (H + 2P - K) is odd). Tried first, by
# layer name (a prefix: spatial_groupnorm_quick too)
SHAPES: dict[str, str] = {
    "spatial_groupnorm": "(n,c,h,w),(1,c,1,1),(1,c,1,1)", "BroadcastTo": "(n,m),(k,n,m)", "Conv": "(n,h,h,c),(k,k,c,f)",
}  # fmt: skip


def flattened(name: str) -> bool:
    """Whether layer ``name``'s first input may come with its feature dimension split in two."""
    return any(re.fullmatch(rf"{layer}\w*", name) for layer in FLATTENED)


def split_features(x: Any) -> Any:
    """``x`` (n, d) as (n, a, d / a): the smallest factor a of d in 2, 3, 5, 7, else 1."""
    n, d = x.shape
    a = next((k for k in (2, 3, 5, 7) if d % k == 0 and d > k), 1)
    return x.reshape(n, a, d // a)


def domain_problem(name: str, args: Sequence[str], arrays: dict[str, Any], params: dict[str, Any]) -> str | None:
    """Why the drawn values are outside layer ``name``'s domain (G not dividing the channels, a
    statistic over one value), or None."""
    problem = _divides_problem(args, arrays, params)
    axes = next((a for layer, a in STATISTICS.items() if re.fullmatch(rf"{layer}\w*", name)), None)
    first = next(iter(arrays.values()), None)
    if problem or axes is None or first is None or getattr(first, "ndim", 0) <= max(axes):
        return problem
    count = int(np.prod([first.shape[a] for a in axes])) // (value("G", params) if "G" in args else 1)
    return None if count >= 2 else f"each statistic of {name} runs over {count} value(s): degenerate"


def _divides_problem(args: Sequence[str], arrays: dict[str, Any], params: dict[str, Any]) -> str | None:
    for arg, (array, axis) in DIVIDES.items():
        if arg in args and array in arrays and getattr(arrays[array], "ndim", 0) > axis:
            size, given = arrays[array].shape[axis], value(arg, params)
            if given < 1 or size % given:
                return f"{arg} = {given} does not divide {array}'s size {size} along axis {axis}"
    return None


def is_config(arg: str) -> bool:
    """Whether a forward's argument is a config dict or an integer, not an array to differentiate."""
    return arg.endswith("_param") or arg in INTEGER_ARGS


def fields(arg: str) -> dict[str, tuple[Any, ...]]:
    """The fields of config dict ``arg`` and their valid values."""
    return PARAM_DICTS.get(arg, FALLBACK)


def value(arg: str, params: dict[str, Any]) -> Any:
    """What a forward gets for config argument ``arg``: a fresh dict (the forward may write into it,
    as batchnorm does its running means), or an integer, from the drawn ``params`` or the defaults."""
    if arg in INTEGER_ARGS:
        return params.get(arg, INTEGER_ARGS[arg][0])
    return {name: params.get(f"{arg}.{name}", values[0]) for name, values in fields(arg).items()}


def param_table(args: Sequence[str], name: str = "", first: str = "x") -> dict[str, dict[str, Any]]:
    """The spec's ``params`` for the config arguments among ``args``: every field with more than one
    valid value is drawn (``conv_param.stride`` from [1, 2]); and the rank of layer ``name``'s
    flattened first input ``first`` (``x.rank`` 2 or 3)."""
    table: dict[str, dict[str, Any]] = {}
    if flattened(name):
        table[f"{first}.rank"] = {"kind": "choice", "values": [2, 3]}
    for arg in args:
        if arg in INTEGER_ARGS:
            table[arg] = {"kind": "choice", "values": list(INTEGER_ARGS[arg])}
        elif arg.endswith("_param"):
            for name, values in fields(arg).items():
                if len(values) > 1:
                    table[f"{arg}.{name}"] = {"kind": "choice", "values": list(values)}
    return table


def describe(args: Sequence[str], name: str = "", first: str = "x") -> str:
    """The config arguments in words: ``conv_param stride in {1, 2}, pad in {1, 0, 2}; G in {2, 1, 3}``."""
    parts = []
    if flattened(name):
        parts.append(f"{first} also given as (n, a, d / a), its features split in two")
    for arg in args:
        if arg in INTEGER_ARGS:
            parts.append(f"{arg} in {{{', '.join(map(str, INTEGER_ARGS[arg]))}}}")
        elif arg.endswith("_param"):
            drawn = [f"{n} in {{{', '.join(map(str, v))}}}" for n, v in fields(arg).items() if len(v) > 1]
            fixed = [f"{n} = {v[0]}" for n, v in fields(arg).items() if len(v) == 1]
            parts.append(f"{arg} " + ", ".join(drawn + fixed))
    return "; ".join(parts)


def shape_hint(name: str) -> str | None:
    """The conventional input signature of layer ``name``, if the table has one."""
    return next((s for layer, s in SHAPES.items() if re.fullmatch(rf"{layer}\w*", name)), None)


# ---- constructor parameters of homework op classes (needle's AddScalar(scalar), Summation(axes)) ----

# by parameter name: the spec's params kind drawn for it (scalars away from 0 and 1, where powers and
# divisions are singular or trivial; axes as tuples of non-negative axes or None, as the course passes them)
CONSTRUCTOR_PARAMS: dict[str, dict[str, Any]] = {
    "scalar": {"kind": "choice", "values": [2.0, 3.0, -1.5, 0.5, 1.7]},
    "axes": {"kind": "axis", "int": False, "negative": False, "empty": False},
    "axis": {"kind": "axis", "none": False, "tuple": False, "negative": False},
    "shape": {"kind": "reshape"},
    "dilation": {"kind": "choice", "values": [1, 2]},
    "stride": {"kind": "choice", "values": [1, 2]},
    "padding": {"kind": "choice", "values": [0, 1]},
}
# by class and parameter, where the name alone does not say it: needle's Transpose(axes) swaps two
# axes (the last two by default), BroadcastTo(shape) is a broadcast target, not a reshape
CONSTRUCTOR_PARAMS_BY_CLASS: dict[tuple[str, str], dict[str, Any]] = {
    ("Transpose", "axes"): {"kind": "axis_pair"},
    ("BroadcastTo", "shape"): {"kind": "broadcast"},
    # needle's Permute(axes) takes the whole permutation
    ("Permute", "axes"): {"kind": "permutation"},
    # needle's Flip, Dilate and UnDilate take a tuple of axes, never None
    ("Flip", "axes"): {"kind": "axis", "int": False, "negative": False, "empty": False, "none": False},
    ("Dilate", "axes"): {"kind": "axis", "int": False, "negative": False, "empty": False, "none": False},
    ("UnDilate", "axes"): {"kind": "axis", "int": False, "negative": False, "empty": False, "none": False},
    # which array of a tuple value gradlab makes (frameworks.TUPLE_LENGTH of them) TupleGetItem picks
    ("TupleGetItem", "index"): {"kind": "choice", "values": [0, 1, 2]},
}
# by annotation, where neither the name nor the class says it: a float (FusedAddScalars(c0: float, c1: float))
CONSTRUCTOR_PARAMS_BY_TYPE: dict[str, dict[str, Any]] = {"float": CONSTRUCTOR_PARAMS["scalar"]}


def constructor_param(cls: type, arg: str, annotation: Any = None) -> dict[str, Any] | None:
    """The spec's params table entry for constructor argument ``arg`` of ``cls`` (or a base class), if
    known: by class, by name, else by its type annotation."""
    by_class = (CONSTRUCTOR_PARAMS_BY_CLASS.get((c.__name__, arg)) for c in cls.__mro__)
    by_type = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None)
    return (
        next((k for k in by_class if k is not None), None)
        or CONSTRUCTOR_PARAMS.get(arg)
        or CONSTRUCTOR_PARAMS_BY_TYPE.get(str(by_type))
    )


def first_value(kind: dict[str, Any], shape: tuple[int, ...]) -> Any:
    """The value a constructor argument takes while shapes are inferred (an input of ``shape``)."""
    name = kind["kind"]
    if name == "choice":
        return kind["values"][0]
    if name == "reshape":  # all sizes given: a course's own array backend may not know -1
        return (int(np.prod(shape)),)
    if name == "broadcast":  # to its own shape: a backend may broadcast only between equal ranks
        return tuple(shape)
    if name == "permutation":
        return tuple(range(len(shape)))
    if name == "axis_pair":
        return (len(shape) - 2, len(shape) - 1) if len(shape) >= 2 else None
    if kind.get("none", True):  # axis
        return None
    return 0 if kind.get("int", True) else (0,)
