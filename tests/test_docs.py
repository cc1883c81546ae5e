"""What the documentation shows runs and says what the docs claim: the example test file, the
tutorial's op, the op catalogue, the step-error figure's numbers."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from gradlab.fuzz.driver import fuzz_op
from gradlab.ops import REGISTRY, defvjp
from gradlab.ops.spec import load_specs

pytest_plugins = ["pytester"]

DOCS = Path(__file__).resolve().parent.parent / "docs"


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_example_test_file_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_with_strategies=(DOCS / "examples" / "test_with_strategies.py").read_text())
    pytester.runpytest().assert_outcomes(passed=5)


def test_the_tutorial_op_fails_as_the_tutorial_says_then_passes_once_fixed() -> None:
    tutorial = load(DOCS / "examples" / "normalize.py")
    outcome = fuzz_op(tutorial.normalize, "float64", max_examples=100)
    assert outcome.failure is not None
    report = outcome.failure.report
    assert sorted(r.check for r in report.failures) == ["adj", "rev"]
    assert "the error is in the VJP" in report.format()
    assert outcome.failure.example.describe(["x"]).startswith("x: float64 (1,)")  # shrunk to one element

    def fixed(g, y, x):  # the fix the tutorial shows
        return (g - y * np.sum(g * y, axis=-1, keepdims=True)) / np.linalg.norm(x, axis=-1, keepdims=True)

    defvjp(tutorial.normalize, fixed)
    for dtype in ("float64", "float32"):
        assert fuzz_op(tutorial.normalize, dtype, max_examples=100).status == "pass"


def test_the_catalogue_lists_every_op_of_the_specs() -> None:
    page = load(DOCS / "gen_catalogue.py").catalogue()
    for name in load_specs():
        assert f"| `{name}` |" in page
    assert "| `relu` | `()->()` | `x` real [-3, 3] | — | VJP, JVP | kinks at 0 |" in page
    assert len(REGISTRY) > 0


def test_the_chosen_steps_sit_near_the_minimum_of_the_error() -> None:
    plot = load(DOCS / "plot_step_error.py")
    steps = np.logspace(-15, 0, 301)
    errors = plot.errors(steps)
    for method, order in (("central", 2), ("stencil", 4)):
        chosen = abs(plot.derivative(method, plot.chosen_step(method)) - plot.EXACT)
        assert chosen < 3 * errors[method].min() or chosen < 2e-13  # near the best of the sweep
        assert chosen < plot.EPS ** (order / (order + 1))  # the error model's promise
        # truncation falls and round-off rises away from the minimum
        assert errors[method][0] > 1e3 * chosen and errors[method][-1] > 1e3 * chosen
