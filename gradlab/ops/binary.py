"""Broadcasting binary ops: forward, VJP and JVP on one screen each.

Rules are shape-free math on the broadcast shape: the registry sums each cotangent back to its
argument's shape (``unbroadcast``) and broadcasts each tangent contribution to the output's shape.
"""

from __future__ import annotations

from gradlab.ops.registry import defjvp, deflinear, defvjp, ns, op

FAMILY = "binary"


def _binary(name, forward, da, db):
    """A binary op whose VJP and JVP multiply by the partials ``da(ans, a, b)``, ``db(ans, a, b)``."""
    made = op(name, forward, family=FAMILY)
    defvjp(made, lambda g, ans, a, b: g * da(ans, a, b), lambda g, ans, a, b: g * db(ans, a, b))
    defjvp(made, lambda t, ans, a, b: t * da(ans, a, b), lambda t, ans, a, b: t * db(ans, a, b))
    return made


# --- linear ---
# in both arguments, numbers included: the tangent of x + 1 is add(t, 0)

add = deflinear(op("add", lambda a, b: a + b, family=FAMILY), 0, 1)
defvjp(add, lambda g, ans, a, b: g, lambda g, ans, a, b: g)

subtract = deflinear(op("subtract", lambda a, b: a - b, family=FAMILY), 0, 1)
defvjp(subtract, lambda g, ans, a, b: g, lambda g, ans, a, b: -g)


# --- smooth ---

multiply = _binary("multiply", lambda a, b: a * b, lambda ans, a, b: b, lambda ans, a, b: a)
divide = _binary("divide", lambda a, b: a / b, lambda ans, a, b: 1 / b, lambda ans, a, b: -ans / b)
# a > 0 (the derivative in the exponent is ans * log(a)); any real exponent
power = _binary(
    "power",
    lambda a, b: ns(a, b).pow(a, b),
    lambda ans, a, b: b * ns(a, b).pow(a, b - 1),
    lambda ans, a, b: ans * ns(a, b).log(a),
)


# --- kinks where a == b ---

# NOTE: at a tie (a == b) maximum and minimum split the derivative 0.5 / 0.5 between a and b
# (the midpoint of the one-sided derivatives, a valid subgradient)
maximum = _binary(
    "maximum",
    lambda a, b: ns(a, b).maximum(a, b),
    lambda ans, a, b: _pick(a > b, a, b),
    lambda ans, a, b: _pick(b > a, a, b),
)
minimum = _binary(
    "minimum",
    lambda a, b: ns(a, b).minimum(a, b),
    lambda ans, a, b: _pick(a < b, a, b),
    lambda ans, a, b: _pick(b < a, a, b),
)


# --- helpers ---


def _pick(wins, a, b):
    """1 where ``wins``, 0.5 at a tie, 0 elsewhere (in the inputs' dtype, broadcast shape)."""
    xp = ns(a, b)
    return xp.astype(wins, a.dtype) + 0.5 * xp.astype(a == b, a.dtype)
