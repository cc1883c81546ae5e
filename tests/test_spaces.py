"""Inputs confined to a tangent space, through the public API."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import solve_triangular

from gradlab import GradlabError, check_grads

RNG = np.random.default_rng(5)


def _spd(n):
    b = RNG.standard_normal((n, n))
    return b @ b.T + n * np.eye(n)


def _cholesky_vjp(g, out, a):
    """The symmetrised rule (as HIPS autograd's): right on symmetric perturbations only."""
    phi = np.tril(out.T @ g) / (1.0 + np.eye(a.shape[-1]))
    s = solve_triangular(out.T, solve_triangular(out.T, phi, lower=False).T, lower=False)
    return (s + s.T) / 2


def test_cholesky_reads_one_triangle_so_its_symmetrised_rule_is_checked_on_symmetric_matrices():
    a = _spd(4)
    off_the_space = check_grads(np.linalg.cholesky, a, vjp=_cholesky_vjp)
    assert off_the_space.status == "fail"
    assert "spaces={'a': 'symmetric'}" in off_the_space.result("rev").diagnosis  # the report says what to do
    assert check_grads(np.linalg.cholesky, a, vjp=_cholesky_vjp, spaces={0: "spd"}).passed
    assert check_grads(np.linalg.cholesky, a, vjp=_cholesky_vjp, spaces={"a": "symmetric"}).passed
    broken = lambda g, out, a: _cholesky_vjp(g, out, a) * 1.1  # noqa: E731
    assert check_grads(np.linalg.cholesky, a, vjp=broken, spaces={0: "spd"}).status == "fail"


def test_a_distribution_on_the_simplex():
    p = np.array([0.2, 0.3, 0.5])

    def entropy(p):
        if abs(p.sum() - 1) > 1e-9:
            raise ValueError("not a probability vector")
        return -np.sum(p * np.log(p))

    rule = lambda g, out, p: -g * (np.log(p) + 1)  # noqa: E731
    assert check_grads(entropy, p, vjp=rule, spaces={0: "simplex"}).passed
    # a rule off by a constant vector is the same on the simplex's tangent space ...
    assert check_grads(entropy, p, vjp=lambda g, out, p: rule(g, out, p) + 3 * g, spaces={0: "simplex"}).passed
    # ... a wrong one is not
    assert check_grads(entropy, p, vjp=lambda g, out, p: -g * np.log(p), spaces={0: "simplex"}).passed
    assert check_grads(entropy, p, vjp=lambda g, out, p: -g * 2 * np.log(p), spaces={0: "simplex"}).status == "fail"


def test_the_sphere_and_orthogonal_matrices():
    x = RNG.standard_normal(4)
    x /= np.linalg.norm(x)
    w = RNG.standard_normal(4)
    assert check_grads(lambda x: x @ w, x, vjp=lambda g, out, x: g * w, spaces={0: "sphere"}).passed
    q, _ = np.linalg.qr(RNG.standard_normal((3, 3)))
    m = RNG.standard_normal((3, 3))
    trace = lambda q: np.trace(m @ q)  # noqa: E731
    assert check_grads(trace, q, vjp=lambda g, out, q: g * m.T, spaces={0: "orthogonal"}).passed
    assert check_grads(trace, q, vjp=lambda g, out, q: g * m, spaces={0: "orthogonal"}).status == "fail"


def test_a_users_projector():
    x = RNG.standard_normal(5)
    zero_mean = lambda d, x: d - d.mean()  # noqa: E731
    assert check_grads(np.sum, x, vjp=lambda g, out, x: g * np.full_like(x, 7.0), spaces={0: zero_mean}).passed


def test_a_point_off_the_constraint_is_a_clear_error():
    with pytest.raises(GradlabError, match="not symmetric"):
        check_grads(np.linalg.cholesky, RNG.standard_normal((3, 3)), vjp=_cholesky_vjp, spaces={0: "symmetric"})
    with pytest.raises(GradlabError, match="not a known space"):
        check_grads(np.sum, np.ones(3), vjp=lambda g, out, x: g, spaces={0: "simplexx"})
    with pytest.raises(GradlabError, match="names 0 array leaves"):
        check_grads(np.sum, np.ones(3), vjp=lambda g, out, x: g, spaces={"y": "simplex"})


def test_a_complex_hermitian_input():
    b = RNG.standard_normal((3, 3)) + 1j * RNG.standard_normal((3, 3))
    h = b + b.conj().T

    def eigvalsh_vjp(g, w, a):  # torch convention: V diag(g) V^H
        _, v = np.linalg.eigh(a)
        return (v * g) @ v.conj().T

    assert check_grads(np.linalg.eigvalsh, h, vjp=eigvalsh_vjp, spaces={0: "hermitian"}).passed
    jax_rule = lambda g, w, a: eigvalsh_vjp(g, w, a).conj()  # noqa: E731
    assert check_grads(np.linalg.eigvalsh, h, vjp=jax_rule, spaces={0: "hermitian"}, convention="jax").passed
    wrong = lambda g, w, a: eigvalsh_vjp(g, w, a) * 1.5  # noqa: E731
    assert check_grads(np.linalg.eigvalsh, h, vjp=wrong, spaces={0: "hermitian"}).status == "fail"
