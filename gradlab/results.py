"""What a gradient check found: plain data, read by every renderer (text, rich, JSON, JUnit)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

CheckName = Literal["rev", "fwd", "adj", "form"]
Status = Literal["pass", "fail", "nondiff", "invalid"]

CHECK_TITLES = {
    "rev": "VJP (reverse mode) vs numerical derivative",
    "fwd": "JVP (forward mode) vs numerical directional derivative",
    "adj": "adjoint identity <v, JVP(u)> == <VJP(v), u>",
    "form": "form of the rules (shapes, dtypes, finiteness, mutation, determinism)",
}

# how bad each status is, for folding several results into one
_SEVERITY = {"pass": 0, "nondiff": 1, "invalid": 2, "fail": 3}


@dataclass(frozen=True)
class Mismatch:
    """One element where the analytic and numeric values disagree beyond the tolerance."""

    index: tuple[int, ...]
    analytic: float
    numeric: float
    abs_err: float
    tolerance: float


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

    @property
    def status(self) -> Status:
        if not self.results:
            return "pass"
        return max((r.status for r in self.results), key=_SEVERITY.__getitem__)

    @property
    def passed(self) -> bool:
        """True when no check failed (non-differentiable points are not failures)."""
        return self.status in ("pass", "nondiff")

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
        from gradlab.text_report import format_report

        return format_report(self, max_rows=max_rows)

    def __str__(self) -> str:
        return self.format()
