"""Property tests: correct rules never raise a false alarm, planted bugs are always caught,
over Hypothesis-drawn shapes, dtypes and values."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradlab import check_grads

dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def arrays(draw, min_dims=0, max_dims=3, low=-3.0, high=3.0, dtype=None):
    dtype = dtype or draw(dtypes)
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=4))
    elements = st.floats(low, high, width=np.dtype(dtype).itemsize * 8, allow_subnormal=False)
    return draw(hnp.arrays(dtype, shape, elements=elements))


UNARY = {
    "exp": (np.exp, lambda x, o: o),
    "tanh": (np.tanh, lambda x, o: 1 - o * o),
    "sin": (np.sin, lambda x, o: np.cos(x)),
    "square": (np.square, lambda x, o: 2 * x),
}


@given(name=st.sampled_from(sorted(UNARY)), x=arrays())
def test_correct_elementwise_rules_pass(name, x):
    f, dfdx = UNARY[name]
    report = check_grads(
        f,
        x,
        vjp=lambda g, o, x: (g * dfdx(x, o)).astype(x.dtype),
        jvp=lambda t, o, x: (t[0] * dfdx(x, o)).astype(x.dtype),
    )
    assert report.status == "pass", report.format()


@given(name=st.sampled_from(sorted(UNARY)), x=arrays(min_dims=1), data=st.data())
def test_one_wrong_element_is_caught_and_located(name, x, data):
    f, dfdx = UNARY[name]
    where = data.draw(st.integers(0, x.size - 1))
    d = dfdx(x, f(x))
    if abs(float(d.reshape(-1)[where])) < 1e-2:
        return  # a 10% error on a tiny derivative is below float32 resolution of the others

    def vjp(g, o, x):
        out = (g * dfdx(x, o)).astype(x.dtype)
        out.reshape(-1)[where] *= 1.1
        return out

    report = check_grads(f, x, vjp=vjp)
    rev = report.result("rev")
    assert rev.status == "fail", report.format()
    assert np.unravel_index(where, x.shape) in [m.index for m in rev.mismatches]


@st.composite
def broadcast_pair(draw):
    dtype = draw(dtypes)
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    elements = st.floats(-3, 3, width=np.dtype(dtype).itemsize * 8, allow_subnormal=False)
    a = draw(hnp.arrays(dtype, shapes.input_shapes[0], elements=elements))
    b = draw(hnp.arrays(dtype, shapes.input_shapes[1], elements=elements))
    return a, b


def multiply(a, b):
    return a * b


def unbroadcast(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


@given(pair=broadcast_pair())
def test_broadcasting_multiply_passes_and_a_missing_reduction_fails(pair):
    a, b = pair

    def vjp(g, out, a, b):
        return unbroadcast(g * b, a.shape).astype(a.dtype), unbroadcast(g * a, b.shape).astype(b.dtype)

    def jvp(t, out, a, b):
        return (t[0] * b + a * t[1]).astype(out.dtype)

    assert check_grads(multiply, a, b, vjp=vjp, jvp=jvp).status == "pass"
    out_shape = np.broadcast_shapes(a.shape, b.shape)
    if b.shape != out_shape:

        def no_reduction(g, out, a, b):
            return vjp(g, out, a, b)[0], (g * a).astype(b.dtype)

        report = check_grads(multiply, a, b, vjp=no_reduction)
        assert report.status == "fail"
        assert "b has shape" in report.result("form").message


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@given(z=arrays(min_dims=1, max_dims=2, low=-9.0, high=9.0))
def test_a_smooth_op_is_never_reported_as_not_differentiable(z):
    """Summed smooth curvature over many outputs must not look like a kink (softmax's Jacobian
    columns sum to zero, so their projections are small while each entry is curved)."""

    def vjp(g, out, z):
        return (out * (g - (g * out).sum(axis=-1, keepdims=True))).astype(z.dtype)

    def jvp(t, out, z):
        return (out * (t[0] - (t[0] * out).sum(axis=-1, keepdims=True))).astype(z.dtype)

    report = check_grads(softmax, z, vjp=vjp, jvp=jvp)
    assert report.status == "pass", report.format()


@given(name=st.sampled_from(sorted(UNARY)), x=arrays(min_dims=1, max_dims=3, dtype=np.float64), data=st.data())
def test_projected_mode_agrees_with_full_mode(name, x, data):
    """Projected mode stops at its quick look (a central difference) only where the rule agrees
    with it: a correct rule passes in both modes, one wrong entry fails both and is located."""
    f, dfdx = UNARY[name]

    def vjp(g, o, x):
        return g * dfdx(x, o)

    for mode in ("full", "projected"):
        assert check_grads(f, x, vjp=vjp, mode=mode).status == "pass", mode
    d = np.abs(dfdx(x, f(x))).reshape(-1)
    where = data.draw(st.integers(0, x.size - 1))
    if not d[where] > max(1e-2 * d.max(), 1e-6):
        return  # the projection's tolerance grows with the whole derivative's norm

    def wrong(g, o, x):
        out = g * dfdx(x, o)
        out.reshape(-1)[where] *= 1.1
        return out

    index = np.unravel_index(where, x.shape)
    for mode in ("full", "projected"):
        rev = check_grads(f, x, vjp=wrong, mode=mode).result("rev")
        assert rev.status == "fail", mode
        assert index in [m.index for m in rev.mismatches], mode
