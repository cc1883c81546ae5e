"""Course modules as students write them (tests/modules/*.py reproduce the patterns of real
CS231n ``layers.py`` files): rank-4 layers with their config dicts, unfinished functions, the
``_alt`` backward, and the verdicts (fail, warning, unfinished) with their exit codes."""

import functools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gradlab import assert_grad_close
from gradlab.cli.discover import discover
from gradlab.fuzz.driver import fuzz_op

MODULES = Path(__file__).resolve().parent / "modules"


@functools.cache
def _targets(module):
    return {t.name: t for t in discover(MODULES / module)}


def _fuzz(module, name, dtype="float64", examples=30):
    target = _targets(module)[name]
    assert target.problem is None and target.unfinished is None, target.problem or target.unfinished
    return fuzz_op(target.op, dtype, max_examples=examples, spec=target.spec)


def _gradlab(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "200"}  # wide enough that no table cell is cut
    return subprocess.run(
        [sys.executable, "-m", "gradlab", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=env,
    )


# ---- shapes and config dicts of rank-4 layers ----------------------------------------------------


@pytest.mark.parametrize(
    "name, shapes",
    [
        ("conv_naive", "x (n, c, h, w), w (f, c, hh, ww), b (f,)"),
        ("conv_loop_naive", "x (n, c, h, w), w (f, c, hh, ww), b (f,)"),  # b[f]: a longer b runs too
        ("max_pool_naive", "x (n, c, h, w)"),
        ("spatial_batchnorm", "x (n, c, h, w), gamma (c,), beta (c,)"),
        ("spatial_groupnorm", "x (n, c, h, w), gamma (1, c, 1, 1), beta (1, c, 1, 1)"),
        ("layernorm", "x (n, d), gamma (d,), beta (d,)"),
    ],
)
def test_rank_4_layers_get_their_shapes_and_config_values_inferred(name, shapes):
    target = _targets("cnn_layers.py")[name]
    assert target.problem is None and target.inferred.startswith(f"shapes inferred: {shapes}")
    assert target.spec.domain_by_forward


def test_config_dicts_and_integer_arguments_are_drawn_from_their_valid_values():
    conv = _targets("cnn_layers.py")["conv_naive"].spec
    drawn = {p.name: p.options["values"] for p in conv.params}
    assert drawn == {"conv_param.stride": [1, 2], "conv_param.pad": [1, 0, 2]}
    groupnorm = _targets("cnn_layers.py")["spatial_groupnorm"]
    assert [p.name for p in groupnorm.spec.params] == ["G"] and "G in {2, 1, 3}" in groupnorm.inferred


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "name", ["conv_naive", "max_pool_naive", "spatial_batchnorm", "spatial_groupnorm", "layernorm"]
)
def test_right_rank_4_layers_pass_in_both_dtypes(name, dtype):
    outcome = _fuzz("cnn_layers.py", name, dtype, examples=20)
    assert outcome.failure is None, outcome.failure and outcome.failure.report.format()
    assert outcome.status == "pass" and outcome.examples == 20, outcome.error


def test_a_group_count_that_does_not_divide_the_channels_is_outside_the_domain():
    outcome = _fuzz("cnn_layers.py", "spatial_groupnorm", examples=30)
    assert outcome.status == "pass" and outcome.rejected > 0


def test_an_affine_returning_dx_flattened_fails_when_x_comes_with_more_dimensions():
    outcome = _fuzz("course_patterns.py", "affine_flat", examples=30)
    assert outcome.status == "fail" and outcome.failure.example.params["x.rank"] == 3
    form = outcome.failure.report.result("form")
    assert "affine_flat_backward returned the gradient of x with shape" in form.message


def test_a_conv_backward_wrong_only_at_stride_2_is_found_at_stride_2():
    outcome = _fuzz("course_patterns.py", "conv_naive", examples=40)
    assert outcome.status == "fail"
    assert outcome.failure.example.params["conv_param.stride"] == 2
    assert [(r.check, r.subject) for r in outcome.failure.report.failures] == [("rev", "x")]


# ---- what real files get wrong ---------------------------------------------------------------------


def test_a_1_by_d_gamma_gradient_is_a_shape_failure_at_the_inferred_d_shape():
    target = _targets("course_patterns.py")["batchnorm"]
    assert target.inferred.startswith("shapes inferred: x (n, d), gamma (d,), beta (d,)")
    outcome = _fuzz("course_patterns.py", "batchnorm")
    form = outcome.failure.report.result("form")
    assert form.status == "fail" and "the cotangent for gamma has shape (1, " in form.message


def test_the_alt_backward_is_its_own_op_and_is_checked():
    targets = _targets("course_patterns.py")
    assert targets["batchnorm_alt"].aliases == ("batchnorm_backward_alt",)
    assert _fuzz("course_patterns.py", "batchnorm_alt").status == "pass"


def test_a_relu_writing_into_dout_fails_form_without_unrelated_notes():
    report = _fuzz("course_patterns.py", "relu").failure.report
    assert [r.check for r in report.failures] == ["form"]
    assert "mutates the cotangent g" in report.result("form").message
    assert all(not r.details for r in report.results if r.check != "form")


def test_gradlab_list_shows_unfinished_functions_and_the_inferred_shapes():
    result = _gradlab("list", MODULES / "course_patterns.py", "--no-color")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("│ ")}
    assert "unfinished" in rows["affine"] and "unfinished" in rows["dropout"]
    assert "(n,c,h,w),(f,c,hh,ww),(f)" in rows["conv_naive"]


def test_unfinished_functions_are_named_one_line_each():
    targets = _targets("course_patterns.py")
    assert "affine_backward returns dx, dw, db still set to None" in targets["affine"].unfinished
    assert "NotImplementedError" in targets["dropout"].unfinished
    assert "forward returns None" in targets["softmax_loss"].unfinished
    assert all(targets[n].problem is None for n in ("affine", "dropout", "softmax_loss"))


# ---- verdicts and exit codes -------------------------------------------------------------------------

FINISHED_RIGHT = """
import numpy as np

def batchnorm_forward(x, gamma, beta, bn_param):
    mu, var = x.mean(axis=0), x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + bn_param.get("eps", 1e-5))
    return gamma * xhat + beta, (xhat, gamma, np.sqrt(var + bn_param.get("eps", 1e-5)))

def batchnorm_backward(dout, cache):
    xhat, gamma, std = cache
    dxhat = dout * gamma
    dx = (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0)) / std
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)

def scale_forward(x):
    return 3 * x, None

def scale_backward(dout, cache):
    return 3 * dout.astype(np.float64)  # float64 for a float32 input

def affine_forward(x, w, b):
    out = None
    pass
    return out, (x, w, b)

def affine_backward(dout, cache):
    dx, dw, db = None, None, None
    return dx, dw, db
"""


def test_a_file_whose_finished_functions_are_right_exits_0_and_1_only_with_strict(tmp_path):
    module = tmp_path / "layers.py"
    module.write_text(textwrap.dedent(FINISHED_RIGHT))
    report = tmp_path / "r.json"
    result = _gradlab("check", module, "--examples", "25", "--json", report)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(report.read_text())
    statuses = {op["name"]: op["status"] for op in data["ops"]}
    assert statuses == {"batchnorm": "pass", "scale": "warning", "affine": "unfinished"}
    assert data["summary"]["unfinished"] == 1 and data["summary"]["warning"] == 1
    assert "affine: unfinished" in result.stdout and "scale [float32]: warning" in result.stdout
    assert "batchnorm: shapes inferred: x (n, d), gamma (d,), beta (d,)" in " ".join(result.stdout.split())
    strict = _gradlab("check", module, "--examples", "25", "--strict", "--junit-xml", tmp_path / "j.xml")
    assert strict.returncode == 1
    junit = (tmp_path / "j.xml").read_text()
    assert "unfinished: affine" in junit and "warning (--strict)" in junit


HANGS_ON_MATRICES = """
import time
import numpy as np

def slow_forward(x):
    if x.ndim == 2:
        time.sleep(30)
    return x.sum(axis=0), x.shape

def slow_backward(dout, shape):
    return np.broadcast_to(dout, shape).copy()

def relu_forward(x):
    return np.maximum(x, 0), x

def relu_backward(dout, x):
    return dout * (x > 0)
"""


def test_the_time_limit_covers_shape_inference_and_one_hanging_op_stops_no_other(tmp_path):
    module = tmp_path / "hangs.py"
    module.write_text(textwrap.dedent(HANGS_ON_MATRICES))
    report = tmp_path / "r.json"
    result = _gradlab("check", module, "--examples", "10", "--timeout", "1", "--dtype", "float64", "--json", report)
    assert result.returncode == 1
    ops = {op["name"]: op for op in json.loads(report.read_text())["ops"]}
    assert ops["relu"]["status"] == "pass"
    assert ops["slow"]["status"] == "error" and "took more than 1 s" in ops["slow"]["problem"]


def test_a_spec_may_name_output_only_dimensions(tmp_path):
    module = tmp_path / "conv.py"
    module.write_text((MODULES / "cnn_layers.py").read_text())
    (tmp_path / "conv.toml").write_text(
        '[conv_naive]\nshape = "(n, c, h, w), (f, c, hh, ww), (f)->(n, f, p, q)"\nbatch = false\nmin_side = 3\n'
        'inputs = [{ name = "x", domain = "real" }, { name = "w", domain = "real" }, { name = "b", domain = "real" }]\n'
        "checks = ['rev', 'form']\n"
    )
    (target,) = discover(f"{module}::conv_naive")
    assert target.inferred is None and target.spec.signature.endswith("->(n,f,p,q)")
    outcome = fuzz_op(target.op, "float64", max_examples=5, spec=target.spec)
    assert outcome.status == "pass", outcome.error


# ---- float32 without false alarms ----------------------------------------------------------------


def _batchnorm(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(axis=0), x.var(axis=0)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def _batchnorm_vjp(g, out, x, gamma, beta, eps=1e-5, bug=False):
    std = np.sqrt(x.var(axis=0) + eps)
    xhat = (x - x.mean(axis=0)) / std
    dxhat = g * gamma
    dx = (dxhat - dxhat.mean(axis=0) - (0 if bug else xhat * (dxhat * xhat).mean(axis=0))) / std
    return dx, (g * xhat).sum(axis=0), g.sum(axis=0)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("n, d", [(2, 3), (3, 2), (2, 2)])
@pytest.mark.parametrize("spread", [1e-3, 1e-2])
def test_a_right_float32_batchnorm_at_n_2_with_variance_near_eps_passes_and_a_wrong_one_fails(seed, n, d, spread):
    # rows within `spread` of each other: the variance is comparable to eps, and float32 rounding of the
    # right formula loses 3-4 digits (a fixed float32 tolerance fails about a quarter of these)
    rng = np.random.default_rng(seed)
    x = (rng.uniform(-3, 3, d) + spread * rng.standard_normal((n, d))).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 2, d).astype(np.float32), rng.uniform(-1, 1, d).astype(np.float32)
    assert_grad_close(_batchnorm, x, gamma, beta, vjp=_batchnorm_vjp, mode="full")
    with pytest.raises(AssertionError, match="rev"):
        assert_grad_close(_batchnorm, x, gamma, beta, vjp=functools.partial(_batchnorm_vjp, bug=True), mode="full")


DROPOUT_TEMPLATE = """
import numpy as np

def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    mask, out = None, None
    if mode == "train":
        pass
    elif mode == "test":
        pass
    cache = (dropout_param, mask)
    out = out.astype(x.dtype, copy=False)
    return out, cache

def dropout_backward(dout, cache):
    dropout_param, mask = cache
    dx = None
    if dropout_param["mode"] == "train":
        dx = dout * mask
    elif dropout_param["mode"] == "test":
        dx = dout
    return dx
"""


def test_a_template_whose_output_is_still_none_is_unfinished_before_any_call(tmp_path):
    # the forward would crash on `None.astype`: read, it is the template's placeholder, not a bug
    module = tmp_path / "layers.py"
    module.write_text(textwrap.dedent(DROPOUT_TEMPLATE))
    (target,) = discover(module)
    assert target.unfinished == "dropout_forward returns out still set to None: not written yet"
    assert target.problem is None
