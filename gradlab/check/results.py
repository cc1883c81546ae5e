"""What a gradient check found: plain data, read by every renderer (rich, JSON, JUnit), and its
plain-text account (:func:`format_report`: what an ``AssertionError`` shows, no colour, no control codes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

# the second-order checks (gradlab.check.second_order): the VJP's VJP, the JVP's JVP, a
# Hessian-vector product against the gradient's differences, and the Hessian's symmetry
CheckName = Literal["rev", "fwd", "adj", "form", "rev2", "fwd2", "hvp", "hsym"]
Status = Literal["pass", "warning", "fail", "nondiff", "undecided", "invalid"]

CHECK_TITLES = {
    "rev": "VJP (reverse mode) vs numerical derivative",
    "fwd": "JVP (forward mode) vs numerical directional derivative",
    "adj": "adjoint identity <v, JVP(u)> == <VJP(v), u>",
    "form": "form of the rules (shapes, dtypes, finiteness, mutation, determinism)",
    "rev2": "VJP of the VJP vs numerical derivative of the VJP (order 2)",
    "fwd2": "JVP of the JVP vs numerical derivative of the JVP (order 2)",
    "hvp": "Hessian-vector product vs numerical derivative of the gradient",
    "hsym": "Hessian symmetry <v, H u> == <H v, u>",
}
# the checks whose results are per subject (an input, the output), named in the report
PER_SUBJECT = ("rev", "fwd", "rev2", "fwd2", "hvp")

# how bad each status is, for folding several results into one: *undecided* (the numerics cannot
# settle it at this input) is never a failure; *invalid* (the inputs are outside the forward's
# domain) says the example itself is unusable
_SEVERITY = {"pass": 0, "warning": 1, "nondiff": 2, "undecided": 3, "invalid": 4, "fail": 5}
# picking the worst probe of a check: its status first, then its error against the limit
STATUS_WEIGHT = {"fail": 1e12, "invalid": 1e9, "undecided": 1e6}


@dataclass(frozen=True)
class Mismatch:
    """One element where the analytic and numeric values disagree beyond the tolerance (complex
    values for a complex input or output)."""

    index: tuple[int, ...]
    analytic: float | complex
    numeric: float | complex
    abs_err: float
    tolerance: float
    # where the element is, when the index alone does not say it: the leaf of a pytree output
    # (``out[1][2, 0]``), or the part of a complex value only one part of which is known
    where: str = ""

    @property
    def place(self) -> str:
        """The element's place as the report writes it."""
        return self.where or str(self.index)


@dataclass
class CheckResult:
    """The outcome of one check on one subject (an input for ``rev``, the output for ``fwd``)."""

    check: CheckName
    status: Status
    subject: str
    message: str = ""
    diagnosis: str | None = None
    details: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    mismatch_count: int = 0
    size: int = 0
    nondiff_indices: list[tuple[int, ...]] = field(default_factory=list)
    undecided_indices: list[tuple[int, ...]] = field(default_factory=list)
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    worst_ratio: float = 0.0
    worst_index: tuple[int, ...] | None = None
    rtol: float | None = None
    atol: float | None = None
    analytic: np.ndarray | None = None
    numeric: np.ndarray | None = None
    mode: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"


@dataclass
class GradCheckReport:
    """All checks of one function at one input: the value returned by :func:`gradlab.check_grads`."""

    name: str
    results: list[CheckResult]
    input_shapes: list[tuple[int, ...] | None]
    input_dtypes: list[str]
    input_names: list[str]
    wrt: tuple[int, ...]
    mode: str
    method: str
    seed: int
    evaluations: int = 0
    # entries the check left out because they are not finite (gradlab.check.finite_part), in words
    left_out: list[str] = field(default_factory=list)

    @property
    def status(self) -> Status:
        if not self.results:
            return "pass"
        return max((r.status for r in self.results), key=_SEVERITY.__getitem__)

    @property
    def passed(self) -> bool:
        """True when no check failed and none is undecided (non-differentiable points and warnings
        are not failures)."""
        return self.status in ("pass", "nondiff", "warning")

    @property
    def undecided(self) -> list[CheckResult]:
        """The checks the numerics could not settle at this input (with the reason in ``message``)."""
        return [r for r in self.results if r.status == "undecided"]

    @property
    def warnings(self) -> list[str]:
        """What is legal but suspect (a float32 input's gradient promoted to float64)."""
        return [d for r in self.results if r.status == "warning" for d in r.details]

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "fail"]

    def result(self, check: CheckName, subject: str | None = None) -> CheckResult | None:
        for r in self.results:
            if r.check == check and (subject is None or r.subject == subject):
                return r
        return None

    def format(self, max_rows: int = 8) -> str:
        """A plain-text account of the failures (what an ``AssertionError`` shows)."""
        return format_report(self, max_rows=max_rows)

    def __str__(self) -> str:
        return self.format()


# ---- the plain-text account -------------------------------------------------------------------

_VERDICT = {
    "pass": "passed",
    "warning": "passed with a warning",
    "fail": "FAILED",
    "nondiff": "not differentiable here",
    "undecided": "undecided (the numerics cannot settle it here)",
    "invalid": "invalid input",
}


def format_report(report: GradCheckReport, max_rows: int = 8) -> str:
    lines = [
        f"gradlab: gradient check of `{report.name}` {_VERDICT[report.status]}"
        f" (mode {report.mode}, method {report.method}, seed {report.seed})",
        "  inputs: " + ", ".join(_describe_input(report, i) for i in range(len(report.input_names))),
    ]
    quiet = [f"{r.check}[{r.subject}]" for r in report.results if r.status == "pass"]
    for r in report.results:
        if r.status != "pass":
            lines += _format_result(r, max_rows)
    if quiet:
        lines.append("passed: " + ", ".join(quiet))
    lines += [f"left out of the check: {entry}" for entry in report.left_out]
    return "\n".join(lines)


def _describe_input(report: GradCheckReport, i: int) -> str:
    shape = report.input_shapes[i]
    text = f"{report.input_names[i]} {report.input_dtypes[i]}"
    if shape is not None:
        text += f" {shape}"
    if i not in report.wrt:
        text += " [not differentiated]"
    return text


def _format_result(r: CheckResult, max_rows: int) -> list[str]:
    subject = f", {r.subject}" if r.check in PER_SUBJECT else ""
    lines = [f"[{r.check}] {CHECK_TITLES[r.check]}{subject}: {_VERDICT[r.status]}"]
    if r.check == "form":
        lines += [f"  - {d}" for d in r.details] or [f"  {r.message}"]
        return lines
    if r.message:
        lines.append(f"  {r.message}")
    if r.rtol is not None and r.status == "fail":
        lines.append(
            f"  max abs error {r.max_abs_err:.3g}, max rel error {r.max_rel_err:.3g}"
            f" (tolerance rtol={r.rtol:g}, atol={r.atol:g}; worst error/limit {r.worst_ratio:.3g})"
        )
    if r.diagnosis:
        lines.append(f"  diagnosis: {r.diagnosis}")
    if r.mismatches:
        rows = r.mismatches[:max_rows]
        width = max(len(m.place) for m in rows) + 2
        values = [(f"{m.analytic:.6g}", f"{m.numeric:.6g}") for m in rows]  # complex ones as a+bj
        column = max(14, *(len(v) + 2 for pair in values for v in pair))
        lines.append(f"  {'index':<{width}}{'analytic':>{column}}{'numeric':>{column}}{'abs err':>11}{'limit':>11}")
        for m, (a, n) in zip(rows, values, strict=True):
            lines.append(f"  {m.place:<{width}}{a:>{column}}{n:>{column}}{m.abs_err:>11.3g}{m.tolerance:>11.3g}")
        if r.mismatch_count > len(rows):
            lines.append(f"  ... {r.mismatch_count - len(rows)} more")
    if r.nondiff_indices:
        lines.append(f"  non-differentiable at {', '.join(map(str, r.nondiff_indices[:max_rows]))}")
    if r.undecided_indices:
        lines.append(f"  undecided at {', '.join(map(str, r.undecided_indices[:max_rows]))}")
    if r.status == "fail" and r.analytic is not None and r.numeric is not None and r.analytic.size <= 24:
        with np.printoptions(precision=6, suppress=False, linewidth=100):
            lines.append("  analytic: " + _oneline(r.analytic))
            lines.append("  numeric:  " + _oneline(r.numeric))
    lines += [f"  note: {d}" for d in r.details]
    return lines


def _oneline(a: np.ndarray) -> str:
    return " ".join(np.array2string(np.asarray(a)).split())
