"""The stress set (``benchmarks/stress_set.py``, issue #16): right rules at hard inputs.

(a) each rule is right at its hard input: the Jacobian its VJP and its JVP give agrees with the
    case's exact reference, and the planted bug does not (so the set cannot hold a wrong rule, nor a
    bug that is invisible at that input);
(b) ``check_grads`` never calls a right rule wrong there: "pass", "undecided", "nondiff" or
    "warning", in float64 and in float32 where the case has a float32 variant;
(c) at ordinary inputs of the same op, ``check_grads`` fails the planted bug: (b) can fail.

Runs in the default test run (the whole module takes about two seconds).
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from gradlab import check_grads


def _load_stress_set() -> ModuleType:
    # the cases live beside the benchmark that compares checkers on them (benchmarks/ is no package
    # and is not installed): loaded from the file by path, as test_docs.py loads docs/examples, so
    # that neither sys.path nor the package grows a copy of them
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "stress_set.py"
    spec = importlib.util.spec_from_file_location("stress_set", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


stress_set = _load_stress_set()
CASES = stress_set.CASES
ALLOWED = {"pass", "undecided", "nondiff", "warning"}

pytestmark = pytest.mark.stress

BY_DTYPE = [pytest.param(case, dtype, id=f"{case.name}-{dtype}") for case in CASES for dtype in case.dtypes]


def test_the_set_covers_every_class() -> None:
    assert len(CASES) >= 32
    assert len({case.name for case in CASES}) == len(CASES)
    counts = Counter(case.cls for case in CASES)
    assert set(counts) == set(stress_set.CLASSES)
    assert min(counts.values()) >= 4, counts


def _worst(rule: tuple[np.ndarray, ...], ref: tuple[np.ndarray, ...], tol: float) -> float:
    """The largest ``|rule - ref| / (tol (|ref| + 1e-3 max|ref|))`` over the Jacobians (inf where
    the reference is 0 and the rule is not, or the rule is not finite)."""
    worst = 0.0
    for a, r in zip(rule, ref, strict=True):
        assert a.shape == r.shape
        if not np.all(np.isfinite(a)):
            return np.inf
        limit = tol * (np.abs(r) + 1e-3 * np.max(np.abs(r)))
        err = np.abs(a - r)
        ratio = np.where(limit > 0, err / np.where(limit > 0, limit, 1.0), np.where(err > 0, np.inf, 0.0))
        worst = max(worst, float(np.max(ratio, initial=0.0)))
    return worst


@pytest.mark.parametrize(("case", "dtype"), BY_DTYPE)
def test_the_rule_is_right_at_the_hard_input(case, dtype) -> None:
    xs = case.inputs_as(dtype)
    assert all(x.dtype == dtype for x in xs)
    out = case.f(*xs)
    assert out.dtype == dtype, f"{case.name}: {dtype} in, {out.dtype} out"
    assert np.all(np.isfinite(out))
    ref = case.jacobian(*(x.astype(np.float64) for x in xs))  # at the point as given (float32-rounded)
    tol = case.rule_tol if dtype == "float64" else case.rule_tol32
    assert _worst(stress_set.vjp_jacobian(case.f, case.vjp, xs), ref, tol) <= 1, "the VJP is not right"
    assert _worst(stress_set.jvp_jacobian(case.f, case.jvp, xs), ref, tol) <= 1, "the JVP is not right"
    assert _worst(stress_set.vjp_jacobian(case.f, case.bug_vjp, xs), ref, tol) > 1, "the planted bug is invisible"
    assert _worst(stress_set.jvp_jacobian(case.f, case.bug_jvp, xs), ref, tol) > 1, "the planted bug is invisible"


@pytest.mark.parametrize(("case", "dtype"), BY_DTYPE)
def test_check_grads_does_not_call_a_right_rule_wrong(case, dtype) -> None:
    report = check_grads(case.f, *case.inputs_as(dtype), vjp=case.vjp, jvp=case.jvp, name=case.name)
    head = "\n".join(report.format().splitlines()[:12])
    assert report.status in ALLOWED, f"{case.name} ({case.cls}: {case.why}):\n{head}"


@pytest.mark.parametrize(("case", "dtype"), BY_DTYPE)
def test_check_grads_fails_the_planted_bug_at_ordinary_inputs(case, dtype) -> None:
    xs = case.inputs_as(dtype, ordinary=True)
    assert all(np.all(np.isfinite(x)) for x in xs)
    report = check_grads(case.f, *xs, vjp=case.bug_vjp, jvp=case.bug_jvp, name=case.name)
    assert report.status == "fail", f"{case.name}: the bug ({case.bug}) passes:\n{report.format()}"
