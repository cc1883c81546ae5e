"""Recognise the usual ways a hand-written rule goes wrong, from the analytic and numeric values.

All functions here take host NumPy arrays and return a sentence or ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Shape = tuple[int, ...]

_CLOSE = 1e-3  # relative residual under which a pattern counts as recognised


def broadcast_axes(input_shape: Shape, output_shape: Shape) -> tuple[int, ...] | None:
    """Axes of the output along which an input of ``input_shape`` is broadcast.

    ``None`` when the input does not broadcast to the output, ``()`` when it is not broadcast.
    """
    if len(input_shape) > len(output_shape):
        return None
    lead = len(output_shape) - len(input_shape)
    axes = list(range(lead))
    for i, size in enumerate(input_shape):
        out_size = output_shape[lead + i]
        if size == out_size:
            continue
        if size != 1:
            return None
        axes.append(lead + i)
    return tuple(axes)


def shape_problem(name: str, got: Shape, want: Shape, output_shape: Shape, others: Sequence[Shape] = ()) -> str:
    """Explain a cotangent of shape ``got`` for an input of shape ``want``. ``others``: the shapes of the
    op's other array inputs: beside them, an input is broadcast in the output only along axes whose
    extent one of them gives (a convolution's padded output is larger than its image, not a broadcast
    of it); an op of one array may broadcast it to a shape its parameters give."""
    text = f"the cotangent for {name} has shape {got} but {name} has shape {want}"
    axes = broadcast_axes(want, output_shape)
    if axes and others:
        extents = {size for shape in others for size in shape}
        axes = axes if all(output_shape[a] in extents or output_shape[a] == 1 for a in axes) else None
    if got == output_shape and axes:
        keep = [a for a in axes if a >= len(output_shape) - len(want)]
        hint = f"sum it over the broadcast axes {axes}"
        if keep:
            hint += f" (keepdims for the size-1 axes {tuple(keep)})"
        return f"{text}: {name} is broadcast in the output, so {hint}"
    if len(got) >= 2 and got == tuple(reversed(want)):
        return f"{text}: it looks transposed (a missing or extra transpose)"
    if math.prod(got) == math.prod(want):
        return f"{text}: it has the right number of elements, reshape it to {want}"
    return text


def dtype_problem(name: str, got: str, want: str) -> str:
    hint = ""
    if got == "float64" and want in ("float32", "float16"):
        hint = (
            ": the rule promotes to float64 (a float64 constant, or an array made without dtype=);"
            f" create arrays with the input's dtype or cast with .astype({name}.dtype)"
        )
    return f"the cotangent for {name} is {got} but {name} is {want}{hint}"


def value_pattern(analytic: np.ndarray, numeric: np.ndarray, sizes: Shape = ()) -> str | None:
    """Recognise ``analytic`` as a simple transform of ``numeric`` (sign, factor, transpose, zero).

    ``sizes`` are axis sizes worth naming when the factor is one of them (or its inverse).
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape or not (np.all(np.isfinite(a)) and np.all(np.isfinite(n))):
        return None
    norm_n, norm_a = np.linalg.norm(n), np.linalg.norm(a)
    if norm_n == 0.0 and norm_a == 0.0:
        return None
    if norm_a == 0.0:
        return "the rule returns zeros where the derivative is not zero (a term is missing)"
    if norm_n == 0.0:
        return "the derivative is zero here but the rule is not (an extra term)"
    factor = float(np.vdot(a, n) / np.vdot(n, n))
    if np.linalg.norm(a - factor * n) <= _CLOSE * norm_a:
        if abs(factor + 1.0) < _CLOSE:
            return "sign flipped: the rule returns -1 x the true derivative"
        # a few elements always fit some factor: name it then only when it is a round one
        if abs(factor - 1.0) >= _CLOSE and (a.size >= 4 or _is_round(factor)):
            return _factor_sentence(factor, sizes)
    if a.ndim >= 2 and a.shape[-1] == a.shape[-2] and a.shape[-1] > 1:
        swapped = np.swapaxes(n, -1, -2)
        if np.linalg.norm(a - swapped) <= _CLOSE * norm_a:
            return "the rule returns the true derivative transposed (last two axes swapped): a missing transpose"
    return None


def _is_round(factor: float) -> bool:
    """A small integer or the inverse of one (2, -3, 1/4...): what a slip in a rule produces."""
    return any(1 <= abs(c) <= 64 and abs(c - round(c)) < _CLOSE * abs(c) for c in (factor, 1.0 / factor))


def _factor_sentence(factor: float, sizes: Shape) -> str:
    text = f"off by a constant factor: the rule returns {factor:.4g} x the true derivative"
    for size in sorted(set(sizes)):
        if size > 1 and abs(factor * size - 1.0) < _CLOSE:
            return f"{text} (1/{size}: a mean where a sum belongs, or a division by an axis of size {size})"
        if size > 1 and abs(factor / size - 1.0) < _CLOSE:
            return f"{text} ({size}: a sum where a mean belongs, or a missing division by {size})"
    return text


def broadcast_hint(name: str, input_shape: Shape, output_shape: Shape) -> str | None:
    """A hint when the failing input is broadcast in the output (its cotangent must be reduced)."""
    axes = broadcast_axes(input_shape, output_shape)
    if not axes:
        return None
    return (
        f"{name} {input_shape} is broadcast along axes {axes} of the output {output_shape}: its cotangent"
        " must be the output cotangent summed over exactly those axes"
    )
