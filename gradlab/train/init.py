"""Weight initialisers: Xavier (Glorot) and Kaiming (He), uniform and normal, from a seeded generator.

Each returns a NumPy array of shape ``(fan_in, fan_out)`` (the ``X @ W`` convention of the training
core). Values are drawn in float64 and then cast, so a seed gives the same weights in every dtype.
``rng`` is a ``numpy.random.Generator`` (shared across layers, so each layer gets fresh draws) or an
int seed; ``None`` means seed 0, so a call without ``rng`` is deterministic.

============================  ===================================================
initialiser                   distribution
============================  ===================================================
``xavier_uniform``            ``U(-a, a)``, ``a = gain * sqrt(6 / (fan_in + fan_out))``
``xavier_normal``             ``N(0, std^2)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``
``kaiming_uniform``           ``U(-b, b)``, ``b = gain(nonlinearity) * sqrt(3 / fan_in)``
``kaiming_normal``            ``N(0, std^2)``, ``std = gain(nonlinearity) / sqrt(fan_in)``
============================  ===================================================

For ReLU, ``gain = sqrt(2)``: Kaiming normal is ``N(0, 2 / fan_in)`` and Kaiming uniform is
``U(-sqrt(6 / fan_in), sqrt(6 / fan_in))``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradlab.errors import GradlabError

RngLike = np.random.Generator | int | None
DTypeLike = Any

_GAINS = {
    "linear": 1.0,
    "identity": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "selu": 3.0 / 4.0,
}


def gain(nonlinearity: str, negative_slope: float = 0.01) -> float:
    """The recommended gain for a nonlinearity (PyTorch's ``calculate_gain`` values).

    Parameters
    ----------
    nonlinearity : str
        ``"linear"``/``"identity"``, ``"sigmoid"`` (1), ``"tanh"`` (5/3), ``"relu"`` (sqrt 2),
        ``"leaky_relu"`` (``sqrt(2 / (1 + negative_slope**2))``) or ``"selu"`` (3/4).
    negative_slope : float
        The slope of ``leaky_relu`` below zero.

    Returns
    -------
    float
    """
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1.0 + negative_slope**2))
    try:
        return _GAINS[nonlinearity]
    except KeyError:
        names = ", ".join([*_GAINS, "leaky_relu"])
        raise GradlabError(f"unknown nonlinearity {nonlinearity!r}: use one of {names}") from None


def xavier_uniform(
    fan_in: int, fan_out: int, gain: float = 1.0, rng: RngLike = None, dtype: DTypeLike = "float32"
) -> np.ndarray:
    """Xavier/Glorot uniform: ``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Parameters
    ----------
    fan_in, fan_out : int
        Input and output sizes; the result has shape ``(fan_in, fan_out)``.
    gain : float
        Scale factor (see :func:`gain`).
    rng : numpy.random.Generator or int or None
        The generator, or a seed for one; ``None`` is seed 0.
    dtype : str or numpy dtype
        A floating dtype.

    Returns
    -------
    numpy.ndarray
    """
    a = gain * math.sqrt(6.0 / (_fan(fan_in, "fan_in") + _fan(fan_out, "fan_out")))
    return _uniform(a, fan_in, fan_out, rng, dtype)


def xavier_normal(
    fan_in: int, fan_out: int, gain: float = 1.0, rng: RngLike = None, dtype: DTypeLike = "float32"
) -> np.ndarray:
    """Xavier/Glorot normal: ``N(0, std^2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Parameters are as for :func:`xavier_uniform`.

    Returns
    -------
    numpy.ndarray
    """
    std = gain * math.sqrt(2.0 / (_fan(fan_in, "fan_in") + _fan(fan_out, "fan_out")))
    return _normal(std, fan_in, fan_out, rng, dtype)


def kaiming_uniform(
    fan_in: int,
    fan_out: int,
    nonlinearity: str = "relu",
    rng: RngLike = None,
    dtype: DTypeLike = "float32",
    negative_slope: float = 0.01,
) -> np.ndarray:
    """Kaiming/He uniform: ``U(-b, b)`` with ``b = gain(nonlinearity) * sqrt(3 / fan_in)``.

    Parameters
    ----------
    fan_in, fan_out : int
        Input and output sizes; the result has shape ``(fan_in, fan_out)``.
    nonlinearity : str
        The activation that follows (see :func:`gain`); ``"relu"`` gives ``b = sqrt(6 / fan_in)``.
    rng : numpy.random.Generator or int or None
        The generator, or a seed for one; ``None`` is seed 0.
    dtype : str or numpy dtype
        A floating dtype.
    negative_slope : float
        For ``nonlinearity="leaky_relu"``.

    Returns
    -------
    numpy.ndarray
    """
    _fan(fan_out, "fan_out")
    b = gain(nonlinearity, negative_slope) * math.sqrt(3.0 / _fan(fan_in, "fan_in"))
    return _uniform(b, fan_in, fan_out, rng, dtype)


def kaiming_normal(
    fan_in: int,
    fan_out: int,
    nonlinearity: str = "relu",
    rng: RngLike = None,
    dtype: DTypeLike = "float32",
    negative_slope: float = 0.01,
) -> np.ndarray:
    """Kaiming/He normal: ``N(0, std^2)`` with ``std = gain(nonlinearity) / sqrt(fan_in)``.

    For ReLU this is the ``N(0, 2 / fan_in)`` rule. Parameters are as for :func:`kaiming_uniform`.

    Returns
    -------
    numpy.ndarray
    """
    _fan(fan_out, "fan_out")
    std = gain(nonlinearity, negative_slope) / math.sqrt(_fan(fan_in, "fan_in"))
    return _normal(std, fan_in, fan_out, rng, dtype)


def zeros(shape: int | tuple[int, ...], dtype: DTypeLike = "float32") -> np.ndarray:
    """An array of zeros (biases start here).

    Parameters
    ----------
    shape : int or tuple of int
    dtype : str or numpy dtype
        A floating dtype.

    Returns
    -------
    numpy.ndarray
    """
    return np.zeros(shape, dtype=_float_dtype(dtype))


def as_generator(rng: RngLike) -> np.random.Generator:
    """``rng`` itself when it is a Generator, else ``numpy.random.default_rng(rng)`` (``None`` -> seed 0)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise GradlabError(f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}")


def _uniform(bound: float, fan_in: int, fan_out: int, rng: RngLike, dtype: DTypeLike) -> np.ndarray:
    dt = _float_dtype(dtype)
    return as_generator(rng).uniform(-bound, bound, size=(fan_in, fan_out)).astype(dt, copy=False)


def _normal(std: float, fan_in: int, fan_out: int, rng: RngLike, dtype: DTypeLike) -> np.ndarray:
    dt = _float_dtype(dtype)
    return as_generator(rng).normal(0.0, std, size=(fan_in, fan_out)).astype(dt, copy=False)


def _fan(n: int, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise GradlabError(f"{name} must be a positive int, got {n!r}")
    return int(n)


def _float_dtype(dtype: DTypeLike) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind != "f":
        raise GradlabError(f"dtype must be a floating dtype such as 'float32' or 'float64', got {dtype!r}")
    return dt
