"""The rounding a right rule suffers in low precision at this input, measured, not assumed.

A float32 batchnorm backward at N = 2, with a variance comparable to eps, loses three or four
digits to cancellation however it is written: a fixed float32 tolerance calls that a wrong rule.
Here the VJP runs once more per probe on the inputs, cotangent and output widened to float64 (the
precision the numerics run in): ``|VJP_float32 - VJP_float64|`` is the rounding of this formula at
this input, and the limit of each element widens by :data:`ROUNDING_SAFETY` times it. A wrong rule
is wrong in float64 as well, so the widening never hides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gradlab import backend
from gradlab.check import form
from gradlab.check.sampling import Sampler, as_float, xp_flat

Array = Any

# the limit of an element grows by this many times the float32-vs-float64 gap of the rule there
ROUNDING_SAFETY = 4.0


@dataclass(frozen=True)
class Rounding:
    """Per probe ``k`` and differentiated input ``i``: the rule's cotangent in float64
    (``wide[k][i]``) and its gap to the low-precision one (``gap[k][i]``), flattened."""

    wide: list[dict[int, Array]]
    gap: list[dict[int, Array]]


def vjp_rounding(sampler: Sampler, cots: list[list[Array]]) -> Rounding | None:
    """The rule's rounding at every probe; None when no differentiated input is in low precision,
    the numerics do not run wider, or the rule does not run on float64 arrays."""
    task, xp = sampler.task, sampler.xp
    if task.vjp is None or backend.eps(xp, sampler.g0.dtype) > 1e-15:
        return None
    low = [i for i in task.wrt if backend.eps(xp, task.inputs[i].dtype) > 1e-15]
    if not low:
        return None
    out = xp.reshape(sampler.g0, tuple(sampler.out.shape))
    wide: list[dict[int, Array]] = []
    gap: list[dict[int, Array]] = []
    for k, v in enumerate(sampler.probes.v):
        v_wide = as_float(xp, v, sampler.g0.dtype)
        call = form.call_vjp(xp, task.vjp, v_wide, sampler.eval_inputs, out, task.wrt, task.names, strict=False)
        if not call.usable or call.problems:
            return None
        wide.append({})
        gap.append({})
        for position, i in enumerate(task.wrt):
            a_wide = xp_flat(xp, as_float(xp, call.value[position], sampler.g0.dtype))
            a_low = xp_flat(xp, as_float(xp, cots[k][position], sampler.g0.dtype))
            if tuple(a_wide.shape) != tuple(a_low.shape) or not bool(xp.all(xp.isfinite(a_wide))):
                return None
            wide[k][i] = a_wide
            gap[k][i] = xp.abs(a_low - a_wide) if i in low else xp.zeros_like(a_wide)
    return Rounding(wide, gap)
