"""The tutorial's op: scale each vector to unit length, with a VJP and a JVP written by hand.

The VJP has the bug the tutorial finds: it forgets that the norm depends on x too.
``gradlab check docs/examples/normalize.py`` reports it.
"""

import numpy as np

from gradlab import defjvp, defvjp, op


@op(spec={"shape": "(n)->(n)", "inputs": [{"name": "x", "domain": "nonzero"}]})
def normalize(x):
    """x / |x| along the last axis."""
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def normalize_vjp(g, y, x):
    return g / np.linalg.norm(x, axis=-1, keepdims=True)  # BUG: the norm's own derivative is missing


def normalize_jvp(t, y, x):
    return (t - y * np.sum(t * y, axis=-1, keepdims=True)) / np.linalg.norm(x, axis=-1, keepdims=True)


defvjp(normalize, normalize_vjp)
defjvp(normalize, normalize_jvp)
