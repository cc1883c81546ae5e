"""The examples of framework rules (examples/torch_function.py, examples/jax_custom_vjp.py): each
fails with the diagnosis its docstring promises, and passes once its BUG line is replaced by the fix
its comment gives."""

import re
from pathlib import Path

import pytest

from gradlab.cli.discover import discover
from gradlab.fuzz.driver import fuzz_op

pytestmark = pytest.mark.frameworks
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _fixed(path: Path, tmp_path: Path) -> Path:
    """The example with its BUG line replaced by the fix its comment gives."""
    source = path.read_text()
    fix = re.search(r"# BUG:.*the fix:\n\s*# (.+)\n(\s*)(.+)\n", source)
    assert fix is not None, "the example names its fix"
    fixed = tmp_path / path.name
    fixed.write_text(source.replace(fix.group(0), fix.group(1) + "\n"))  # in the BUG line's place
    return fixed


@pytest.mark.parametrize(
    ("example", "framework", "wrong", "right", "diagnosis"),
    [
        ("torch_function.py", "torch", "x", ["weight"], None),
        ("jax_custom_vjp.py", "jax", "x", [], "off by a constant factor"),
    ],
)
def test_the_example_fails_where_it_says_and_its_fix_passes(example, framework, wrong, right, diagnosis, tmp_path):
    pytest.importorskip(framework, reason=f"needs {framework} (pip install 'gradlab-check[{framework}]')")
    (target,) = discover(EXAMPLES / example)
    assert target.style == framework
    report = fuzz_op(target.op, "float64", max_examples=20, spec=target.spec).failure.report
    assert report.result("rev", wrong).status == "fail"
    assert all(report.result("rev", name).status == "pass" for name in right)
    if diagnosis:
        assert diagnosis in report.result("rev", wrong).diagnosis
    (fixed,) = discover(_fixed(EXAMPLES / example, tmp_path))
    for dtype in ("float64", "float32"):
        assert fuzz_op(fixed.op, dtype, max_examples=20, spec=fixed.spec).status == "pass"
