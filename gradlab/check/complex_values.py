"""Complex values, checked through their real and imaginary parts.

A complex array ``z`` is seen by the numerics as the real array ``pair(z)`` of shape
``z.shape + (2,)`` (``[..., 0]`` the real part, ``[..., 1]`` the imaginary part), so a function of
complex values is a real function of twice as many real numbers and every real check applies.
What a rule returns depends on the convention it follows; for a real loss ``L``:

``"torch"`` (PyTorch's conjugate Wirtinger gradient)
    the cotangent of ``z = a + ib`` is ``dL/da + i dL/db``; a holomorphic ``f`` has the VJP
    ``g * conj(f'(z))``.
``"jax"`` (JAX's)
    the cotangent is ``dL/da - i dL/db``, the conjugate: a holomorphic ``f`` has the VJP
    ``g * f'(z)`` (the transpose of the JVP, no conjugate).

Tangents are the same in both: ``dz = da + i db``. Complex-step differentiation is a different
thing: a numerical method for *real* functions (``method="complex"``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gradlab import backend
from gradlab.errors import GradlabError

if TYPE_CHECKING:
    from gradlab.check.results import GradCheckReport

Array = Any

CONVENTIONS = ("torch", "jax")


def check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise GradlabError(
            f"convention={convention!r}: choose 'torch' (conjugate Wirtinger: the cotangent of a + ib is"
            " dL/da + i dL/db) or 'jax' (its conjugate, dL/da - i dL/db)"
        )


def is_complex(xp: Any, x: Any) -> bool:
    return backend.is_array(x) and backend.is_complex(xp, x.dtype)


def real_dtype(xp: Any, dtype: Any) -> Any:
    """The real dtype of a complex one's parts (complex64 -> float32)."""
    return xp.float32 if dtype == xp.complex64 else xp.float64


def complex_dtype(xp: Any, dtype: Any) -> Any:
    """The complex dtype whose parts have real ``dtype``."""
    return xp.complex64 if dtype == xp.float32 else xp.complex128


def pair(xp: Any, z: Array) -> Array:
    """``z`` as a real array with a trailing axis of 2: the real and the imaginary part."""
    return xp.stack((xp.real(z), xp.imag(z)), axis=-1)


def unpair(xp: Any, p: Array) -> Array:
    """The complex array of :func:`pair`'s real array ``p`` (of the complex dtype of ``p``'s)."""
    dtype = complex_dtype(xp, p.dtype)
    return xp.astype(p[..., 0], dtype) + xp.astype(p[..., 1], dtype) * 1j


def cotangent_to_user(xp: Any, g: Array, convention: str) -> Array:
    """The complex cotangent a rule receives for the real pair ``g = (dL/du, dL/dv)``."""
    z = unpair(xp, g)
    return xp.conj(z) if convention == "jax" else z


def cotangent_from_user(xp: Any, cot: Array, convention: str, dtype: Any) -> Array:
    """The real pair ``(dL/da, dL/db)`` of a rule's complex cotangent (a real one has ``dL/db = 0``
    in the torch convention, where it would say the same thing)."""
    if not backend.is_complex(xp, cot.dtype):
        cot = xp.astype(cot, complex_dtype(xp, dtype))
    if convention == "jax":
        cot = xp.conj(cot)
    return xp.astype(pair(xp, cot), dtype)


def convention_hint(report: GradCheckReport, problem: Any, rerun: Callable[[str], GradCheckReport]) -> None:
    """A VJP wrong for a complex input, right in the other convention: say so (a missing conjugate)."""
    complex_leaves = {leaf.path for leaf in problem.leaves if leaf.kind in ("complex", "holomorphic")}
    failed = [r for r in report.results if r.check == "rev" and r.status == "fail" and r.subject in complex_leaves]
    if not failed:
        return
    other = "jax" if problem.convention == "torch" else "torch"
    again = rerun(other)
    for r in failed:
        retried = again.result("rev", r.subject)
        if retried is not None and retried.status == "pass":
            r.diagnosis = (
                f"a missing (or extra) conjugate: the VJP is right in the {other!r} convention, not in"
                f" {problem.convention!r} (pass convention={other!r} if the rule follows it)"
            )
