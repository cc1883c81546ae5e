"""Pytrees, keyword arguments and the one rule convention, through the public API."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradlab
from gradlab import assert_grad_close, check_grads
from gradlab.ops.registry import Registry


def _layer(params, x):
    return np.tanh(x @ params["W"] + params["b"])


def _layer_vjp(g, out, params, x, b_factor=1.0):
    d = g * (1 - out**2)
    return {"W": x.T @ d, "b": b_factor * d.sum(0)}, d @ params["W"].T


def _layer_jvp(t, out, params, x):
    tp, tx = t
    return (1 - out**2) * (x @ tp["W"] + tp["b"] + tx @ params["W"])


@pytest.fixture
def layer_inputs():
    rng = np.random.default_rng(0)
    return {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}, rng.standard_normal((4, 3))


def test_dict_of_parameters_passes_and_names_leaves_by_path(layer_inputs):
    report = check_grads(_layer, *layer_inputs, vjp=_layer_vjp, jvp=_layer_jvp)
    assert report.passed, report.format()
    assert report.input_names == ["params['W']", "params['b']", "x"]
    assert {r.subject for r in report.results if r.check == "rev"} == {"params['W']", "params['b']", "x"}


def test_a_wrong_cotangent_for_one_leaf_of_a_dict_fails_there_only(layer_inputs):
    report = check_grads(_layer, *layer_inputs, vjp=lambda g, out, p, x: _layer_vjp(g, out, p, x, b_factor=2.0))
    failed = [r.subject for r in report.failures]
    assert failed == ["params['b']"], report.format()
    assert "params['b']" in report.format()


def test_a_cotangent_missing_a_key_is_a_form_failure_naming_it(layer_inputs):
    def vjp(g, out, params, x):
        grads, gx = _layer_vjp(g, out, params, x)
        return {"W": grads["W"]}, gx

    report = check_grads(_layer, *layer_inputs, vjp=vjp)
    form = report.result("form")
    assert form is not None and form.status == "fail"
    assert "'b'" in form.message and "missing" in form.message


def test_tuple_and_namedtuple_outputs_get_one_joint_cotangent():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 4))
    a = a + a.T

    def eigh_vjp(g, out, x):  # a joint rule: both outputs' cotangents at once
        w, v = out
        wg, vg = g
        n = x.shape[-1]
        off = 1.0 / (w[None, :] - w[:, None] + np.eye(n)) - np.eye(n)
        inner = v @ (np.diag(wg) + off * (v.T @ vg)) @ v.T
        return (inner + inner.T) / 2

    assert check_grads(np.linalg.eigh, a, vjp=eigh_vjp, spaces={0: "symmetric"}).passed

    def forgets_eigenvectors(g, out, x):
        return eigh_vjp((g[0], np.zeros_like(g[1])), out, x)

    assert check_grads(np.linalg.eigh, a, vjp=forgets_eigenvectors, spaces={0: "symmetric"}).status == "fail"


def test_a_wrong_jvp_of_one_output_leaf_is_placed_at_that_leaf():
    x = np.array([0.3, -0.7, 1.1])

    def f(x):
        return {"s": np.sin(x), "c": [np.cos(x), x**2]}

    def jvp(t, out, x):
        (tx,) = t
        return {"s": tx * np.cos(x), "c": [-tx * np.sin(x), 2 * x * tx * np.array([1.0, 1.0, 3.0])]}

    report = check_grads(f, x, jvp=jvp)
    fwd = report.result("fwd")
    assert fwd is not None and fwd.status == "fail"
    assert [m.place for m in fwd.mismatches] == ["out['c'][1][2]"]
    assert "out['c'][1][2]" in report.format()


def test_non_array_leaves_pass_through_undifferentiated():
    x = np.array([0.5, 1.5])

    def f(xs):
        scale, arr = xs
        return scale * np.exp(arr)

    report = check_grads(f, (2.0, x), vjp=lambda g, out, xs: ((None, g * out),))
    assert report.passed, report.format()
    assert report.input_names == ["xs[0]", "xs[1]"] and report.wrt == (1,)


def test_keyword_arguments_reach_the_forward_and_the_rules_and_are_never_differentiated():
    x = np.arange(12.0).reshape(3, 4) / 7

    def vjp(g, out, x, axis):
        return np.broadcast_to(np.expand_dims(g, axis), x.shape)

    assert check_grads(np.sum, x, vjp=vjp, axis=0).passed
    assert check_grads(np.sum, x, vjp=vjp, axis=1).passed
    # the rule for the other axis is wrong: the keyword really reaches the forward
    report = check_grads(np.sum, x, vjp=lambda g, out, x, axis: vjp(g, out, x, 1 - axis), axis=0)
    assert report.status == "fail"


def test_assert_grad_close_takes_every_option_of_check_grads():
    x = np.array([0.2, 0.4, 0.8])
    report = assert_grad_close(
        lambda x: np.log1p(x),
        x,
        vjp=lambda g, out, x: g / (1 + x),
        name="log1p",
        names=["t"],
        checks=("rev",),
        probes=3,
        mode="projected",
    )
    assert report.name == "log1p" and report.input_names == ["t"]
    assert {r.check for r in report.results} == {"rev"}
    with pytest.raises(AssertionError, match="log1p"):
        assert_grad_close(np.log1p, x, vjp=lambda g, out, x: g / x, name="log1p")


def test_the_old_rule_order_still_works_with_a_deprecation_warning():
    x = np.array([0.3, 1.2])
    with pytest.warns(DeprecationWarning, match=r"vjp\(g, out, \*inputs\)"):
        report = check_grads(np.exp, x, vjp=lambda g, x, out: g * out)
    assert report.passed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_grads(np.exp, x, vjp=lambda g, out, x: g * out, jvp=lambda t, out, x: t[0] * out).passed


def test_registry_rules_and_check_grads_rules_share_the_convention():
    op = gradlab.op("cube", lambda x: x**3, registry=Registry())  # not the global registry
    gradlab.defvjp(op, lambda g, ans, x: 3 * g * x**2)
    x = np.array([0.5, -1.5])
    rule = op.vjp_rules[0]
    assert check_grads(op, x, vjp=rule).passed  # the same callable, the same order


def test_a_homework_class_in_the_old_order_still_checks(tmp_path):
    import subprocess
    import sys

    module = tmp_path / "old_square.py"
    module.write_text(
        "class Square:\n"
        "    def forward(self, x):\n        return x * x\n"
        "    def vjp(self, g, x, out):\n        return 2 * g * x\n"
    )
    run = subprocess.run([sys.executable, "-m", "gradlab", "check", str(module), "--examples", "5"],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_misspelled_option_is_named_not_passed_to_a_function_that_does_not_take_it():
    with pytest.raises(gradlab.GradlabError, match=r"did you mean rtol=\?"):
        check_grads(lambda x: np.exp(x), np.ones(2), vjp=lambda g, out, x: g * out, rtool=1e-3)
