"""Tangent spaces: inputs that may only move within a constraint.

``numpy.linalg.cholesky`` reads only the lower triangle of its argument, a distribution's
probability vector must sum to one, a rotation must stay orthogonal. A rule for such an input is
right on the constraint's tangent space only, and the forward may not even run off it. An input
given a space is moved along ``P(d)`` (``P`` the orthogonal projector onto the tangent space at the
input) and, where the constraint is curved, put back on it (a retraction); its cotangent is
compared after the same projection. The numerics then differentiate ``x -> f(R(x0, P(x - x0)))``,
whose Jacobian is ``J P``, and the rule's ``P J^T g`` is its transpose: the checks need nothing
else.

A space is one of the names in :data:`SPACES` or a user's projector ``P(d, x) -> d'``: it must
be linear in ``d`` and an orthogonal projection (``P(P(d)) = P(d)``, ``<P(a), b> = <a, P(b)>``);
a linear constraint needs no retraction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gradlab import backend
from gradlab.errors import GradlabError

Array = Any


def _sym(xp: Any, d: Array, x: Array) -> Array:
    return (d + xp.matrix_transpose(d)) / 2


def _hermitian(xp: Any, d: Array, x: Array) -> Array:
    return (d + xp.conj(xp.matrix_transpose(d))) / 2


def _lower(xp: Any, d: Array, x: Array) -> Array:
    return xp.tril(d) if hasattr(xp, "tril") else d * _tril_mask(xp, d)


def _tril_mask(xp: Any, d: Array) -> Array:
    n, m = d.shape[-2], d.shape[-1]
    rows = xp.reshape(xp.arange(n), (n, 1))
    cols = xp.reshape(xp.arange(m), (1, m))
    return xp.astype(rows >= cols, d.dtype)


def _simplex(xp: Any, d: Array, x: Array) -> Array:
    return d - xp.mean(d, axis=-1, keepdims=True)


def _sphere(xp: Any, d: Array, x: Array) -> Array:
    return d - xp.sum(d * x, axis=-1, keepdims=True) * x


def _sphere_back(xp: Any, y: Array) -> Array:
    return y / xp.sqrt(xp.sum(y * y, axis=-1, keepdims=True))


def _orthogonal(xp: Any, d: Array, x: Array) -> Array:
    a = xp.matrix_transpose(x) @ d
    return x @ ((a - xp.matrix_transpose(a)) / 2)


def _orthogonal_back(xp: Any, y: Array) -> Array:
    u, _, vt = xp.linalg.svd(y, full_matrices=False)
    return u @ vt  # the polar factor: the orthogonal matrix nearest to y


@dataclass(frozen=True)
class Space:
    """A tangent space: its name, its projector ``P(d, x)``, and a retraction onto the constraint
    (``None`` where the constraint is linear: ``x0 + P(d)`` stays on it)."""

    name: str
    project: Callable[[Any, Array, Array], Array]
    retract: Callable[[Any, Array], Array] | None = None
    needs_matrix: bool = False

    def validate(self, xp: Any, x: Array, label: str) -> None:
        """Raise ``GradlabError`` when ``x`` is not a point of the constraint."""
        if not backend.is_array(x) or not (backend.is_floating(xp, x.dtype) or backend.is_complex(xp, x.dtype)):
            raise GradlabError(f"spaces: {label} is given the {self.name} space but is not a floating array")
        if backend.is_complex(xp, x.dtype) and self.name in _REAL_ONLY:
            raise GradlabError(f"spaces: {label} is complex; the {self.name} space is for real inputs")
        if self.needs_matrix and (x.ndim < 2 or (self.name != "lower" and x.shape[-1] != x.shape[-2])):
            raise GradlabError(
                f"spaces: {label} has shape {tuple(x.shape)}; the {self.name} space needs square matrices"
            )
        if self.name not in _POINT_TESTS or x.size == 0:
            return
        gap, what = _POINT_TESTS[self.name](xp, x)
        eps = backend.eps(xp, xp.real(x).dtype)
        if gap > _POINT_TOLERANCE * eps**0.5:
            raise GradlabError(
                f"spaces: {label} is not {what} (off by {gap:.3g}): give a point of the {self.name} space"
            )


_POINT_TOLERANCE = 10.0
# spaces whose points are real (an ordering, a norm of real vectors, real rotations)
_REAL_ONLY = ("spd", "simplex", "sphere", "orthogonal")


def _hermitian_gap(xp: Any, x: Array) -> tuple[float, str]:
    scale = max(float(xp.max(xp.abs(x))), 1e-300)
    return float(xp.max(xp.abs(x - xp.conj(xp.matrix_transpose(x))))) / scale, "Hermitian"


def _symmetric_gap(xp: Any, x: Array) -> tuple[float, str]:
    scale = max(float(xp.max(xp.abs(x))), 1e-300)
    return float(xp.max(xp.abs(x - xp.matrix_transpose(x)))) / scale, "symmetric"


def _spd_gap(xp: Any, x: Array) -> tuple[float, str]:
    gap, _ = _symmetric_gap(xp, x)
    if gap == 0 or gap < 1e-6:
        values = xp.linalg.eigvalsh((x + xp.matrix_transpose(x)) / 2)
        if float(xp.min(values)) <= 0:
            return float("inf"), "positive definite (an eigenvalue is <= 0)"
    return gap, "symmetric positive definite"


def _lower_gap(xp: Any, x: Array) -> tuple[float, str]:
    scale = max(float(xp.max(xp.abs(x))), 1e-300)
    return float(xp.max(xp.abs(x - _lower(xp, x, x)))) / scale, "lower-triangular"


def _simplex_gap(xp: Any, x: Array) -> tuple[float, str]:
    if bool(xp.any(x < 0)):
        return float("inf"), "a probability vector (an entry is negative)"
    return float(xp.max(xp.abs(xp.sum(x, axis=-1) - 1))), "a probability vector along its last axis (sum 1)"


def _sphere_gap(xp: Any, x: Array) -> tuple[float, str]:
    return float(xp.max(xp.abs(xp.sum(x * x, axis=-1) - 1))), "a unit vector along its last axis"


def _orthogonal_gap(xp: Any, x: Array) -> tuple[float, str]:
    eye = xp.eye(x.shape[-1], dtype=x.dtype)
    return float(xp.max(xp.abs(xp.matrix_transpose(x) @ x - eye))), "orthogonal (x.T @ x = I)"


_POINT_TESTS = {
    "symmetric": _symmetric_gap,
    "hermitian": _hermitian_gap,
    "spd": _spd_gap,
    "lower": _lower_gap,
    "simplex": _simplex_gap,
    "sphere": _sphere_gap,
    "orthogonal": _orthogonal_gap,
}

SPACES = {
    "symmetric": Space("symmetric", _sym, needs_matrix=True),
    "hermitian": Space("hermitian", _hermitian, needs_matrix=True),
    "spd": Space("spd", _sym, needs_matrix=True),  # an open set of the symmetric matrices
    "lower": Space("lower", _lower, needs_matrix=True),
    "simplex": Space("simplex", _simplex),
    "sphere": Space("sphere", _sphere, _sphere_back),
    "orthogonal": Space("orthogonal", _orthogonal, _orthogonal_back, needs_matrix=True),
}


def resolve(given: Any, label: str) -> Space:
    """The :class:`Space` of a ``spaces=`` value: a name of :data:`SPACES` or a projector."""
    if isinstance(given, Space):
        return given
    if isinstance(given, str):
        space = SPACES.get(given)
        if space is None:
            raise GradlabError(
                f"spaces: {given!r} for {label} is not a known space: choose one of {', '.join(SPACES)}"
                " or give a projector P(d, x)"
            )
        return space
    if callable(given):
        projector = given
        return Space(getattr(given, "__name__", "projector"), lambda xp, d, x: projector(d, x))
    raise GradlabError(f"spaces: the space of {label} is {type(given).__name__}; give a name or a projector P(d, x)")


def moved(xp: Any, space: Space, x0: Array, y: Array) -> Array:
    """The point the forward sees when the numerics put the input at ``y``: ``x0`` moved by the
    projection of ``y - x0``, put back on the constraint where it is curved."""
    base = xp.astype(x0, y.dtype) if x0.dtype != y.dtype else x0
    point = base + space.project(xp, y - base, base)
    return space.retract(xp, point) if space.retract is not None else point
