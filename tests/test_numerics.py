"""Numerical differentiation on its own: accuracy per method, error estimates, kink evidence."""

import numpy as np
import pytest

from gradlab.backend import namespace
from gradlab.check.numerics import adaptive_sample, step_factor

xp = namespace(np.ones(1))
EPS = float(np.finfo(np.float64).eps)


def _derivative(f, x, method):
    def g(t):
        return np.atleast_1d(f(x + t))

    h = step_factor(method, EPS) * max(1.0, abs(x))
    return adaptive_sample(g, g(0.0), h, method, EPS, xp).estimate(xp)


@pytest.mark.parametrize(
    "method, worst",
    [("central", 1e-8), ("stencil", 1e-10), ("richardson", 2e-13), ("complex", 1e-15)],
)
@pytest.mark.parametrize(
    "f, df, x",
    [
        (np.exp, np.exp, 0.7),
        (np.sin, np.cos, 2.3),
        (np.log, lambda x: 1 / x, 3.1),
        (np.tanh, lambda x: 1 - np.tanh(x) ** 2, -0.4),
        (lambda x: 1 / (1 + x**2), lambda x: -2 * x / (1 + x**2) ** 2, 1.7),
    ],
    ids=["exp", "sin", "log", "tanh", "rational"],
)
def test_methods_reach_their_accuracy_and_bound_their_error(f, df, x, method, worst):
    d = _derivative(f, x, method)
    exact = df(x)
    err = abs(float(d.value[0]) - exact) / abs(exact)
    assert err < worst
    # the error estimate covers the actual error
    assert abs(float(d.value[0]) - exact) <= 2 * float(d.error[0]) + 1e-15 * abs(exact)


@pytest.mark.parametrize("x", [30.0, 1e-3, -200.0, 1e6])
def test_the_error_estimate_covers_the_error_where_the_step_is_far_from_ideal(x):
    f, df = (np.exp, np.exp) if abs(x) < 100 else (np.sin, np.cos)
    d = _derivative(f, x, "stencil")
    assert abs(float(d.value[0]) - df(x)) <= 2 * float(d.error[0])


@pytest.mark.parametrize(
    "f", [lambda x: np.maximum(x, 0), np.abs, lambda x: np.maximum(x, 0.2 * x)], ids=["relu", "abs", "leaky"]
)
def test_kinks_are_rough_and_smooth_functions_are_not(f):
    kink = _derivative(f, 0.0, "stencil")
    smooth = _derivative(np.sin, 0.3, "stencil")
    rough_kink = sum(abs(float(r[0])) for r in kink.roughness)
    rough_smooth = sum(abs(float(r[0])) for r in smooth.roughness)
    assert rough_kink > 0.5
    assert rough_smooth < 1e-5
    lo, hi = min(float(s[0]) for s in kink.one_sided), max(float(s[0]) for s in kink.one_sided)
    assert lo <= float(f(np.array(-1.0)) - f(np.array(-2.0))) + 1e-9  # the left slope is in the hull
    assert hi >= float(f(np.array(2.0)) - f(np.array(1.0))) - 1e-9  # and the right one


@pytest.mark.parametrize("fraction", [0.5, 2 / 3, 1.5])
def test_a_kink_inside_the_stencil_but_off_the_point_is_stepped_around(fraction):
    # relu(x - c) is differentiable at 0 (slope 0) when c > 0, but the first stencil straddles
    # the kink; the rough estimate makes the step shrink until it no longer does
    offset = fraction * step_factor("stencil", EPS)
    d = _derivative(lambda x: np.maximum(x - offset, 0), 0.0, "stencil")
    assert abs(float(d.value[0])) < 1e-12
    assert sum(abs(float(r[0])) for r in d.roughness) < 1e-12
