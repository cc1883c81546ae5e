"""The scipy.special family: planted slips in its rules are caught, with the diagnosis a person
acts on; its rules hold where a textbook formula breaks down. (Every op of the family is fuzzed
with the rest of the registry in test_fuzz.py, test_array_api.py and test_gpu.py.)"""

import math

import numpy as np
import scipy.special

from gradlab import check_grads
from gradlab.fuzz.driver import fuzz_op
from gradlab.ops import REGISTRY, defjvp, defvjp, ns, op
from gradlab.ops.registry import Registry

rng = np.random.default_rng(19)


def _planted_erf(derivative):
    """erf, its spec from the registry, with both rules multiplying by ``derivative(x)``."""
    planted = op("planted_erf", scipy.special.erf, registry=Registry())
    defvjp(planted, lambda g, ans, x: g * derivative(x))
    defjvp(planted, lambda t, ans, x: t * derivative(x))
    planted.spec = REGISTRY["erf"].spec
    return planted


def test_erf_without_its_2_over_sqrt_pi_is_off_by_that_constant_factor():
    planted = _planted_erf(lambda x: ns(x).exp(-x * x))  # BUG: 2 / sqrt(pi) * exp(-x^2)
    report = check_grads(planted, rng.normal(size=(2, 3)), vjp=planted.vjp, jvp=planted.jvp)
    factor = f"{math.sqrt(math.pi) / 2:.4g}"  # 0.8862
    for check in ("rev", "fwd"):
        result = report.result(check)
        assert result.status == "fail"
        assert result.diagnosis.startswith(f"off by a constant factor: the rule returns {factor} x the true derivative")
    assert report.result("adj").status == "pass"  # the VJP and JVP agree with each other: both are wrong


def test_erf_with_the_2_forgotten_is_found_by_the_fuzzer_and_named_at_one_element():
    planted = _planted_erf(lambda x: ns(x).exp(-x * x) / math.sqrt(math.pi))  # BUG: 2 / sqrt(pi)
    outcome = fuzz_op(planted, "float64", max_examples=50)
    assert outcome.status == "fail"
    assert outcome.failure.example.inputs[0].size == 1  # shrunk; a round factor is named even there
    assert "off by a constant factor: the rule returns 0.5 x" in outcome.failure.report.result("rev").diagnosis


def test_log_ndtr_rule_stays_finite_where_ndtr_underflows():
    x = np.array([-40.0, -30.0, -5.0, 0.0, 3.0])  # ndtr(-40) underflows to 0
    log_ndtr = REGISTRY["log_ndtr"]
    assert check_grads(log_ndtr, x, vjp=log_ndtr.vjp, jvp=log_ndtr.jvp).status == "pass"

    def textbook(g, ans, x):  # pdf / ndtr: 0 / 0 in the far left tail
        return g * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) / scipy.special.ndtr(x)

    with np.errstate(invalid="ignore"):
        report = check_grads(log_ndtr, x, vjp=lambda g, ans, x: (textbook(g, ans, x),))
    assert report.status == "fail"


def test_xlogy_at_x_zero_has_the_derivative_log_y_in_x():
    xlogy = REGISTRY["xlogy"]
    x, y = np.array([0.0, 0.0, 1.5]), np.array([0.5, 2.0, 3.0])
    assert check_grads(xlogy, x, y, vjp=xlogy.vjp, jvp=xlogy.jvp).status == "pass"

    # BUG: "xlogy is 0 at x = 0" read as "its derivative is 0 there"; x log(y) is smooth in x
    def zero_at_zero(g, ans, x, y):
        return g * np.where(x == 0, 0.0, np.log(y)), g * x / y

    report = check_grads(xlogy, x, y, vjp=zero_at_zero)
    assert report.result("rev", "x").status == "fail"
    assert report.result("rev", "y").status == "pass"
