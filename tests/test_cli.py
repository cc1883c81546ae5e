"""The command line, end to end through subprocesses: exit codes, summary, JSON and JUnit."""

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def gradlab(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "gradlab", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def test_help_is_quick_and_shows_examples():
    started = time.perf_counter()
    result = gradlab("--help")
    elapsed = time.perf_counter() - started
    assert result.returncode == 0
    assert "examples:" in result.stdout and "gradlab check my_layers.py" in result.stdout
    assert elapsed < 2.0  # the interpreter start dominates; heavy modules are not imported
    for command in ("check", "list"):
        sub = gradlab(command, "--help")
        assert sub.returncode == 0 and "examples:" in sub.stdout


def test_help_does_not_import_numpy():
    code = "import sys; from gradlab.cli import build_parser; build_parser(); print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_registry_check_passes_and_writes_matching_reports(tmp_path):
    report, junit = tmp_path / "out" / "r.json", tmp_path / "r.xml"
    result = gradlab(
        "check", "--registry", "-k", "^(exp|relu)$", "--examples", "20", "--json", report, "--junit-xml", junit
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 ops: 2 passed" in result.stdout
    data = json.loads(report.read_text())
    assert [op["name"] for op in data["ops"]] == ["exp", "relu"]
    assert data["summary"]["pass"] == 2 and data["exit_code"] == 0
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "0"
    names = sorted(case.get("name") for case in suite.iter("testcase"))
    assert names == ["exp[float32]", "exp[float64]", "relu[float32]", "relu[float64]"]


@pytest.mark.parametrize(
    "args, words",
    [
        ((), "nothing to check"),
        (("--registry", "-k", "no_such_op"), "no op matches"),
        (("missing_module.py",), "missing_module.py"),
        (("--registry", "--dtype", "float16"), "invalid choice"),
    ],
)
def test_whole_run_problems_exit_2_with_one_clear_line(args, words):
    result = gradlab("check", *args)
    assert result.returncode == 2
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_a_report_file_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    from gradlab import report_files

    target = tmp_path / "report.json"
    target.write_text("old")

    def interrupted(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(report_files.os, "replace", interrupted)
    with pytest.raises(OSError):
        report_files.write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left behind
    monkeypatch.undo()
    report_files.write_atomic(target, "new")
    assert target.read_text() == "new"
