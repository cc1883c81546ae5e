"""Second order: Hessian-vector products (``hvp=``) and the rules' own rules (``order=2``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import rosen, rosen_der, rosen_hess_prod

from gradlab import GradlabError, check_grads

X = np.array([0.8, 1.3, 0.6, 1.1, 0.9])
GRADIENT = lambda g, out, x: g * rosen_der(x)  # noqa: E731


def test_scipy_rosen_hess_prod_passes_the_hvp_and_symmetry_checks():
    report = check_grads(rosen, X, vjp=GRADIENT, hvp=rosen_hess_prod)
    assert report.passed, report.format()
    assert {r.check for r in report.results} >= {"rev", "hvp", "hsym"}


def test_a_hessian_vector_product_off_by_a_factor_fails():
    report = check_grads(rosen, X, vjp=GRADIENT, hvp=lambda x, p: 1.01 * rosen_hess_prod(x, p))
    hvp = report.result("hvp")
    assert hvp is not None and hvp.status == "fail", report.format()
    assert report.result("rev").status == "pass"  # the gradient itself is right


def test_an_unsymmetric_hessian_fails_the_symmetry_check():
    a = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 1.0]])
    quad = lambda x: 0.5 * x @ a @ x  # noqa: E731
    x = np.array([0.3, -0.2, 0.9])
    assert check_grads(quad, x, vjp=lambda g, out, x: g * (a @ x), hvp=lambda x, p: a @ p).passed
    skew = a + np.array([[0.0, 0.3, 0.0], [-0.3, 0.0, 0.0], [0.0, 0.0, 0.0]])
    report = check_grads(quad, x, vjp=lambda g, out, x: g * (a @ x), hvp=lambda x, p: skew @ p)
    assert report.result("hsym").status == "fail"


def test_hvp_needs_the_gradient_and_a_scalar_function():
    with pytest.raises(GradlabError, match="give vjp= too"):
        check_grads(rosen, X, jvp=lambda t, out, x: rosen_der(x) @ t[0], hvp=rosen_hess_prod)
    with pytest.raises(GradlabError, match="scalar f"):
        check_grads(np.sin, X, vjp=lambda g, out, x: g * np.cos(x), hvp=lambda x, p: -np.sin(x) * p)


def test_order_2_refuses_rules_that_cannot_run_on_tensors():
    x = np.array([0.3, 0.5])
    with pytest.raises(GradlabError, match=r"gradlab\.ops"):
        check_grads(np.sin, x, vjp=lambda g, out, x: g * np.cos(x), order=2)


# ---- order=2: rules written with gradlab.ops, differentiated on gradlab's Tensors ----------------


def _detached(t):
    """A value cut from the graph on Tensors (``.detach()``), unchanged on arrays: a rule right at
    first order whose own derivative misses the term through it."""
    from gradlab.train.autograd import Tensor

    return t.detach() if isinstance(t, Tensor) else t


def _x_sin_x():
    from gradlab import ops

    f = lambda x: ops.sin(x) * x  # noqa: E731
    vjp = lambda g, out, x: g * (ops.cos(x) * x + ops.sin(x))  # noqa: E731
    jvp = lambda t, out, x: t[0] * (ops.cos(x) * x + ops.sin(x))  # noqa: E731
    return f, vjp, jvp


def test_order_2_passes_rules_written_with_gradlab_ops():
    f, vjp, jvp = _x_sin_x()
    report = check_grads(f, np.array([0.3, -1.2, 0.7]), vjp=vjp, jvp=jvp, order=2)
    assert report.passed, report.format()
    assert {r.check for r in report.results} >= {"rev", "fwd", "rev2", "fwd2"}


def test_order_2_catches_a_rule_whose_own_derivative_misses_a_term():
    from gradlab import ops

    f, _, _ = _x_sin_x()
    x = np.array([0.3, -1.2, 0.7])
    vjp = lambda g, out, x: g * (_detached(ops.cos(x)) * x + ops.sin(x))  # noqa: E731
    jvp = lambda t, out, x: t[0] * (_detached(ops.cos(x)) * x + ops.sin(x))  # noqa: E731
    report = check_grads(f, x, vjp=vjp, jvp=jvp, order=2)
    assert report.result("rev").status == "pass" and report.result("fwd").status == "pass"  # right at order 1
    assert report.result("rev2", "x").status == "fail", report.format()
    assert report.result("fwd2").status == "fail"
