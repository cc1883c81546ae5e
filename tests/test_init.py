"""Initialisers: the empirical spread of a large draw matches the formula; seeds and dtypes are honoured."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradlab.errors import GradlabError
from gradlab.train import init

FAN_IN, FAN_OUT = 500, 400  # 200000 draws: the sample std is within ~0.5% of the true one


def assert_std(w: np.ndarray, std: float) -> None:
    assert abs(float(w.std()) / std - 1) < 0.02, (float(w.std()), std)
    assert abs(float(w.mean())) < 5 * std / math.sqrt(w.size)


def test_xavier_uniform_bounds_and_std():
    a = math.sqrt(6 / (FAN_IN + FAN_OUT))
    w = init.xavier_uniform(FAN_IN, FAN_OUT, dtype="float64")
    assert w.shape == (FAN_IN, FAN_OUT)
    assert np.abs(w).max() <= a
    assert np.abs(w).max() > 0.99 * a
    assert_std(w, a / math.sqrt(3))  # the std of U(-a, a)


def test_xavier_normal_std():
    w = init.xavier_normal(FAN_IN, FAN_OUT, dtype="float64")
    assert w.shape == (FAN_IN, FAN_OUT)
    assert_std(w, math.sqrt(2 / (FAN_IN + FAN_OUT)))


def test_xavier_gain_scales_the_same_draw():
    np.testing.assert_array_equal(
        init.xavier_uniform(20, 30, gain=2.0, rng=5, dtype="float64"),
        2.0 * init.xavier_uniform(20, 30, gain=1.0, rng=5, dtype="float64"),
    )
    assert_std(init.xavier_normal(FAN_IN, FAN_OUT, gain=3.0), 3.0 * math.sqrt(2 / (FAN_IN + FAN_OUT)))


def test_kaiming_uniform_relu():
    b = math.sqrt(6 / FAN_IN)
    w = init.kaiming_uniform(FAN_IN, FAN_OUT, dtype="float64")
    assert w.shape == (FAN_IN, FAN_OUT)
    assert b * 0.99 < np.abs(w).max() <= b
    assert_std(w, math.sqrt(2 / FAN_IN))


def test_kaiming_normal_relu_is_n_0_2_over_fan_in():
    w = init.kaiming_normal(FAN_IN, FAN_OUT, dtype="float64")
    assert w.shape == (FAN_IN, FAN_OUT)
    assert_std(w, math.sqrt(2 / FAN_IN))


@pytest.mark.parametrize(
    ("nonlinearity", "gain"),
    [("linear", 1.0), ("sigmoid", 1.0), ("tanh", 5 / 3), ("relu", math.sqrt(2)), ("leaky_relu", math.sqrt(2 / 1.0001))],
)
def test_kaiming_gains(nonlinearity, gain):
    assert init.gain(nonlinearity) == pytest.approx(gain, rel=1e-15)
    assert_std(init.kaiming_normal(FAN_IN, FAN_OUT, nonlinearity=nonlinearity), gain / math.sqrt(FAN_IN))
    b = gain * math.sqrt(3 / FAN_IN)
    assert np.abs(init.kaiming_uniform(FAN_IN, 50, nonlinearity=nonlinearity, dtype="float64")).max() <= b


ALL = [init.xavier_uniform, init.xavier_normal, init.kaiming_uniform, init.kaiming_normal]


@pytest.mark.parametrize("fn", ALL)
def test_deterministic_for_a_seed(fn):
    np.testing.assert_array_equal(fn(7, 3, rng=42), fn(7, 3, rng=42))
    np.testing.assert_array_equal(fn(7, 3), fn(7, 3, rng=0))  # the default is seed 0
    np.testing.assert_array_equal(fn(7, 3, rng=np.random.default_rng(42)), fn(7, 3, rng=42))
    assert not np.array_equal(fn(7, 3, rng=1), fn(7, 3, rng=2))


@pytest.mark.parametrize("fn", ALL)
def test_a_shared_generator_gives_fresh_draws(fn):
    rng = np.random.default_rng(0)
    assert not np.array_equal(fn(7, 3, rng=rng), fn(7, 3, rng=rng))


@pytest.mark.parametrize("fn", ALL)
@pytest.mark.parametrize("dtype", ["float32", "float64", np.float32, np.dtype("float16")])
def test_dtype_honoured(fn, dtype):
    assert fn(4, 5, dtype=dtype).dtype == np.dtype(dtype)


@pytest.mark.parametrize("fn", ALL)
def test_same_weights_in_every_dtype(fn):
    np.testing.assert_array_equal(fn(6, 4, rng=3), fn(6, 4, rng=3, dtype="float64").astype(np.float32))


def test_default_dtype_is_float32():
    assert init.kaiming_normal(3, 2).dtype == np.float32
    assert init.zeros(3).dtype == np.float32


def test_zeros():
    z = init.zeros((2, 3), dtype="float64")
    assert z.shape == (2, 3) and z.dtype == np.float64 and not z.any()
    assert init.zeros(4).shape == (4,)


@pytest.mark.parametrize(
    "call",
    [
        lambda: init.xavier_uniform(0, 3),
        lambda: init.kaiming_normal(3, -1),
        lambda: init.xavier_normal(2.5, 3),
        lambda: init.kaiming_uniform(3, 3, dtype="int32"),
        lambda: init.zeros(3, dtype="not a dtype"),
        lambda: init.kaiming_normal(3, 3, nonlinearity="swish"),
        lambda: init.xavier_uniform(3, 3, rng="seed"),
    ],
)
def test_bad_arguments(call):
    with pytest.raises(GradlabError):
        call()
