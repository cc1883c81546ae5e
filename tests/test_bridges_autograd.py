"""HIPS autograd's rules checked through ``check_grads``: a primitive's registered VJPs (``defvjp``)
and JVPs (``defjvp``), called on gradlab's arrays (gradlab.bridges.autograd_bridge). Right rules
pass in float64 and float32; planted bugs fail with the diagnosis that names them."""

import subprocess
import sys

import numpy as np
import pytest

from gradlab import assert_grad_close, check_grads

pytestmark = pytest.mark.frameworks
autograd = pytest.importorskip("autograd", reason="the autograd bridge checks HIPS autograd's rules: needs autograd")
anp = pytest.importorskip("autograd.numpy", reason="the autograd bridge checks HIPS autograd's rules: needs autograd")
from autograd.extend import defjvp, defvjp, primitive  # noqa: E402

RNG = np.random.default_rng(0)


def _normal(shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def _problems(report):
    return {(r.check, r.subject): r for r in report.results if r.status != "pass"}


# ---- rules, right and wrong ------------------------------------------------------------------------


def _primitive(forward, *vjps, jvps=()):
    """A fresh primitive of ``forward`` with these rules (each test its own, bugs included)."""
    f = primitive(forward)
    defvjp(f, *vjps)
    if jvps:
        defjvp(f, *jvps)
    return f


def sin_times(x, y):
    return np.sin(x) * y


def logsumexp(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def _lse_vjp(ans, x, axis):
    return lambda g: np.expand_dims(g, axis) * np.exp(x - np.expand_dims(ans, axis))


def _lse_jvp(t, ans, x, axis):
    return np.sum(t * np.exp(x - np.expand_dims(ans, axis)), axis=axis)


def _right_sin_times():
    return _primitive(
        sin_times,
        lambda ans, x, y: lambda g: np.cos(x) * y * g,
        lambda ans, x, y: lambda g: np.sin(x) * g,
        jvps=(lambda t, ans, x, y: np.cos(x) * y * t, lambda t, ans, x, y: np.sin(x) * t),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(), (5,), (3, 4)])
def test_a_primitive_with_right_rules_passes_every_check(shape, dtype):
    report = check_grads(_right_sin_times(), _normal(shape, dtype), _normal(shape, dtype))
    assert report.passed, report
    assert report.name == "sin_times" and report.input_names == ["x", "y"]
    assert report.input_dtypes == [np.dtype(dtype).name] * 2
    assert {r.check for r in report.results} == {"form", "rev", "fwd", "adj"} and not report.left_out


@pytest.mark.parametrize("axis", [0, 1])
def test_a_non_array_argument_passes_through_and_a_missing_jvp_is_said(axis):
    lse = _primitive(logsumexp, _lse_vjp)
    report = check_grads(lse, _normal((3, 4)), axis)
    assert report.passed, report
    assert report.input_names == ["x", "axis"] and report.result("fwd") is None
    assert report.left_out == ["the fwd and adj checks: logsumexp has no JVP registered (defjvp), only its VJP"]
    assert check_grads(_primitive(logsumexp, _lse_vjp, jvps=(_lse_jvp,)), _normal((2, 3), np.float32), axis).passed


def test_pytrees_in_and_out():
    def moments(params, x):
        return {"mean": np.mean(params["w"] * x), "spread": (np.var(x), params["b"] * 2.0)}

    def vjp_params(ans, params, x):
        return lambda g: {"w": g["mean"] * x / x.size, "b": 2.0 * g["spread"][1]}

    def vjp_x(ans, params, x):
        return lambda g: g["mean"] * params["w"] / x.size + g["spread"][0] * 2 * (x - np.mean(x)) / x.size

    params = {"w": _normal((4,)), "b": _normal((2,))}
    report = check_grads(_primitive(moments, vjp_params, vjp_x), params, _normal((4,)))
    assert report.passed, report
    assert {r.subject for r in report.results if r.check == "rev"} == {"params['w']", "params['b']", "x"}


def test_a_sign_flip_is_diagnosed():
    bad = _primitive(
        sin_times, lambda ans, x, y: lambda g: -np.cos(x) * y * g, lambda ans, x, y: lambda g: np.sin(x) * g
    )
    report = check_grads(bad, _normal((3, 4)), _normal((3, 4)))
    assert set(_problems(report)) == {("rev", "x")}
    assert "sign flipped" in report.result("rev", "x").diagnosis


def test_a_mean_where_a_sum_belongs_is_diagnosed():
    total = _primitive(lambda x: np.sum(x, axis=0), lambda ans, x: lambda g: np.broadcast_to(g, x.shape) / x.shape[0])
    report = check_grads(total, _normal((4, 3)), name="total")
    assert set(_problems(report)) == {("rev", "x")}
    assert "1/4: a mean where a sum belongs" in report.result("rev", "x").diagnosis


def test_a_reduction_over_the_wrong_axis_fails():
    def add_bias(x, b):
        return x + b

    bad = _primitive(add_bias, lambda ans, x, b: lambda g: g, lambda ans, x, b: lambda g: np.sum(g, axis=1))  # axis 0
    report = check_grads(bad, _normal((4, 4)), _normal((4,)))
    assert set(_problems(report)) == {("rev", "b")}
    assert "b (4,) is broadcast along axes (0,)" in " ".join(report.result("rev", "b").details)
    with pytest.raises(AssertionError, match="b: FAILED"):
        assert_grad_close(bad, _normal((4, 4)), _normal((4,)))


def test_a_cotangent_autograd_would_pass_on_unsummed_is_a_form_failure():
    def add_bias(x, b):
        return x + b

    bad = _primitive(add_bias, lambda ans, x, b: lambda g: g, lambda ans, x, b: lambda g: g)  # b's not summed
    report = check_grads(bad, _normal((2, 3)), _normal((3,)))
    assert report.result("form").status == "fail"
    assert "the cotangent for b has shape (2, 3) but b has shape (3,)" in report.result("form").message


def test_a_rule_that_writes_into_the_cotangent_is_a_form_failure():
    def scale(ans, x):
        def vjp(g):
            g *= 2.0
            return g

        return vjp

    report = check_grads(_primitive(lambda x: 2.0 * x, scale), _normal((5,)))
    assert report.result("form").status == "fail" and "mutate" in report.result("form").message


def test_a_wrong_jvp_fails_the_fwd_check_only():
    f = _primitive(logsumexp, _lse_vjp, jvps=(lambda t, ans, x, axis: 2.0 * _lse_jvp(t, ans, x, axis),))
    report = check_grads(f, _normal((3, 5)), 1)
    assert set(_problems(report)) == {("fwd", "output"), ("adj", "VJP vs JVP")}
    assert "2 x the true derivative" in report.result("fwd").diagnosis


def test_complex_cotangents_follow_autograds_convention():
    z = _normal((3,)) + 1j * _normal((3,))
    assert check_grads(anp.exp, z).passed and check_grads(anp.abs, z).passed  # autograd's own rules
    wrong = _primitive(np.sin, lambda ans, z: lambda g: g * np.conj(np.cos(z)))  # torch's convention
    report = check_grads(wrong, z, names=["z"])
    assert "missing (or extra) conjugate" in report.result("rev", "z").diagnosis


def test_an_input_without_a_vjp_is_reported_in_autograds_words():
    half = _primitive(sin_times, lambda ans, x, y: lambda g: np.cos(x) * y * g)
    report = check_grads(half, _normal((3,)), _normal((3,)))
    assert "VJP of sin_times wrt argnums 0, 1 not defined" in report.result("form").message
    assert check_grads(half, _normal((3,)), _normal((3,)), wrt=(0,)).passed


# ---- rules found in a module -----------------------------------------------------------------------


def test_a_modules_primitive_is_a_rule_named_by_its_parameters():
    from gradlab.bridges.autograd_bridge import BRIDGE

    rule = BRIDGE.rule(_primitive(logsumexp, _lse_vjp))
    assert rule.inputs == () and rule.names == ["x", "axis"] and rule.convention == "jax" and rule.jvp is None
    x = _normal((2, 3))
    out = rule.forward(x, 1)
    assert np.allclose(rule.vjp(np.ones(2), out, x, 1)[0].sum(axis=1), 1.0)
    assert BRIDGE.rule(anp.sin) is None  # autograd's own
    assert BRIDGE.rule(primitive(sin_times)) is None  # no VJP registered
    assert BRIDGE.rule(sin_times) is None


def test_loading_the_bridge_does_not_import_autograd():
    code = "import sys, gradlab.bridges.autograd_bridge\nassert 'autograd' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
