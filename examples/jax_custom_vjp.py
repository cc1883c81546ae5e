"""A numerically stable log-sum-exp with a hand-written ``jax.custom_vjp`` rule, whose backward
has a bug: it forgets to normalise the exponentials (the gradient of log-sum-exp is the softmax).

``gradlab check examples/jax_custom_vjp.py`` finds the function, infers its shapes, and checks its
``bwd`` through JAX's own reverse mode (a ``custom_vjp`` has no forward mode, so only ``rev`` and
``form`` run): the VJP is off wherever the row's exponentials do not sum to one.
"""

import jax
import jax.numpy as jnp


@jax.custom_vjp
def logsumexp(x):
    """log(sum(exp(x))) over the last axis, shifted by the row's maximum so exp never overflows."""
    m = jnp.max(x, axis=-1, keepdims=True)
    return jnp.log(jnp.sum(jnp.exp(x - m), axis=-1)) + m[..., 0]


def logsumexp_fwd(x):
    out = logsumexp(x)
    return out, (x, out)


def logsumexp_bwd(residuals, g):
    x, out = residuals  # noqa: RUF059  (the fix below uses out)
    # BUG: the exponentials are not normalised by the row's sum; the fix:
    # return (g[..., None] * jnp.exp(x - out[..., None]),)
    return (g[..., None] * jnp.exp(x - jnp.max(x, axis=-1, keepdims=True)),)


logsumexp.defvjp(logsumexp_fwd, logsumexp_bwd)
