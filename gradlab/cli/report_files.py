"""JSON and JUnit XML reports of a session, written whole or not at all."""

from __future__ import annotations

import json
import math
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from gradlab._version import __version__
from gradlab.check.results import CheckResult, GradCheckReport, format_report
from gradlab.cli.session import Checked, Session
from gradlab.fuzz.outcome import OpOutcome

# arrays up to this size are written out in full
ARRAY_LIMIT = 64


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, 0o666 & ~_umask())  # a report is an ordinary file (mkstemp makes it 0600)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ---- JSON ---------------------------------------------------------------------------------------


def to_json(session: Session) -> str:
    counts = _counts(session)
    data = {
        "gradlab": __version__,
        "settings": {
            "dtypes": list(session.dtypes), "examples": session.examples, "seed": session.seed,
            "mode": session.mode, "device": session.device, "profile": session.profile, "strict": session.strict,
            "jobs": session.jobs, "shard": session.shard,
        },
        "summary": counts,
        "exit_code": session.exit_code,
        "ops": [_target_json(session, t) for t in session.targets],
    }  # fmt: skip
    return json.dumps(data, indent=2, default=_plain) + "\n"


def unrun_json(error: str) -> str:
    """The JSON report of a run that could not start (exit code 2): the reason, no ops."""
    data = {"gradlab": __version__, "exit_code": 2, "error": error, "summary": {"total": 0}, "ops": []}
    return json.dumps(data, indent=2) + "\n"


def unrun_junit(error: str) -> str:
    """The JUnit report of a run that could not start: one test case in error, with the reason."""
    suite = ET.Element("testsuite", name="gradlab", tests="1", failures="0", errors="1", skipped="0", time="0")
    case = ET.SubElement(suite, "testcase", classname="gradlab", name="gradlab check")
    ET.SubElement(case, "error", message=error.splitlines()[0][:200]).text = error
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _counts(session: Session) -> dict[str, int]:
    counts = {"total": len(session.targets), "pass": 0, "fail": 0, "warning": 0, "undecided": 0, "unfinished": 0,
              "error": 0, "xfail": 0, "xpass": 0}  # fmt: skip
    for t in session.targets:
        counts[t.status] += 1
    return counts


def _target_json(session: Session, t: Checked) -> dict[str, Any]:
    return {
        "name": t.name, "style": t.style, "source": t.source, "status": t.status,
        "inferred": t.inferred, "problem": t.problem, "unfinished": t.unfinished,
        "runs": [_outcome_json(session, t, o) for o in t.outcomes],
    }  # fmt: skip


def _outcome_json(session: Session, t: Checked, o: OpOutcome) -> dict[str, Any]:
    data: dict[str, Any] = {
        "dtype": o.dtype, "status": o.status, "examples": o.examples, "nondiff": o.nondiff,
        "rejected": o.rejected, "checks": list(o.checks), "worst_rel_err": o.worst_rel_err,
        "worst_error_over_limit": o.worst_ratio, "seconds": round(o.seconds, 4), "error": o.error, "xfail": o.xfail,
        "warnings": o.warnings, "warning": o.warning, "largest_input": o.largest, "only_one_element": o.degenerate,
        "undecided": o.undecided, "undecided_reason": o.undecided_reason,
    }  # fmt: skip
    if o.failure is not None:
        names = o.failure.report.input_names
        data["failure"] = {
            "example": o.failure.example.describe(names),
            "inputs": [_value(x) for x in o.failure.example.inputs],
            "params": o.failure.example.params,
            "report": _report_json(o.failure.report),
            "reproduce": session.reproduce(t, o),
            "hypothesis_blob": o.failure.blob,
        }
    return data


def _report_json(report: GradCheckReport) -> dict[str, Any]:
    return {
        "status": report.status, "mode": report.mode, "method": report.method,
        "inputs": [
            {"name": n, "shape": s, "dtype": d, "differentiated": i in report.wrt}
            for i, (n, s, d) in enumerate(
                zip(report.input_names, report.input_shapes, report.input_dtypes, strict=True)
            )
        ],
        "results": [_result_json(r) for r in report.results],
    }  # fmt: skip


def _result_json(r: CheckResult) -> dict[str, Any]:
    return {
        "check": r.check, "subject": r.subject, "status": r.status, "message": r.message,
        "diagnosis": r.diagnosis, "details": r.details,
        "max_abs_err": r.max_abs_err, "max_rel_err": r.max_rel_err, "worst_error_over_limit": r.worst_ratio,
        "worst_index": r.worst_index, "rtol": r.rtol, "atol": r.atol, "mismatch_count": r.mismatch_count,
        "mismatches": [
            {"index": m.index, "where": m.place, "analytic": m.analytic, "numeric": m.numeric, "abs_err": m.abs_err,
             "limit": m.tolerance}
            for m in r.mismatches
        ],
        "nondiff_indices": r.nondiff_indices,
        "analytic": _value(r.analytic), "numeric": _value(r.numeric),
    }  # fmt: skip


def _value(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        if x.size <= ARRAY_LIMIT:
            return {"shape": x.shape, "dtype": str(x.dtype), "values": x.tolist()}
        return {"shape": x.shape, "dtype": str(x.dtype)}
    return x


def _plain(x: Any) -> Any:
    if isinstance(x, (complex, np.complexfloating)):  # as the console writes it: a+bj
        return f"{x.real:.17g}{x.imag:+.17g}j"
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, slice):
        return f"{x.start}:{x.stop}:{x.step}"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return repr(x)


# ---- JUnit XML ----------------------------------------------------------------------------------


def to_junit(session: Session) -> str:
    counts = _counts(session)
    unchecked = [(t, None) for t in session.targets if t.problem or t.unfinished]
    cases = [(t, o) for t in session.targets for o in t.outcomes] + unchecked
    total_time = sum(o.seconds for _, o in cases if o is not None)
    # --strict: a warning is a failure, an unfinished function too; else they pass / are skipped
    warned = [o for _, o in cases if o and o.status == "warning"]
    undecided = [o for _, o in cases if o and o.status == "undecided"]
    failures = sum(1 for _, o in cases if o and o.failure and not o.xfail) + (len(warned) if session.strict else 0)
    failures += sum(1 for t, o in unchecked if t.unfinished) if session.strict else 0
    failures += len(undecided) if session.strict else 0
    skipped = counts["xfail"] + (0 if session.strict else counts["unfinished"] + len(undecided))
    suite = ET.Element(
        "testsuite", name="gradlab", tests=str(len(cases)), failures=str(failures),
        errors=str(sum(1 for t, o in cases if (o is None and t.problem and not t.unfinished) or (o and o.error))),
        skipped=str(skipped), time=f"{total_time:.3f}",
    )  # fmt: skip
    for t, o in cases:
        case = ET.SubElement(
            suite, "testcase", classname=f"gradlab.{t.style}", name=t.name if o is None else f"{t.name}[{o.dtype}]",
            file=t.source.rsplit(":", 1)[0], time=f"{o.seconds:.3f}" if o else "0",
        )  # fmt: skip
        if o is None and t.unfinished:
            kind = "failure" if session.strict else "skipped"
            ET.SubElement(case, kind, message=f"unfinished: {t.unfinished}")
        elif o is None:
            ET.SubElement(case, "error", message="cannot be checked").text = t.problem
        elif o.error:
            ET.SubElement(case, "error", message=o.error.splitlines()[0]).text = o.error
        elif o.failure and o.xfail:
            ET.SubElement(case, "skipped", message=f"expected failure: {o.xfail}")
        elif o.failure:
            failed = ", ".join(sorted({r.check for r in o.failure.report.failures}))
            text = format_report(o.failure.report) + f"\n\nreproduce: {session.reproduce(t, o)}"
            ET.SubElement(case, "failure", message=f"{t.name} [{o.dtype}]: {failed} failed").text = text
        elif o.status == "undecided":
            kind = "failure" if session.strict else "skipped"
            ET.SubElement(case, kind, message=f"undecided: {o.undecided_reason}")
        elif o.warning and session.strict:
            ET.SubElement(case, "failure", message=f"warning (--strict): {o.warning}")
        elif o.warning:
            ET.SubElement(case, "system-out").text = f"warning ({o.warnings} of {o.examples} examples): {o.warning}"
        if o is not None and o.undecided and o.status != "undecided" and not o.failure:
            ET.SubElement(
                case, "system-err"
            ).text = f"undecided ({o.undecided} of {o.examples} examples): {o.undecided_reason}"
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
