"""What fuzzing one op in one dtype found: the shrunk failing example and its report, or an error."""

from __future__ import annotations

from dataclasses import dataclass, field

from gradlab.check.results import GradCheckReport, format_report
from gradlab.fuzz.strategies import Example


@dataclass
class Failure:
    """The shrunk failing example of one op, re-checked in full mode."""

    example: Example
    report: GradCheckReport
    seed: int
    blob: str | None = None


@dataclass
class OpOutcome:
    """What fuzzing one op in one dtype found."""

    op: str
    dtype: str
    examples: int = 0
    nondiff: int = 0
    rejected: int = 0
    worst_ratio: dict[str, float] = field(default_factory=dict)
    worst_rel_err: float = 0.0
    checks: tuple[str, ...] = ()
    failure: Failure | None = None
    error: str | None = None
    xfail: str | None = None
    seconds: float = 0.0
    warnings: int = 0  # examples with a warning (legal but suspect, e.g. a float32 input's float64 gradient)
    warning: str | None = None  # the first one's text
    largest: int = 0  # the most elements any input had in an example checked
    undecided: int = 0  # examples the numerics could not settle (never failures)
    undecided_reason: str | None = None  # the first one's reason

    @property
    def degenerate(self) -> bool:
        """Checked, but only on inputs of one element (0-d or all sizes 1): most rules look right there."""
        return self.examples > 0 and self.largest <= 1

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        if self.xfail:
            return "xfail" if self.failure else "xpass"
        if self.failure:
            return "fail"
        if self.examples and self.undecided == self.examples:
            return "undecided"  # not one example settled: nothing is known either way
        return "warning" if self.warnings else "pass"


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
        if outcome.warning:
            lines.append(f"warning ({outcome.warnings} examples): {outcome.warning}")
        if outcome.undecided:
            lines.append(f"undecided ({outcome.undecided} examples): {outcome.undecided_reason}")
    if reproduce and (outcome.error or outcome.failure is not None):
        lines.append(f"reproduce: {reproduce}")
    return "\n".join(lines)
