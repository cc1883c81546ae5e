"""One interface to the array namespace of the inputs (NumPy, CuPy, any array-API library).

Everything in gradlab that touches arrays goes through the namespace returned by
:func:`namespace`; only :func:`to_host` moves data to NumPy, and only reports call it.
"""

from __future__ import annotations

import math
import types
from typing import Any

import array_api_compat
import numpy as np

Array = Any
Namespace = Any


def _numpy_namespace() -> Namespace:
    """array-api-compat's NumPy namespace, its float sums and maxima called as the ufunc
    reductions they are: ``np.sum(x)`` spends 1-1.5 µs in Python before calling
    ``np.add.reduce(x)``, every rule calls it, and the training core runs rules on small arrays
    at every step. Other dtypes (integer sums promote) go to the namespace's own functions."""
    compat = array_api_compat.array_namespace(np.empty(0))
    fast = types.ModuleType(compat.__name__, compat.__doc__)
    fast.__dict__.update(vars(compat))

    def reducer(ufunc: np.ufunc, fallback: Any) -> Any:
        def reduce(x: Array, /, *, axis: Any = None, keepdims: bool = False, **kwargs: Any) -> Array:
            if type(x) is np.ndarray and x.dtype.kind in "fc" and not kwargs:
                return ufunc.reduce(x, axis=axis, keepdims=keepdims)
            return fallback(x, axis=axis, keepdims=keepdims, **kwargs)

        reduce.__name__ = reduce.__qualname__ = fallback.__name__
        reduce.__doc__ = fallback.__doc__
        return reduce

    fast.sum = reducer(np.add, compat.sum)
    fast.max = reducer(np.maximum, compat.max)
    fast.min = reducer(np.minimum, compat.min)
    return fast


_NUMPY = _numpy_namespace()


def is_array(x: object) -> bool:
    """True for an array of any array-API library (NumPy scalars count as 0-d arrays)."""
    if type(x) is np.ndarray or isinstance(x, np.generic):
        return True
    return array_api_compat.is_array_api_obj(x) and type(x) not in (bool, int, float, complex)


def namespace(*xs: object) -> Namespace:
    """The array-API namespace shared by the arrays among ``xs`` (NumPy when there are none)."""
    # NumPy arrays, the common case, answer at once (this runs for every rule of every op)
    for x in xs:
        if not isinstance(x, (np.ndarray, np.generic)) and is_array(x):
            break
    else:
        return _NUMPY
    arrays = [x for x in xs if not isinstance(x, (np.ndarray, np.generic)) and is_array(x)]
    return array_api_compat.array_namespace(*arrays, *[x for x in xs if isinstance(x, (np.ndarray, np.generic))])


def is_numpy(xp: Namespace) -> bool:
    return array_api_compat.is_numpy_namespace(xp)


def device(x: Array) -> Any:
    return array_api_compat.device(x)


def to_host(x: Array) -> np.ndarray:
    """Copy an array to a NumPy array on the host (the report's only way to read numbers)."""
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if isinstance(x, (np.generic, int, float, complex, bool)):
        return np.asarray(x)
    try:
        return np.from_dlpack(x)
    except (TypeError, RuntimeError, BufferError, AttributeError):
        return np.asarray(x)


def is_floating(xp: Namespace, dtype: Any) -> bool:
    return xp.isdtype(dtype, "real floating")


def is_complex(xp: Namespace, dtype: Any) -> bool:
    return xp.isdtype(dtype, "complex floating")


def eps(xp: Namespace, dtype: Any) -> float:
    """Machine epsilon of a floating (or complex) dtype."""
    return float(xp.finfo(dtype).eps)


def has_float64(xp: Namespace, dev: Any = None) -> bool:
    """Whether the namespace (on ``dev``) supports float64."""
    info = getattr(xp, "__array_namespace_info__", None)
    if info is None:
        return hasattr(xp, "float64")
    try:
        dtypes = info().dtypes(device=dev, kind="real floating")
    except (TypeError, ValueError):
        dtypes = info().dtypes(kind="real floating")
    return "float64" in dtypes


def astype(xp: Namespace, x: Array, dtype: Any) -> Array:
    return xp.astype(x, dtype)


def copy(xp: Namespace, x: Array) -> Array:
    return xp.asarray(x, copy=True)


def axpy(xp: Namespace, t: Any, d: Array, x: Array) -> Array:
    """``x + t * d`` as a new array (on NumPy with one temporary fewer: a large input's fresh
    memory costs more than the arithmetic)."""
    if xp is _NUMPY and isinstance(d, np.ndarray) and isinstance(x, np.ndarray):
        out = np.multiply(d, t)
        if out.dtype == np.result_type(x, out):
            out += x
            return out
    return x + t * d


def dot(xp: Namespace, weights: Array, a: Array) -> Array:
    """``weights @ a`` for ``a`` of shape (m,) and ``weights`` (m,) or (P, m).

    On NumPy a single-threaded SIMD loop (``einsum``) instead of BLAS: a gradient check runs next
    to other threaded code (the function under test in PyTorch, pytest-xdist workers), and
    multi-threaded BLAS waiting for busy cores turns a 0.1 ms dot product into several ms.
    """
    numpy = xp is _NUMPY and isinstance(weights, np.ndarray) and isinstance(a, np.ndarray)
    if numpy and weights.ndim <= 2 and a.ndim == 1 and a.dtype == weights.dtype:
        return np.einsum("...i,i->...", weights, a)
    return weights @ a


def masked(xp: Namespace, a: Array, mask: Array) -> Array:
    """``a`` where ``mask`` is true, 0 elsewhere, as ``a * mask``: NumPy multiplies by a boolean
    array directly; the array API has no arithmetic on booleans, so elsewhere the mask is cast."""
    if type(a) is np.ndarray and type(mask) is np.ndarray:
        return a * mask
    return a * xp.astype(mask, a.dtype)


def same_values(xp: Namespace, a: Array, b: Array) -> bool:
    """Exact equality, shapes included, treating NaN as equal to NaN."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    both_nan = xp.isnan(a) & xp.isnan(b) if xp.isdtype(a.dtype, ("real floating", "complex floating")) else None
    equal = a == b
    if both_nan is not None:
        equal = equal | both_nan
    return bool(xp.all(equal))


def signed_probe(rng: np.random.Generator, xp: Namespace, shape: tuple[int, ...], dtype: Any, dev: Any) -> Array:
    """A random probe with random signs and magnitudes in (1, 2).

    Signed (never all-positive, so one wrong Jacobian entry cannot hide behind the others),
    never small (an entry is never damped towards zero), never exactly +-1 (so a rule that is
    non-linear in its cotangent, such as ``g * abs(g)``, is still caught).
    Drawn on the host from ``rng`` (reproducible across backends) and moved once.
    """
    size = math.prod(shape)
    # float32 bit patterns from the generator's raw 64-bit words, two per word: the sign bit and
    # 22 mantissa bits random, the exponent of [1, 2) and the last mantissa bit set (never 1.0) —
    # a fifth of the cost of drawing uniforms and shaping them
    words = rng.bit_generator.random_raw((size + 1) // 2)
    bits32 = words.view(np.uint32)[:size]
    bits32 &= np.uint32(0x807FFFFF)
    bits32 |= np.uint32(0x3F800001)
    values = bits32.view(np.float32).reshape(shape)
    if xp is _NUMPY:
        return values.astype(dtype, copy=False)
    return xp.asarray(values, dtype=dtype, device=dev)


def special(name: str, *args: Any) -> Array:
    """``scipy.special``'s function ``name`` on arrays of any namespace: ``cupyx.scipy.special``
    on CuPy (a host round trip where this CuPy lacks ``name``), SciPy on NumPy, elsewhere SciPy on
    the host and the result moved back, in the arrays' result dtype, on their device. Python
    numbers among ``args`` (an order, ``polygamma``'s ``n``) pass through."""
    arrays = [a for a in args if is_array(a)]
    if any(array_api_compat.is_cupy_array(a) for a in arrays):
        import cupyx.scipy.special

        if hasattr(cupyx.scipy.special, name):
            return getattr(cupyx.scipy.special, name)(*args)
    import scipy.special

    function = getattr(scipy.special, name)
    if all(isinstance(a, (np.ndarray, np.generic)) for a in arrays):
        return function(*args)
    xp = namespace(*arrays)
    host = function(*[to_host(a) if is_array(a) else a for a in args])
    return xp.asarray(host, dtype=xp.result_type(*arrays), device=device(arrays[0]))
