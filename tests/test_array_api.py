"""The whole check pipeline on a strict array-API namespace: any NumPy-only call in the generic
path fails here, on machines without a GPU."""

import numpy as np
import pytest

array_api_strict = pytest.importorskip("array_api_strict")
xp = array_api_strict

from gradlab import check_grads  # noqa: E402

rng = np.random.default_rng(3)


def asarray(a):
    return xp.asarray(np.asarray(a), dtype=xp.float64 if np.asarray(a).dtype == np.float64 else xp.float32)


def matmul(a, b):
    return a @ b


def matmul_vjp(g, out, a, b):
    return g @ xp.matrix_transpose(b), xp.matrix_transpose(a) @ g


def matmul_jvp(t, out, a, b):
    return t[0] @ b + a @ t[1]


@pytest.mark.parametrize("mode", ["full", "projected"])
def test_matmul_passes_on_strict_arrays(mode):
    a, b = asarray(rng.normal(size=(3, 4))), asarray(rng.normal(size=(4, 2)))
    report = check_grads(matmul, a, b, vjp=matmul_vjp, jvp=matmul_jvp, mode=mode)
    assert report.status == "pass", report.format()


@pytest.mark.parametrize("mode", ["full", "projected"])
def test_a_wrong_rule_fails_on_strict_arrays(mode):
    a, b = asarray(rng.normal(size=(3, 4))), asarray(rng.normal(size=(4, 2)))
    report = check_grads(matmul, a, b, vjp=lambda g, out, a, b: (-matmul_vjp(g, out, a, b)[0], a.T @ g), mode=mode)
    assert report.result("rev", "a").status == "fail"
    assert report.result("rev", "a").mismatches


def test_float32_exp_is_differenced_in_float64_on_strict_arrays():
    x = xp.asarray(rng.normal(size=(2, 3)), dtype=xp.float32)
    report = check_grads(xp.exp, x, vjp=lambda g, out, x: g * out, jvp=lambda t, out, x: t[0] * out)
    assert report.status == "pass", report.format()


def test_relu_kink_on_strict_arrays():
    x = xp.asarray([-1.0, 0.0, 2.0], dtype=xp.float64)
    rule = lambda x: xp.astype(x > 0, x.dtype)  # noqa: E731
    report = check_grads(lambda x: xp.maximum(x, 0.0), x, vjp=lambda g, out, x: g * rule(x))
    assert report.status == "nondiff", report.format()


def test_a_device_without_float64_differences_in_float32():
    device = xp.Device("no_float64")
    x = xp.asarray(rng.normal(size=(2, 3)), dtype=xp.float32, device=device)
    report = check_grads(xp.tanh, x, vjp=lambda g, out, x: g * (1 - out * out))
    assert report.status == "pass", report.format()


@pytest.mark.parametrize("name", sorted(__import__("gradlab.ops", fromlist=["REGISTRY"]).REGISTRY.names()))
def test_every_registry_op_runs_on_the_strict_namespace(name):
    """Each op's forward and rules use only the array API: the fuzzer on strict arrays passes."""
    from gradlab.fuzz.driver import fuzz_op
    from gradlab.ops import REGISTRY

    outcome = fuzz_op(REGISTRY[name], "float64", max_examples=10, seed_=2, device="array-api-strict")
    assert outcome.error is None, outcome.error
    assert outcome.status == "pass", outcome.failure.report.format() if outcome.failure else outcome.status


@pytest.mark.parametrize("mode", ["full", "projected"])
def test_softmax_cross_entropy_runs_its_generic_path_on_strict_arrays(mode):
    # NumPy picks each row's label by indexing; the array API has no integer-array indexing, so
    # elsewhere a one-hot mask does: same loss, and rules that pass the checks
    from gradlab.ops import REGISTRY

    xent = REGISTRY["softmax_cross_entropy"]
    logits, labels = rng.normal(size=(5, 4)), np.array([0, 3, 1, 1, 2])
    strict_logits, strict_labels = asarray(logits), xp.asarray(labels)
    assert float(xent(strict_logits, strict_labels)) == pytest.approx(float(xent(logits, labels)), rel=1e-14)
    report = check_grads(
        xent,
        strict_logits,
        strict_labels,
        vjp=xent.vjp,
        jvp=xent.jvp,
        mode=mode,
    )
    assert report.status == "pass", report.format()


def test_pytrees_complex_values_and_spaces_use_only_the_array_api():
    z = xp.asarray(np.array([0.5 + 1j, -1.2 + 0.3j]))
    assert check_grads(lambda z: z * z, z, vjp=lambda g, out, z: g * xp.conj(2 * z), holomorphic=True).passed
    assert check_grads(lambda z: z * z, z, vjp=lambda g, out, z: g * 2 * z).status == "fail"  # the jax rule
    params = {"a": xp.asarray(np.array([1.0, 2.0])), "b": xp.asarray(np.array([0.5]))}

    def f(p):
        return xp.sum(p["a"] * p["a"]), p["b"] * 3.0

    assert check_grads(f, params, vjp=lambda g, out, p: {"a": 2 * g[0] * p["a"], "b": 3.0 * g[1]}).passed
    a = xp.asarray(np.array([[2.0, 0.0], [0.5, 1.0]]))
    assert check_grads(lambda a: xp.sum(a * a), a, vjp=lambda g, out, a: 2 * g * a, spaces={0: "lower"}).passed
