"""Ops written with gradlab's own registration: a forward, a VJP and a JVP rule, and an inline spec.

VJP rules are ``rule(g, ans, *inputs)`` and JVP rules ``rule(t, ans, *inputs)``, one per
argument; gradlab sums a cotangent over the axes its input was broadcast along, so the rules
stay shape-free math. All correct. Check them with ``gradlab check examples/gradlab_style.py``.
"""

import math

import numpy as np

from gradlab.ops import defjvp, defvjp, op

# softsign(x) = x / (1 + |x|): once differentiable at 0, where its second derivative jumps
softsign = op(
    "softsign",
    lambda x: x / (1 + np.abs(x)),
    spec={"shape": "()->()", "inputs": [{"name": "x", "domain": "real"}], "kinks": [0.0]},
)
defvjp(softsign, lambda g, ans, x: g / (1 + np.abs(x)) ** 2)
defjvp(softsign, lambda t, ans, x: t / (1 + np.abs(x)) ** 2)


@op(
    spec={
        "shape": "(n,d),(m,d)->(n,m)",
        "inputs": [{"name": "q", "domain": "real"}, {"name": "k", "domain": "real"}],
    }
)
def scaled_dot(q, k):
    """Attention scores q k^T / sqrt(d) over the last axis, with broadcasting batch dimensions."""
    return q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])


def _scale(q):
    return 1 / math.sqrt(q.shape[-1])


defvjp(
    scaled_dot,
    lambda g, ans, q, k: g @ k * _scale(q),
    lambda g, ans, q, k: np.swapaxes(g, -1, -2) @ q * _scale(q),
)
defjvp(
    scaled_dot,
    lambda t, ans, q, k: t @ np.swapaxes(k, -1, -2) * _scale(q),
    lambda t, ans, q, k: q @ np.swapaxes(t, -1, -2) * _scale(q),
)
