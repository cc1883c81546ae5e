"""Settling a disagreement before a rule is called wrong: the step search, the undecided verdict and
its policies, non-finite inputs, and the report bugs fixed on the way (NaN rows, complex outputs).

The stress set (tests/test_stress.py) checks that right rules at hard inputs are never called
wrong; here: that wrong rules at those inputs still fail, and what undecided looks like.
"""

import json
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from gradlab import UndecidedWarning, assert_grad_close, check_grads
from gradlab.check.numerics import step_factor

EPS = float(np.finfo(np.float64).eps)
# the default relative step lands on one period of sin at this x: h and 2h see the same values
ALIASED = 2 * np.pi / step_factor("stencil", EPS)


def _inv_case():
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    v, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    return u @ np.diag([1.0, 1.0, 1.0, 1e-6]) @ v.T


def _inv_vjp(g, out, a):
    return -out.T @ g @ out.T


def _inv_jvp(t, out, a):
    return -out @ t[0] @ out


HARD = {
    # (forward, right VJP, wrong VJP, input): right rules a fixed step calls wrong
    "log at 1e-9": (np.log, lambda g, o, x: g / x, lambda g, o, x: 1.01 * g / x, np.array([1e-9, 0.5, 3e-12])),
    "tanh(x / 1e-4)": (
        lambda x: np.tanh(x / 1e-4),
        lambda g, o, x: g * (1 - o**2) / 1e-4,
        lambda g, o, x: g * (1 - o**2) / 1.01e-4,
        np.array([2e-4, -1e-4, 3e-5]),
    ),
    "sin on its period": (
        np.sin,
        lambda g, o, x: g * np.cos(x),
        lambda g, o, x: -g * np.cos(x),
        np.array([ALIASED, 3 * ALIASED, 0.3]),
    ),
    "exp near overflow": (np.exp, lambda g, o, x: g * o, lambda g, o, x: 1.01 * g * o, np.array([700.0, 705.0, 1.0])),
    "inverse, cond 1e6": (np.linalg.inv, _inv_vjp, lambda g, o, a: -o @ g @ o, _inv_case()),
}


@pytest.mark.parametrize("mode", ["full", "projected"])
@pytest.mark.parametrize("name", sorted(HARD))
def test_right_rules_at_hard_inputs_pass_and_wrong_ones_still_fail(name, mode):
    f, right, wrong, x = HARD[name]
    good = check_grads(f, x, vjp=right, mode=mode)
    assert good.status == "pass", good.format()
    bad = check_grads(f, x, vjp=wrong, mode=mode)
    assert bad.status == "fail", bad.format()


def test_the_quick_look_still_costs_two_evaluations_where_the_rule_agrees():
    x = np.linspace(-2.0, 2.0, 300)
    report = check_grads(np.tanh, x, vjp=lambda g, out, x: g * (1 - out**2), mode="projected", checks=("rev",))
    assert report.passed and report.evaluations == 2


SUBNORMAL = np.array([1e-320, 4.0])


def _sqrt_vjp(g, out, x):
    return g / (2 * out)


@pytest.mark.parametrize("mode", ["full", "projected"])
def test_a_derivative_no_step_resolves_is_undecided_never_failed(mode):
    report = check_grads(np.sqrt, SUBNORMAL, vjp=_sqrt_vjp, mode=mode)
    assert report.status == "undecided", report.format()
    assert not report.passed and not report.failures
    assert report.undecided[0].message
    text = report.format()
    assert "undecided" in text and "FAILED" not in text
    # a wrong rule there cannot be told from a right one either: undecided, not a pass
    wrong = check_grads(np.sqrt, SUBNORMAL, vjp=lambda g, out, x: 2 * _sqrt_vjp(g, out, x), mode=mode)
    assert wrong.status in ("undecided", "fail")
    assert wrong.status != "pass"


def test_the_complex_step_decides_where_the_user_allows_it():
    x = np.array([1e-300, 4.0])
    assert check_grads(np.sqrt, x, vjp=_sqrt_vjp).status == "undecided"
    assert check_grads(np.sqrt, x, vjp=_sqrt_vjp, complex_safe=True).status == "pass"
    wrong = check_grads(np.sqrt, x, vjp=lambda g, out, x: 1.5 * _sqrt_vjp(g, out, x), complex_safe=True)
    assert wrong.status == "fail"
    # a forward that refuses complex input leaves the real search's verdict standing
    report = check_grads(lambda x: np.sqrt(x + np.floor(0 * x)), x, vjp=_sqrt_vjp, complex_safe=True)
    assert report.status == "undecided"


def test_assert_grad_close_warns_on_undecided_by_default():
    with pytest.warns(UndecidedWarning, match="undecided"):
        report = assert_grad_close(np.sqrt, SUBNORMAL, vjp=_sqrt_vjp)
    assert report.status == "undecided"


def test_assert_grad_close_undecided_policies():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_grad_close(np.sqrt, SUBNORMAL, vjp=_sqrt_vjp, undecided="pass")
    with pytest.raises(AssertionError, match='undecided="fail"'):
        assert_grad_close(np.sqrt, SUBNORMAL, vjp=_sqrt_vjp, undecided="fail")
    with pytest.raises(ValueError, match="undecided='maybe'"):
        assert_grad_close(np.sqrt, SUBNORMAL, vjp=_sqrt_vjp, undecided="maybe")


def test_the_gradcheck_fixture_warns_on_undecided_examples(gradcheck):
    from hypothesis import strategies as st

    with pytest.warns(UndecidedWarning, match="could not settle"):
        gradcheck(np.sqrt, st.just(SUBNORMAL), vjp=_sqrt_vjp, max_examples=2)


def test_inputs_with_nan_and_inf_are_checked_on_their_finite_part():
    x = np.array([1.0, np.inf, -2.0, np.nan])
    right = check_grads(np.square, x, vjp=lambda g, o, x: 2 * g * x, jvp=lambda t, o, x: 2 * t[0] * x)
    assert right.status == "pass", right.format()
    assert any("[1] = inf" in line and "[3] = nan" in line for line in right.left_out)
    assert "left out of the check" in right.format()
    wrong = check_grads(np.square, x, vjp=lambda g, o, x: 3 * g * x)
    assert wrong.status == "fail"
    assert {m.index for m in wrong.result("rev").mismatches} == {(0,), (2,)}


def test_a_softmax_over_masked_logits_passes():
    z = np.array([[1.0, -np.inf, 0.5], [2.0, 3.0, -np.inf]])

    def softmax(z):
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    report = check_grads(
        softmax, z,
        vjp=lambda g, o, z: o * (g - (g * o).sum(-1, keepdims=True)),
        jvp=lambda t, o, z: o * (t[0] - (t[0] * o).sum(-1, keepdims=True)),
    )  # fmt: skip
    assert report.status == "pass", report.format()


def test_finite_inputs_outside_the_domain_are_still_invalid():
    report = check_grads(np.log, np.array([1.0, -1.0]), vjp=lambda g, o, x: g / x)
    assert report.status == "invalid"


def test_a_nan_from_the_rule_is_listed_first_in_the_mismatch_table():
    x = np.array([0.5, 2.0, 0.1, 0.2, 0.3, 0.4])
    report = check_grads(np.sin, x, vjp=lambda g, o, x: g * np.cos(x) * np.where(x > 1, np.nan, 1.0))
    rev = report.result("rev")
    assert rev.status == "fail" and rev.mismatch_count == 1
    assert rev.mismatches[0].index == (1,) and np.isnan(rev.mismatches[0].analytic)
    assert "not deterministic" not in report.format()


def test_a_complex_output_is_compared_through_both_parts():
    x = np.array([0.5, 2.0])
    # the real part alone would pass this rule; the imaginary part does not
    report = check_grads(lambda x: x * (1 + 1j), x, vjp=lambda g, o, x: np.real(g))
    assert report.status == "fail"
    right = check_grads(lambda x: x * (1 + 1j), x, vjp=lambda g, o, x: np.real(np.conj(g) * (1 + 1j)))
    assert right.passed, right.format()


def test_undecided_ops_are_skipped_in_junit_and_counted_in_json():
    from gradlab.cli.report_files import to_json, to_junit
    from gradlab.cli.session import Checked, Session
    from gradlab.fuzz.outcome import OpOutcome

    outcome = OpOutcome(op="root", dtype="float64", examples=3, undecided=3, undecided_reason="rev[x]: why")
    partly = OpOutcome(op="other", dtype="float64", examples=3, undecided=1, undecided_reason="rev[x]: why")
    targets = [
        Checked(name="root", style="module", source="m.py:1", select="m.py::root", outcomes=[outcome]),
        Checked(name="other", style="module", source="m.py:5", select="m.py::other", outcomes=[partly]),
    ]
    session = Session(targets, ("float64",), 3, 0, "auto", "cpu", "quick", None)
    assert outcome.status == "undecided" and partly.status == "pass"
    assert session.exit_code == 0
    data = json.loads(to_json(session))
    assert data["summary"]["undecided"] == 1
    assert data["ops"][0]["runs"][0]["undecided"] == 3
    suite = ET.fromstring(to_junit(session)).find("testsuite")
    assert suite.get("skipped") == "1" and suite.get("failures") == "0"
    assert suite.find("testcase/skipped").get("message") == "undecided: rev[x]: why"
    strict = Session(targets, ("float64",), 3, 0, "auto", "cpu", "quick", None, strict=True)
    assert strict.exit_code == 1


@pytest.mark.parametrize("x0", [-1e-3, 1e-3, -3e-4])
def test_a_kink_inside_the_default_stencil_but_off_the_point_is_settled_smooth(x0):
    # the default step (7.4e-4) straddles relu's kink at 0; smaller steps do not: a pass, not undecided
    x = np.array([x0, 1.0, -2.0])
    report = check_grads(lambda x: np.maximum(0, x), x, vjp=lambda g, out, x: g * (x > 0))
    assert report.status == "pass", report.format()


def test_a_rules_rounding_far_below_its_largest_value_is_not_a_failure():
    # det(A) * inv(A).T of an ill-conditioned A rounds at cond * eps of its largest entries: an
    # exactly-zero entry reads 1e-12 of them. That passes; an error of 1e-6 of them does not. (The
    # det of a triangular matrix does not move at all with an entry above the diagonal: the
    # numerical derivative there is an exact zero, with no error to hide the rule's rounding.)
    a = np.array([[30.0, 2.0, 0.0], [0.0, -20.0, 1.0], [0.0, 0.0, 50.0]])

    def rule(scale):
        def vjp(g, out, a):
            cot = g * out * np.linalg.inv(a).T
            cot[0, 2] += scale * np.max(np.abs(cot))
            return cot

        return vjp

    det = lambda a: np.reshape(np.linalg.det(a), (1,))  # noqa: E731
    assert check_grads(det, a, vjp=rule(1e-12)).status == "pass"
    assert check_grads(det, a, vjp=rule(1e-6)).status == "fail"
