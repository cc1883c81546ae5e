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
    code = "import sys; from gradlab.cli.main import build_parser; build_parser(); print('numpy' in sys.modules)"
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
    from gradlab.cli import report_files

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


def test_a_report_file_gets_the_modes_of_an_ordinary_file(tmp_path):
    import os
    import stat

    from gradlab.cli import report_files

    mask = os.umask(0o022)
    try:
        report_files.write_atomic(tmp_path / "r.json", "{}")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644  # not mkstemp's 0600


def test_the_buggy_example_fails_with_a_report_and_matching_files(tmp_path):
    report, junit = tmp_path / "r.json", tmp_path / "r.xml"
    result = gradlab(
        "check",
        EXAMPLES / "buggy_layernorm.py",
        "--examples",
        "30",
        "--no-color",
        "--json",
        report,
        "--junit-xml",
        junit,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stdout and "rev failed" in result.stdout
    assert "reproduce: gradlab check" in result.stdout
    assert "1 op: " in result.stdout
    data = json.loads(report.read_text())
    (op,) = data["ops"]
    assert op["name"] == "layernorm" and op["status"] == "fail"
    failing = [r for run in op["runs"] for r in run["failure"]["report"]["results"] if r["status"] == "fail"]
    assert {(r["check"], r["subject"]) for r in failing} == {("rev", "x")}
    # the FAILED rows show the failure's error, not the passing examples' (which were 1e-12 or so)
    row = next(line for line in result.stdout.splitlines() if "float64" in line and "FAILED" in line)
    assert f"{max(r['max_rel_err'] for r in failing):.1e}" in row
    suite = ET.parse(junit).getroot().find("testsuite")
    assert int(suite.get("failures")) == len(op["runs"]) == 2
    assert all("rev failed" in f.get("message") for f in suite.iter("failure"))


@pytest.mark.parametrize("module", ["course_style.py", "class_style.py", "gradlab_style.py"])
def test_the_correct_examples_pass(module):
    result = gradlab("check", EXAMPLES / module, "--examples", "15", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout


BROKEN_MODULE = """
import time
import numpy as np
from gradlab.ops import op, defvjp, defjvp

SPEC = {"shape": "()->()", "inputs": [{"name": "x", "domain": "real"}]}

good = op("good", lambda x: x * x, spec=SPEC)
defvjp(good, lambda g, ans, x: 2 * g * x)
defjvp(good, lambda t, ans, x: 2 * t * x)

raises = op("raises", lambda x: x.no_such_method(), spec=SPEC)
defvjp(raises, lambda g, ans, x: g)

wrong_count = op("wrong_count", lambda x, y: x * y, spec={
    "shape": "(),()->()", "inputs": [{"name": "x", "domain": "real"}, {"name": "y", "domain": "real"}]})
wrong_count.vjp_joint = lambda g, out, x, y: (g * y,)

returns_none = op("returns_none", lambda x: 3 * x, spec=SPEC)
returns_none.vjp_joint = lambda g, out, x: None

nan_always = op("nan_always", lambda x: x * np.nan, spec=SPEC)
defvjp(nan_always, lambda g, ans, x: g)

def _slow(x):
    time.sleep(5)
    return x

hangs = op("hangs", _slow, spec=SPEC)
defvjp(hangs, lambda g, ans, x: g)
"""


def test_broken_ops_are_each_explained_and_never_stop_the_others(tmp_path):
    module = tmp_path / "broken.py"
    module.write_text(BROKEN_MODULE)
    report = tmp_path / "r.json"
    result = gradlab("check", module, "--examples", "10", "--timeout", "1", "--dtype", "float64", "--json", report)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    ops = {op["name"]: op for op in json.loads(report.read_text())["ops"]}
    runs = {name: op["runs"][0] for name, op in ops.items() if op["runs"]}
    assert runs["good"]["status"] == "pass"
    assert runs["raises"]["status"] == "fail"
    assert "forward raised AttributeError" in json.dumps(runs["raises"]["failure"])
    assert "returned 1 cotangents; expected 2" in json.dumps(runs["wrong_count"]["failure"])
    assert ops["returns_none"]["status"] == "unfinished"
    assert "returns None for the gradient of x" in ops["returns_none"]["unfinished"]
    assert "NaN or Inf for every example" in runs["nan_always"]["error"]
    assert ops["hangs"]["status"] == "error" and "took more than 1 s" in ops["hangs"]["problem"]


@pytest.mark.parametrize(
    "source, words",
    [
        ("def broken(:\n", "syntax error"),
        ("import no_such_module_anywhere\n", "no_such_module_anywhere"),
        ("x = 1\n", "nothing to check"),
    ],
)
def test_module_problems_exit_2_with_a_paragraph_naming_the_file(tmp_path, source, words):
    module = tmp_path / "mod.py"
    module.write_text(source)
    result = gradlab("check", module)
    assert result.returncode == 2
    assert words in result.stderr.lower() and "mod.py" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_color_is_honoured_and_no_color_flag_forces_it(monkeypatch):
    import argparse

    from gradlab.cli.commands import _console

    monkeypatch.setenv("NO_COLOR", "1")
    assert _console(argparse.Namespace(no_color=False)).no_color
    monkeypatch.delenv("NO_COLOR")
    assert not _console(argparse.Namespace(no_color=False)).no_color
    assert _console(argparse.Namespace(no_color=True)).no_color


def test_cuda_without_cupy_is_a_clear_usage_error():
    pytest.importorskip("numpy")
    try:
        import cupy  # noqa: F401

        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    result = gradlab("check", "--registry", "-k", "^exp$", "--device", "cuda")
    assert result.returncode == 2
    assert "pip install 'gradlab-check[cupy]'" in result.stderr


def test_list_shows_the_registry_and_a_module():
    result = gradlab("list", "-k", "^(softmax|matmul)$")
    assert result.returncode == 0 and "softmax" in result.stdout and "matmul" in result.stdout
    assert "gradlab/ops/nn.py" in result.stdout and "…" not in result.stdout  # piped: no cell cut at 80 columns
    course = gradlab("list", EXAMPLES / "course_style.py")
    assert course.returncode == 0 and "affine" in course.stdout
