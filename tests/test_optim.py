"""Optimisers against steps computed by hand (the literals below are worked out on paper, not by the code)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradlab.backend import to_host
from gradlab.errors import GradlabError
from gradlab.train.optim import OPTIMIZERS, SGD, Adam, Momentum, Nesterov, Optimizer, make_optimizer


class Param:
    """The minimal parameter the optimisers accept: ``.data`` and ``.grad``."""

    def __init__(self, data, grad=None, dtype=np.float64):
        self.data = np.asarray(data, dtype=dtype)
        self.grad = None if grad is None else np.asarray(grad, dtype=dtype)


def run(opt: Optimizer, p: Param, grads) -> list[np.ndarray]:
    """Apply one step per gradient in ``grads``; the parameter's values after each step."""
    seen = []
    for g in grads:
        p.grad = np.asarray(g, dtype=p.data.dtype)
        opt.step()
        seen.append(p.data.copy())
    return seen


def assert_steps(seen, expected):
    for t, (got, want) in enumerate(zip(seen, expected, strict=True), start=1):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=f"after step {t}")


# --- SGD ---


def test_sgd_hand_computed():
    p = Param([1.0, -2.0])
    seen = run(SGD([p], lr=0.1), p, [[0.5, 1.0], [1.0, -1.0]])
    assert_steps(seen, [[0.95, -2.1], [0.85, -2.0]])


def test_sgd_weight_decay_hand_computed():
    # g = grad + 0.1 * theta: step 1 g = [0.6, 0.8]; step 2 (grad 0) g = 0.1 * [0.94, -2.08]
    p = Param([1.0, -2.0])
    seen = run(SGD([p], lr=0.1, weight_decay=0.1), p, [[0.5, 1.0], [0.0, 0.0]])
    assert_steps(seen, [[0.94, -2.08], [0.9306, -2.0592]])


# --- Momentum: u = 0.9 u + 0.1 g, theta -= 0.1 u ---


def test_momentum_hand_computed():
    # entry 0: u = 0.1, 0.29, 0.161;  entry 1: u = 0, 0.4, 0.36
    p = Param([1.0, -1.0])
    seen = run(Momentum([p], lr=0.1, momentum=0.9), p, [[1.0, 0.0], [2.0, 4.0], [-1.0, 0.0]])
    assert_steps(seen, [[0.99, -1.0], [0.961, -1.04], [0.9449, -1.076]])


def test_momentum_bias_corrected_hand_computed():
    # the same u, divided by 1 - 0.9**t = 0.1, 0.19, 0.271
    p = Param([1.0, -1.0])
    opt = Momentum([p], lr=0.1, momentum=0.9, bias_correction=True)
    seen = run(opt, p, [[1.0, 0.0], [2.0, 4.0], [-1.0, 0.0]])
    step2 = [0.9 - 0.1 * 0.29 / 0.19, -1.0 - 0.1 * 0.4 / 0.19]
    step3 = [step2[0] - 0.1 * 0.161 / 0.271, step2[1] - 0.1 * 0.36 / 0.271]
    assert_steps(seen, [[0.9, -1.0], step2, step3])


def test_momentum_weight_decay_hand_computed():
    # step 1: g = 0.5 * 2 = 1, u = 0.1;  step 2: g = 0.5 * 1.99 = 0.995, u = 0.09 + 0.0995 = 0.1895
    p = Param([2.0])
    seen = run(Momentum([p], lr=0.1, momentum=0.9, weight_decay=0.5), p, [[0.0], [0.0]])
    assert_steps(seen, [[1.99], [1.97105]])


def test_momentum_zero_is_sgd():
    p, q = Param([1.0, -2.0]), Param([1.0, -2.0])
    grads = [[0.5, 1.0], [1.0, -1.0]]
    assert_steps(run(Momentum([p], lr=0.1, momentum=0.0), p, grads), run(SGD([q], lr=0.1), q, grads))


# --- Nesterov: u = 0.9 u + 0.1 g, theta -= 0.1 (0.1 g + 0.9 u) ---


def test_nesterov_hand_computed():
    # u = 0.1, 0.29, 0.161; the step direction 0.1 g + 0.9 u = 0.19, 0.461, 0.0449
    p = Param([1.0])
    seen = run(Nesterov([p], lr=0.1, momentum=0.9), p, [[1.0], [2.0], [-1.0]])
    assert_steps(seen, [[0.981], [0.9349], [0.93041]])


def test_nesterov_is_pytorch_form_with_scaled_lr():
    # PyTorch: v = 0.9 v + g (1, 2.9, 1.61); theta -= 0.01 (g + 0.9 v), lr_torch = 0.1 * (1 - 0.9)
    theta1 = 1.0 - 0.01 * (1.0 + 0.9 * 1.0)
    theta2 = theta1 - 0.01 * (2.0 + 0.9 * 2.9)
    theta3 = theta2 - 0.01 * (-1.0 + 0.9 * 1.61)
    p = Param([1.0])
    seen = run(Nesterov([p], lr=0.1, momentum=0.9), p, [[1.0], [2.0], [-1.0]])
    assert_steps(seen, [[theta1], [theta2], [theta3]])


def test_nesterov_weight_decay_hand_computed():
    # g = 0.5 * 2 = 1: u = 0.1, direction 0.1 + 0.09 = 0.19
    p = Param([2.0])
    seen = run(Nesterov([p], lr=0.1, momentum=0.9, weight_decay=0.5), p, [[0.0]])
    assert_steps(seen, [[1.981]])


# --- Adam (lr 0.1, beta1 0.9, beta2 0.999, eps 1e-8) ---


def test_adam_hand_computed():
    # entry 0, grads 2 then -1: m = 0.2, 0.08; v = 0.004, 0.004996;
    #   1 - beta1**t = 0.1, 0.19; 1 - beta2**t = 0.001, 0.001999
    # entry 1, grad -0.5 twice: m_hat = -0.5 and v_hat = 0.25 at both steps,
    #   so it moves 0.1 * 0.5 / (0.5 + eps) each time
    p = Param([1.0, 0.5])
    seen = run(Adam([p], lr=0.1), p, [[2.0, -0.5], [-1.0, -0.5]])
    step1 = [1.0 - 0.1 * 2.0 / (2.0 + 1e-8), 0.5 + 0.1 * 0.5 / (0.5 + 1e-8)]
    step2 = [
        step1[0] - 0.1 * (0.08 / 0.19) / (math.sqrt(0.004996 / 0.001999) + 1e-8),
        step1[1] + 0.1 * 0.5 / (0.5 + 1e-8),
    ]
    assert_steps(seen, [step1, step2])


def test_adam_weight_decay_is_l2_not_adamw():
    # g = 0 + 0.5 * 2 = 1 enters the moments: m_hat = 1, v_hat = 1
    p = Param([2.0])
    seen = run(Adam([p], lr=0.1, weight_decay=0.5), p, [[0.0]])
    assert_steps(seen, [[2.0 - 0.1 / (1.0 + 1e-8)]])


def test_adam_first_step_moves_every_entry_by_lr():
    p = Param([0.0, 0.0, 0.0, 0.0])
    seen = run(Adam([p], lr=0.01, eps=1e-12), p, [[1e-3, -5.0, 300.0, -2e-6]])
    np.testing.assert_allclose(seen[0], [-0.01, 0.01, -0.01, 0.01], rtol=1e-5)


# --- what every optimiser shares ---

ALL = [
    pytest.param(lambda ps, **kw: SGD(ps, lr=0.1, **kw), id="sgd"),
    pytest.param(lambda ps, **kw: Momentum(ps, lr=0.1, **kw), id="momentum"),
    pytest.param(lambda ps, **kw: Momentum(ps, lr=0.1, bias_correction=True, **kw), id="momentum-bc"),
    pytest.param(lambda ps, **kw: Nesterov(ps, lr=0.1, **kw), id="nesterov"),
    pytest.param(lambda ps, **kw: Adam(ps, lr=0.1, **kw), id="adam"),
]


@pytest.mark.parametrize("make", ALL)
def test_weight_decay_equals_adding_wd_theta_to_the_gradient(make):
    grads = [np.array([0.3, -1.2]), np.array([-0.7, 0.4]), np.array([1.5, 0.0])]
    p, q = Param([1.0, -2.0]), Param([1.0, -2.0])
    decayed, plain = make([p], weight_decay=0.25), make([q])
    for g in grads:
        p.grad = g
        q.grad = g + 0.25 * q.data
        decayed.step()
        plain.step()
        np.testing.assert_allclose(p.data, q.data, rtol=1e-12)


@pytest.mark.parametrize("make", ALL)
def test_skips_parameters_without_gradient(make):
    p, frozen = Param([1.0, 2.0], grad=[1.0, 1.0]), Param([3.0, 4.0])
    before = frozen.data
    opt = make([p, frozen])
    opt.step()
    assert frozen.data is before
    assert opt.state[1]["t"] == 0
    assert not np.array_equal(p.data, [1.0, 2.0])


@pytest.mark.parametrize("make", ALL)
def test_zero_grad_sets_none(make):
    ps = [Param([1.0], grad=[1.0]), Param([2.0], grad=[3.0])]
    opt = make(ps)
    opt.zero_grad()
    assert all(p.grad is None for p in ps)
    opt.step()  # nothing to do
    np.testing.assert_array_equal([p.data[0] for p in ps], [1.0, 2.0])


@pytest.mark.parametrize("make", ALL)
def test_state_is_per_parameter(make):
    """Two parameters in one optimiser move exactly as each would alone."""
    grads_a = [[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0]]
    grads_b = [[4.0], [-4.0], [0.25]]
    a, b = Param([0.0, 1.0]), Param([2.0])
    opt = make([a, b])
    for ga, gb in zip(grads_a, grads_b, strict=True):
        a.grad, b.grad = np.array(ga), np.array(gb)
        opt.step()
    a1, b1 = Param([0.0, 1.0]), Param([2.0])
    expected_a = run(make([a1]), a1, grads_a)[-1]
    expected_b = run(make([b1]), b1, grads_b)[-1]
    np.testing.assert_array_equal(a.data, expected_a)
    np.testing.assert_array_equal(b.data, expected_b)


def test_step_count_is_per_parameter():
    """A parameter's first gradient gets a first (bias-corrected) step even at the optimiser's second step."""
    a, late = Param([0.0], grad=[1.0]), Param([0.0])
    opt = Adam([a, late], lr=0.1)
    opt.step()
    late.grad = np.array([-3.0])
    a.grad = np.array([1.0])
    opt.step()
    assert [s["t"] for s in opt.state] == [2, 1]
    np.testing.assert_allclose(late.data, [0.1], rtol=1e-6)


@pytest.mark.parametrize("make", ALL)
@pytest.mark.parametrize("grad_dtype", [np.float32, np.float64])
def test_float32_parameters_stay_float32(make, grad_dtype):
    p = Param([1.0, -2.0, 0.5], dtype=np.float32)
    opt = make([p], weight_decay=0.01)
    for g in ([0.1, 0.2, -0.3], [1.0, -1.0, 0.0]):
        p.grad = np.asarray(g, dtype=grad_dtype)
        opt.step()
        assert p.data.dtype == np.float32
    assert all(v.dtype == np.float32 for s in opt.state for v in s.values() if isinstance(v, np.ndarray))


@pytest.mark.parametrize("make", ALL)
def test_array_api_arrays(make):
    """Only array-API operations: a strict array-API namespace gives NumPy's numbers."""
    xp = pytest.importorskip("array_api_strict")
    grads = [[0.3, -1.2], [-0.7, 0.4]]
    p, q = Param([1.0, -2.0]), Param([1.0, -2.0])
    p.data = xp.asarray(p.data)
    opt = make([p], weight_decay=0.1)
    for g in grads:
        p.grad = xp.asarray(g, dtype=xp.float64)
        opt.step()
    expected = run(make([q], weight_decay=0.1), q, grads)[-1]
    assert type(p.data) is type(xp.asarray(0.0))
    np.testing.assert_allclose(to_host(p.data), expected, rtol=1e-14)


def test_gradient_shape_mismatch_is_an_error():
    p = Param([1.0, 2.0], grad=[1.0, 2.0, 3.0])
    with pytest.raises(GradlabError, match=r"gradient of shape \(3,\) for a parameter of shape \(2,\)"):
        SGD([p]).step()


# --- construction ---


def test_registry_and_make_optimizer():
    assert list(OPTIMIZERS) == ["sgd", "momentum", "nesterov", "adam"]
    assert list(OPTIMIZERS.values()) == [SGD, Momentum, Nesterov, Adam]
    p = Param([1.0])
    opt = make_optimizer("Adam", [p], lr=0.5, weight_decay=0.1)
    assert isinstance(opt, Adam) and opt.lr == 0.5 and opt.weight_decay == 0.1
    assert make_optimizer("momentum", [p], bias_correction=True).bias_correction


def test_make_optimizer_unknown_name():
    with pytest.raises(GradlabError, match="unknown optimizer 'rmsprop': use one of sgd, momentum, nesterov, adam"):
        make_optimizer("rmsprop", [Param([1.0])])


def test_defaults():
    p = [Param([1.0])]
    assert (SGD(p).lr, Momentum(p).lr, Nesterov(p).lr, Adam(p).lr) == (0.1, 0.1, 0.1, 1e-3)
    assert (Momentum(p).momentum, Nesterov(p).momentum, Momentum(p).bias_correction) == (0.9, 0.9, False)
    adam = Adam(p)
    assert (adam.beta1, adam.beta2, adam.eps, adam.weight_decay) == (0.9, 0.999, 1e-8, 0.0)


def test_params_are_stored_as_a_list():
    opt = SGD(Param([float(i)]) for i in range(3))
    assert isinstance(opt.params, list) and len(opt.params) == 3


@pytest.mark.parametrize(
    "build",
    [
        lambda p: SGD(p, lr=-0.1),
        lambda p: SGD(p, lr=float("nan")),
        lambda p: SGD(p, weight_decay=-1.0),
        lambda p: Momentum(p, momentum=1.0),
        lambda p: Nesterov(p, momentum=-0.1),
        lambda p: Adam(p, beta2=1.0),
        lambda p: Adam(p, eps=0.0),
        lambda p: SGD([]),
    ],
)
def test_bad_hyperparameters(build):
    with pytest.raises(GradlabError):
        build([Param([1.0])])
