"""The pytest plugin, run on small test files by pytester: the fixture, the options, the profiles.

Runs that select a Hypothesis profile go through a subprocess, so that the profile they load
stays out of this test session.
"""

import subprocess
import sys

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
