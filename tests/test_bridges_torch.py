"""Rules written for PyTorch, checked through torch's own autograd: ``torch.autograd.Function``
subclasses (the ``ctx`` style and the ``setup_context`` style) given to ``check_grads`` /
``assert_grad_close`` on torch tensors, and found by ``gradlab check`` in a module."""

import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.frameworks
torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install 'gradlab-check[torch]')")

from gradlab import assert_grad_close, check_grads  # noqa: E402
from gradlab.cli.discover import discover  # noqa: E402
from gradlab.fuzz.driver import fuzz_op  # noqa: E402

Function = torch.autograd.Function


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x**2 * g


class Linear(Function):  # the setup_context style, with a jvp
    @staticmethod
    def forward(x, w, b):
        return x @ w.T + b

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, w, _ = inputs
        ctx.save_for_backward(x, w)
        ctx.save_for_forward(x, w)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = g @ w if ctx.needs_input_grad[0] else None
        gw = g.T @ x if ctx.needs_input_grad[1] else None
        return gx, gw, g.sum(0) if ctx.needs_input_grad[2] else None

    @staticmethod
    def jvp(ctx, dx, dw, db):
        x, w = ctx.saved_tensors
        return dx @ w.T + x @ dw.T + db


def _linear(**rules):
    """Linear with some of its rules replaced (a planted bug)."""
    return type("Linear", (Linear,), {k: staticmethod(v) for k, v in rules.items()})


def _x(*shape, dtype=torch.float64, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape)).to(dtype)


def test_a_right_function_passes_in_both_styles_and_dtypes():
    for dtype in (torch.float64, torch.float32):
        report = assert_grad_close(Cube.apply, _x(3, 4, dtype=dtype))
        assert report.name == "Cube" and report.input_names == ["x"]
        assert {r.check for r in report.results} == {"rev", "form"}
        assert any("Cube defines no jvp" in note for note in report.left_out)
        report = assert_grad_close(Linear.apply, _x(3, 4, dtype=dtype), _x(5, 4, dtype=dtype), _x(5, dtype=dtype))
        assert {r.check for r in report.results} == {"rev", "fwd", "adj", "form"}
        assert report.input_names == ["x", "w", "b"]


def test_a_wrong_backward_fails_with_the_input_named_and_the_jvp_cleared():
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g @ w, 2 * g.T @ x, g.sum(0)

    report = check_grads(_linear(backward=backward).apply, _x(3, 4), _x(5, 4), _x(5))
    assert report.result("rev", "w").status == "fail"
    assert report.result("rev", "x").status == "pass" and report.result("fwd").status == "pass"
    assert "the JVP agrees with the numerical derivative" in report.format()


def test_a_gradient_torch_would_sum_to_shape_is_a_form_failure():
    def backward(ctx, g):  # the bias gradient not reduced over the batch: torch's engine sums it away
        x, w = ctx.saved_tensors
        return g @ w, g.T @ x, g

    report = check_grads(_linear(backward=backward).apply, _x(3, 4), _x(5, 4), _x(5))
    form = report.result("form")
    assert form.status == "fail" and "the cotangent for b has shape (3, 5) but b has shape (5,)" in form.message


def test_a_gradient_in_the_wrong_dtype_torch_would_cast_is_reported():
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return (g @ w).double(), g.T @ x, g.sum(0)

    inputs = (_x(*shape, dtype=torch.float32) for shape in [(3, 4), (5, 4), (5,)])
    report = check_grads(_linear(backward=backward).apply, *inputs)
    assert any("float64" in w and "x" in w for w in report.warnings), report.format()


def test_a_backward_that_writes_into_grad_output_or_a_saved_tensor_fails_form():
    def into_grad_output(ctx, g):
        x, w = ctx.saved_tensors
        gx = g @ w
        g.mul_(0)
        return gx, g.T @ x, g.sum(0)

    def into_saved(ctx, g):
        x, w = ctx.saved_tensors
        gw = g.T @ x
        x.mul_(2)
        return g @ w, gw, g.sum(0)

    form = check_grads(_linear(backward=into_grad_output).apply, _x(3, 4), _x(5, 4), _x(5)).result("form")
    assert form.status == "fail" and "the VJP mutates the cotangent g" in form.message
    form = check_grads(_linear(backward=into_saved).apply, _x(3, 4), _x(5, 4), _x(5)).result("form")
    assert form.status == "fail" and "the VJP mutates x" in form.message


def test_needs_input_grad_is_honoured_and_none_is_torchs_zero():
    right = assert_grad_close(Linear.apply, _x(3, 4), _x(5, 4), _x(5), wrt=[0])
    assert [r.subject for r in right.results if r.check == "rev"] == ["x"]

    class Shift(Function):  # None for an input the output does not depend on: right
        @staticmethod
        def forward(ctx, x, unused):
            return x + 1

        @staticmethod
        def backward(ctx, g):
            return g, None

    assert_grad_close(Shift.apply, _x(3), _x(3))

    def forgets_w(ctx, g):
        _, w = ctx.saved_tensors
        return g @ w, None, g.sum(0)

    rev = check_grads(_linear(backward=forgets_w).apply, _x(3, 4), _x(5, 4), _x(5)).result("rev", "w")
    assert rev.status == "fail" and "returns zeros where the derivative is not zero" in rev.diagnosis


def test_a_backward_that_is_not_reentrant_fails_form():
    class Swish(Function):  # keeps its derivative on ctx and multiplies it in place
        @staticmethod
        def forward(ctx, x):
            s = torch.sigmoid(x)
            ctx.grad = s * (1 + x * (1 - s))
            return x * s

        @staticmethod
        def backward(ctx, g):
            ctx.grad *= g
            return ctx.grad

    form = check_grads(Swish.apply, _x(3, 4)).result("form")
    assert form.status == "fail" and "the backward is not reentrant" in form.message


def test_non_tensor_arguments_pass_through():
    class Power(Function):
        @staticmethod
        def forward(ctx, x, p, clamp):
            ctx.save_for_backward(x)
            ctx.p = p
            return x.clamp(min=clamp) ** p

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * ctx.p * x ** (ctx.p - 1), None, None

    assert_grad_close(Power.apply, _x(4).abs() + 0.5, 3, 0.1)


def test_an_in_place_forward_marked_dirty_passes_and_an_unmarked_one_fails():
    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            x.exp_()
            ctx.mark_dirty(x)
            ctx.save_for_backward(x)
            return x

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    class Sneaky(Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            x.zero_()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            return g * ctx.saved_tensors[0]

    assert_grad_close(Exp.apply, _x(3, 2))
    form = check_grads(Sneaky.apply, _x(3, 2)).result("form")
    assert form.status == "fail" and "the forward mutates its input(s) x" in form.message


def test_a_function_of_tensors_runs_every_rule_inside_it():
    report = assert_grad_close(lambda x, w: torch.tanh(Cube.apply(x) @ w.T), _x(3, 4), _x(5, 4))
    assert report.input_names == ["x", "w"]
    assert any("forward mode" in note for note in report.left_out)  # Cube has no jvp: torch says so
    with pytest.raises(AssertionError, match="rev"):
        assert_grad_close(lambda x: Cube.apply(x) + torch.relu(x).detach(), _x(4) + 3)


def test_gradlab_check_finds_the_functions_of_a_module(tmp_path):
    module = tmp_path / "my_functions.py"
    module.write_text(
        textwrap.dedent(
            """
            import torch
            from torch.autograd.function import once_differentiable

            class Swish(torch.autograd.Function):
                @staticmethod
                def forward(ctx, x, beta: float):
                    ctx.save_for_backward(x)
                    ctx.beta = beta
                    return x * torch.sigmoid(beta * x)

                @staticmethod
                @once_differentiable
                def backward(ctx, g):
                    (x,) = ctx.saved_tensors
                    s = torch.sigmoid(ctx.beta * x)
                    return g * (s + x * s * (1 - s)), None  # forgets beta in the second term

            def swish_loss(x, target):  # a torch function by a course's name: not a course layer
                return (Swish.apply(x, 1.5) - target).pow(2).mean()

            class Todo(torch.autograd.Function):
                @staticmethod
                def forward(ctx, x):
                    return x.sin()

                @staticmethod
                def backward(ctx, g):
                    raise NotImplementedError
            """
        )
    )
    targets = {t.name: t for t in discover(module)}
    assert set(targets) == {"Swish", "Todo"}
    assert targets["Todo"].unfinished and "Todo.backward is not written yet" in targets["Todo"].unfinished
    swish = targets["Swish"]
    assert swish.style == "torch" and "beta drawn per example" in swish.inferred, swish.problem
    outcome = fuzz_op(swish.op, "float64", max_examples=30, spec=swish.spec)
    assert outcome.status == "fail" and outcome.failure.report.result("rev", "x").status == "fail"
    assert outcome.failure.example.params["beta"] != 1.0  # the bug shows only where beta is not 1


# ---- order 2: torch's double backward, as gradgradcheck ----------------------------------------


class Tanh(Function):  # the setup_context style, with a jvp, differentiable twice
    @staticmethod
    def forward(x, w):
        return torch.tanh(x @ w.T)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs, output)
        ctx.save_for_forward(*inputs, output)

    @staticmethod
    def backward(ctx, g):
        x, w, y = ctx.saved_tensors
        gz = g * (1 - y**2)
        return gz @ w, gz.T @ x

    @staticmethod
    def jvp(ctx, dx, dw):
        x, w, y = ctx.saved_tensors
        return (1 - y**2) * (dx @ w.T + x @ dw.T)


def test_order_2_differentiates_backward_and_jvp_again_with_torch():
    report = assert_grad_close(Tanh.apply, _x(3, 4), _x(2, 4), order=2)
    assert {(r.check, r.subject) for r in report.results} >= {
        ("rev2", "g"),
        ("rev2", "x"),
        ("rev2", "w"),
        ("fwd2", "output"),
    }


def test_order_2_finds_a_backward_computed_off_the_graph():
    class Detached(Function):  # the derivative kept from the forward, without a graph
        @staticmethod
        def forward(ctx, x):
            ctx.slope = 3 * x.detach() ** 2
            return x**3

        @staticmethod
        def backward(ctx, g):
            return ctx.slope * g

    report = check_grads(Detached.apply, _x(3, 4), order=2)
    assert report.result("rev", "x").status == "pass"  # right at first order
    assert report.result("rev2", "g").status == "pass" and report.result("rev2", "x").status == "fail"


def test_order_2_leaves_out_a_once_differentiable_backward():
    class Once(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx, g):
            return 3 * ctx.saved_tensors[0] ** 2 * g

    report = assert_grad_close(Once.apply, _x(3, 4), order=2)
    assert not any(r.check == "rev2" for r in report.results)
    assert any("Once.backward is marked once_differentiable" in note for note in report.left_out)


def test_a_loss_function_of_scores_and_labels_and_a_private_base_class(tmp_path):
    module = tmp_path / "losses.py"
    module.write_text(
        textwrap.dedent(
            """
            import torch

            class _Loss(torch.autograd.Function):  # the base the module's losses share
                @classmethod
                def forward(cls, ctx, X, target):
                    p = cls.project(X)
                    ctx.save_for_backward(p, target)
                    return -torch.log(p.gather(1, target[:, None])[:, 0])

                @classmethod
                def backward(cls, ctx, g):
                    p, target = ctx.saved_tensors
                    grad = p.clone()
                    grad[torch.arange(len(target)), target] -= 1
                    return g[:, None] * grad, None

            class SoftmaxLoss(_Loss):
                @classmethod
                def project(cls, X):
                    return torch.softmax(X, -1)
            """
        )
    )
    (target,) = discover(module)
    assert target.name == "SoftmaxLoss" and "integer class labels" in target.spec.source
    outcome = fuzz_op(target.op, "float64", max_examples=20, spec=target.spec)
    assert outcome.status == "pass" and outcome.examples > 0


def test_half_precision_rules_run_in_their_dtype_with_its_tolerances():
    class Wrong(Cube):  # 10 % off
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2.7 * x**2 * g

    for dtype in (torch.bfloat16, torch.float16):
        report = assert_grad_close(Cube.apply, _x(4, 5, dtype=dtype))
        assert report.result("rev", "x").status == "pass"
        assert check_grads(Wrong.apply, _x(4, 5, dtype=dtype)).result("rev", "x").status == "fail"
    report = check_grads(Cube.apply, _x(4, 5, dtype=torch.bfloat16))
    assert report.input_dtypes == ["float32"]  # bfloat16's values, exactly, in float32 (NumPy has no bfloat16)
    assert any(note.startswith("bfloat16: its values are checked as float32") for note in report.left_out)
