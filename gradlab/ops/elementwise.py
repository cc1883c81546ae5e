"""Elementwise unary ops: forward, VJP and JVP on one screen each."""

from __future__ import annotations

from gradlab import backend
from gradlab.ops.registry import defjvp, deflinear, defvjp, ns, op

FAMILY = "elementwise"


def _unary(name, forward, derivative):
    """An elementwise op whose VJP and JVP both multiply by ``derivative(ans, x)``."""
    made = op(name, forward, family=FAMILY)
    defvjp(made, lambda g, ans, x: g * derivative(ans, x))
    defjvp(made, lambda t, ans, x: t * derivative(ans, x))
    return made


# --- simple ---

negative = deflinear(defvjp(op("negative", lambda x: -x, family=FAMILY), lambda g, ans, x: -g))
exp = _unary("exp", lambda x: ns(x).exp(x), lambda ans, x: ans)
log = _unary("log", lambda x: ns(x).log(x), lambda ans, x: 1 / x)
log1p = _unary("log1p", lambda x: ns(x).log1p(x), lambda ans, x: 1 / (1 + x))
expm1 = _unary("expm1", lambda x: ns(x).expm1(x), lambda ans, x: ans + 1)
sqrt = _unary("sqrt", lambda x: ns(x).sqrt(x), lambda ans, x: 0.5 / ans)
square = _unary("square", lambda x: x * x, lambda ans, x: 2 * x)
reciprocal = _unary("reciprocal", lambda x: 1 / x, lambda ans, x: -ans * ans)
sin = _unary("sin", lambda x: ns(x).sin(x), lambda ans, x: ns(x).cos(x))
cos = _unary("cos", lambda x: ns(x).cos(x), lambda ans, x: -ns(x).sin(x))
tanh = _unary("tanh", lambda x: ns(x).tanh(x), lambda ans, x: 1 - ans * ans)
sigmoid = _unary("sigmoid", lambda x: _sigmoid(x), lambda ans, x: ans * (1 - ans))
softplus = _unary("softplus", lambda x: ns(x).logaddexp(x, ns(x).zeros_like(x)), lambda ans, x: _sigmoid(x))
# NOTE: relu, leaky_relu and abs pick the subgradient of the right (x > 0) side at 0
# the slope of the x > 0 side at 0; maximum() (one pass) rather than where() (three times slower
# on NumPy): relu sits in every MLP
relu = op("relu", lambda x: ns(x).maximum(x, 0), family=FAMILY)
defvjp(relu, lambda g, ans, x: backend.masked(ns(g), g, x > 0))
defjvp(relu, lambda t, ans, x: backend.masked(ns(t), t, x > 0))
abs = _unary("abs", lambda x: ns(x).abs(x), lambda ans, x: ns(x).sign(x))
gelu = _unary("gelu", lambda x: 0.5 * x * (1 + _erf(x / 2**0.5)), lambda ans, x: _gelu_slope(x))


# --- with parameters ---


@op(family=FAMILY)
def leaky_relu(x, alpha=0.01):
    """max(x, alpha * x) for 0 <= alpha < 1."""
    return ns(x).where(x > 0, x, alpha * x)


defvjp(leaky_relu, lambda g, ans, x, alpha=0.01: g * _leaky_slope(x, alpha))
defjvp(leaky_relu, lambda t, ans, x, alpha=0.01: t * _leaky_slope(x, alpha))


@op("power_scalar", family=FAMILY)
def power_scalar(x, exponent=2.0):
    """x ** exponent for a scalar exponent (x > 0 unless the exponent is an integer)."""
    return x**exponent


defvjp(power_scalar, lambda g, ans, x, exponent=2.0: g * exponent * x ** (exponent - 1))
defjvp(power_scalar, lambda t, ans, x, exponent=2.0: t * exponent * x ** (exponent - 1))


# --- helpers ---


def _sigmoid(x):
    xp = ns(x)
    # stable on both sides: exp of a non-positive number only
    z = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + z), z / (1 + z))


def _leaky_slope(x, alpha):
    xp = ns(x)
    return xp.where(x > 0, xp.ones_like(x), xp.full_like(x, alpha))


def _erf(x):
    return backend.special("erf", x)


def _gelu_slope(x):
    xp = ns(x)
    pdf = xp.exp(-0.5 * x * x) / (2 * 3.141592653589793) ** 0.5
    return 0.5 * (1 + _erf(x / 2**0.5)) + x * pdf
