"""The registry and its specs: every op has a spec, every spec an op; specs are validated."""

import numpy as np
import pytest

from gradlab.ops import REGISTRY, Op, defjvp, defvjp, op, unbroadcast
from gradlab.ops.registry import Registry
from gradlab.ops.spec import SpecError, load_specs, parse_spec


def test_every_op_has_a_spec_and_every_spec_an_op():
    specs = load_specs()
    assert sorted(specs) == REGISTRY.names()
    missing = [o.name for o in REGISTRY if o.spec is None]
    assert not missing


def test_every_op_has_a_vjp_and_a_jvp():
    assert [o.name for o in REGISTRY if not (o.has_vjp and o.has_jvp)] == []


def test_the_required_families_are_all_there():
    families = {o.family for o in REGISTRY}
    assert {"elementwise", "binary", "reduce", "shape", "linalg", "nn", "special"} <= families


@pytest.mark.parametrize(
    "table, words",
    [
        ({"inputs": [{"name": "x", "domain": "real"}]}, "field 'shape'"),
        (
            {"shape": "()->()", "inputs": [{"name": "x", "domain": "reals"}]},
            "field 'inputs[0].domain': unknown domain 'reals'",
        ),
        ({"shape": "(),()->()", "inputs": [{"name": "x", "domain": "real"}]}, "1 inputs but the signature"),
        ({"shape": "()->()", "inputs": [{"name": "x", "domain": "real"}], "dtypes": ["float16"]}, "field 'dtypes'"),
        (
            {"shape": "()->()", "inputs": [{"name": "x", "domain": "real"}], "colour": 1},
            "field 'colour': unknown field",
        ),
        ({"shape": "()->()", "inputs": [{"name": "x", "domain": "real", "diff": False}]}, "no input is differentiated"),
        (
            {"shape": "()->()", "inputs": [{"name": "x", "domain": "real"}], "params": {"a": {"kind": "float"}}},
            "low <= high",
        ),
        (
            {"shape": "(n),(n)->()", "inputs": [{"name": "x", "domain": "real"}, {"name": "y", "domain": "labels"}]},
            "field 'inputs.y.classes'",
        ),
    ],
)
def test_spec_errors_name_the_file_the_op_and_the_field(table, words):
    with pytest.raises(SpecError) as err:
        parse_spec("myop", table, "my_specs.toml")
    message = str(err.value)
    assert message.startswith("my_specs.toml: op 'myop': ")
    assert words in message


def test_a_broken_spec_file_is_reported_with_its_path(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[exp\nshape = 1\n")
    with pytest.raises(SpecError, match=r"bad\.toml: cannot read the spec file"):
        load_specs([path])


def test_user_ops_use_the_same_mechanism_and_get_broadcasting_for_free():
    private = Registry()
    scale = op("scale", lambda x, s: x * s, family="user", registry=private)
    defvjp(scale, lambda g, ans, x, s: g * s, lambda g, ans, x, s: g * x)
    defjvp(scale, lambda t, ans, x, s: t * s, lambda t, ans, x, s: x * t)
    x, s = np.ones((4, 3)), np.full((1, 3), 2.0)
    out = scale(x, s)
    gx, gs = scale.vjp(np.ones_like(out), out, x, s)
    assert gx.shape == (4, 3) and gs.shape == (1, 3)
    np.testing.assert_allclose(gs, [[4.0, 4.0, 4.0]])
    assert isinstance(scale, Op) and "scale" in private and "scale" not in REGISTRY


def test_a_taken_name_is_refused():
    private = Registry()
    op("twice", lambda x: 2 * x, registry=private)
    with pytest.raises(Exception, match=r"already registered"):
        op("twice", lambda x: x + x, registry=private)


@pytest.mark.parametrize(
    "cot_shape, shape, expected",
    [((4, 3), (3,), (3,)), ((4, 3), (1, 3), (1, 3)), ((2, 4, 3), (4, 1), (4, 1)), ((3,), (3,), (3,)), ((2, 3), (), ())],
)
def test_unbroadcast_sums_exactly_the_broadcast_axes(cot_shape, shape, expected):
    g = np.arange(np.prod(cot_shape), dtype=float).reshape(cot_shape)
    reduced = unbroadcast(g, shape)
    assert reduced.shape == expected
    assert reduced.sum() == pytest.approx(g.sum())


def test_an_op_linear_in_some_arguments_holds_the_others_fixed():
    from gradlab.ops import deflinear

    private = Registry()
    masked = deflinear(op("masked", lambda x, mask: x * mask, registry=private), 0)
    x, mask = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 1.0])
    tangent = masked.jvp((np.ones(3), None), masked(x, mask), x, mask)
    np.testing.assert_array_equal(tangent, mask)


def _square_saving(factor):
    calls = {"forward": 0}

    @op(saves=True)
    def square(x):
        calls["forward"] += 1
        return x * x, (factor * x,)  # d(x*x)/dx = 2x, saved for the rules

    defvjp(square, lambda g, ans, x, *, saved: g * saved[0])
    defjvp(square, lambda t, ans, x, *, saved: t * saved[0])
    return square, calls


def test_an_op_that_saves_is_checked_through_its_saved_values_and_the_autograd_reuses_them():
    from gradlab import check_grads
    from gradlab.train.autograd import Tensor, apply

    x = np.array([0.5, -1.5, 2.0])
    square, calls = _square_saving(2.0)
    assert np.array_equal(square(x), x * x)  # calling the op returns its output only
    assert check_grads(square, x, vjp=square.vjp).passed
    # a wrong saved value is a wrong rule: the check recomputes what the forward saves
    wrong, _ = _square_saving(3.0)
    assert check_grads(wrong, x, vjp=wrong.vjp).result("rev").status == "fail"
    # the training core keeps what the forward saved: backward runs no forward
    leaf = Tensor(x, requires_grad=True)
    calls["forward"] = 0
    out = apply(square, leaf)
    out.backward(np.ones(3))
    assert calls["forward"] == 1
    np.testing.assert_allclose(leaf.grad, 2 * x)
