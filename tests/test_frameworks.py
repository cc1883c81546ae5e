"""Autodiff homework in its own framework: a needle-like package (tests/modules/needle_hw, written
for these tests) imported as its project imports it, its ops made with their constructor parameters
and run on its own Tensors."""

import functools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gradlab.cli.discover import DiscoveryError, discover
from gradlab.fuzz.driver import fuzz_op

PACKAGE = Path(__file__).resolve().parent / "modules" / "needle_hw" / "python" / "needle"
OPS = PACKAGE / "ops" / "ops_mathematic.py"
RIGHT = ["EWiseAdd", "AddScalar", "MulScalar", "EWiseMul", "EWiseDiv", "PowerScalar", "Transpose", "Reshape",
         "BroadcastTo", "Summation", "MatMul", "Log", "ReLU"]  # fmt: skip


@functools.cache
def _targets(path=OPS):
    return {t.name: t for t in discover(path)}


def _fuzz(name, dtype="float64", examples=25):
    target = _targets()[name]
    assert target.problem is None and target.unfinished is None, target.problem or target.unfinished
    return fuzz_op(target.op, dtype, max_examples=examples, spec=target.spec)


def test_a_module_with_relative_imports_is_imported_as_part_of_its_package():
    targets = _targets()
    assert set(RIGHT) <= set(targets)
    assert "run in its framework: Tensor of needle.autograd" in targets["EWiseAdd"].inferred
    assert sys.modules["needle.ops.ops_mathematic"].__file__ == str(OPS)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", RIGHT)
def test_right_ops_pass_on_their_own_tensors(name, dtype):
    outcome = _fuzz(name, dtype, examples=20)
    assert outcome.failure is None, outcome.failure and outcome.failure.report.format()
    assert outcome.status == "pass", outcome.error


def test_constructor_parameters_are_drawn_by_name_and_shown():
    targets = _targets()
    assert [p.name for p in targets["AddScalar"].spec.params] == ["scalar"]
    assert [p.kind for p in targets["Transpose"].spec.params] == ["axis_pair"]  # needle swaps two axes
    assert [p.kind for p in targets["BroadcastTo"].spec.params] == ["broadcast"]
    assert [p.kind for p in targets["Reshape"].spec.params] == ["reshape"]
    assert "Summation(axes) drawn per example" in targets["Summation"].inferred


def test_divisions_are_drawn_away_from_zero():
    assert {x.domain for x in _targets()["EWiseDiv"].spec.inputs} == {"nonzero"}


@pytest.mark.parametrize(
    "name, check, words",
    [
        ("PowerScalarWrongValues", "rev", "differ beyond the tolerance"),
        ("BroadcastToWrongShape", "form", "the cotangent for a has shape"),
        ("ReLUMutatesOutGrad", "form", "the VJP mutates the cotangent g"),
        ("Exp", "form", "the VJP raised AttributeError: 'Tensor' object has no attribute 'inptus'"),
        ("MatMulUnreduced", "form", "is broadcast in the output, so sum it over the broadcast axes"),
        ("ExpReturnsArray", "form", "the gradient of input 0 is a ndarray, not a Tensor"),
    ],
)
def test_planted_bugs_are_found_for_their_reason(name, check, words):
    outcome = _fuzz(name, examples=40)
    assert outcome.status == "fail"
    result = outcome.failure.report.result(check)
    assert result.status == "fail" and words in (result.message + " ".join(result.details))


def test_an_unwritten_gradient_is_unfinished():
    assert "Negate.gradient is not written yet" in _targets()["Negate"].unfinished


def test_a_package_folder_stands_for_its_modules():
    names = {t.name for t in discover(PACKAGE)}
    assert set(RIGHT) <= names and "Tensor" not in names


def test_another_package_of_the_same_name_is_imported_fresh(tmp_path):
    copy = tmp_path / "python" / "needle"
    shutil.copytree(PACKAGE, copy)
    ops = copy / "ops" / "ops_mathematic.py"
    ops.write_text(ops.read_text() + "\n\nclass Square(EWiseMul):\n    pass\n")
    names = {t.name for t in discover(ops)}
    assert "Square" in names
    assert "Square" not in {t.name for t in discover(OPS)}  # and back


def test_a_parameter_gradlab_cannot_choose_is_named_and_a_spec_may_draw_it(tmp_path):
    source = """
        import numpy as np

        class Scale:
            def __init__(self, factor):
                self.factor = factor

            def compute(self, a):
                return a * self.factor

            def gradient(self, out_grad, node):
                return out_grad * self.factor
    """
    module = tmp_path / "scale.py"
    module.write_text(textwrap.dedent(source))
    (target,) = discover(module)
    assert "Scale.__init__ takes factor, which gradlab cannot choose by name" in target.problem
    (tmp_path / "scale.toml").write_text(
        '[Scale]\nshape = "(n)->(n)"\ninputs = [{ name = "a", domain = "real" }]\n'
        'params = { factor = { kind = "choice", values = [0.5, 3.0] } }\nchecks = ["rev", "form"]\n'
    )
    (target,) = discover(module)
    assert target.problem is None
    outcome = fuzz_op(target.op, "float64", max_examples=10, spec=target.spec)
    assert outcome.status == "pass"


def test_relative_imports_without_a_package_say_so(tmp_path):
    module = tmp_path / "ops.py"
    module.write_text("from .autograd import Tensor\n")
    with pytest.raises(DiscoveryError, match=r"relative imports, but its folder has no __init__\.py"):
        discover(module)


def test_the_report_files_are_written_when_the_command_cannot_run(tmp_path):
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    result = subprocess.run(
        [sys.executable, "-m", "gradlab", "check", tmp_path / "missing.py", "--json", report, "--junit-xml", junit],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 2
    data = json.loads(report.read_text())
    assert data["exit_code"] == 2 and "no such file" in data["error"]
    assert "no such file" in junit.read_text()


def test_an_op_checked_only_on_one_element_inputs_is_flagged(tmp_path):
    source = """
        import numpy as np

        class Transpose:
            spec = {"shape": "()->()", "batch": False, "inputs": [{"name": "a", "domain": "real"}]}

            def compute(self, a):
                return np.swapaxes(a, -1, -2) if a.ndim >= 2 else a

            def gradient(self, out_grad, node):
                return out_grad  # wrong for any matrix, right for a scalar
    """
    module = tmp_path / "t.py"
    module.write_text(textwrap.dedent(source))
    report = tmp_path / "r.json"
    result = subprocess.run(
        [sys.executable, "-m", "gradlab", "check", module, "--examples", "10", "--json", report],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert "Transpose [float64]: only one-element inputs" in result.stdout
    (run, *_) = json.loads(report.read_text())["ops"][0]["runs"]
    assert run["status"] == "pass" and run["only_one_element"] and run["largest_input"] == 1


TUPLES = PACKAGE / "ops" / "ops_tuple.py"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["MakeTensorTuple", "TupleGetItem", "FusedAddScalars", "Stack", "Split"])
def test_right_tuple_ops_pass_on_their_own_tensor_tuples(name, dtype):
    target = _targets(TUPLES)[name]
    assert target.problem is None and target.unfinished is None, target.problem or target.unfinished
    outcome = fuzz_op(target.op, dtype, max_examples=20, spec=target.spec)
    assert outcome.failure is None, outcome.failure and outcome.failure.report.format()
    assert outcome.status == "pass", outcome.error


def test_a_tuple_input_is_three_checked_arrays_and_tuple_op_parameters_are_drawn():
    targets = _targets(TUPLES)
    assert [x.name for x in targets["Stack"].spec.inputs] == ["args[0]", "args[1]", "args[2]"]
    assert [x.name for x in targets["TupleGetItem"].spec.inputs] == ["a[0]", "a[1]", "a[2]"]
    assert [x.name for x in targets["MakeTensorTuple"].spec.inputs] == ["args[0]", "args[1]", "args[2]"]
    assert [p.name for p in targets["FusedAddScalars"].spec.params] == ["c0", "c1"]  # by their float annotation
    assert [p.name for p in targets["TupleGetItem"].spec.params] == ["index"]


@pytest.mark.parametrize(
    "name, check, words",
    [
        ("MakeTensorTupleStarred", "form", "TypeError: tuple expected at most 1 argument"),
        ("TupleGetItemUndefined", "form", "NameError: name 'zeros_like' is not defined"),
        # split along axis 0 of a stack along axis 1: as many parts as the first axis is long
        ("StackAlongFirst", "form", "the gradient of args, a tuple of 3 tensors, is a tuple of"),
        ("StackPythonTuple", "form", "a tuple input's gradient is one TensorTuple"),
    ],
)
def test_planted_bugs_of_tuple_ops_are_found_for_their_reason(name, check, words):
    target = _targets(TUPLES)[name]
    outcome = fuzz_op(target.op, "float64", max_examples=40, spec=target.spec)
    assert outcome.status == "fail", outcome.error
    result = outcome.failure.report.result(check)
    assert result is not None and result.status == "fail", outcome.failure.report.format()
    assert words in (result.message + " ".join(result.details))


TINY_AUTOGRAD = """
    import numpy

    class Op:
        def __call__(self, *args):
            return Tensor.make_from_op(self, args)

    class Tensor:
        def __init__(self, array, *, device=None, dtype=None, requires_grad=True):
            assert dtype in (None, "float32") or not FLOAT32_ONLY, "only float32"
            self.op, self.inputs = None, []
            self.cached_data = numpy.array(array, dtype="float32" if FLOAT32_ONLY else dtype)

        @staticmethod
        def make_from_op(op, inputs):
            tensor = Tensor.__new__(Tensor)
            tensor.op, tensor.inputs = op, list(inputs)
            tensor.cached_data = op.compute(*[x.cached_data for x in inputs])
            return tensor

        def numpy(self):
            return self.cached_data
"""


def _tiny_package(root, ops_source, float32_only=False):
    """A needle-like package ``tiny`` under ``root``: its Tensor, and one module of ops."""
    package = root / "python" / "tiny"
    (package / "ops").mkdir(parents=True)
    (package / "__init__.py").write_text("from . import ops\nfrom .autograd import Tensor\n")
    autograd = f"FLOAT32_ONLY = {float32_only}\n" + textwrap.dedent(TINY_AUTOGRAD)
    (package / "autograd.py").write_text(autograd)
    (package / "ops" / "__init__.py").write_text("")
    ops = package / "ops" / "ops_mathematic.py"
    ops.write_text(textwrap.dedent(ops_source))
    return ops


def test_a_framework_that_keeps_float32_only_is_checked_in_float32(tmp_path):
    # as needle's compiled NDArray backend: Tensors assert float32, so the checks run (and the
    # numerics difference) in float32; widened to float64, a right op would seem to have a zero derivative
    add_scalar = """
        from ..autograd import Op, Tensor

        class AddScalar(Op):
            def __init__(self, scalar):
                self.scalar = scalar

            def compute(self, a):
                return a + self.scalar

            def gradient(self, out_grad, node):
                return out_grad
    """
    ops = _tiny_package(tmp_path, add_scalar, float32_only=True)
    (target,) = discover(ops)
    assert target.spec.dtypes == ("float32",)
    assert "float32 only: it keeps no float64, so float64 is not checked" in target.inferred
    outcome = fuzz_op(target.op, "float32", max_examples=20, spec=target.spec)
    assert outcome.status == "pass", outcome.failure and outcome.failure.report.format()
    # a spec written beside the module, dtypes not given: what the framework keeps, not float64 too
    ops.with_suffix(".toml").write_text('[AddScalar]\nshape = "(n)->(n)"\ninputs = [{ name = "a", domain = "real" }]\n')
    (target,) = discover(ops)
    assert (target.problem, target.spec.dtypes) == (None, ("float32",))


CONV = """
    import numpy
    from ..autograd import Op, Tensor

    def windows(a, k, stride):  # (n, ho, wo, k, k, c): no checks of its own, as a compiled backend's
        n, h, w, c = a.shape
        ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
        return [[(i, j, a[:, i * stride:i * stride + k, j * stride:j * stride + k, :]) for j in range(wo)]
                for i in range(ho)]

    class Conv(Op):  # needle's hw4 Conv: A (N, H, W, C_in), B (K, K, C_in, C_out)
        def __init__(self, stride=1, padding=0):
            self.stride, self.padding = stride, padding

        def padded(self, a):
            p = self.padding
            return numpy.pad(a, ((0, 0), (p, p), (p, p), (0, 0)))

        def compute(self, A, B):
            rows = windows(self.padded(A), B.shape[0], self.stride)
            return numpy.stack([numpy.stack([numpy.einsum("nabc,abcf->nf", x, B) for _, _, x in row], 1)
                                for row in rows], 1)

        def gradient(self, out_grad, node):
            A, B = (x.numpy() for x in node.inputs)
            g, k, s, p = out_grad.numpy(), B.shape[0], self.stride, self.padding
            dA, dB = numpy.zeros_like(self.padded(A)), numpy.zeros_like(B)
            for row in windows(self.padded(A), k, s):
                for i, j, x in row:
                    dB += numpy.einsum("nabc,nf->abcf", x, g[:, i, j])
                    dA[:, i * s:i * s + k, j * s:j * s + k] += numpy.einsum("abcf,nf->nabc", B, g[:, i, j])
            return Tensor(self.trimmed(dA, A, g, k)), Tensor(dB)

        def trimmed(self, dA, A, g, k):
            p = self.padding
            return dA[:, p:p + A.shape[1], p:p + A.shape[2]]

    class ConvDilatedOnly(Conv):  # the input's gradient only as far as the strided windows reach
        def trimmed(self, dA, A, g, k):
            p, reach = self.padding, (g.shape[1] - 1) * self.stride + k
            return dA[:, p:reach - p, p:reach - p]
"""


def test_a_needle_convolution_is_drawn_in_its_layout_and_a_stride_bug_found(tmp_path):
    ops = _tiny_package(tmp_path, CONV)
    targets = {t.name: t for t in discover(ops)}
    right, wrong = targets["Conv"], targets["ConvDilatedOnly"]
    assert "A (n, h, h, c), B (k, k, c, f)" in right.inferred
    assert "Conv(stride, padding) drawn per example" in right.inferred
    outcome = fuzz_op(right.op, "float64", max_examples=15, spec=right.spec)
    assert outcome.status == "pass", outcome.failure and outcome.failure.report.format()
    outcome = fuzz_op(wrong.op, "float64", max_examples=40, spec=wrong.spec)
    assert outcome.status == "fail"
    assert outcome.failure.example.params["stride"] == 2
    assert "the cotangent for A has shape" in outcome.failure.report.format()
