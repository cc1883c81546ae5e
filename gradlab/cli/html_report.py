"""The HTML report of a session: one self-contained file (inline CSS and SVG; no script, font, image
file or network), readable offline and attachable to a CI run.

It reads the session the console, JSON and JUnit reports read: the summary table, then per op the
verdict; for a failure the shrunk example, each failing check with its diagnosis and a picture, and
the command that reproduces it; for a passing op a line. The pictures (:mod:`gradlab.cli.heatmap`)
are the whole Jacobian blocks at the shrunk example (:func:`~gradlab.fuzz.driver.example_jacobians`,
computed here, only for this report, in a forked child like the checks) as heat maps: the rule's,
the numerical one and their difference. Where a block is too large to compute whole (or a check has
no block: a projection, a second-order check), the check's own vectors are drawn on their array's
shape, the located wrong entries marked.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradlab._version import __version__
from gradlab.check.jacobian import Blocks
from gradlab.check.results import CHECK_TITLES, PER_SUBJECT, CheckResult, GradCheckReport
from gradlab.cli import heatmap, isolate
from gradlab.cli.console_report import STATUS_STYLE, worst_text
from gradlab.cli.session import Checked, Session
from gradlab.fuzz.driver import OpTimeout, example_jacobians, time_limit
from gradlab.fuzz.illustrate import larger_failure
from gradlab.fuzz.outcome import OpOutcome
from gradlab.fuzz.strategies import Example

Key = tuple[str, str]  # (target.select, dtype)
Reproduce = Callable[[Checked, OpOutcome], str]

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1a1a1a;margin:24px auto;max-width:1240px;
padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}h4{font-size:14px;margin:14px 0 4px}
table.summary{border-collapse:collapse;margin:12px 0}
.summary th,.summary td{border:1px solid #ddd;padding:3px 9px;text-align:left}.summary td.n{text-align:right}
code,pre{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f4f4f4}
pre{padding:8px 10px;overflow-x:auto;white-space:pre-wrap}code{padding:1px 3px}
.pass{color:#1a7f37}.fail,.error,.xpass{color:#c62828;font-weight:bold}
.warning,.undecided,.unfinished,.xfail{color:#9a6700}
.meta{color:#555}.note{color:#555;font-style:italic}
.diag{background:#fff8e1;padding:4px 8px;border-left:3px solid #f0b400}
.figure{margin:8px 0 4px}.figure svg{max-width:100%;height:auto}
figcaption{font-size:12px;color:#444;margin:0 0 0 48px}
table.mis{border-collapse:collapse;font-size:12.5px}.mis td,.mis th{padding:1px 8px;text-align:right}
"""


def to_html(session: Session, blocks: dict[Key, Pictures] | None = None, reproduce: Reproduce | None = None) -> str:
    """The page; ``blocks`` the Jacobian blocks of each failure (:func:`jacobians`), ``reproduce`` the
    command that runs a failure again (default: the session's ``gradlab check`` command)."""
    blocks = blocks or {}
    again = reproduce or session.reproduce
    counts: dict[str, int] = {}
    for t in session.targets:
        counts[t.status] = counts.get(t.status, 0) + 1
    verdict = ", ".join(f"{n} {STATUS_STYLE[s][0].lower()}" for s, n in sorted(counts.items()))
    n = len(session.targets)
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>gradlab check: {_e(verdict)}</title><style>{CSS}</style></head><body>",
        "<h1>gradlab check</h1>",
        f'<p class="meta">gradlab {_e(__version__)} · dtypes {_e(", ".join(session.dtypes))} ·'
        f" {session.examples} examples per op and dtype · seed {session.seed} · mode {_e(session.mode)} ·"
        f" device {_e(session.device)}{' · --strict' if session.strict else ''}</p>",
        f'<p class="{"pass" if session.exit_code == 0 else "fail"}">{n} op{"" if n == 1 else "s"}: {_e(verdict)}'
        f" (exit code {session.exit_code})</p>",
        _summary(session),
    ]
    for t in session.targets:
        parts.append(_target(session, t, blocks, again))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def unrun_html(error: str) -> str:
    """The page of a run that could not start (exit code 2): the reason."""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>gradlab check: could not run</title>'
        f'<style>{CSS}</style></head><body><h1>gradlab check</h1><p class="error">the run could not start'
        f" (exit code 2)</p><pre>{_e(error)}</pre></body></html>\n"
    )


@dataclass
class Pictures:
    """What a failure's heat maps are drawn from: the Jacobian blocks at its shrunk example, and at a
    larger example where the same checks fail (:mod:`gradlab.fuzz.illustrate`), None where there are none."""

    shrunk: Blocks | None = None
    larger: Example | None = None
    larger_blocks: Blocks | None = None


def jacobians(session: Session, timeout: float | None = None) -> dict[Key, Pictures]:
    """The Jacobian blocks at each failure's shrunk example and at a larger failing one, each failure's
    computed in a forked child (in-process where there is no fork, or on CUDA) within ``timeout``
    seconds; empty where they could not be."""
    found: dict[Key, Pictures] = {}
    for t in session.targets:
        for o in t.outcomes:
            if o.failure is None or t.op is None or t.spec is None:
                continue
            args = (t.op, t.spec, o.failure.example, o.failure.report, session.device, timeout)
            try:
                if isolate.available() and isolate.unsafe() is None and session.device != "cuda":
                    found[(t.select, o.dtype)] = isolate.call(_pictures, *args)
                else:
                    found[(t.select, o.dtype)] = _pictures(*args)
            except (Exception, OpTimeout):  # the report draws the check's own vectors instead
                found[(t.select, o.dtype)] = Pictures()
    return found


def _pictures(
    op: Any, spec: Any, example: Any, report: GradCheckReport, device: str, timeout: float | None, progress: Any = None
) -> Pictures:
    pictures = Pictures()
    with time_limit(timeout, op.name):
        pictures.shrunk = example_jacobians(op, spec, example, device)
    try:
        with time_limit(timeout, op.name):
            pictures.larger = larger_failure(op, spec, example, report, device)
            if pictures.larger is not None:
                pictures.larger_blocks = example_jacobians(op, spec, pictures.larger, device)
    except (Exception, OpTimeout):  # the shrunk example's pictures are drawn alone
        pictures.larger = pictures.larger_blocks = None
    return pictures


# ---- the page's parts ------------------------------------------------------------------------------


def _summary(session: Session) -> str:
    head = "".join(f"<th>{c}</th>" for c in ("op", "dtype", "checks", "examples", "skipped", "worst rel err", "status"))
    rows = []
    for t in session.targets:
        link = f'<a href="#{_anchor(t)}">{_e(t.name)}</a>'
        if t.problem or t.unfinished or not t.outcomes:
            rows.append(f"<tr><td>{link}</td>" + "<td>-</td>" * 5 + f"<td>{_status(t.status)}</td></tr>")
            continue
        for o in t.outcomes:
            skipped = f"{o.nondiff}" + (f" (+{o.rejected} invalid)" if o.rejected else "")
            rows.append(
                f"<tr><td>{link}</td><td>{o.dtype}</td><td>{_e(','.join(o.checks))}</td>"
                f'<td class="n">{o.examples}</td><td class="n">{skipped}</td><td class="n">{worst_text(o)}</td>'
                f"<td>{_status(o.status)}</td></tr>"
            )
    return f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _target(session: Session, t: Checked, blocks: dict[Key, Pictures], again: Reproduce) -> str:
    parts = [
        f'<section id="{_anchor(t)}"><h2>{_e(t.name)} {_status(t.status)}</h2>',
        f'<p class="meta">{_e(t.style)} · <code>{_e(t.source)}</code></p>',
    ]
    if t.unfinished:
        parts.append(f"<p>unfinished: {_e(t.unfinished)}</p>")
    elif t.problem:
        parts.append(f"<p>cannot be checked:</p><pre>{_e(t.problem)}</pre>")
    if t.inferred:
        parts.append(f'<p class="note">{_e(t.inferred)}{"; " + _e(t.pin) if t.pin else ""}</p>')
    for o in t.outcomes:
        if o.error:
            parts.append(f"<h3>[{o.dtype}] {_status('error')}</h3><pre>{_e(o.error)}</pre>")
        elif o.failure is not None:
            parts.append(_failure(t, o, blocks.get((t.select, o.dtype)) or Pictures(), again(t, o)))
        else:
            parts.append(_passed(o))
    parts.append("</section>")
    return "\n".join(parts)


def _passed(o: OpOutcome) -> str:
    text = f"[{o.dtype}] {_status(o.status)}: {o.examples} examples, checks {_e(', '.join(o.checks))}"
    if o.examples:
        text += f", worst relative error {o.worst_rel_err:.1e}"
    notes = []
    if o.degenerate:
        notes.append("only one-element inputs were drawn: give the op a spec with larger shapes")
    if o.warning:
        notes.append(f"warning ({o.warnings} of {o.examples} examples): {o.warning}")
    if o.undecided:
        notes.append(f"undecided at {o.undecided} of {o.examples} examples: {o.undecided_reason}")
    return f"<p>{text}</p>" + "".join(f'<p class="note">{_e(n)}</p>' for n in notes)


def _failure(t: Checked, o: OpOutcome, pictures: Pictures, command: str) -> str:
    assert o.failure is not None
    report, blocks = o.failure.report, pictures.shrunk
    failed = ", ".join(sorted({r.check for r in report.failures}))
    expected = f" (expected: {_e(o.xfail)})" if o.xfail else ""
    parts = [
        f"<h3>[{o.dtype}] {_status(o.status)}: {_e(failed)} failed after {o.examples} examples{expected}</h3>",
        f"<p><b>shrunk example:</b> <code>{_e(o.failure.example.describe(report.input_names))}</code></p>",
    ]
    for r in report.failures:
        parts.append(_result(r, report, blocks))
        parts.append(_larger(r, report, pictures))
    passed = [f"{r.check}[{r.subject}]" for r in report.results if r.status == "pass"]
    if passed:
        parts.append(f'<p class="pass">passed: {_e(", ".join(passed))}</p>')
    if blocks is not None:
        parts += [f'<p class="note">{_e(n)}</p>' for n in blocks.notes]
    parts.append(f"<p><b>reproduce:</b></p><pre>{_e(command)}</pre>")
    return "\n".join(parts)


def _result(r: CheckResult, report: GradCheckReport, blocks: Blocks | None) -> str:
    subject = f" — {r.subject}" if r.check in PER_SUBJECT else ""
    parts = [f'<h4 class="fail">[{r.check}] {_e(CHECK_TITLES[r.check])}{_e(subject)}</h4>']
    if r.check == "form":
        items = "".join(f"<li>{_e(d)}</li>" for d in (r.details or [r.message]))
        return parts[0] + f"<ul>{items}</ul>"
    if r.message:
        parts.append(f"<p>{_e(r.message)}</p>")
    if r.rtol is not None:
        parts.append(
            f"<p>max abs error {r.max_abs_err:.3g}, max rel error {r.max_rel_err:.3g}; tolerance rtol={r.rtol:g}"
            f" atol={r.atol:g} (worst error is {r.worst_ratio:.3g} × its limit)</p>"
        )
    if r.diagnosis:
        parts.append(f'<p class="diag"><b>diagnosis:</b> {_e(r.diagnosis)}</p>')
    picture = _picture(r, report, blocks)
    if picture:
        parts.append(picture)
    if r.mismatches:
        parts.append(_mismatches(r))
    parts += [f'<p class="note">note: {_e(d)}</p>' for d in r.details]
    return "\n".join(parts)


def _larger(r: CheckResult, report: GradCheckReport, pictures: Pictures) -> str:
    """The failing check's blocks at the larger failing example, where its pattern shows."""
    if pictures.larger is None or pictures.larger_blocks is None or r.check == "form":
        return ""
    picture = _picture(r, report, pictures.larger_blocks, vectors=False)
    if not picture:
        return ""
    where = pictures.larger.describe(report.input_names, values=False)
    return f'<p class="meta">the same check at a larger input where it fails too ({_e(where)}):</p>\n{picture}'


def _mismatches(r: CheckResult, rows: int = 8) -> str:
    head = "<tr><th>index</th><th>analytic</th><th>numeric</th><th>abs err</th><th>limit</th></tr>"
    body = "".join(
        f"<tr><td>{_e(m.place)}</td><td>{m.analytic:.6g}</td><td>{m.numeric:.6g}</td><td>{m.abs_err:.3g}</td>"
        f"<td>{m.tolerance:.3g}</td></tr>"
        for m in r.mismatches[:rows]
    )
    more = f"<p class='meta'>… {r.mismatch_count - rows} more</p>" if r.mismatch_count > rows else ""
    return f'<table class="mis">{head}{body}</table>{more}'


# ---- the pictures ----------------------------------------------------------------------------------


def _picture(r: CheckResult, report: GradCheckReport, blocks: Blocks | None, vectors: bool = True) -> str:
    """The heat maps of a failing check: its Jacobian block when there is one, else its vectors
    (unless ``vectors`` is false)."""
    if blocks is not None:
        if r.check == "rev" and r.subject in blocks.vjp and r.subject in blocks.numeric:
            return _block_figure(blocks, r.subject, blocks.vjp, "VJP (analytic)", blocks.numeric, "numerical")
        if r.check == "fwd" and blocks.jvp:
            name = _culprit(blocks.jvp, blocks.numeric)
            return _block_figure(blocks, name, blocks.jvp, "JVP (analytic)", blocks.numeric, "numerical")
        if r.check == "adj" and blocks.jvp and blocks.vjp:
            name = _culprit(blocks.vjp, blocks.jvp)
            return _block_figure(blocks, name, blocks.vjp, "from the VJP", blocks.jvp, "from the JVP")
    return _vector_figure(r, report) if vectors else ""


def _culprit(first: dict[str, np.ndarray], second: dict[str, np.ndarray]) -> str:
    """The input whose blocks differ most."""
    names = [n for n in first if n in second]
    return max(names, key=lambda n: heatmap.scale_of(first[n] - second[n]))


def _block_figure(
    blocks: Blocks, name: str, first: dict[str, np.ndarray], first_title: str, second: dict[str, np.ndarray],
    second_title: str,
) -> str:  # fmt: skip
    a, b = first[name], second[name]
    diff = a - b
    scale = heatmap.scale_of(a, b)
    in_shape, out_shape = blocks.input_shapes[name], blocks.out_shape
    panels = [
        heatmap.Panel(first_title, a, scale),
        heatmap.Panel(second_title, b, scale),
        heatmap.Panel("difference", diff, mark_worst=True),
    ]
    caption = f"Jacobian block d out / d {name}: row = output entry, column = entry of {name} (row-major)"
    if diff.size and np.isfinite(diff).any():
        k = np.unravel_index(int(np.nanargmax(np.abs(diff))), diff.shape)
        caption += (
            f"; boxed, the worst entry d out{_index(out_shape, int(k[0]))} / d {name}{_index(in_shape, int(k[1]))}:"
            f" {first_title.split(' (')[0]} {a[k]:.4g}, {second_title} {b[k]:.4g}"
        )
    return heatmap.figure(
        panels, out_shape, in_shape, f"out {_shape(out_shape)}", f"{name} {_shape(in_shape)}", caption
    )


def _vector_figure(r: CheckResult, report: GradCheckReport) -> str:
    """The check's values on their array's shape: analytic, numerical, difference; or only the located
    wrong entries (projected mode)."""
    shape = _subject_shape(r, report)
    if shape is None:
        return ""
    rows_shape, cols = (shape[:-1], shape[-1]) if shape else ((), 1)
    rows = int(np.prod(rows_shape)) if rows_shape else 1

    def grid(values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64).reshape(rows, cols)

    label = f"{r.subject} {_shape(shape)}"
    where = "the cotangent" if r.check in ("rev", "rev2") else "the output tangent"
    a, n = r.analytic, r.numeric
    if any(v is not None and np.iscomplexobj(v) for v in (a, n)):
        return ""  # complex values: the table of the worst entries says it
    if a is not None and n is not None and np.shape(a) == np.shape(n) and np.size(a) == rows * cols:
        av, nv = grid(a), grid(n)
        panels = [
            heatmap.Panel("analytic", av, heatmap.scale_of(av, nv)),
            heatmap.Panel("numerical", nv, heatmap.scale_of(av, nv)),
            heatmap.Panel("difference", av - nv, mark_worst=True),
        ]
        caption = f"{where} at one probe, on the shape of {r.subject}"
        return heatmap.figure(panels, rows_shape or (1,), (cols,), "", label, caption)
    if not r.mismatches:
        return ""
    located = np.zeros((rows, cols))
    for m in r.mismatches:
        if len(m.index) == len(shape) and isinstance(m.analytic, float | int) and isinstance(m.numeric, float | int):
            flat = int(np.ravel_multi_index(m.index, shape)) if shape else 0
            located[flat // cols, flat % cols] = float(m.analytic) - float(m.numeric)
    caption = f"the located wrong entries of {where} (analytic - numerical); the others were not found wrong"
    return heatmap.figure(
        [heatmap.Panel("located wrong entries", located, mark_worst=True)], rows_shape or (1,), (cols,), "", label,
        caption,
    )  # fmt: skip


def _subject_shape(r: CheckResult, report: GradCheckReport) -> tuple[int, ...] | None:
    if r.analytic is not None:
        return tuple(np.shape(r.analytic))
    if r.subject in report.input_names:
        return report.input_shapes[report.input_names.index(r.subject)]
    return None


def _index(shape: tuple[int, ...], flat: int) -> str:
    return "[" + ",".join(str(int(k)) for k in np.unravel_index(flat, shape)) + "]" if shape else "[]"


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _status(status: str) -> str:
    return f'<span class="{status}">{_e(STATUS_STYLE[status][0])}</span>'


def _anchor(t: Checked) -> str:
    return "op-" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in t.select)


def _e(text: object) -> str:
    return html.escape(str(text))
