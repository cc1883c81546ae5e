"""JAX's rules checked through ``check_grads``: a ``custom_vjp``'s ``bwd``, a ``custom_jvp``'s rule,
any function of JAX arrays (gradlab.bridges.jax_bridge). Right rules pass in float64 and float32;
planted bugs fail with the diagnosis that names them."""

import subprocess
import sys
from functools import partial

import numpy as np
import pytest

from gradlab import assert_grad_close, check_grads
from gradlab.errors import GradlabError

pytestmark = pytest.mark.frameworks
jax = pytest.importorskip("jax", reason="the JAX bridge checks JAX's rules: needs jax")
jnp = pytest.importorskip("jax.numpy", reason="the JAX bridge checks JAX's rules: needs jax")

RNG = np.random.default_rng(0)


def _normal(shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def _problems(report):
    return {(r.check, r.subject): r for r in report.results if r.status != "pass"}


# ---- rules, right and wrong ------------------------------------------------------------------------


def _sin_times(bwd):
    """``sin(x) * y`` as a ``custom_vjp`` with the given ``bwd(res, g)``."""

    @jax.custom_vjp
    def sin_times(x, y):
        return jnp.sin(x) * y

    sin_times.defvjp(lambda x, y: (sin_times(x, y), (x, y)), bwd)
    return sin_times


def _right_bwd(res, g):
    x, y = res
    return jnp.cos(x) * y * g, jnp.sin(x) * g


@jax.custom_jvp
def softplus(x):
    return jnp.logaddexp(x, 0.0)


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return softplus(x), jax.nn.sigmoid(x) * t


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def power(x, n):
    return x**n


@power.defjvp
def _power_jvp(n, primals, tangents):
    (x,), (t,) = primals, tangents
    return power(x, n), n * x ** (n - 1) * t


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(), (5,), (3, 4)])
def test_a_custom_vjp_with_a_right_bwd_passes_its_rev_check(shape, dtype):
    seen = []

    def bwd(res, g):
        seen.append(g.dtype)
        return _right_bwd(res, g)

    report = check_grads(_sin_times(bwd), _normal(shape, dtype), _normal(shape, dtype))
    assert report.passed, report
    assert report.input_dtypes == [np.dtype(dtype).name] * 2
    assert report.name == "sin_times" and report.input_names == ["x", "y"]
    assert report.result("rev", "x") and report.result("fwd") is None
    assert any("custom_vjp" in note and "forward mode" in note for note in report.left_out)
    assert np.dtype(dtype) in seen  # the bwd ran at the input's own precision


def test_float64_is_really_float64_and_64_bit_mode_is_left_as_it_was():
    seen = []

    def bwd(res, g):
        seen.append((res[0].dtype, g.dtype))
        return _right_bwd(res, g)

    before = jax.config.jax_enable_x64
    report = check_grads(_sin_times(bwd), _normal((4,)), _normal((4,)), rtol=1e-9)
    assert report.passed, report
    assert set(seen) == {(np.dtype("float64"), np.dtype("float64"))}
    assert jax.config.jax_enable_x64 == before


def test_a_custom_jvp_is_checked_in_both_modes_with_a_static_argument():
    assert check_grads(softplus, _normal((3, 2))).passed
    report = check_grads(power, _normal((4,)), 3)
    assert report.passed, report
    assert report.input_names == ["x", "n"] and {r.check for r in report.results} == {"form", "rev", "fwd", "adj"}


def test_pytrees_in_and_out():
    @jax.custom_vjp
    def affine(params, x):
        return {"y": x @ params["W"] + params["b"], "norm": (jnp.sum(x * x),)}

    def fwd(params, x):
        return affine(params, x), (params, x)

    def bwd(res, g):
        params, x = res
        dx = g["y"] @ params["W"].T + 2 * g["norm"][0] * x
        return {"W": x.T @ g["y"], "b": jnp.sum(g["y"], axis=0)}, dx

    affine.defvjp(fwd, bwd)
    params = {"W": _normal((3, 2)), "b": _normal((2,))}
    report = check_grads(affine, params, _normal((4, 3)))
    assert report.passed, report
    assert {r.subject for r in report.results if r.check == "rev"} == {"params['W']", "params['b']", "x"}


def test_any_function_of_jax_arrays_is_checked_in_both_modes():
    x = jnp.asarray(_normal((3, 3), np.float32))
    report = check_grads(lambda a: jnp.tanh(a) @ a.T, x)
    assert report.passed, report
    assert {r.check for r in report.results} == {"form", "rev", "fwd", "adj"}


def test_a_function_calling_a_custom_vjp_has_no_forward_mode_and_says_so():
    f = _sin_times(_right_bwd)
    report = check_grads(lambda a, b: jnp.sum(f(a, b) ** 2, axis=0), jnp.asarray(_normal((2, 3))), _normal((2, 3)))
    assert report.passed, report
    assert report.result("fwd") is None
    assert any("forward mode fails" in note for note in report.left_out), report.left_out


def test_a_sign_flip_is_diagnosed():
    report = check_grads(_sin_times(lambda res, g: (-jnp.cos(res[0]) * res[1] * g, jnp.sin(res[0]) * g)),
                         _normal((3, 4)), _normal((3, 4)))  # fmt: skip
    assert set(_problems(report)) == {("rev", "x")}
    assert "sign flipped" in report.result("rev", "x").diagnosis


def test_a_forgotten_factor_is_diagnosed():
    @jax.custom_vjp
    def square(x):
        return x * x

    square.defvjp(lambda x: (square(x), x), lambda x, g: (x * g,))  # 2 * x * g
    report = check_grads(square, _normal((6,)))
    assert not report.passed
    assert "0.5 x the true derivative" in report.result("rev", "x").diagnosis


def test_a_reduction_over_the_wrong_axis_fails():
    @jax.custom_vjp
    def add_bias(x, b):
        return x + b

    add_bias.defvjp(lambda x, b: (add_bias(x, b), None), lambda _, g: (g, jnp.sum(g, axis=1)))  # axis 0
    report = check_grads(add_bias, _normal((4, 4)), _normal((4,)))
    assert set(_problems(report)) == {("rev", "b")}
    assert "b (4,) is broadcast along axes (0,)" in " ".join(report.result("rev", "b").details)
    with pytest.raises(AssertionError, match="b: FAILED"):
        assert_grad_close(add_bias, _normal((4, 4)), _normal((4,)))


def test_a_wrong_custom_jvp_rule_fails_the_fwd_check():
    @jax.custom_jvp
    def cube(x):
        return x**3

    cube.defjvp(lambda p, t: (cube(p[0]), -3 * p[0] ** 2 * t[0]))
    report = check_grads(cube, _normal((5,)))
    assert report.result("fwd").status == "fail" and "sign flipped" in report.result("fwd").diagnosis


def test_a_bwd_of_the_wrong_shape_is_a_form_failure_in_jaxs_words():
    bad = _sin_times(lambda res, g: (jnp.cos(res[0]) * res[1] * g, jnp.sum(jnp.sin(res[0]) * g, axis=0)))
    report = check_grads(bad, _normal((3, 4)), _normal((3, 4)))
    message = report.result("form").message
    assert report.result("form").status == "fail"
    assert "the VJP raised ValueError" in message and "shapes do not match" in message, message


def test_complex_cotangents_follow_jaxs_convention():
    z = _normal((3,)) + 1j * _normal((3,))

    @jax.custom_vjp
    def sin(z):
        return jnp.sin(z)

    sin.defvjp(lambda z: (sin(z), z), lambda z, g: (g * jnp.cos(z),))
    assert check_grads(sin, z).passed
    sin.defvjp(lambda z: (sin(z), z), lambda z, g: (g * jnp.conj(jnp.cos(z)),))  # torch's convention
    report = check_grads(sin, z)
    assert "missing (or extra) conjugate" in report.result("rev", "z").diagnosis


# ---- rules found in a module -----------------------------------------------------------------------


def test_a_modules_custom_function_is_a_rule_named_by_its_parameters():
    from gradlab.bridges.jax_bridge import BRIDGE

    rule = BRIDGE.rule(_sin_times(_right_bwd))
    assert rule.inputs == () and rule.names == ["x", "y"] and rule.convention == "jax"
    x = _normal((3,))
    out = rule.forward(x, x)
    assert isinstance(out, np.ndarray) and np.allclose(rule.vjp(np.ones(3), out, x, x)[1], np.sin(x))
    static = BRIDGE.rule(power)
    assert static.names == ["x"] and "nondiff_argnums" in static.notes[0]
    with pytest.raises(GradlabError, match="check_grads\\(power, x, n\\)"):
        static.forward(x)
    assert BRIDGE.rule(jax.nn.relu) is None  # JAX's own
    assert BRIDGE.rule(jax.custom_vjp(lambda x: x)) is None  # no bwd defined yet
    assert BRIDGE.rule(jnp.sin) is None


def test_loading_the_bridge_does_not_import_jax():
    code = "import sys, gradlab.bridges.jax_bridge\nassert 'jax' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_gradlab_check_on_a_module_that_runs_jax_at_import_neither_forks_nor_takes_its_grad(tmp_path):
    import subprocess
    import sys

    module = tmp_path / "rules.py"
    module.write_text(
        "import jax\nimport jax.numpy as jnp\n\n\n"
        "@jax.custom_vjp\ndef softsign(x):\n    return x / (1 + jnp.abs(x))\n\n\n"
        "def fwd(x):\n    return softsign(x), x\n\n\ndef bwd(x, g):\n    return (g / (1 + jnp.abs(x)) ** 2,)\n\n\n"
        "softsign.defvjp(fwd, bwd)\n"
        "grad_softsign = jax.grad(softsign)  # JAX's derivative of it: not a rule of the module's\n"
        "print(grad_softsign(0.5))  # XLA's threads run from here: a fork could hang\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "gradlab", "check", str(module), "--jobs", "2", "--examples", "10"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 op: 1 passed" in result.stdout and "fork" not in result.stderr


def test_order_2_differentiates_the_bwd_and_the_jvp_rule_again_with_jax():
    @jax.custom_vjp
    def f(x):
        return jnp.sin(x) * x

    def bwd(x, g):
        return (g * (jnp.cos(x) * x + jnp.sin(x)),)

    f.defvjp(lambda x: (f(x), x), bwd)

    @jax.custom_vjp
    def off_graph(x):  # right at first order; its residual is the derivative, with no graph
        return jnp.sin(x) * x

    off_graph.defvjp(
        lambda x: (off_graph(x), jax.lax.stop_gradient(jnp.cos(x) * x + jnp.sin(x))), lambda d, g: (g * d,)
    )

    @jax.custom_jvp
    def tanh(x):
        return jnp.tanh(x)

    @tanh.defjvp
    def tanh_jvp(primals, tangents):
        y = jnp.tanh(primals[0])
        return y, (1 - y**2) * tangents[0]

    x = np.random.default_rng(0).standard_normal((3, 4))
    report = assert_grad_close(f, x, order=2)
    assert {(r.check, r.subject) for r in report.results} >= {("rev2", "g"), ("rev2", "x")}
    report = check_grads(off_graph, x, order=2)
    assert report.result("rev", "x").status == "pass" and report.result("rev2", "x").status == "fail"
    report = assert_grad_close(tanh, x, order=2)
    assert report.result("fwd2", "output").status == "pass"


def test_bfloat16_rules_run_in_bfloat16_with_its_tolerance():
    seen = []

    @jax.custom_vjp
    def cube(x):
        return x**3

    def bwd(x, g):
        seen.append(str(x.dtype))
        return (3 * x**2 * g,)

    cube.defvjp(lambda x: (cube(x), x), bwd)

    @jax.custom_vjp
    def wrong(x):  # 10 % off
        return x**3

    wrong.defvjp(lambda x: (wrong(x), x), lambda x, g: (2.7 * x**2 * g,))

    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 5)), dtype=jnp.bfloat16)
    report = assert_grad_close(cube, x)
    assert report.input_dtypes == ["float32"] and any(n.startswith("bfloat16: its values") for n in report.left_out)
    assert "bfloat16" in seen  # the rule ran in bfloat16
    assert check_grads(wrong, x).result("rev", "x").status == "fail"
