"""Plain-text rendering of a :class:`~gradlab.results.GradCheckReport` (no colour, no control codes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gradlab.results import CHECK_TITLES, CheckResult, GradCheckReport

if TYPE_CHECKING:
    from gradlab.fuzz import OpOutcome

_VERDICT = {"pass": "passed", "fail": "FAILED", "nondiff": "not differentiable here", "invalid": "invalid input"}


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
    return "\n".join(lines)


def format_outcome(outcome: OpOutcome, reproduce: str | None = None, max_rows: int = 8) -> str:
    """What fuzzing one op in one dtype found, in plain text: the shrunk failing example and its
    report, or the error that stopped the op; ``reproduce`` is the command that runs it again."""
    head = f"gradlab: fuzzing `{outcome.op}` [{outcome.dtype}]"
    if outcome.error:
        lines = [f"{head}: error", outcome.error]
    elif outcome.failure is not None:
        report = outcome.failure.report
        failed = ", ".join(sorted({r.check for r in report.failures}))
        lines = [
            f"{head}: {failed} failed after {outcome.examples} examples",
            "shrunk example: " + outcome.failure.example.describe(report.input_names),
            format_report(report, max_rows=max_rows),
        ]
        if outcome.xfail:
            lines.insert(1, f"expected to fail: {outcome.xfail}")
    else:
        lines = [f"{head}: {outcome.status} ({outcome.examples} examples)"]
    if reproduce and (outcome.error or outcome.failure is not None):
        lines.append(f"reproduce: {reproduce}")
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
    subject = f", {r.subject}" if r.check in ("rev", "fwd") else ""
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
        width = max(len(str(m.index)) for m in rows) + 2
        lines.append(f"  {'index':<{width}}{'analytic':>14}{'numeric':>14}{'abs err':>11}{'limit':>11}")
        for m in rows:
            lines.append(
                f"  {m.index!s:<{width}}{m.analytic:>14.6g}{m.numeric:>14.6g}{m.abs_err:>11.3g}{m.tolerance:>11.3g}"
            )
        if r.mismatch_count > len(rows):
            lines.append(f"  ... {r.mismatch_count - len(rows)} more")
    if r.nondiff_indices:
        lines.append(f"  non-differentiable at {', '.join(map(str, r.nondiff_indices[:max_rows]))}")
    if r.status == "fail" and r.analytic is not None and r.numeric is not None and r.analytic.size <= 24:
        with np.printoptions(precision=6, suppress=False, linewidth=100):
            lines.append("  analytic: " + _oneline(r.analytic))
            lines.append("  numeric:  " + _oneline(r.numeric))
    lines += [f"  note: {d}" for d in r.details]
    return lines


def _oneline(a: np.ndarray) -> str:
    return " ".join(np.array2string(np.asarray(a)).split())
