"""gradlab's strategies and fixture in a project's own test suite.

Run it with ``python -m pytest docs/examples/test_with_strategies.py`` (gradlab installed; its
pytest plugin gives the ``gradcheck`` fixture). Every test here passes.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradlab import assert_grad_close, defjvp, defvjp, op
from gradlab.fuzz import strategies as gs
from gradlab.ops import REGISTRY


# 1. A property of a built-in op, on every input its spec allows: shapes with batch dimensions,
#    any axis (negative ones too), float32 and float64.
@given(gs.examples(gs.spec_of("softmax")))
def test_softmax_rows_sum_to_one(example):
    out = REGISTRY["softmax"](*example.inputs, **example.params)
    sums = out.sum(axis=example.params["axis"])
    np.testing.assert_allclose(sums, 1.0, rtol=1e-5 if example.dtype == "float32" else 1e-12)


# 2. Your own op with an inline spec: gradlab draws its examples; the fixture fuzzes it in every
#    dtype of the spec and fails the test with gradlab's report when a rule is wrong.
def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


swish = op(
    "swish",
    lambda x: x * _sigmoid(x),
    spec={"shape": "()->()", "inputs": [{"name": "x", "domain": "real"}]},
)
defvjp(swish, lambda g, ans, x: g * (_sigmoid(x) + ans * (1 - _sigmoid(x))))
defjvp(swish, lambda t, ans, x: t * (_sigmoid(x) + ans * (1 - _sigmoid(x))))


def test_swish_rules(gradcheck):
    gradcheck(swish)


@given(gs.examples(swish.spec, dtype="float64"))
def test_swish_is_below_relu(example):
    (x,) = example.inputs
    assert np.all(swish(x) <= np.maximum(x, 0) + 1e-12)


# 3. A plain function with hand-written rules, on inputs that broadcast against each other along
#    any axis: ``broadcastable_shapes`` draws the shapes, Hypothesis' ``arrays`` the values.
def scaled_exp(x, y):
    return x * np.exp(y)


def _unbroadcast(g, shape):
    """Sum ``g`` over the axes an input of ``shape`` was broadcast along."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)


def scaled_exp_vjp(g, out, x, y):
    return _unbroadcast(g * np.exp(y), x.shape), _unbroadcast(g * out, y.shape)


def scaled_exp_jvp(tangents, out, x, y):
    tx, ty = tangents
    return tx * np.exp(y) + ty * out


def _values(shape):
    return hnp.arrays(np.float64, shape, elements=st.floats(-2, 2))


pairs = gs.broadcastable_shapes(2).flatmap(lambda shapes: st.tuples(*map(_values, shapes)))


@given(pairs)
def test_scaled_exp_rules(xy):
    assert_grad_close(scaled_exp, *xy, vjp=scaled_exp_vjp, jvp=scaled_exp_jvp)


# the same check through the fixture: it shrinks a failure and prints gradlab's report
def test_scaled_exp_rules_with_the_fixture(gradcheck):
    gradcheck(scaled_exp, pairs, vjp=scaled_exp_vjp, jvp=scaled_exp_jvp, max_examples=30)
