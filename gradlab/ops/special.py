"""``scipy.special`` functions: forward, VJP and JVP on one screen each.

The forwards are SciPy's (``cupyx.scipy.special`` on CuPy; on other array-API libraries SciPy on
the host, the result moved back: see :func:`gradlab.backend.special`). Each rule is the exact
derivative, written in the comment beside it. ``expit`` is the elementwise ``sigmoid``, ``log1p``
and ``softplus`` are elementwise ops too: they are not registered twice.
"""

from __future__ import annotations

import math

from gradlab.backend import special
from gradlab.ops.registry import defjvp, defvjp, ns, op

FAMILY = "special"

_2_SQRT_PI = 2 / math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2 * math.pi)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _unary(name, derivative):
    """``scipy.special.<name>`` as an op whose VJP and JVP both multiply by ``derivative(ans, x)``."""
    made = op(name, lambda x: special(name, x), family=FAMILY)
    defvjp(made, lambda g, ans, x: g * derivative(ans, x))
    defjvp(made, lambda t, ans, x: t * derivative(ans, x))
    return made


def _binary(name, dx, dy):
    """``scipy.special.<name>(x, y)`` as a broadcasting op with partials ``dx(ans, x, y)``, ``dy(ans, x, y)``."""
    made = op(name, lambda x, y: special(name, x, y), family=FAMILY)
    defvjp(made, lambda g, ans, x, y: g * dx(ans, x, y), lambda g, ans, x, y: g * dy(ans, x, y))
    defjvp(made, lambda t, ans, x, y: t * dx(ans, x, y), lambda t, ans, x, y: t * dy(ans, x, y))
    return made


# --- error function and the normal distribution ---

# erf' = 2/sqrt(pi) exp(-x^2);  erfc' = -erf'
erf = _unary("erf", lambda ans, x: _2_SQRT_PI * ns(x).exp(-x * x))
erfc = _unary("erfc", lambda ans, x: -_2_SQRT_PI * ns(x).exp(-x * x))
# erfinv'(y) = sqrt(pi)/2 exp(erfinv(y)^2)
erfinv = _unary("erfinv", lambda ans, x: ns(x).exp(ans * ans) / _2_SQRT_PI)
# ndtr' = exp(-x^2/2) / sqrt(2 pi), the normal pdf
ndtr = _unary("ndtr", lambda ans, x: ns(x).exp(-0.5 * x * x) / _SQRT_2PI)
# log_ndtr' = pdf(x) / ndtr(x) = exp(-x^2/2 - log_ndtr(x) - log(2 pi)/2): no 0/0 in the far left tail
log_ndtr = _unary("log_ndtr", lambda ans, x: ns(x).exp(-0.5 * x * x - ans - _HALF_LOG_2PI))
# ndtri'(p) = 1 / pdf(ndtri(p)) = sqrt(2 pi) exp(ndtri(p)^2 / 2)
ndtri = _unary("ndtri", lambda ans, x: _SQRT_2PI * ns(x).exp(0.5 * ans * ans))


# --- gamma and its logarithmic derivatives (x > 0) ---

# gammaln' = digamma;  digamma' = polygamma(1, .)
gammaln = _unary("gammaln", lambda ans, x: special("digamma", x))
digamma = _unary("digamma", lambda ans, x: special("polygamma", 1, x))


@op(family=FAMILY)
def polygamma(x, n=0):
    """scipy.special.polygamma(n, x), the n-th derivative of digamma, for an integer order n >= 0."""
    return special("polygamma", n, x)


# polygamma(n, .)' = polygamma(n + 1, .)
defvjp(polygamma, lambda g, ans, x, n=0: g * special("polygamma", n + 1, x))
defjvp(polygamma, lambda t, ans, x, n=0: t * special("polygamma", n + 1, x))


# --- logs and logits ---

# logit'(p) = 1 / (p (1 - p))
logit = _unary("logit", lambda ans, x: 1 / (x * (1 - x)))
# xlogy = x log(y) (0 at x = 0): d/dx = log(y), d/dy = x / y
xlogy = _binary("xlogy", lambda ans, x, y: ns(x, y).log(y), lambda ans, x, y: x / y)
# xlog1py = x log1p(y): d/dx = log1p(y), d/dy = x / (1 + y)
xlog1py = _binary("xlog1py", lambda ans, x, y: ns(x, y).log1p(y), lambda ans, x, y: x / (1 + y))


# --- modified Bessel functions ---

# i0' = i1
i0 = _unary("i0", lambda ans, x: special("i1", x))
# i0e = exp(-|x|) i0: i0e' = i1e - sign(x) i0e
# NOTE: a kink at 0 (exp(-|x|)); there sign(0) = 0 gives 0, the midpoint of the one-sided slopes -1 and 1
i0e = _unary("i0e", lambda ans, x: special("i1e", x) - ns(x).sign(x) * ans)
