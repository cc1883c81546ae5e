"""The pytest plugin, run on small test files by pytester: the fixture, the options, the profiles.

Runs that select a Hypothesis profile go through a subprocess, so that the profile they load
stays out of this test session.
"""

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

# in-process pytester runs unload what they import; NumPy cannot be loaded twice in one process,
# so what the runs use is imported here first

pytest_plugins = ["pytester"]

OPS = """
import numpy as np
from gradlab import defjvp, defvjp, op

# vectors, not 0-d arrays: under NumPy 1.x a 0-d float32 times a Python number is float64
SPEC = {"shape": "(n)->(n)", "inputs": [{"name": "x", "domain": "real"}]}

cube = op("cube", lambda x: x**3, spec=SPEC)
defvjp(cube, lambda g, ans, x: 3 * g * x**2)
defjvp(cube, lambda t, ans, x: 3 * t * x**2)

# the VJP's sign is flipped; the JVP is right
wrong_cube = op("wrong_cube", lambda x: x**3, spec=SPEC)
defvjp(wrong_cube, lambda g, ans, x: -3 * g * x**2)
defjvp(wrong_cube, lambda t, ans, x: 3 * t * x**2)
"""


@pytest.fixture
def ops(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(my_ops=OPS)
    return pytester


def test_a_right_op_passes(ops: pytest.Pytester) -> None:
    ops.makepyfile(
        """
        from my_ops import cube

        def test_cube(gradcheck):
            outcomes = gradcheck(cube)
            assert [o.dtype for o in outcomes] == ["float64", "float32"]
            assert all(o.status == "pass" and o.examples > 0 for o in outcomes)
        """
    )
    ops.runpytest().assert_outcomes(passed=1)


def test_a_wrong_op_fails_with_the_plain_report(ops: pytest.Pytester) -> None:
    ops.makepyfile(
        """
        from my_ops import wrong_cube

        def test_wrong_cube(gradcheck):
            gradcheck(wrong_cube, dtypes=["float64"])
        """
    )
    result = ops.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "gradlab: fuzzing `wrong_cube` [float64]: adj, rev failed" in out
    assert "[rev] VJP (reverse mode) vs numerical derivative, x: FAILED" in out
    assert "diagnosis: sign flipped" in out
    assert "shrunk example: x: float64 (1,)" in out
    assert "reproduce: python -m pytest test_a_wrong_op_fails_with_the_plain_report.py::test_wrong_cube" in out
    assert "\x1b[" not in out  # no colour or other control codes
    assert "gradlab/fuzz/" not in out and "Traceback" not in out  # no traceback of gradlab's insides


def test_a_wrong_function_fails_with_its_shrunk_inputs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import numpy as np
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp

        def square(x):
            return x**2

        inputs = hnp.arrays(np.float64, hnp.array_shapes(max_dims=2), elements=st.floats(-2, 2))

        def test_right(gradcheck):
            report = gradcheck(square, inputs, vjp=lambda g, out, x: 2 * g * x, max_examples=20)
            assert report.passed

        def test_wrong(gradcheck):
            gradcheck(square, inputs, vjp=lambda g, out, x: g * x)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "gradlab: fuzzing `square` [float64]: rev failed" in out
    assert "diagnosis: off by a constant factor" in out
    assert "shrunk example: x: float64 (1,) = [1.]" in out  # shrunk: 0 passes, 1 is the simplest failure
    assert "During handling of the above exception" not in out
    assert "\x1b[" not in out


def test_the_options_reach_the_fixture(ops: pytest.Pytester) -> None:
    ops.makepyfile(
        """
        from my_ops import wrong_cube

        def test_options(gradcheck):
            assert (gradcheck.profile, gradcheck.max_examples, gradcheck.seed) == ("thorough", 2000, 7)

        def test_seed_reaches_the_report(gradcheck):
            gradcheck(wrong_cube, dtypes=["float64"])
        """
    )
    result = ops.runpytest("--gradlab-profile", "thorough", "--gradlab-seed", "7")
    result.assert_outcomes(passed=1, failed=1)
    assert "seed 7)" in result.stdout.str()
    assert "--gradlab-profile thorough --gradlab-seed 7" in result.stdout.str()


def test_the_default_profile_is_quick(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_defaults(gradcheck):
            assert (gradcheck.profile, gradcheck.max_examples, gradcheck.seed) == ("quick", 100, 0)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_bad_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess("--gradlab-profile", "slow")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "invalid choice: 'slow'" in result.stderr.str()


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("gradlab-ci", "(s.derandomize, s.deadline, s.database) == (True, None, None)"),
        # the rest comes from the default profile, which Hypothesis changes on CI machines
        ("gradlab-thorough", "(s.deadline, s.max_examples) == (None, 2000)"),
    ],
)
def test_the_hypothesis_profiles_are_selectable(pytester: pytest.Pytester, profile: str, expected: str) -> None:
    pytester.makepyfile(
        f"""
        from hypothesis import settings

        def test_profile():
            s = settings.default
            assert {expected}
        """
    )
    pytester.runpytest_subprocess("--hypothesis-profile", profile).assert_outcomes(passed=1)


def test_the_plugin_imports_neither_numpy_nor_hypothesis() -> None:
    code = "import sys, gradlab.pytest_plugin; print(sorted({'numpy', 'hypothesis'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ---- ops as test items: --gradlab-check, gradlab_check --------------------------------------------

ITEMS = [
    "my_ops.py::gradlab[cube-float64]",
    "my_ops.py::gradlab[cube-float32]",
    "my_ops.py::gradlab[wrong_cube-float64]",
    "my_ops.py::gradlab[wrong_cube-float32]",
]


def _collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::gradlab[" in line]


def test_each_op_is_one_item_per_dtype_from_the_option_or_the_ini(ops: pytest.Pytester) -> None:
    assert _collected(ops.runpytest("--gradlab-check", "my_ops.py", "--collect-only", "-q")) == ITEMS
    ops.makeini("[pytest]\ngradlab_check = my_ops.py\n")
    sub = ops.mkdir("sub")  # the ini's paths are relative to the rootdir, wherever pytest runs
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(sub)
        from_ini = ops.runpytest("--collect-only", "-q")
        both = ops.runpytest("--gradlab-check", "../my_ops.py", "--collect-only", "-q")  # the same module once
    assert from_ini.ret == both.ret == pytest.ExitCode.OK
    assert _collected(from_ini) == _collected(both) == ITEMS  # in the same order on every run (xdist compares)
    registry = _collected(ops.runpytest("--gradlab-check", "registry", "--collect-only", "-q"))
    assert "registry::gradlab[exp-float64]" in registry and "registry::gradlab[exp-float32]" in registry
    assert _collected(ops.runpytest("--gradlab-check", "registry", "--collect-only", "-q")) == registry


def test_items_read_the_op_specs_of_the_projects_pyproject(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        squares="from gradlab import defvjp, op\n\nsquare = op('square', lambda x: x**2)\n"
        "defvjp(square, lambda g, ans, x: 2 * g * x)\n"
    )
    pytester.makepyprojecttoml(
        '[tool.gradlab.ops.square]\nshape = "(n)->(n)"\ndtypes = ["float64"]\n'
        'inputs = [{ name = "x", domain = "real" }]\n'
    )
    items = _collected(pytester.runpytest("--gradlab-check", "squares.py", "--collect-only", "-q"))
    assert items == ["squares.py::gradlab[square-float64]"]  # as gradlab check squares.py reads it


def test_items_are_selected_with_k_and_stop_with_x(ops: pytest.Pytester) -> None:
    selected = ops.runpytest("--gradlab-check", "my_ops.py", "-k", "float64 and not wrong", "-v")
    selected.assert_outcomes(passed=1, deselected=3)
    selected.stdout.fnmatch_lines(["my_ops.py::gradlab[[]cube-float64[]] PASSED*"])
    stopped = ops.runpytest("--gradlab-check", "my_ops.py", "-x", "-k", "wrong")
    stopped.assert_outcomes(failed=1, deselected=2)  # the float32 item never ran


def test_a_wrong_op_fails_its_item_with_the_plain_report(ops: pytest.Pytester) -> None:
    junit = ops.path / "report.xml"
    result = ops.runpytest("--gradlab-check", "my_ops.py", "-k", "wrong_cube-float64", f"--junit-xml={junit}")
    result.assert_outcomes(failed=1, deselected=3)
    out = result.stdout.str()
    assert "gradlab: fuzzing `wrong_cube` [float64]: adj, rev failed after" in out
    assert "diagnosis: sign flipped" in out and "shrunk example: x: float64 (1,)" in out
    assert (
        "reproduce: python -m pytest --gradlab-check my_ops.py -k 'gradlab[wrong_cube-float64]'"
        " --gradlab-profile quick --gradlab-seed 0"
    ) in out
    assert "Traceback" not in out and "gradlab/cli/" not in out and "\x1b[" not in out
    xml = junit.read_text()
    assert 'classname="my_ops" name="gradlab[wrong_cube-float64]"' in xml
    assert '<failure message="gradlab: fuzzing `wrong_cube` [float64]' in xml
    ops.makeini("[pytest]\ngradlab_check = my_ops.py\n")  # the ini names the module: the reproduce line need not
    from_ini = ops.runpytest("-k", "wrong_cube-float64")
    from_ini.assert_outcomes(failed=1, deselected=3)
    assert "reproduce: python -m pytest -k 'gradlab[wrong_cube-float64]' --gradlab-profile" in from_ini.stdout.str()


VERDICTS = """
import numpy as np

def scale_forward(x):
    return 3 * x, None

def scale_backward(dout, cache):
    return 3 * dout.astype(np.float64)  # a float32 input's gradient in float64: a warning

def affine_forward(x, w):
    return None, None

def affine_backward(dout, cache):
    pass  # not written yet: unfinished
"""


def test_the_verdicts_map_to_pytest_outcomes_and_strict_fails_the_lenient_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(layers=VERDICTS, broken="import not_a_module_anywhere\n")
    pytester.makepyfile(my_ops=OPS.replace("spec=SPEC)\ndefvjp(wrong", 'spec={**SPEC, "xfail": "sign"})\ndefvjp(wrong'))
    # this suite turns warnings into errors (filterwarnings), in-process runs too
    select = ("--gradlab-check", "layers.py", "-k", "float32 or affine")  # unfinished, no spec: one item, no dtype
    lenient = pytester.runpytest(*select, "-rs", "-W", "always::UserWarning")
    lenient.assert_outcomes(passed=1, skipped=1, deselected=1, warnings=1)
    lenient.stdout.fnmatch_lines(
        ["*GradlabWarning: gradlab: fuzzing `scale` [[]float32[]]: warning*", "*affine is unfinished*"]
    )
    strict = pytester.runpytest(*select, "--gradlab-strict")
    strict.assert_outcomes(failed=2, deselected=1)
    assert "(--gradlab-strict: a warning fails the item)" in strict.stdout.str()
    expected = pytester.runpytest("--gradlab-check", "my_ops.py", "-k", "wrong_cube-float64")
    expected.assert_outcomes(xfailed=1, deselected=3)  # the spec's xfail
    broken = pytester.runpytest("--gradlab-check", "broken.py")
    assert broken.ret == pytest.ExitCode.INTERRUPTED
    broken.stdout.fnmatch_lines(["*gradlab: broken.py:1: importing the module raised ModuleNotFoundError*"])


def test_items_run_under_xdist(ops: pytest.Pytester) -> None:
    # the workers collect the same items in the same order, or xdist stops; failures travel back whole
    result = ops.runpytest_subprocess("--gradlab-check", "my_ops.py", "-p", "xdist", "-n", "2", "-k", "wrong")
    result.assert_outcomes(failed=2)  # (xdist's summary counts no deselected items)
    failures = result.stdout.str().split("short test summary info")[0]  # on CI (CI=1) the summary repeats them
    assert failures.count("diagnosis: sign flipped") == 2


# ---- Hypothesis' habits: --hypothesis-seed, the example database -----------------------------------

DRAWN = """
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

drawn = []
inputs = hnp.arrays(np.float64, 3, elements=st.floats(-2, 2)).map(lambda x: drawn.append(x.tolist()) or x)

def test_drawn(gradcheck):
    gradcheck(lambda x: x**2, inputs, vjp=lambda g, out, x: 2 * g * x, max_examples=10)
    print("seed", gradcheck.seed, "drawn", drawn)
"""


@pytest.fixture
def hypothesis_seed() -> Iterator[None]:
    """Hypothesis' plugin sets its global seed from --hypothesis-seed for the rest of the process: undone here."""
    from hypothesis import core

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(core, "global_force_seed", core.global_force_seed)
        yield


def _drawn(result: pytest.RunResult) -> str:
    result.assert_outcomes(passed=1)
    found = re.search(r"seed \d+ drawn .*", result.stdout.str())
    assert found, result.stdout.str()
    return found.group()


@pytest.mark.usefixtures("hypothesis_seed")
def test_hypothesis_seed_seeds_the_examples_unless_gradlab_seed_is_given(ops: pytest.Pytester) -> None:
    ops.makepyfile(test_drawn=DRAWN)
    default = _drawn(ops.runpytest("-s"))
    theirs = ops.runpytest("-s", "-v", "--hypothesis-seed", "5")
    assert _drawn(theirs).startswith("seed 5 drawn") and _drawn(theirs) != default
    theirs.stdout.fnmatch_lines(["gradlab: profile quick (100 examples), seed 5 (--hypothesis-seed)"])
    assert _drawn(ops.runpytest("-s", "--hypothesis-seed", "5", "--gradlab-seed", "0")) == default
    item = ops.runpytest("--gradlab-check", "my_ops.py", "-k", "wrong_cube-float64", "--hypothesis-seed", "5")
    item.assert_outcomes(failed=1, deselected=4)  # test_drawn.py too
    assert "(mode full, method stencil, seed 5)" in item.stdout.str()
    assert "--gradlab-seed 5" in item.stdout.str()  # the reproduce line


GROWS_WRONG = """
from gradlab import defjvp, defvjp, op

SPEC = {"shape": "(n)->(n)", "inputs": [{"name": "x", "domain": "real"}]}

# wrong for three elements or more: found after a few examples
grows_wrong = op("grows_wrong", lambda x: x**3, spec=SPEC)
defvjp(grows_wrong, lambda g, ans, x: 3 * g * x**2 * (2 if x.size >= 3 else 1))
defjvp(grows_wrong, lambda t, ans, x: 3 * t * x**2)
"""

GROWS_WRONG_TESTS = """
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from grows import grows_wrong

def test_op(gradcheck):
    gradcheck(grows_wrong, dtypes=["float64"])

def test_function(gradcheck):
    inputs = hnp.arrays(np.float64, hnp.array_shapes(max_dims=1), elements=st.floats(-2, 2))
    gradcheck(lambda x: x**3, inputs, vjp=lambda g, out, x: 3 * g * x**2 * (2 if x.size >= 3 else 1))
"""

DATABASE_CONFTEST = """
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

settings.register_profile("with-database", database=DirectoryBasedExampleDatabase("examples-db"))
settings.load_profile("with-database")
"""


def test_a_failure_is_saved_in_the_example_database_and_replayed_first(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(grows=GROWS_WRONG, test_grows=GROWS_WRONG_TESTS)
    pytester.makeconftest(DATABASE_CONFTEST)  # Hypothesis' default is .hypothesis/examples; CI profiles have none
    args = ("--gradlab-check", "grows.py", "-k", "float64 or test_", "-p", "no:cacheprovider")

    def found_after() -> list[str]:
        result = pytester.runpytest_subprocess(*args)  # a profile is loaded: kept out of this process
        result.assert_outcomes(failed=3, deselected=1)
        return re.findall(
            r"^gradlab: fuzzing `(?:grows_wrong|<lambda>)` .* failed after (\d+) ", result.stdout.str(), re.M
        )

    first = found_after()
    assert len(first) == 3 and all(int(n) > 1 for n in first)  # the item, the fixture's op, its function
    assert (pytester.path / "examples-db").is_dir()
    assert [int(n) for n in found_after()] == [1, 1, 1]  # each replayed its saved failure first
