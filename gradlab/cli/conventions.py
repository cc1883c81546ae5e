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
# input shapes the forward accepts in a wrong form too (a (w,) gamma broadcasts against (n, c, h, w)
# as well as the course's (1, c, 1, 1)): tried first, by layer name (a prefix: spatial_groupnorm_quick too)
SHAPES: dict[str, str] = {"spatial_groupnorm": "(n,c,h,w),(1,c,1,1),(1,c,1,1)"}


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


def param_table(args: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The spec's ``params`` for the config arguments among ``args``: every field with more than one
    valid value is drawn (``conv_param.stride`` from [1, 2])."""
    table: dict[str, dict[str, Any]] = {}
    for arg in args:
        if arg in INTEGER_ARGS:
            table[arg] = {"kind": "choice", "values": list(INTEGER_ARGS[arg])}
        elif arg.endswith("_param"):
            for name, values in fields(arg).items():
                if len(values) > 1:
                    table[f"{arg}.{name}"] = {"kind": "choice", "values": list(values)}
    return table


def describe(args: Sequence[str]) -> str:
    """The config arguments in words: ``conv_param stride in {1, 2}, pad in {1, 0, 2}; G in {2, 1, 3}``."""
    parts = []
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
