"""``assert_grad_close``: the gradient check as a pytest-friendly assertion."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from gradlab.check.grads import check_grads
from gradlab.check.results import GradCheckReport
from gradlab.check.task import CHECKS

UNDECIDED_POLICIES = ("warn", "pass", "fail")


class UndecidedWarning(UserWarning):
    """A gradient check the numerics could not settle at the input given (see ``undecided=``)."""


def assert_grad_close(
    f: Callable[..., Any],
    *inputs: Any,
    vjp: Callable[..., Any] | None = None,
    jvp: Callable[..., Any] | None = None,
    hvp: Callable[..., Any] | None = None,
    wrt: Sequence[int] | None = None,
    mode: str = "auto",
    method: str = "stencil",
    rtol: float | None = None,
    atol: float | None = None,
    probes: int | None = None,
    seed: int = 0,
    checks: Sequence[str] = CHECKS,
    name: str | None = None,
    names: Sequence[str] | None = None,
    complex_safe: bool = False,
    convention: str | None = None,
    holomorphic: bool = False,
    spaces: Mapping[Any, Any] | None = None,
    order: int = 1,
    allow_nondiff: bool = True,
    strict: bool = False,
    undecided: Literal["warn", "pass", "fail"] = "warn",
    **kwargs: Any,
) -> GradCheckReport:
    """Assert that the VJP and/or JVP of ``f`` at ``inputs`` are right.

    Runs :func:`gradlab.check_grads` (see there for the arguments: every one of its options is
    accepted here, and keyword arguments it does not know go to ``f`` and the rules, never
    differentiated) and raises ``AssertionError``
    naming the failed check, the worst elements analytic vs numeric, the errors against the
    tolerance and a diagnosis. Passing only ``vjp`` or only ``jvp`` checks what was given.

    Default tolerances per dtype of the analytic result: float64 ``rtol=1e-6, atol=1e-10``;
    float32 ``rtol=1e-4, atol=1e-6``; float16 ``rtol=1e-2, atol=1e-3``. The numerical method's
    own error estimate is added to them, so a rough numerical derivative does not raise a
    false alarm.

    At a point where ``f`` is not differentiable (a kink: relu or abs at 0, max with ties) a
    rule returning a value between the one-sided derivatives passes when ``allow_nondiff`` is
    true, and fails with "not differentiable here" otherwise.

    What is legal but suspect -- a float32 input's gradient returned as float64 -- is a *warning*:
    it is in ``report.warnings`` and in the report's text, and fails the assertion only with
    ``strict=True`` (the default passes, as the CLI does without ``--strict``).

    A check is *undecided* when no finite-difference step gives a derivative the error model
    trusts at this input (every step leaves the domain, the function varies faster than any
    usable step, round-off swamps it): the numerics cannot say whether the rule is right, so it
    is not a failure. ``undecided`` says what to do then:

    * ``"warn"`` (default): the assertion holds and an :class:`UndecidedWarning` carries the
      report's text. pytest lists it in its warnings summary, so a CI run stays green on inputs
      the numerics cannot judge yet shows them; ``-W error::gradlab.UndecidedWarning`` (or
      ``filterwarnings`` in the pytest configuration) turns it into a failure suite-wide;
    * ``"pass"``: the assertion holds silently;
    * ``"fail"``: the assertion fails, as for a wrong rule (use it where the input is chosen so
      that the check must be decided).

    ``complex_safe=True`` says ``f`` accepts complex input and is analytic there: the complex step
    then decides (where two complex steps agree) what no real step could.

    Returns the report, for further inspection, when the assertion holds.
    """
    __tracebackhide__ = True
    if undecided not in UNDECIDED_POLICIES:
        raise ValueError(f"undecided={undecided!r}: choose one of {', '.join(map(repr, UNDECIDED_POLICIES))}")
    report = check_grads(
        f, *inputs, vjp=vjp, jvp=jvp, hvp=hvp, wrt=wrt, mode=mode, method=method, rtol=rtol, atol=atol,
        probes=probes, seed=seed, checks=checks, name=name, names=names, complex_safe=complex_safe,
        convention=convention, holomorphic=holomorphic, spaces=spaces, order=order, **kwargs,
    )  # fmt: skip
    if report.status == "fail" or report.status == "invalid" or (report.status == "nondiff" and not allow_nondiff):
        raise AssertionError(report.format())
    if report.status == "undecided":
        if undecided == "fail":
            raise AssertionError(report.format() + '\nundecided="fail": a check the numerics cannot settle fails')
        if undecided == "warn":
            warnings.warn(UndecidedWarning(report.format()), stacklevel=2)
    if strict and report.warnings:
        raise AssertionError(report.format() + "\nstrict=True: warnings fail")
    return report
