"""Finding ops in users' modules (every style), inferring their shapes, and whole-file problems."""

import functools
import sys
import textwrap
from pathlib import Path

import pytest

from gradlab.cli.discover import DiscoveryError, discover
from gradlab.fuzz.driver import fuzz_op
from gradlab.fuzz.strategies import core_dims

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CORRECT = {
    "course_style.py": ["affine", "relu", "sigmoid", "batchnorm", "dropout", "softmax_loss"],
    "class_style.py": ["EWiseMul", "PowerScalar", "MatMul", "Summation", "Exp"],
    "gradlab_style.py": ["softsign", "scaled_dot"],
}
STYLES = {"course_style.py": {"course", "loss"}, "class_style.py": {"class"}, "gradlab_style.py": {"gradlab"}}
DTYPES = ("float64", "float32")
CASES = [(module, name, dtype) for module, names in CORRECT.items() for name in names for dtype in DTYPES]


def _write(tmp_path, name, source):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _by_name(path):
    return {t.name: t for t in discover(path)}


@functools.cache
def _example(module):
    return _by_name(EXAMPLES / module)


@pytest.mark.parametrize("module", list(CORRECT))
def test_every_style_is_found_with_its_names(module):
    targets = discover(EXAMPLES / module)
    assert [t.name for t in targets] == CORRECT[module]
    assert {t.style for t in targets} == STYLES[module]
    for t in targets:
        assert t.problem is None and t.op is not None and t.spec is not None
        assert t.source.startswith(str(EXAMPLES / module) + ":")


def test_affine_shapes_are_inferred_as_n_d_then_d_m_then_m():
    affine = _example("course_style.py")["affine"]
    (x, w, b), _ = core_dims(affine.spec.signature)
    assert len(x) == 2 and len(w) == 2 and len(b) == 1
    n, d, m = x[0], x[1], w[1]
    assert (w[0], b[0]) == (d, m) and len({n, d, m}) == 3
    assert not affine.spec.batch
    assert [i.name for i in affine.spec.inputs] == ["x", "w", "b"]
    assert "x (n, d), w (d, m), b (m,)" in affine.inferred and "course_style.toml" in affine.pin


def test_elementwise_ops_take_batch_dimensions_and_the_toml_and_loss_conventions_apply():
    course = _example("course_style.py")
    assert course["relu"].spec.shape == "(n)->(n)" and course["relu"].spec.batch
    assert course["batchnorm"].spec.min_side == 2 and course["batchnorm"].inferred is None  # the toml
    assert course["softmax_loss"].style == "loss" and course["softmax_loss"].spec.inputs[1].domain == "labels"


def test_without_the_toml_batchnorm_shapes_are_inferred_too(tmp_path):
    (tmp_path / "course_style.py").write_text((EXAMPLES / "course_style.py").read_text())
    batchnorm = _by_name(tmp_path / "course_style.py")["batchnorm"]
    assert batchnorm.spec.shape == "(n,d),(d),(d)->(n,d)" and not batchnorm.spec.batch
    assert "x (n, d), gamma (d,), beta (d,)" in batchnorm.inferred


@pytest.mark.parametrize("module, name, dtype", CASES, ids=[f"{n}-{d}" for _, n, d in CASES])
def test_every_op_of_the_correct_examples_passes_the_fuzzer(module, name, dtype):
    target = _example(module)[name]
    outcome = fuzz_op(target.op, dtype, max_examples=30, spec=target.spec)
    if outcome.failure:
        pytest.fail(outcome.failure.example.describe() + "\n" + outcome.failure.report.format())
    assert outcome.status == "pass", outcome.error


def test_the_buggy_layernorm_fails_in_rev_for_x_only():
    (target,) = discover(EXAMPLES / "buggy_layernorm.py")
    assert target.name == "layernorm" and target.style == "course"
    outcome = fuzz_op(target.op, "float64", max_examples=30, spec=target.spec)
    assert outcome.status == "fail"
    failed = [(r.check, r.subject) for r in outcome.failure.report.results if r.status == "fail"]
    assert failed == [("rev", "x")]


def test_one_op_is_selected_by_name_or_by_its_function_name():
    path = EXAMPLES / "course_style.py"
    assert [t.name for t in discover(f"{path}::relu")] == ["relu"]
    assert [t.name for t in discover(path, select="affine_forward")] == ["affine"]
    with pytest.raises(DiscoveryError, match=r"course_style\.py: no op named 'conv'.*affine, relu"):
        discover(f"{path}::conv")


# ---- whole-file problems --------------------------------------------------------------------


def test_a_missing_file_or_not_a_module_is_a_discovery_error(tmp_path):
    with pytest.raises(DiscoveryError, match=r"nowhere\.py: no such file"):
        discover(tmp_path / "nowhere.py")
    with pytest.raises(DiscoveryError, match=r"notes\.txt: not a Python module"):
        discover(_write(tmp_path, "notes.txt", "hello"))


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    path = _write(tmp_path, "broken.py", "import numpy as np\n\ndef relu_forward(x:\n    return x\n")
    with pytest.raises(DiscoveryError, match=r"broken\.py:3: syntax error"):
        discover(path)


def test_an_import_error_names_the_exception_and_the_modules_line(tmp_path):
    path = _write(tmp_path, "raises.py", "import numpy as np\n\nSCALE = 1 / 0\n")
    with pytest.raises(DiscoveryError, match=r"raises\.py:3: importing the module raised ZeroDivisionError"):
        discover(path)
    path = _write(tmp_path, "missing_dep.py", "import numpy as np\nimport no_such_package_here\n")
    with pytest.raises(DiscoveryError, match=r"missing_dep\.py:2: .*ModuleNotFoundError.*no_such_package_here"):
        discover(path)


def test_a_module_with_nothing_to_check_says_which_styles_count(tmp_path):
    path = _write(tmp_path, "helpers.py", "def add(a, b):\n    return a + b\n")
    with pytest.raises(DiscoveryError, match=r"helpers\.py: nothing to check.*these styles") as info:
        discover(path)
    assert "compute" in str(info.value) and "_forward" in str(info.value) and "defvjp" in str(info.value)


# ---- per-op problems ------------------------------------------------------------------------


def test_an_op_that_fails_for_every_shape_gets_a_problem_and_the_others_are_found(tmp_path):
    path = _write(
        tmp_path,
        "mixed.py",
        """
        import numpy as np

        def broken_forward(x, w):
            raise ValueError("not written yet")

        def broken_backward(dout, cache):
            return cache

        def relu_forward(x):
            return np.maximum(x, 0), x

        def relu_backward(dout, cache):
            return dout * (cache > 0)

        def half_forward(x):
            return x / 2, None

        class Scale:
            def __init__(self, factor):
                self.factor = factor

            def compute(self, a):
                return a * self.factor

            def gradient(self, out_grad, node):
                return out_grad * self.factor
        """,
    )
    targets = _by_name(path)
    assert set(targets) == {"broken", "relu", "half", "Scale"}
    broken = targets["broken"]
    assert broken.op is None and broken.spec is None
    assert broken.problem.startswith("broken's forward raised ValueError: not written yet")
    assert "tries to find input shapes" in broken.problem
    assert "mixed.toml" in broken.problem
    assert "no half_backward" in targets["half"].problem
    assert "Scale.__init__ takes factor, which gradlab cannot choose by name" in targets["Scale"].problem
    assert targets["relu"].problem is None
    assert fuzz_op(targets["relu"].op, "float64", max_examples=10, spec=targets["relu"].spec).status == "pass"


def test_a_toml_beside_the_module_pins_a_spec_and_is_validated(tmp_path):
    source = """
        import numpy as np

        def square_forward(x):
            return x * x, x

        def square_backward(dout, cache):
            return 2 * cache * dout
        """
    path = _write(tmp_path, "sq.py", source)
    _write(
        tmp_path,
        "sq.toml",
        '[square]\nshape = "(n, k)->(n, k)"\nbatch = false\ninputs = [{ name = "x", domain = "positive" }]\n',
    )
    (target,) = discover(path)
    assert target.spec.shape == "(n,k)->(n,k)" and target.inferred is None
    assert fuzz_op(target.op, "float64", max_examples=10, spec=target.spec).status == "pass"
    _write(tmp_path, "sq.toml", '[square]\nshape = "(n)->(n)"\ninputs = [{ name = "x", domain = "sideways" }]\n')
    with pytest.raises(DiscoveryError, match=r"sq\.toml: op 'square': field 'inputs\[0\]\.domain'"):
        discover(path)
    _write(tmp_path, "sq.toml", '[cube]\nshape = "(n)->(n)"\ninputs = [{ name = "x", domain = "real" }]\n')
    with pytest.raises(DiscoveryError, match=r"sq\.toml: op 'cube': no op of that name"):
        discover(path)


def test_a_gradlab_op_without_a_spec_gets_one_inferred_and_siblings_import(tmp_path):
    _write(tmp_path, "helpers_for_ops.py", "def twice(v):\n    return 2 * v\n")
    path = _write(
        tmp_path,
        "mine.py",
        """
        import numpy as np
        from helpers_for_ops import twice
        from gradlab.ops import defvjp, op

        rowsum = op("rowsum", lambda m: twice(m.sum(axis=-1)))
        defvjp(rowsum, lambda g, ans, m: twice(np.broadcast_to(g[..., None], m.shape)))
        """,
    )
    before = list(sys.path)
    (target,) = discover(path)
    assert sys.path == before
    assert target.style == "gradlab" and target.spec.shape == "(n)->()" and target.spec.batch
    assert "inline spec" in target.pin
    assert fuzz_op(target.op, "float64", max_examples=10, spec=target.spec).status == "pass"


def test_the_other_class_conventions_and_a_ufunc_op_are_recognised(tmp_path):
    path = _write(
        tmp_path,
        "layers.py",
        """
        import numpy as np
        from gradlab.ops import defvjp, op

        exp = op("exp", np.exp)
        defvjp(exp, lambda g, ans, x: g * ans)

        class Tanh:
            def forward(self, x):
                self.out = np.tanh(x)
                return self.out

            def backward(self, g):
                return g * (1 - self.out**2)

        class Square:
            def forward(self, x):
                return x * x

            def backward(self, g, x):
                return 2 * g * x

        class Mul:
            def compute(self, a, b):
                return a * b

            def vjp(self, g, out, a, b):
                return g * b, g * a

            def jvp(self, tangents, out, a, b):
                return tangents[0] * b + a * tangents[1]

        class Model:
            def forward(self, x):
                return x
        """,
    )
    targets = _by_name(path)
    assert list(targets) == ["exp", "Tanh", "Square", "Mul"]
    assert targets["Mul"].spec.checks == ("rev", "fwd", "adj", "form")
    for t in targets.values():
        assert t.problem is None
        assert fuzz_op(t.op, "float64", max_examples=10, spec=t.spec).status == "pass", t.name


def test_a_missing_framework_is_named_with_the_extra_that_installs_it(tmp_path, monkeypatch):
    from gradlab.cli import importing

    # a framework gradlab bridges, absent here (torch, jax and autograd may well be installed)
    monkeypatch.setitem(importing.FRAMEWORKS, "gradlab_absent_framework", "torch")
    path = _write(tmp_path, "rules.py", "import numpy as np\nimport gradlab_absent_framework\n")
    with pytest.raises(DiscoveryError, match=r"rules\.py:2: the module imports gradlab_absent_framework, which is not "
                       r"installed here: pip install 'gradlab-check\[torch\]'"):  # fmt: skip
        discover(path)
    path = _write(tmp_path, "deeper.py", "import gradlab_absent_framework.nn\n")  # its own module missing
    with pytest.raises(DiscoveryError, match=r"the module imports gradlab_absent_framework, which"):
        discover(path)
