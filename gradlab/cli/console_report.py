"""The rich console report: a summary table, and a panel for each failure."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gradlab.check.results import CHECK_TITLES, PER_SUBJECT, CheckResult
from gradlab.cli.session import Checked, Session
from gradlab.fuzz.outcome import OpOutcome

STATUS_STYLE = {
    "pass": ("passed", "green"),
    "fail": ("FAILED", "bold red"),
    "error": ("ERROR", "bold red"),
    "xfail": ("xfail", "yellow"),
    "xpass": ("XPASS", "yellow"),
    "warning": ("warning", "yellow"),
    "undecided": ("undecided", "yellow"),
    "unfinished": ("unfinished", "yellow"),
}


def summary_table(session: Session) -> Table:
    table = Table(title="gradlab check", title_justify="left", header_style="bold")
    for column, justify in (("op", "left"), ("dtype", "left"), ("checks", "left"), ("examples", "right"),
                            ("skipped", "right"), ("worst rel err", "right"), ("status", "left")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for t in session.targets:
        if t.problem or t.unfinished or not t.outcomes:
            table.add_row(t.name, "-", "-", "-", "-", "-", _status(t.status))
            continue
        for o in t.outcomes:
            skipped = f"{o.nondiff}" + (f" (+{o.rejected} invalid)" if o.rejected else "")
            worst = worst_text(o)
            table.add_row(t.name, o.dtype, ",".join(o.checks), str(o.examples), skipped, worst, _status(o.status))
    return table


def _status(status: str) -> Text:
    label, style = STATUS_STYLE[status]
    return Text(label, style=style)


def problems(session: Session) -> Iterator[RenderableType]:
    """A panel for every op that failed, crashed or could not be checked."""
    for t in session.targets:
        if t.unfinished:
            continue  # one line each, in notes()
        if t.problem:
            yield Panel(
                Text(t.problem), title=f"[bold red]{t.name}[/]: cannot be checked", subtitle=t.source, expand=False
            )
            continue
        for o in t.outcomes:
            if o.error:
                yield Panel(
                    Text(o.error),
                    title=f"[bold red]{escape(t.name)}[/] {escape(f'[{o.dtype}]')}: error",
                    subtitle=escape(t.source),
                )
            elif o.failure is not None:
                yield failure_panel(session, t, o)


def failure_panel(session: Session, t: Checked, o: OpOutcome) -> Panel:
    assert o.failure is not None
    report = o.failure.report
    parts: list[RenderableType] = [
        Text.assemble(("shrunk example: ", "bold"), o.failure.example.describe(report.input_names)),
    ]
    for r in report.results:
        if r.status == "fail":
            parts.append(_result(r))
    passed = [f"{r.check}[{r.subject}]" for r in report.results if r.status == "pass"]
    if passed:
        parts.append(Text("passed: " + ", ".join(passed), style="green"))
    if t.inferred:
        parts.append(Text(f"{t.inferred}; {t.pin}" if t.pin else t.inferred, style="italic"))
    parts.append(Text.assemble(("reproduce: ", "bold"), (session.reproduce(t, o), "cyan")))
    failed = ", ".join(sorted({r.check for r in report.failures}))
    title = f"[bold red]{escape(t.name)}[/] {escape(f'[{o.dtype}]')}: {failed} failed"
    if o.xfail:
        title += escape(f" (expected: {o.xfail})")
    return Panel(Group(*parts), title=title, subtitle=escape(t.source), title_align="left")


def _result(r: CheckResult) -> RenderableType:
    subject = f" — {r.subject}" if r.check in PER_SUBJECT else ""
    lines: list[RenderableType] = [Text(f"[{r.check}] {CHECK_TITLES[r.check]}{subject}", style="bold red")]
    if r.check == "form":
        lines += [Text(f"  • {d}") for d in (r.details or [r.message])]
        return Group(*lines)
    if r.message:
        lines.append(Text(f"  {r.message}"))
    if r.rtol is not None:
        lines.append(
            Text(
                f"  max abs error {r.max_abs_err:.3g}, max rel error {r.max_rel_err:.3g}; tolerance rtol={r.rtol:g}"
                f" atol={r.atol:g} (worst error is {r.worst_ratio:.3g} x its limit)"
            )
        )
    if r.diagnosis:
        lines.append(Text.assemble(("  diagnosis: ", "bold yellow"), r.diagnosis))
    if r.analytic is not None and r.numeric is not None and r.analytic.size <= 36:
        lines.append(_side_by_side(r))
    elif r.mismatches:
        lines.append(_mismatch_table(r))
    lines += [Text(f"  note: {d}", style="italic") for d in r.details]
    return Group(*lines)


def _side_by_side(r: CheckResult) -> Table:
    assert r.analytic is not None and r.numeric is not None
    table = Table(box=None, padding=(0, 1), header_style="bold")
    for column in ("index", "analytic", "numeric", ""):
        table.add_column(column, justify="right" if column in ("analytic", "numeric") else "left")
    wrong = {m.index for m in r.mismatches}
    flat_a, flat_n = np.asarray(r.analytic).reshape(-1), np.asarray(r.numeric).reshape(-1)
    shape = np.asarray(r.analytic).shape
    for j in range(flat_a.size):
        index = tuple(int(c) for c in np.unravel_index(j, shape)) if shape else ()
        mark = Text("✗ mismatch", style="red") if index in wrong else Text("")
        style = "red" if index in wrong else ""
        table.add_row(str(index), Text(f"{flat_a[j]:.6g}", style=style), f"{flat_n[j]:.6g}", mark)
    return table


def _mismatch_table(r: CheckResult) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="bold")
    for column in ("index", "analytic", "numeric", "abs err", "limit"):
        table.add_column(column, justify="left" if column == "index" else "right")
    for m in r.mismatches:
        table.add_row(m.place, f"{m.analytic:.6g}", f"{m.numeric:.6g}", f"{m.abs_err:.3g}", f"{m.tolerance:.3g}")
    if r.mismatch_count > len(r.mismatches):
        table.add_row(f"... {r.mismatch_count - len(r.mismatches)} more", "", "", "", "")
    return table


def notes(session: Session, verbose: bool = False) -> Iterator[Text]:
    """One line per unfinished function and per warning; the shapes every module op was checked at
    (how its spec was found: inferred, a convention, a table)."""
    for t in session.targets:
        if t.unfinished:
            yield Text.assemble((f"{t.name}: unfinished", "yellow"), f" — {t.unfinished} ({t.source})")
        for o in t.outcomes:
            if o.degenerate and o.failure is None and not o.error:
                yield Text.assemble(
                    (f"{t.name} [{o.dtype}]: only one-element inputs", "yellow"),
                    " — every example had inputs of one element (0-d or all sizes 1), where a wrong transpose or"
                    " reduction still looks right; give the op a spec with larger shapes",
                )
            if o.undecided and o.failure is None and not o.error:
                yield Text.assemble(
                    (f"{t.name} [{o.dtype}]: undecided", "yellow"),
                    f" — at {o.undecided} of {o.examples} examples the numerics could not settle the check"
                    f" ({o.undecided_reason})",
                )
            if o.warning and o.failure is None and not o.error:
                yield Text.assemble(
                    (f"{t.name} [{o.dtype}]: warning", "yellow"),
                    f" — {o.warning} ({o.warnings} of {o.examples} examples)",
                )
    for t in session.targets:
        if t.style == "registry" and not verbose:
            continue
        if t.inferred:
            pin = f"; {t.pin}" if verbose and t.pin else ""
            yield Text(f"{t.name}: {t.inferred}{pin}", style="italic")
        elif t.spec is not None and t.style != "registry":
            yield Text(f"{t.name}: shapes from {t.spec.source}: {t.spec.shape}", style="italic")


def verdict(session: Session) -> Text:
    counts: dict[str, int] = {}
    for t in session.targets:
        counts[t.status] = counts.get(t.status, 0) + 1
    parts = [f"{n} {STATUS_STYLE[s][0].lower()}" for s, n in sorted(counts.items())]
    style = "bold green" if session.exit_code == 0 else "bold red"
    if session.strict and session.exit_code:
        parts.append("--strict: warnings, undecided ops and unfinished functions count")
    count = len(session.targets)
    return Text(f"{count} op{'' if count == 1 else 's'}: " + ", ".join(parts), style=style)


def worst_text(o: OpOutcome) -> str:
    """The worst relative error to show: on a failed row the failure's (the shrunk example's failing
    checks; "-" when only the form failed), else the worst over the examples that passed."""
    if not o.examples:
        return "-"
    if o.failure is not None:
        failing = [r.max_rel_err for r in o.failure.report.results if r.status == "fail" and r.check != "form"]
        return f"{max(failing):.1e}" if failing else "-"
    return f"{o.worst_rel_err:.1e}"
