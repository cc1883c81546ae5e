"""The checks on hand-written rules: correct ones pass, each kind of broken one fails, and says why."""

import numpy as np
import pytest

from gradlab import GradlabError, assert_grad_close, check_grads

rng = np.random.default_rng(1)


def matmul(a, b):
    return a @ b


def matmul_vjp(g, out, a, b):
    return g @ b.T, a.T @ g


def matmul_jvp(t, out, a, b):
    return t[0] @ b + a @ t[1]


A = rng.normal(size=(3, 4))
B = rng.normal(size=(4, 2))


def test_correct_matmul_passes_every_check():
    report = check_grads(matmul, A, B, vjp=matmul_vjp, jvp=matmul_jvp)
    assert report.status == "pass"
    assert {(r.check, r.subject) for r in report.results} == {
        ("form", "rules"),
        ("rev", "a"),
        ("rev", "b"),
        ("fwd", "output"),
        ("adj", "VJP vs JVP"),
    }


@pytest.mark.parametrize("mode", ["full", "projected"])
def test_sign_flip_is_named(mode):
    report = check_grads(matmul, A, B, vjp=lambda g, out, a, b: (-(g @ b.T), a.T @ g), jvp=matmul_jvp, mode=mode)
    rev_a = report.result("rev", "a")
    assert rev_a.status == "fail"
    assert "sign flipped" in rev_a.diagnosis
    assert report.result("rev", "b").status == "pass"
    assert report.result("adj").status == "fail"


def test_constant_factor_is_named():
    report = check_grads(np.exp, rng.normal(size=5), vjp=lambda g, out, x: 2 * g * out)
    rev = report.result("rev")
    assert rev.status == "fail"
    assert "factor" in rev.diagnosis and "2 x" in rev.diagnosis


def test_mean_instead_of_sum_names_the_axis_size():
    x = rng.normal(size=(6, 3))
    report = check_grads(lambda x: x.sum(axis=0), x, vjp=lambda g, out, x: np.broadcast_to(g / 6, x.shape).copy())
    assert "1/6" in report.result("rev").diagnosis


def test_missing_transpose_with_non_square_operands_is_a_shape_error_that_says_transposed():
    report = check_grads(matmul, A, B, vjp=lambda g, out, a, b: (g @ b.T, g.T @ a))
    form = report.result("form")
    assert form.status == "fail"
    assert "looks transposed" in form.message
    assert report.result("rev") is None  # nothing to compare with a wrongly shaped cotangent


def test_transposed_values_with_square_shapes_are_recognised():
    report = check_grads(lambda x: x.T, rng.normal(size=(3, 3)), vjp=lambda g, out, x: g)
    assert "transposed" in report.result("rev").diagnosis


def linear(x, w, b):
    return x @ w + b


def test_bias_gradient_not_summed_over_the_batch_axis():
    x, w, b = rng.normal(size=(5, 3)), rng.normal(size=(3, 2)), rng.normal(size=(2,))
    report = check_grads(linear, x, w, b, vjp=lambda g, out, x, w, b: (g @ w.T, x.T @ g, g))
    form = report.result("form")
    assert form.status == "fail"
    assert "sum it over the broadcast axes (0,)" in form.message


def test_a_padded_output_larger_than_its_input_is_not_called_a_broadcast():
    # a 1-D convolution padded by one on each side: the output (3,) outgrows x (1,) without broadcasting
    # it; a rule that returns the output's cotangent unreduced gets no "sum it" hint (the bias hint above does)
    def conv(x, k):
        return np.convolve(np.pad(x, 1), k, mode="valid")

    x, k = rng.normal(size=(1,)), rng.normal(size=(1,))
    report = check_grads(conv, x, k, vjp=lambda g, out, x, k: (g * k, np.sum(g[1:2] * x, keepdims=True)))
    form = report.result("form")
    assert form.status == "fail"
    assert "the cotangent for x has shape (3,) but x has shape (1,)" in form.message
    assert "broadcast" not in form.message


def test_bias_gradient_summed_over_the_wrong_axis_with_keepdims():
    x, b = rng.normal(size=(4, 1, 3)), rng.normal(size=(1, 5, 1))
    report = check_grads(
        lambda x, b: x + b,
        x,
        b,
        vjp=lambda g, out, x, b: (g.sum(axis=1, keepdims=True), g.sum(axis=(0, 1), keepdims=True)),
    )
    form = report.result("form")
    assert form.status == "fail" and "shape" in form.message


def test_vjp_that_mutates_its_input_is_caught():
    def vjp(g, out, x):
        x *= 0  # in place: the caller's array is destroyed
        return g * out

    report = check_grads(np.exp, rng.normal(size=4), vjp=vjp)
    assert report.result("form").status == "fail"
    assert "mutates x" in report.result("form").message


def test_vjp_that_mutates_the_cotangent_is_caught():
    def vjp(g, out, x):
        g *= out
        return g

    report = check_grads(np.exp, rng.normal(size=4), vjp=vjp)
    assert "mutates the cotangent g" in report.result("form").message
    assert report.result("rev").status == "pass"  # the value itself is right


def test_rules_get_the_output_before_the_inputs_and_a_write_into_it_is_named():
    x, y = np.random.default_rng(7).normal(size=(2, 3))  # its own generator: the other tests' draws stay as they were
    seen = []

    def vjp(g, out, a, b):
        seen.append(np.array_equal(out, a * b))
        out *= 2  # in place: the forward's output
        return g * b, g * a

    def jvp(tangents, out, a, b):
        seen.append(np.array_equal(out, a * b))
        ta, tb = tangents
        return ta * b + a * tb

    report = check_grads(lambda a, b: a * b, x, y, vjp=vjp, jvp=jvp)
    assert seen and all(seen)
    assert "the VJP mutates the forward's output: work on a copy" in report.result("form").message
    assert "the JVP mutates" not in report.result("form").message


@pytest.mark.parametrize("writes", [False, True])
def test_an_argument_holding_nan_is_mutated_only_when_a_rule_writes_into_it(writes):
    # NaN != NaN: the one-comparison test of an unchanged argument falls back to the NaN-aware one
    def f(x, m):
        return x * np.nan_to_num(m)

    def vjp(g, out, x, m):
        if writes:
            m[0] = 5.0
        return g * np.nan_to_num(m), None

    def jvp(t, out, x, m):
        return t[0] * np.nan_to_num(m)

    m = np.array([np.nan, 2.0, -1.0])
    report = check_grads(f, rng.normal(size=3), m, vjp=vjp, jvp=jvp, wrt=(0,))
    assert ("the VJP mutates m: work on a copy" in report.result("form").message) == writes
    assert "the JVP mutates" not in report.result("form").message
    assert np.isnan(m[0])  # the caller's array is untouched either way


def test_vjp_returning_float64_for_float32_input_is_a_warning_that_fails_only_when_strict():
    x = rng.normal(size=4).astype(np.float32)

    def promoting(g, out, x):
        return g.astype(np.float64) * np.exp(x.astype(np.float64))

    report = check_grads(np.exp, x, vjp=promoting)
    form = report.result("form")
    assert form.status == "warning" and report.status == "warning" and report.passed
    assert "is float64 but" in form.message and "is float32" in form.message and "astype" in form.message
    assert report.warnings == form.details and "passed with a warning" in report.format()
    assert_grad_close(np.exp, x, vjp=promoting)
    with pytest.raises(AssertionError, match="strict=True: warnings fail"):
        assert_grad_close(np.exp, x, vjp=promoting, strict=True)
    # narrowing is no warning: a float32 gradient of a float64 input fails
    narrowing = check_grads(np.exp, x.astype(np.float64), vjp=lambda g, out, x: (g * np.exp(x)).astype(np.float32))
    assert narrowing.result("form").status == "fail"


def test_jvp_only_bug_is_blamed_on_the_jvp():
    report = check_grads(matmul, A, B, vjp=matmul_vjp, jvp=lambda t, out, a, b: t[0] @ b)
    assert report.result("rev", "a").status == "pass"
    fwd = report.result("fwd")
    assert fwd.status == "fail"
    assert any("error is in the JVP" in d for d in fwd.details)
    assert report.result("adj").status == "fail"


def test_vjp_only_bug_is_blamed_on_the_vjp():
    report = check_grads(matmul, A, B, vjp=lambda g, out, a, b: (g @ b.T, a.T @ g * 1.5), jvp=matmul_jvp)
    rev_b = report.result("rev", "b")
    assert rev_b.status == "fail"
    assert any("error is in the VJP" in d for d in rev_b.details)
    assert report.result("fwd").status == "pass"


@pytest.mark.parametrize(
    "f, rule",
    [
        (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(x.dtype)),
        (np.abs, np.sign),
    ],
    ids=["relu", "abs"],
)
@pytest.mark.parametrize("mode", ["full", "projected"])
def test_kinks_at_zero_are_not_differentiable_not_wrong(f, rule, mode):
    x = np.array([-1.5, 0.0, 0.7, 2.0])
    report = check_grads(f, x, vjp=lambda g, out, x: g * rule(x), jvp=lambda t, out, x: t[0] * rule(x), mode=mode)
    assert report.passed, report.format()
    if mode == "projected" and f is np.abs:
        # sign(0) = 0 is the central difference at the kink: projected mode's first look agrees
        # with it and stops there (full mode differentiates every element with the whole stencil)
        assert report.status == "pass"
        return
    assert report.status == "nondiff", report.format()
    assert report.result("rev").nondiff_indices == [(1,)]


def test_projected_mode_stops_at_the_central_difference_only_where_the_rule_agrees():
    x = np.linspace(-2.0, 2.0, 300)
    good = check_grads(np.tanh, x, vjp=lambda g, out, x: g * (1 - out**2), mode="projected", checks=("rev",))
    assert good.passed and good.evaluations == 2
    wrong = check_grads(np.tanh, x, vjp=lambda g, out, x: g * (1 - out**2) * (1 + 1e-2 * (x > 1.9)), mode="projected")
    assert wrong.result("rev").status == "fail"
    assert [m.index for m in wrong.result("rev").mismatches] == [(i,) for i in range(x.size) if x[i] > 1.9]


def test_a_value_outside_the_one_sided_derivatives_at_a_kink_is_still_wrong():
    x = np.array([-1.5, 0.0, 2.0])
    report = check_grads(lambda x: np.maximum(x, 0.0), x, vjp=lambda g, out, x: g * np.where(x == 0, 5.0, x > 0))
    assert report.result("rev").status == "fail"


def test_max_with_ties_is_not_differentiable():
    x = np.array([1.0, 3.0, 3.0, -2.0])
    report = check_grads(np.max, x, vjp=lambda g, out, x: g * (x == out) / np.sum(x == out))
    assert report.status == "nondiff"


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_vjp(g, out, z):
    return out * (g - (g * out).sum(axis=-1, keepdims=True))


def softmax_jvp(t, out, z):
    return out * (t[0] - (t[0] * out).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_exp_pass_with_default_tolerances(dtype):
    z = rng.normal(scale=3.0, size=(4, 7)).astype(dtype)
    assert check_grads(softmax, z, vjp=softmax_vjp, jvp=softmax_jvp).status == "pass"
    x = rng.uniform(-5, 5, size=(3, 5)).astype(dtype)
    assert check_grads(np.exp, x, vjp=lambda g, o, x: g * o, jvp=lambda t, o, x: t[0] * o).status == "pass"


def test_float32_forward_that_cannot_run_in_float64_is_differenced_in_float32():
    def f32_only(x):
        return np.tanh(x.astype(np.float32))

    x = rng.normal(size=6).astype(np.float32)
    report = check_grads(f32_only, x, vjp=lambda g, o, x: g * (1 - o * o), jvp=lambda t, o, x: t[0] * (1 - o * o))
    assert report.status == "pass", report.format()


def test_softmax_missing_its_subtraction_term_fails():
    z = rng.normal(size=(3, 5))
    report = check_grads(softmax, z, vjp=lambda g, out, z: out * g, jvp=softmax_jvp)
    assert report.result("rev").status == "fail"


def test_undifferentiated_integer_labels():
    def cross_entropy(z, y):
        s = z - z.max(axis=1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        return -logp[np.arange(len(y)), y].mean()

    def vjp(g, out, z, y):
        p = softmax(z)
        p[np.arange(len(y)), y] -= 1
        return g * p / len(y), None

    z, y = rng.normal(size=(4, 3)), np.array([0, 2, 1, 2])
    report = check_grads(cross_entropy, z, y, vjp=vjp)
    assert report.status == "pass", report.format()
    assert report.wrt == (0,)


def test_projected_mode_finds_a_single_wrong_entry_among_a_million():
    # its own generator: with the module's, x depended on which tests ran first in the worker, and at a
    # large |x[123_456]| the 5% error of a derivative near 0 is below any tolerance
    x = np.random.default_rng(11).normal(size=1_000_000)
    x[123_456] = 0.5

    def vjp(g, out, x):
        grad = g * (1 - out**2)
        grad[123_456] *= 1.05
        return grad

    report = check_grads(np.tanh, x, vjp=vjp)
    rev = report.result("rev")
    assert rev.mode == "projected"
    assert rev.status == "fail"
    assert [m.index for m in rev.mismatches] == [(123_456,)]
    assert report.evaluations < 200  # bisection, not a million perturbations


def test_projected_mode_passes_correct_rules_at_a_million_elements():
    x = rng.normal(size=1_000_000)
    report = check_grads(np.tanh, x, vjp=lambda g, o, x: g * (1 - o**2), jvp=lambda t, o, x: t[0] * (1 - o**2))
    assert report.status == "pass", report.format()
    assert report.evaluations == 2  # the quick look, shared by rev and fwd


def test_a_rule_returning_nan_is_reported_for_the_nan_not_as_non_deterministic():
    report = check_grads(np.sin, rng.normal(size=3), vjp=lambda g, o, x: g * np.cos(x) / 0.0 * 0.0)
    form = report.result("form")
    assert form.status == "fail" and "contains NaN or Inf" in form.message
    assert "not deterministic" not in form.message


def test_nondeterministic_forward_is_reported():
    gen = np.random.default_rng()
    report = check_grads(lambda x: x * gen.uniform(size=x.shape), rng.normal(size=3), vjp=lambda g, o, x: g)
    assert report.status == "fail"
    assert "not deterministic" in report.result("form").message


class Counting:
    """sin with its rules, each counting its calls; ``noise`` makes the named ones random."""

    def __init__(self, noise=()):
        self.calls = {"f": 0, "vjp": 0, "jvp": 0}
        self.noise, self.gen = noise, np.random.default_rng()

    def _random(self, name, shape):
        return self.gen.uniform(0.5, 1.5, size=shape) if name in self.noise else 1.0

    def f(self, x):
        self.calls["f"] += 1
        return np.sin(x) * self._random("f", x.shape)

    def vjp(self, g, out, x):
        self.calls["vjp"] += 1
        return g * np.cos(x) * self._random("vjp", x.shape)

    def jvp(self, t, out, x):
        self.calls["jvp"] += 1
        return t[0] * np.cos(x) * self._random("jvp", x.shape)


@pytest.mark.parametrize("mode", ["full", "projected"])
def test_passing_checks_vouch_for_determinism_without_second_calls(mode):
    rules = Counting()
    report = check_grads(rules.f, rng.normal(size=5), vjp=rules.vjp, jvp=rules.jvp, mode=mode)
    assert report.status == "pass", report.format()
    probes = 2 if mode == "full" else 1
    assert rules.calls == {"f": 1 + report.evaluations, "vjp": probes, "jvp": probes}


def test_form_alone_still_calls_the_forward_and_the_rules_twice():
    rules = Counting()
    report = check_grads(rules.f, rng.normal(size=5), vjp=rules.vjp, jvp=rules.jvp, checks=("form",))
    assert report.status == "pass" and report.evaluations == 0
    assert rules.calls == {"f": 2, "vjp": 3, "jvp": 3}  # full mode: two probes, then the first again
    random = Counting(noise=("vjp", "jvp"))
    form = check_grads(random.f, rng.normal(size=5), vjp=random.vjp, jvp=random.jvp, checks=("form",)).result("form")
    assert form.status == "fail"
    assert "the VJP is not deterministic: two calls give cotangents for x" in form.message
    assert "the JVP is not deterministic: two calls differ" in form.message


@pytest.mark.parametrize("mode", ["full", "projected"])
def test_random_rules_fail_their_checks_and_are_still_named_not_deterministic(mode):
    rules = Counting(noise=("vjp", "jvp"))
    report = check_grads(rules.f, rng.normal(size=5), vjp=rules.vjp, jvp=rules.jvp, mode=mode)
    assert report.result("rev").status == "fail" and report.result("fwd").status == "fail"
    form = report.result("form")
    assert form.status == "fail"
    vjp, jvp = form.details  # in the order of the calls, as when they ran before the checks
    assert vjp.startswith("the VJP is not deterministic: two calls give cotangents for x that differ by up to")
    assert jvp.startswith("the JVP is not deterministic: two calls differ by up to")


def test_a_rule_no_check_uses_is_called_twice():
    # rev vouches for the VJP, nothing for the JVP: the form check calls it again and finds it random
    rules = Counting(noise=("jvp",))
    report = check_grads(rules.f, rng.normal(size=5), vjp=rules.vjp, jvp=rules.jvp, checks=("rev", "form"))
    assert report.result("rev").status == "pass"
    (problem,) = report.result("form").details
    assert problem.startswith("the JVP is not deterministic")
    assert rules.calls["vjp"] == 2 and rules.calls["jvp"] == 3


@pytest.mark.parametrize("mode", ["full", "projected"])
def test_a_random_forward_leaves_only_its_form_failure(mode):
    rules = Counting(noise=("f",))
    report = check_grads(rules.f, rng.normal(size=5), vjp=rules.vjp, jvp=rules.jvp, mode=mode)
    assert [(r.check, r.subject, r.status) for r in report.results] == [("form", "forward", "fail")]
    assert report.results[0].message.startswith("the forward is not deterministic: two calls with the same inputs")


def test_a_forward_whose_shape_changes_between_calls_is_not_deterministic_not_an_error():
    calls = iter(range(1, 100))
    report = check_grads(lambda x: np.sin(x[: next(calls)]), rng.normal(size=100), vjp=lambda g, o, x: g)
    assert [(r.check, r.subject, r.status) for r in report.results] == [("form", "forward", "fail")]
    assert "the forward is not deterministic" in report.results[0].message


def test_a_float32_forward_is_called_twice_when_the_numerics_difference_it_in_float64():
    # random in float32 only: the numerics, at float64 copies, never see it
    gen = np.random.default_rng()

    def f(x):
        return x * 2 + (gen.uniform(-1e-5, 1e-5, size=x.shape).astype(x.dtype) if x.dtype == np.float32 else 0)

    report = check_grads(f, rng.normal(size=4).astype(np.float32), vjp=lambda g, o, x: 2 * g)
    assert [(r.check, r.subject, r.status) for r in report.results] == [("form", "forward", "fail")]


def test_a_forward_random_in_its_real_part_is_called_twice_under_the_complex_step():
    # the complex step's derivative is the imaginary part: real noise does not reach it
    gen = np.random.default_rng()
    report = check_grads(
        lambda x: np.sin(x) + gen.uniform(-1e-3, 1e-3, size=x.shape), rng.normal(size=4),
        vjp=lambda g, o, x: g * np.cos(x), method="complex",
    )  # fmt: skip
    assert [(r.check, r.subject, r.status) for r in report.results] == [("form", "forward", "fail")]


@pytest.mark.parametrize(
    "vjp, words",
    [
        (lambda g, out, a, b: (g @ b.T,), "returned 1 cotangents; expected 2"),
        (lambda g, out, a, b: None, "single None"),
        (lambda g, out, a, b: (g @ b.T, [[0.0]]), "is a list, not an array"),
        (lambda g, out, a, b: (g @ b.T, None), "is None"),
        (lambda g, out, a, b: 1 / 0, "raised ZeroDivisionError"),
        (lambda g, out, a, b: (g @ b.T, np.full(b.shape, np.nan)), "NaN or Inf"),
    ],
)
def test_malformed_vjp_results_are_explained(vjp, words):
    report = check_grads(matmul, A, B, vjp=vjp)
    assert report.status == "fail"
    assert words in report.result("form").message


def test_forward_that_raises_is_a_form_failure_not_a_crash():
    report = check_grads(lambda x: np.linalg.cholesky(x), -np.eye(2), vjp=lambda g, o, x: g)
    assert report.status == "fail"
    assert "the forward raised LinAlgError" in report.result("form").message


def test_nonfinite_forward_marks_the_input_invalid():
    report = check_grads(np.log, np.array([-1.0, 2.0]), vjp=lambda g, o, x: g / x)
    assert report.status == "invalid"


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({}, "no rule to check"),
        ({"vjp": lambda g, o, x: g, "mode": "fast"}, "mode='fast'"),
        ({"vjp": lambda g, o, x: g, "method": "forward"}, "method='forward'"),
        ({"vjp": lambda g, o, x: g, "wrt": (3,)}, "not an index"),
    ],
)
def test_misuse_raises_one_clear_error(kwargs, words):
    with pytest.raises(GradlabError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_grads(np.exp, np.ones(3), **kwargs)


def test_integer_input_in_wrt_is_refused():
    with pytest.raises(GradlabError, match=r"only floating \(real or complex\) arrays"):
        check_grads(lambda x, y: x * y, np.ones(2), np.arange(2), vjp=lambda g, o, x, y: (g * y, g * x), wrt=(1,))


@pytest.mark.parametrize("method", ["stencil", "central", "richardson", "complex"])
def test_every_method_passes_correct_rules_and_catches_a_wrong_one(method):
    x = rng.uniform(0.5, 2.0, size=(2, 3))
    good = check_grads(np.log, x, vjp=lambda g, o, x: g / x, jvp=lambda t, o, x: t[0] / x, method=method)
    assert good.status == "pass", good.format()
    bad = check_grads(np.log, x, vjp=lambda g, o, x: g / x**2, method=method)
    assert bad.status == "fail"


def test_adjoint_check_allows_float32_rules_that_cancel_internally():
    """softmax with one saturated class: its rules subtract numbers near 1 to get results near
    1e-7, so both sides of the adjoint identity carry float32 rounding of their terms (within the
    atol that rev and fwd allow), not of their tiny results."""
    z = np.array([-8.0, 8.0], dtype=np.float32)
    report = check_grads(softmax, z, vjp=softmax_vjp, jvp=softmax_jvp)
    assert report.status == "pass", report.format()
    # where the derivative is not tiny, a JVP off by 1 % still fails it
    z = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    report = check_grads(softmax, z, vjp=softmax_vjp, jvp=softmax_jvp, checks=("adj",))
    assert report.result("adj").status == "pass"
    wrong = lambda t, out, z: 1.01 * softmax_jvp(t, out, z)  # noqa: E731
    report = check_grads(softmax, z, vjp=softmax_vjp, jvp=wrong, checks=("adj",))
    assert report.result("adj").status == "fail"


def _sparsemax(z):
    s = np.sort(z)[::-1]
    k = np.arange(1, z.size + 1)
    support = 1 + k * s > np.cumsum(s)
    tau = (np.cumsum(s)[support][-1] - 1) / k[support][-1]
    return np.maximum(z - tau, 0.0)


def _sparsemax_vjp(g, out, z):
    support = out > 0
    return support * (g - (g * support).sum() / support.sum())


def test_a_point_where_several_inputs_sit_on_kinks_is_not_differentiable_not_wrong():
    # tied inputs at sparsemax's threshold: the rule's value is one piece's derivative, which moving
    # one input alone does not reach; kinks show in the other inputs
    x = np.array([0.0, 2.0, np.nextafter(3.0, 0.0), 2.0])
    report = check_grads(_sparsemax, x, vjp=_sparsemax_vjp, mode="full")
    assert report.result("rev").status == "nondiff", report.format()
    away = check_grads(_sparsemax, np.array([0.1, 2.2, 3.0, 1.7]), vjp=_sparsemax_vjp, mode="full")
    assert away.passed and away.status == "pass"
    wrong = check_grads(_sparsemax, np.array([0.1, 2.2, 3.0, 1.7]), vjp=lambda g, out, z: g * (out > 0))
    assert wrong.result("rev").status == "fail"  # off the kinks a wrong rule is wrong
