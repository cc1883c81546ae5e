"""gradlab check on a project: a folder of modules, several cores, shards, and [tool.gradlab]."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
OPS = "^(layernorm|relu|affine|softsign)$"  # from three modules of examples/, one of them wrong


def gradlab(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "gradlab", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600,
        env={**os.environ, "COLUMNS": "400"},  # long temporary paths on one line
    )  # fmt: skip


def outcomes(report: Path) -> list:
    data = json.loads(report.read_text())
    for op in data["ops"]:
        for run in op["runs"]:
            run.pop("seconds", None)
    return data["ops"]


def test_a_folder_is_checked_as_its_modules_with_one_summary(tmp_path):
    report = tmp_path / "r.json"
    result = gradlab("check", EXAMPLES, "-k", OPS, "--examples", "8", "--jobs", "1", "--json", report, "--no-color")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.count(" ops: ") == 1 and "4 ops: 1 failed, 3 passed" in result.stdout
    sources = {op["source"].split(":")[0] for op in json.loads(report.read_text())["ops"]}
    assert len(sources) == 3  # three modules
    # each op reproduces from its own file, not from the folder
    assert "reproduce: gradlab check " + str(EXAMPLES / "buggy_layernorm.py") + "::layernorm" in " ".join(
        result.stdout.split()
    ).replace("│ ", "")


def test_jobs_give_the_results_of_a_serial_run(tmp_path):
    serial, parallel = tmp_path / "1.json", tmp_path / "2.json"
    for jobs, report in ((1, serial), (2, parallel)):
        result = gradlab("check", EXAMPLES, "-k", OPS, "--examples", "8", "--jobs", jobs, "--json", report, "-q")
        assert result.returncode == 1, result.stdout + result.stderr
    assert json.loads(parallel.read_text())["settings"]["jobs"] == 2
    assert outcomes(serial) == outcomes(parallel)


def test_shards_split_the_ops_without_overlap(tmp_path):
    names = []
    for k in (1, 2):
        report = tmp_path / f"{k}.json"
        gradlab("check", EXAMPLES, "-k", OPS, "--examples", "3", "--shard", f"{k}/2", "--json", report, "-q")
        names.append([op["name"] for op in json.loads(report.read_text())["ops"]])
    assert names[0] and names[1] and not set(names[0]) & set(names[1])
    assert sorted(names[0] + names[1]) == ["affine", "layernorm", "relu", "softsign"]
    bad = gradlab("check", EXAMPLES, "--shard", "3/2")
    assert bad.returncode == 2 and "give K/N with 1 <= K <= N" in bad.stderr


MODULE = """
    def scale_rows_forward(x, s):
        return x * s[:, None], (x, s)

    def scale_rows_backward(dout, cache):
        x, s = cache
        return dout * s[:, None], (dout * x).sum(axis=1)
"""
TABLE = """
    [tool.gradlab.ops.scale_rows]
    shape = "(n,d),(n)->(n,d)"
    batch = false
    inputs = [{ name = "x", domain = "real" }, { name = "s", domain = "real" }]
"""


def test_tool_gradlab_sets_the_defaults_and_the_shapes(tmp_path):
    (tmp_path / "ops.py").write_text(textwrap.dedent(MODULE))
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent('[tool.gradlab]\ndtypes = ["float64"]\nexamples = 7\n' + TABLE)
    )
    (tmp_path / "sub").mkdir()  # found from a folder below too
    report = tmp_path / "r.json"
    result = gradlab("check", "../ops.py", "--json", report, "--no-color", cwd=tmp_path / "sub")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "shapes from " + str(tmp_path / "pyproject.toml") in " ".join(result.stdout.split())
    (run,) = json.loads(report.read_text())["ops"][0]["runs"]
    assert (run["dtype"], run["examples"]) == ("float64", 7)
    flags = gradlab("check", "ops.py", "--dtype", "float32", "--examples", "3", "--json", report, cwd=tmp_path)
    assert flags.returncode == 0
    (run,) = json.loads(report.read_text())["ops"][0]["runs"]
    assert (run["dtype"], run["examples"]) == ("float32", 3)  # a flag wins


def test_a_wrong_key_of_tool_gradlab_is_named_with_the_one_meant(tmp_path):
    (tmp_path / "ops.py").write_text(textwrap.dedent(MODULE))
    (tmp_path / "pyproject.toml").write_text("[tool.gradlab]\nexampels = 3\n")
    result = gradlab("check", "ops.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "[tool.gradlab] exampels: unknown key (did you mean examples?)" in result.stderr


CRASHING = """
    import ctypes

    import numpy as np


    def crash_forward(x):  # a compiled backend that segfaults on any input
        ctypes.string_at(0)


    def crash_backward(dout, cache):
        return dout


    def late_crash_forward(x):
        return 2 * x, x


    def late_crash_backward(dout, cache):
        if dout.ndim >= 3:  # a crash only on the batched inputs the fuzzer draws
            ctypes.string_at(0)
        return 2 * dout


    def picky_forward(x):  # crashes, not raises, outside its domain (a window longer than x)
        if x.shape[-1] < 2:
            ctypes.string_at(0)
        return 2 * x, x


    def picky_backward(dout, cache):
        return 2 * dout


    def relu_forward(x):
        return np.maximum(x, 0), x


    def relu_backward(dout, cache):
        return dout * (cache > 0)
"""


def test_a_crash_in_compiled_code_ends_its_op_not_the_run(tmp_path):
    (tmp_path / "native.py").write_text(textwrap.dedent(CRASHING))
    report = tmp_path / "r.json"
    result = gradlab("check", "native.py", "--examples", "40", "--dtype", "float64", "--json", report, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    ops = {op["name"]: op for op in json.loads(report.read_text())["ops"]}
    assert "the process inspecting crash died: SIGSEGV (a crash in compiled code)" in ops["crash"]["problem"]
    # checked again with each example alone: the crash of the rules is a failure, shrunk
    (late,) = ops["late_crash"]["runs"]
    assert late["status"] == "fail", late
    (form,) = late["failure"]["report"]["results"]
    assert (form["check"], form["subject"]) == ("form", "rules")
    assert "the process died while the rules ran: SIGSEGV (a crash in compiled code)" in form["message"]
    assert late["failure"]["inputs"][0]["shape"] == [1, 1, 1]  # the smallest input that still crashes
    # a forward that crashes outside its domain: those examples are skipped, the op passes on the others
    (picky,) = ops["picky"]["runs"]
    assert picky["status"] == "pass", picky
    assert picky["rejected"] > 0
    assert ops["relu"]["status"] == "pass"
