"""The graph API of the older dlsys homework (UW CSE 599W ``autodiff.py``): op singletons making
``Node`` objects, ``compute(self, node, input_vals)`` and symbolic ``gradient(self, node,
output_grad)``, checked in their own framework (tests/modules/graph_autodiff/autodiff.py, written
for these tests: right ops, then one planted bug per class)."""

import functools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gradlab.cli.discover import discover
from gradlab.fuzz.driver import fuzz_op

MODULE = Path(__file__).resolve().parent / "modules" / "graph_autodiff" / "autodiff.py"
RIGHT = ["AddOp", "AddByConstOp", "MulOp", "MulByConstOp", "MatMulOp", "ExpOp", "LogOp", "ReciprocalOp", "ReluOp",
         "ReluGradientOp", "ReduceSumAxisZeroOp", "BroadcastToOp", "ZerosLikeOp", "OnesLikeOp"]  # fmt: skip


@functools.cache
def _targets(path=MODULE):
    return {t.name: t for t in discover(path)}


def _fuzz(name, dtype="float64", examples=20):
    target = _targets()[name]
    assert target.problem is None and target.unfinished is None, target.problem or target.unfinished
    return fuzz_op(target.op, dtype, max_examples=examples, spec=target.spec)


def _module(tmp_path, source, name="autodiff.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(GRAPH_BASE) + textwrap.dedent(source))
    return {t.name: t for t in discover(path)}


# the smallest graph framework: what a test module adds its ops to
GRAPH_BASE = """
    import numpy as np

    class Node:
        def __init__(self):
            self.inputs, self.op, self.const_attr, self.name = [], None, None, ""

        def __mul__(self, other):
            return mul_byconst_op(self, other)

    def Variable(name):
        node = placeholder_op()
        node.name = name
        return node

    class Op:
        def __call__(self):
            node = Node()
            node.op = self
            return node

        def compute(self, node, input_vals):
            assert False, "in a subclass"

        def gradient(self, node, output_grad):
            assert False, "in a subclass"

    class PlaceholderOp(Op):
        def __call__(self):
            return Op.__call__(self)

    class MulByConstOp(Op):
        def __call__(self, node_A, const_val):
            node = Op.__call__(self)
            node.inputs, node.const_attr = [node_A], const_val
            return node

        def compute(self, node, input_vals):
            return input_vals[0] * node.const_attr

        def gradient(self, node, output_grad):
            return [output_grad * node.const_attr]

    placeholder_op = PlaceholderOp()
    mul_byconst_op = MulByConstOp()
"""


def test_op_classes_are_found_and_run_in_their_graph_framework():
    targets = _targets()
    assert set(RIGHT) <= set(targets)
    assert not {"Node", "Op", "PlaceholderOp", "Executor"} & set(targets)  # the framework, not ops
    assert {t.style for t in targets.values()} == {"graph"}
    assert f"run in its graph framework: Node of autodiff ({MODULE})" in targets["AddOp"].inferred
    assert "evaluated node by node" in targets["AddOp"].inferred
    assert {x.domain for x in targets["MulOp"].spec.inputs} == {"nonzero"}  # away from 0, as needle's


def test_call_parameters_are_drawn_by_name():
    targets = _targets()
    assert [(p.name, p.kind) for p in targets["AddByConstOp"].spec.params] == [("const_val", "choice")]
    assert [(p.name, p.kind) for p in targets["MatMulOp"].spec.params] == [("trans_A", "bool"), ("trans_B", "bool")]
    assert "MatMulOp(trans_A, trans_B) drawn per example" in targets["MatMulOp"].inferred
    assert "node_A (n, k), node_B (k, m)" in targets["MatMulOp"].inferred  # matrices, not vectors
    assert "node_A (n, m), node_B (k, n, m)" in targets["BroadcastToOp"].inferred  # a new leading axis


def test_a_transposed_input_is_drawn_as_the_op_uses_it():
    op = _targets()["MatMulOp"].op
    rng = np.random.default_rng(0)
    a, b, g = rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    for trans_a in (False, True):
        for trans_b in (False, True):
            flags = {"trans_A": trans_a, "trans_B": trans_b}
            np.testing.assert_allclose(op(a, b, **flags), a @ b)
            da, db = op.vjp(g, a @ b, a, b, **flags)
            np.testing.assert_allclose(da, g @ b.T)
            np.testing.assert_allclose(db, a.T @ g)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", RIGHT)
def test_right_ops_pass(name, dtype):
    outcome = _fuzz(name, dtype)
    assert outcome.failure is None, outcome.failure and outcome.failure.report.format()
    assert outcome.status == "pass", outcome.error


@pytest.mark.parametrize(
    "name, check, words",
    [
        ("MulByConstWrongOp", "rev", "differ beyond the tolerance"),
        ("AddOneGradientOp", "form", "the VJP returned 1 cotangents; expected 2 (one per input)"),
        ("SquareOp", "form", "the VJP raised UFuncTypeError"),
        ("SignOp", "form", "gradient returned a ndarray for input 0, not a Node"),
    ],
)
def test_planted_bugs_are_found_for_their_reason(name, check, words):
    outcome = _fuzz(name, examples=40)
    assert outcome.status == "fail"
    result = outcome.failure.report.result(check)
    assert result.status == "fail" and words in (result.message + " ".join(result.details))


def test_a_gradient_that_evaluates_to_a_python_number_is_reported_not_fixed(tmp_path):
    source = """
        class HalfOp(Op):
            def __call__(self, node_A):
                node = Op.__call__(self)
                node.inputs = [node_A]
                return node

            def compute(self, node, input_vals):
                return input_vals[0] * 0.5

            def gradient(self, node, output_grad):
                return [half_of_op(output_grad)]

        class HalfOfOp(HalfOp):
            def compute(self, node, input_vals):
                return float(np.mean(input_vals[0])) * 0.5  # a number, right only for one element

        half_of_op = HalfOfOp()
    """
    target = _module(tmp_path, source)["HalfOp"]
    outcome = fuzz_op(target.op, "float64", max_examples=20, spec=target.spec)
    assert outcome.status == "fail"
    result = outcome.failure.report.result("form")
    assert "the cotangent for node_A is a float, not an array" in result.message + " ".join(result.details)


def test_a_gradient_that_ignores_the_transpose_flags_fails_where_one_is_set():
    outcome = _fuzz("MatMulNoTransposeOp", examples=40)
    assert outcome.status == "fail"
    params = outcome.failure.example.params
    assert params["trans_A"] or params["trans_B"]


def test_an_unwritten_gradient_is_unfinished():
    assert "SqrtOp.gradient is not written yet" in _targets()["SqrtOp"].unfinished


def test_an_unwritten_node_operator_makes_its_gradients_unfinished(tmp_path):
    source = """
        class ExpOp(Op):
            def __call__(self, node_A):
                node = Op.__call__(self)
                node.inputs = [node_A]
                return node

            def compute(self, node, input_vals):
                return np.exp(input_vals[0])

            def gradient(self, node, output_grad):
                return [output_grad * node]  # Node.__mul__ by a Node: not written yet below

        def unwritten_mul(self, other):
            '''TODO: Your code here'''

        Node.__mul__ = unwritten_mul
    """
    target = _module(tmp_path, source)["ExpOp"]
    assert target.unfinished and "Node.__mul__ is not written yet" in target.unfinished


def test_the_gpu_assignment_compute_writes_into_output_val(tmp_path):
    source = """
        class SquareOp(Op):
            def __call__(self, node_A):
                node = Op.__call__(self)
                node.inputs = [node_A]
                return node

            def compute(self, node, input_vals, output_val, use_numpy=True):
                assert use_numpy
                output_val[:] = input_vals[0] ** 2

            def gradient(self, node, output_grad):
                return [mul2_op(node.inputs[0], output_grad)]

            def infer_shape(self, node, input_shapes):
                return input_shapes[0]

        class TwiceProductOp(Op):
            def __call__(self, node_A, node_B):
                node = Op.__call__(self)
                node.inputs = [node_A, node_B]
                return node

            def compute(self, node, input_vals, output_val, use_numpy=True):
                output_val[:] = 2 * input_vals[0] * input_vals[1]

            def gradient(self, node, output_grad):
                return [mul2_op(node.inputs[1], output_grad), mul2_op(node.inputs[0], output_grad)]

            def infer_shape(self, node, input_shapes):
                return input_shapes[0]

        mul2_op = TwiceProductOp()
    """
    target = _module(tmp_path, source)["SquareOp"]
    assert target.problem is None, target.problem
    outcome = fuzz_op(target.op, "float32", max_examples=15, spec=target.spec)
    assert outcome.status == "pass", outcome.failure and outcome.failure.report.format()


def test_a_call_parameter_gradlab_cannot_choose_is_named(tmp_path):
    source = """
        class ScaleOp(Op):
            def __call__(self, node_A, factor):
                node = Op.__call__(self)
                node.inputs, node.const_attr = [node_A], factor
                return node

            def compute(self, node, input_vals):
                return input_vals[0] * node.const_attr

            def gradient(self, node, output_grad):
                return [output_grad * node.const_attr]
    """
    target = _module(tmp_path, source)["ScaleOp"]
    assert "ScaleOp.__call__ takes factor, which gradlab cannot choose by name" in target.problem
    # a student's PowerOp(node_A, const), as the template's const_val
    target = _module(tmp_path, source.replace("factor", "const"))["ScaleOp"]
    assert target.problem is None
    assert [(p.name, p.kind) for p in target.spec.params] == [("const", "choice")]


def test_the_command_fails_on_a_wrong_rule_and_names_it():
    result = subprocess.run(
        [sys.executable, "-m", "gradlab", "check", MODULE.name, "-k", "^(MatMulOp|MatMulNoTransposeOp|SqrtOp)$",
         "--examples", "15", "--dtype", "float64", "--no-color"],
        capture_output=True, text=True, timeout=300, cwd=MODULE.parent, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MatMulNoTransposeOp [float64]" in result.stdout and "SqrtOp: unfinished" in result.stdout
    assert "3 ops: 1 failed, 1 passed, 1 unfinished" in result.stdout
