"""The reverse-mode Tensor and forward mode over the registry: against the course's closed forms,
and against numerics through the core checks."""

import numpy as np
import pytest

from gradlab import check_grads
from gradlab.train import autograd, graph
from gradlab.train.autograd import Tensor, apply, no_grad

rng = np.random.default_rng(0)


def onehot(y, k):
    e = np.zeros((len(y), k))
    e[np.arange(len(y)), y] = 1
    return e


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def xent(logits, y):
    return apply("softmax_cross_entropy", logits, y)


def test_softmax_regression_gradient_is_the_closed_form():
    m, n, k = 50, 7, 4
    X, y = rng.normal(size=(m, n)), rng.integers(0, k, size=m)
    theta = Tensor(rng.normal(size=(n, k)), requires_grad=True)
    xent(Tensor(X) @ theta, y).backward()
    expected = X.T @ (softmax(X @ theta.data) - onehot(y, k)) / m
    np.testing.assert_allclose(theta.grad, expected, rtol=0, atol=1e-12)


def test_two_layer_network_gradients_are_the_closed_forms():
    m, n, d, k = 40, 6, 9, 3
    X, y = rng.normal(size=(m, n)), rng.integers(0, k, size=m)
    W1 = Tensor(rng.normal(size=(n, d)), requires_grad=True)
    W2 = Tensor(rng.normal(size=(d, k)), requires_grad=True)
    xent((Tensor(X) @ W1).relu() @ W2, y).backward()
    Z1 = X @ W1.data
    S = softmax(np.maximum(Z1, 0) @ W2.data)
    G = (S - onehot(y, k)) / m  # the mean over the batch
    np.testing.assert_allclose(W2.grad, np.maximum(Z1, 0).T @ G, rtol=0, atol=1e-12)
    np.testing.assert_allclose(W1.grad, X.T @ ((G @ W2.data.T) * (Z1 > 0)), rtol=0, atol=1e-12)


def test_l_layer_backward_is_the_recursion():
    m, sizes, k = 30, [5, 8, 7, 6], 3
    X, y = rng.normal(size=(m, sizes[0])), rng.integers(0, k, size=m)
    shapes = zip(sizes, [*sizes[1:], k], strict=True)
    Ws = [Tensor(rng.normal(size=(a, b)) / np.sqrt(a), requires_grad=True) for a, b in shapes]
    Z = Tensor(X)
    for W in Ws[:-1]:
        Z = (Z @ W).relu()
    xent(Z @ Ws[-1], y).backward()
    # forward by hand: Z_i, then G_L = (S - I_y) / m and G_i = (G_{i+1} o s'(Z_i W_i)) W_i^T
    Zs = [X]
    for W in Ws[:-1]:
        Zs.append(np.maximum(Zs[-1] @ W.data, 0))
    G = (softmax(Zs[-1] @ Ws[-1].data) - onehot(y, k)) / m
    grads = [Zs[-1].T @ G]
    G = G @ Ws[-1].data.T
    for i in range(len(Ws) - 2, -1, -1):
        local = G * (Zs[i] @ Ws[i].data > 0)
        grads.insert(0, Zs[i].T @ local)
        G = local @ Ws[i].data.T
    for W, expected in zip(Ws, grads, strict=False):
        np.testing.assert_allclose(W.grad, expected, rtol=0, atol=1e-12)


def test_a_tensor_used_twice_gets_both_contributions():
    x = Tensor(np.array([1.5, -2.0]), requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1)


def test_an_intermediate_used_at_different_depths_gets_every_contribution_before_its_own_rule():
    # y feeds y.exp() (one op deeper) and, directly, two sums: its rule may only run once all
    # three consumers have sent their cotangents back
    x = Tensor(rng.normal(size=5), requires_grad=True)
    y = x.tanh()
    ((y * y.exp()).sum() + y.sum()).backward()
    t = np.tanh(x.data)
    np.testing.assert_allclose(x.grad, (np.exp(t) * (1 + t) + 1) * (1 - t**2), rtol=1e-13)


def test_gradients_accumulate_across_backward_calls_and_no_grad_records_nothing():
    x = Tensor(np.array([3.0]), requires_grad=True)
    (x * 2).sum().backward()
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad, [4.0])
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y.op is None
    assert not x.detach().requires_grad


def test_operators_and_methods():
    a = Tensor(rng.normal(size=(3, 4)), requires_grad=True)
    b = Tensor(rng.normal(size=(4, 2)), requires_grad=True)
    out = ((a @ b) ** 2 - 1.0) / 2.0 + (-a).T.sum(axis=0).reshape(3, 1) * 0.5
    out = out[1:, :].mean() + a.exp().log().max()
    out.backward()
    assert a.grad.shape == (3, 4) and b.grad.shape == (4, 2)


def composite(x, w):
    return ((Tensor(x) @ Tensor(w)).tanh() * Tensor(x).sum()).sum(axis=0)


def test_a_composite_of_tensors_passes_the_core_checks():
    x, w = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))

    def f(x, w):
        return ((Tensor(x) @ Tensor(w)).tanh() * Tensor(x).sum()).data.sum(axis=0)

    def vjp(g, out, x, w):
        return autograd.vjp(lambda a, b: ((a @ b).tanh() * a.sum()).sum(axis=0), (x, w))[1](g)

    def jvp(t, out, x, w):
        return autograd.jvp(lambda a, b: ((a @ b).tanh() * a.sum()).sum(axis=0), (x, w), t)[1]

    report = check_grads(f, x, w, vjp=vjp, jvp=jvp)
    assert report.status == "pass", report.format()


def test_backprop_that_overwrites_instead_of_summing_is_caught(monkeypatch):
    from gradlab.fuzz.driver import fuzz_op
    from gradlab.ops import REGISTRY

    def overwriting(root, cotangent):
        adjoints = {id(root): cotangent}
        for node in reversed(graph.topological(root)):
            g = adjoints.get(id(node))
            if g is None or node.op is None:
                continue
            arrays = [a.data if isinstance(a, Tensor) else a for a in node.inputs]
            needed = tuple(isinstance(a, Tensor) and a.requires_grad for a in node.inputs)
            cotangents = node.op.vjp(g, node.data, *arrays, needed=needed, **node.params)
            for parent, cot in zip(node.inputs, cotangents, strict=True):
                if cot is not None:
                    adjoints[id(parent)] = cot  # BUG: the last consumer wins
        return adjoints

    assert fuzz_op(REGISTRY["Residual"], "float64", max_examples=30).status == "pass"
    monkeypatch.setattr("gradlab.train.autograd.backpropagate", overwriting)
    assert fuzz_op(REGISTRY["Residual"], "float64", max_examples=30).status == "fail"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float32_training_stays_float32(dtype):
    from gradlab.train import nn

    layer = nn.Linear(4, 3, dtype=dtype)
    loss = nn.SoftmaxCrossEntropy()(layer(Tensor(rng.normal(size=(5, 4)).astype(dtype))), np.array([0, 1, 2, 0, 1]))
    loss.backward()
    assert layer.weight.grad.dtype == np.dtype(dtype) and loss.dtype == np.dtype(dtype)


def test_forward_mode_through_a_number_added_or_subtracted_is_the_tangent_alone():
    x, t = rng.normal(size=3), rng.normal(size=3)
    for f, slope in ((lambda x: x + 1, 1), (lambda x: 1.0 - x, -1), (lambda x: 2 + x - 0.5, 1)):
        np.testing.assert_allclose(autograd.jvp(f, (x,), (t,))[1], slope * t)
    x32, t32 = x.astype(np.float32), t.astype(np.float32)
    assert autograd.jvp(lambda x: x + 1.0, (x32,), (t32,))[1].dtype == np.float32
