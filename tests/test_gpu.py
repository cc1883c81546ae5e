"""The same checks on CuPy arrays: verdicts match NumPy's. Skipped, with the reason, without a GPU."""

import numpy as np
import pytest

from gradlab import check_grads
from gradlab.fuzz.driver import fuzz_op
from gradlab.ops import REGISTRY


def _gpu_reason() -> str | None:
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed (pip install 'gradlab-check[cupy]')"
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            return "no CUDA device found"
    except Exception as exc:  # CuPy raises its own runtime error without a driver
        return f"no CUDA device found ({type(exc).__name__})"
    return None


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_gpu_reason() is not None, reason=str(_gpu_reason()))]

EXAMPLES = 15


@pytest.mark.parametrize("name", REGISTRY.names())
def test_registry_verdicts_on_cuda_match_numpy(name):
    op = REGISTRY[name]
    for dtype in op.spec.dtypes:
        cpu = fuzz_op(op, dtype, max_examples=EXAMPLES, seed_=1)
        gpu = fuzz_op(op, dtype, max_examples=EXAMPLES, seed_=1, device="cuda")
        assert gpu.error is None, gpu.error
        assert (gpu.status, gpu.examples) == (cpu.status, cpu.examples)
        assert gpu.status == "pass", gpu.failure.report.format() if gpu.failure else gpu.status


def test_a_wrong_rule_fails_on_cuda_as_on_numpy():
    import cupy

    from gradlab.ops import ns

    x = np.random.default_rng(0).normal(size=(64, 33))

    def wrong(g, out, x):
        grad = g * (1 - out**2)
        grad[5, 7] *= 1.02
        return grad

    for on_device in (x, cupy.asarray(x)):
        report = check_grads(lambda x: ns(x).tanh(x), on_device, vjp=wrong, mode="projected")
        assert report.status == "fail"
        assert [m.index for m in report.result("rev").mismatches] == [(5, 7)]


def test_projected_mode_on_ten_million_elements():
    import cupy

    x = cupy.asarray(np.random.default_rng(1).normal(size=10_000_000))
    report = check_grads(cupy.tanh, x, vjp=lambda g, o, x: g * (1 - o * o), jvp=lambda t, o, x: t[0] * (1 - o * o))
    assert report.status == "pass", report.format()
    assert report.mode == "projected"
