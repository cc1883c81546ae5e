"""Complex inputs and outputs in the two conventions, through the public API."""

from __future__ import annotations

import numpy as np
import pytest

from gradlab import GradlabError, check_grads

RNG = np.random.default_rng(3)
Z = RNG.standard_normal(4) + 1j * RNG.standard_normal(4)


def test_a_holomorphic_square_in_both_conventions():
    # torch: g * conj(f'(z)); jax: g * f'(z); the JVP is t * f'(z) in both
    jvp = lambda t, out, z: t[0] * 2 * z  # noqa: E731
    assert check_grads(lambda z: z**2, Z, vjp=lambda g, out, z: g * np.conj(2 * z), jvp=jvp).passed
    assert check_grads(lambda z: z**2, Z, vjp=lambda g, out, z: g * 2 * z, jvp=jvp, convention="jax").passed


def test_a_missing_conjugate_fails_with_that_diagnosis():
    report = check_grads(lambda z: z**2, Z, vjp=lambda g, out, z: g * 2 * z)  # a jax rule, torch convention
    rev = report.result("rev", "z")
    assert rev is not None and rev.status == "fail"
    assert rev.diagnosis is not None and "conjugate" in rev.diagnosis and "'jax'" in rev.diagnosis
    # the report writes complex values as a+bj, at the leaf's own index
    assert isinstance(rev.mismatches[0].analytic, complex)
    assert all(len(m.index) == 1 for m in rev.mismatches)
    assert "j " in report.format() or report.format().count("j") > 2


def test_a_real_loss_of_a_complex_input():
    # L = |z|^2: dL/da + i dL/db = 2a + 2ib = 2z (torch), its conjugate (jax)
    loss = lambda z: np.abs(z) ** 2  # noqa: E731
    assert check_grads(loss, Z, vjp=lambda g, out, z: g * 2 * z).passed
    assert check_grads(loss, Z, vjp=lambda g, out, z: g * 2 * np.conj(z), convention="jax").passed
    assert check_grads(loss, Z, vjp=lambda g, out, z: g * 2 * np.conj(z)).status == "fail"


def test_a_complex_output_of_a_real_input():
    x = RNG.standard_normal(3)
    f = lambda x: np.exp(1j * x)  # noqa: E731
    # torch: the real gradient is Re(conj(g) * f'(x)) = Re(conj(g) * i e^{ix})
    right = lambda g, out, x: np.real(np.conj(g) * 1j * out)  # noqa: E731
    assert check_grads(f, x, vjp=right, jvp=lambda t, out, x: 1j * out * t[0]).passed
    assert check_grads(f, x, vjp=lambda g, out, x: np.real(g * 1j * out)).status == "fail"


def test_holomorphic_moves_only_the_real_parts():
    vjp = lambda g, out, z: g * np.conj(np.cos(z))  # noqa: E731
    general = check_grads(np.sin, Z, vjp=vjp)
    cheaper = check_grads(np.sin, Z, vjp=vjp, holomorphic=True)
    assert general.passed and cheaper.passed
    assert cheaper.evaluations < general.evaluations
    assert check_grads(np.sin, Z, vjp=lambda g, out, z: g * np.conj(np.cos(z)) * 1.5, holomorphic=True).status == "fail"


def test_complex_step_is_refused_for_complex_inputs():
    with pytest.raises(GradlabError, match="real functions"):
        check_grads(np.sin, Z, vjp=lambda g, out, z: g * np.conj(np.cos(z)), method="complex")


def test_a_wrong_convention_name_is_a_clear_error():
    with pytest.raises(GradlabError, match="'torch'"):
        check_grads(np.sin, Z, vjp=lambda g, out, z: g, convention="pytorch")


def test_json_writes_complex_values_as_a_plus_bj():
    import json

    from gradlab.cli.report_files import _plain, _result_json

    report = check_grads(lambda z: z**2, Z, vjp=lambda g, out, z: g * 2 * z)
    text = json.dumps(_result_json(report.result("rev", "z")), default=_plain)
    row = json.loads(text)["mismatches"][0]
    assert (
        row["analytic"].endswith("j") and complex(row["analytic"]) == report.result("rev", "z").mismatches[0].analytic
    )


def test_a_false_holomorphic_claim_is_a_form_failure():
    # |z|^2 is not complex-differentiable: moving only the real parts would check half of the rule
    loss = lambda z: np.abs(z) ** 2  # noqa: E731
    report = check_grads(loss, Z, vjp=lambda g, out, z: g * 2 * z, holomorphic=True)
    form = report.result("form")
    assert form is not None and form.status == "fail"
    assert "not holomorphic in z" in form.message
