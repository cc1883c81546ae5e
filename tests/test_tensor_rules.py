"""Rules written with ``gradlab.ops`` run on arrays and on Tensors, so the autograd differentiates
them: their VJPs and JVPs against hand-derived second derivatives and against the core checks."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from gradlab import GradlabError, check_grads, ops
from gradlab.ops import REGISTRY, tracing, unbroadcast
from gradlab.train import autograd
from gradlab.train.autograd import Tensor, no_grad
from gradlab.train.nn import Parameter

rng = np.random.default_rng(7)


# ---- gradlab.ops.<name> -------------------------------------------------------------------------


def test_every_registered_op_is_a_function_of_gradlab_ops_by_its_name():
    for name in REGISTRY.names():
        assert getattr(ops, name) is REGISTRY[name], f"gradlab.ops.{name} is not the registered op"
    assert set(REGISTRY.names()) <= set(dir(ops))
    x = rng.normal(size=(2, 3))
    np.testing.assert_allclose(ops.sum(x, axis=0), x.sum(axis=0))
    np.testing.assert_allclose(ops.matmul(x, x.T), x @ x.T)


def test_an_unknown_name_is_an_attribute_error_that_says_no_op_is_registered():
    with pytest.raises(AttributeError, match="no op of that name is registered"):
        ops.no_such_op  # noqa: B018
    assert not hasattr(ops, "no_such_op")


# ---- calling an op on tensors records it --------------------------------------------------------


def test_an_op_called_with_a_tensor_returns_a_tensor_recorded_in_the_graph():
    x = Tensor(rng.normal(size=3), requires_grad=True)
    y = ops.cos(x)
    assert isinstance(y, Tensor) and y.op is REGISTRY["cos"] and y.inputs == (x,)
    ops.sum(y * y).backward()
    np.testing.assert_allclose(x.grad, -2 * np.cos(x.data) * np.sin(x.data))
    with no_grad():
        assert ops.cos(x).op is None  # a tensor, out of the graph


def test_a_parameter_records_the_ops_called_on_it_like_any_tensor():
    w = Parameter(rng.normal(size=(3, 2)))
    x = rng.normal(size=(4, 3))
    out = ops.matmul(x, w)
    assert isinstance(out, Tensor) and out.op is REGISTRY["matmul"]
    ops.sum(out).backward()
    np.testing.assert_allclose(w.grad, x.T @ np.ones((4, 2)))


def test_without_the_dispatch_a_rule_cannot_run_on_tensors(monkeypatch):
    x = rng.normal(size=3)
    assert autograd.vjp(lambda x: ops.cos(x), (x,))[1](np.ones(3))[0] is not None
    monkeypatch.delitem(tracing.TRACERS, Tensor)  # the dispatch removed: the forward gets tensors
    with pytest.raises(TypeError):
        autograd.vjp(lambda x: ops.cos(x), (x,))


def test_numpy_on_the_left_defers_to_the_tensors_operators():
    a = rng.normal(size=(2, 3))
    x = Tensor(rng.uniform(0.5, 2.0, size=3), requires_grad=True)
    results = {
        "array * t": (a * x, a * x.data),
        "float64 * t": (np.float64(2.5) * x, 2.5 * x.data),
        "array - t": (a - x, a - x.data),
        "array / t": (a / x, a / x.data),
        "array @ t": (a @ x, a @ x.data),
        "t @ array": (x @ a.T, x.data @ a.T),
        "-t": (-x, -x.data),
        "t ** 2": (x**2, x.data**2),
        "2 ** t": (2**x, 2**x.data),
        "abs(t)": (abs(x), np.abs(x.data)),
    }
    for label, (got, expected) in results.items():
        assert isinstance(got, Tensor), f"{label} gave {type(got).__name__}"
        np.testing.assert_allclose(got.data, expected, err_msg=label)
    (a * x).sum().backward()
    np.testing.assert_allclose(x.grad, a.sum(axis=0))
    with pytest.raises(TypeError):
        np.cos(x)  # a NumPy ufunc would not record: refused rather than run on the tensor as an object


def test_comparisons_give_a_constant_mask_so_a_masked_rule_runs_on_both():
    def relu_vjp(g, ans, x):
        return g * (x > 0)

    g, x = rng.normal(size=5), rng.normal(size=5)
    on_tensors = relu_vjp(Tensor(g), None, Tensor(x))
    assert isinstance(on_tensors, Tensor)
    np.testing.assert_array_equal(on_tensors.data, relu_vjp(g, None, x))
    assert not isinstance(Tensor(x) > 0, Tensor) and (Tensor(x) > 0).dtype == bool


# ---- second derivatives of rules written with ops -----------------------------------------------


@dataclass
class Case:
    """A first-order rule ``F(g, *xs)`` (a VJP rule with its ``ans`` computed from the inputs) and
    its derivatives by hand: ``by_vjp(u, g, *xs)``, the cotangents of (g, *xs) for a cotangent u
    of F, and ``by_jvp(dg, *dxs, g, *xs)``, the tangent of F."""

    name: str
    rule: Callable[..., object]
    inputs: Callable[[], tuple[np.ndarray, ...]]
    by_vjp: Callable[..., tuple[np.ndarray, ...]]
    by_jvp: Callable[..., np.ndarray]


def _sech2(x):
    return 1 - np.tanh(x) ** 2


CASES = [
    Case(
        "sin",
        lambda g, x: g * ops.cos(x),  # the VJP rule of sin
        lambda: (rng.normal(size=4), rng.normal(size=4)),
        lambda u, g, x: (u * np.cos(x), -u * g * np.sin(x)),
        lambda dg, dx, g, x: dg * np.cos(x) - g * np.sin(x) * dx,
    ),
    Case(
        "exp(x) * x",
        lambda g, x: g * ops.exp(x) * (1 + x),
        lambda: (rng.normal(size=(2, 3)), rng.normal(size=(2, 3))),
        lambda u, g, x: (u * np.exp(x) * (1 + x), u * g * np.exp(x) * (2 + x)),
        lambda dg, dx, g, x: dg * np.exp(x) * (1 + x) + g * np.exp(x) * (2 + x) * dx,
    ),
    Case(
        "tanh",
        lambda g, x: (lambda ans: g * (1 - ans * ans))(ops.tanh(x)),  # reuses the forward's output
        lambda: (rng.normal(size=5), rng.normal(size=5)),
        lambda u, g, x: (u * _sech2(x), -2 * u * g * np.tanh(x) * _sech2(x)),
        lambda dg, dx, g, x: dg * _sech2(x) - 2 * g * np.tanh(x) * _sech2(x) * dx,
    ),
    Case(
        "sum(x * x, axis=1)",
        lambda g, x: 2 * x * ops.expand_dims(g, axis=1),
        lambda: (rng.normal(size=3), rng.normal(size=(3, 4))),
        lambda u, g, x: ((2 * x * u).sum(axis=1), 2 * u * g[:, None]),
        lambda dg, dx, g, x: 2 * dx * g[:, None] + 2 * x * dg[:, None],
    ),
    Case(
        "matmul, the cotangent of a",  # d(a @ b) / da: g @ b^T, which does not depend on a
        lambda g, a, b: ops.matmul(g, ops.transpose(b)),
        lambda: (rng.normal(size=(2, 4)), rng.normal(size=(2, 3)), rng.normal(size=(3, 4))),
        lambda u, g, a, b: (u @ b, np.zeros_like(a), u.T @ g),
        lambda dg, da, db, g, a, b: dg @ b.T + g @ db.T,
    ),
    Case(
        "mean over an axis, broadcast back",  # the VJP rule of mean(x, axis=0)
        lambda g, x: ops.broadcast_to(g, shape=x.shape) / x.shape[0],
        lambda: (rng.normal(size=3), rng.normal(size=(4, 3))),
        lambda u, g, x: (u.sum(axis=0) / 4, np.zeros_like(x)),
        lambda dg, dx, g, x: np.broadcast_to(dg, dx.shape) / 4,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_rule_gives_the_same_value_on_arrays_and_on_tensors(case):
    args = case.inputs()
    on_arrays = case.rule(*args)
    on_tensors = case.rule(*(Tensor(a, requires_grad=True) for a in args))
    assert type(on_arrays) is np.ndarray and isinstance(on_tensors, Tensor)
    np.testing.assert_allclose(on_tensors.data, on_arrays, rtol=1e-14)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_vjp_of_a_rule_is_its_second_derivative(case):
    args = case.inputs()
    value, pullback = autograd.vjp(case.rule, args)
    u = rng.normal(size=value.shape)
    for got, expected in zip(pullback(u), case.by_vjp(u, *args), strict=True):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_jvp_of_a_rule_is_its_second_derivative(case):
    args = case.inputs()
    tangents = tuple(rng.normal(size=a.shape) for a in args)
    value, tangent = autograd.jvp(case.rule, args, tangents)
    np.testing.assert_allclose(value, case.rule(*args))
    np.testing.assert_allclose(tangent, case.by_jvp(*tangents, *args), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_autograds_derivatives_of_a_rule_pass_the_core_checks(case):
    def vjp(u, out, *args):
        return autograd.vjp(case.rule, args)[1](u)

    def jvp(tangents, out, *args):
        return autograd.jvp(case.rule, args, tangents)[1]

    report = check_grads(case.rule, *case.inputs(), vjp=vjp, jvp=jvp)
    assert report.status == "pass", report.format()


# ---- primals held fixed, values that ignore an input --------------------------------------------


def test_primals_outside_argnums_are_constants_and_get_no_cotangent():
    g, a, b = rng.normal(size=(2, 4)), rng.normal(size=(2, 3)), rng.normal(size=(3, 4))
    seen = []

    def rule(g, a, b):
        seen.append(type(a))
        return ops.matmul(g, ops.transpose(b))

    u = rng.normal(size=(2, 3))
    cot_g, cot_b = autograd.vjp(rule, (g, a, b), argnums=(0, 2))[1](u)
    np.testing.assert_allclose(cot_g, u @ b)
    np.testing.assert_allclose(cot_b, u.T @ g)
    assert seen == [np.ndarray]  # a reached the rule as the array it is
    _, tangent = autograd.jvp(rule, (g, a, b), (np.ones_like(b),), argnums=2)
    np.testing.assert_allclose(tangent, g @ np.ones_like(b).T)


@pytest.mark.parametrize(
    "fn, cot_x",
    [
        (lambda x, y: ops.sin(x), lambda u, x: u * np.cos(x)),
        (lambda x, y: x, lambda u, x: u),
        (lambda x, y: np.ones(3), lambda u, x: np.zeros(3)),
        (lambda x, y: 2.0 * np.ones(3), lambda u, x: np.zeros(3)),
    ],
    ids=["ignores y", "identity", "a constant array", "a constant expression"],
)
def test_an_input_the_value_does_not_depend_on_gets_zeros(fn, cot_x):
    x, y, u = rng.normal(size=3), rng.normal(size=3), rng.normal(size=3)
    got_x, got_y = autograd.vjp(fn, (x, y))[1](u)
    np.testing.assert_allclose(got_x, cot_x(u, x))
    np.testing.assert_array_equal(got_y, np.zeros(3))
    _, tangent = autograd.jvp(fn, (x, y), (np.zeros(3), np.ones(3)))
    np.testing.assert_array_equal(tangent, np.zeros(3))


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: autograd.vjp(ops.sin, (np.ones(2),), argnums=(1,)), "argnums"),
        (lambda: autograd.vjp(ops.multiply, (np.ones(2), np.ones(2)), argnums=(0, 0)), "argnums"),
        (lambda: autograd.jvp(ops.sin, (np.ones(2),), ()), "0 tangents for 1"),
        (lambda: autograd.jvp(ops.sin, (np.ones(2),), (np.ones(3),)), "tangent of shape (3,)"),
        (lambda: autograd.vjp(ops.sin, (np.ones(2),))[1](np.ones(3)), "cotangent of shape (3,)"),
        (lambda: autograd.vjp(lambda x: (x, x), (np.ones(2),)), "returned tuple"),
    ],
)
def test_misuse_is_one_clear_error(call, words):
    with pytest.raises(GradlabError, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()


# ---- forward mode over the ops typical rules use --------------------------------------------------


def composite(x, w, b):
    """matmul, a bias broadcast over the batch, elementwise ops, reshape, transpose, sum and mean
    over an axis, an array on the left of a tensor."""
    h = ops.tanh(x @ w + b)
    z = ops.reshape(h, shape=(3, 4)).T
    scale = np.linspace(0.5, 1.5, 4)
    return ops.mean(z * z, axis=1) - scale * ops.sum(ops.exp(0.1 * x), axis=1) + ops.transpose(h).sum(axis=0)


def test_forward_and_reverse_mode_agree_with_differences_on_a_composite_of_typical_ops():
    args = (rng.normal(size=(4, 2)), rng.normal(size=(2, 3)), rng.normal(size=3))
    tangents = tuple(rng.normal(size=a.shape) for a in args)
    value, tangent = autograd.jvp(composite, args, tangents)
    h = 1e-6
    ahead = composite(*(a + h * t for a, t in zip(args, tangents, strict=True)))
    behind = composite(*(a - h * t for a, t in zip(args, tangents, strict=True)))
    np.testing.assert_allclose(tangent, (ahead - behind) / (2 * h), rtol=1e-7, atol=1e-9)
    u = rng.normal(size=value.shape)
    cotangents = autograd.vjp(composite, args)[1](u)
    assert [c.shape for c in cotangents] == [a.shape for a in args]  # the bias summed back to (3,)
    dot = sum(float((c * t).sum()) for c, t in zip(cotangents, tangents, strict=True))
    np.testing.assert_allclose(dot, float((u * tangent).sum()), rtol=1e-12)


# ---- the registry's machinery on tensors ---------------------------------------------------------


def test_op_vjp_and_jvp_run_rules_on_tensors_and_undo_broadcasting():
    multiply = REGISTRY["multiply"]
    a, b, g = rng.normal(size=3), rng.normal(size=(2, 3)), rng.normal(size=(2, 3))

    def cot_a(g, a, b):  # multiply's VJP rule for a, summed back over the broadcast axis
        return multiply.vjp(g, multiply(a, b), a, b)[0]

    u = rng.normal(size=3)
    value, pullback = autograd.vjp(cot_a, (g, a, b))
    np.testing.assert_allclose(value, (g * b).sum(axis=0))
    for got, expected in zip(pullback(u), (u * b, np.zeros(3), u * g), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-14)

    total = REGISTRY["sum"]
    _, tangent = autograd.jvp(lambda t: total.jvp((t,), total(b, axis=0), b, axis=0), (b,), (np.ones_like(b),))
    np.testing.assert_allclose(tangent, np.full(3, 2.0))  # a linear op's JVP applied to a tensor tangent
    summed = unbroadcast(Tensor(g, requires_grad=True), (1, 3))
    assert isinstance(summed, Tensor) and summed.op is REGISTRY["sum"]
    np.testing.assert_allclose(summed.data, g.sum(axis=0, keepdims=True))
