"""A failing example large enough to picture.

Hypothesis shrinks a failure to the smallest input that still fails, which is what a reader needs
to reproduce it, and often too small to show the error's pattern: a 1-by-1 Jacobian block cannot
show a transposed block, a band from a missing reduction over the batch, or a wrong axis. The HTML
report draws the shrunk example's blocks and, beside them, the blocks at an example of the same op
where the same checks fail and every array has at least two entries per axis: drawn from the op's
spec with a fixed seed, the first that fails the same way, found within a budget of draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample, Unsatisfiable

from gradlab.check.results import GradCheckReport
from gradlab.fuzz.driver import check_example
from gradlab.fuzz.strategies import Example, examples
from gradlab.ops.registry import Op
from gradlab.ops.spec import Spec

# the arrays' entries, all inputs together: enough to show a pattern, few enough for a legible picture
SIZES = (12, 300)
DRAWS = 300  # examples drawn at most (each is checked only when its shapes qualify)


def large_enough(example: Example) -> bool:
    """Every array has two entries or more along each axis, and the arrays hold :data:`SIZES` entries."""
    arrays = [x for x in example.inputs if isinstance(x, np.ndarray) and x.ndim]
    total = sum(int(x.size) for x in arrays)
    return bool(arrays) and SIZES[0] <= total <= SIZES[1] and all(min(x.shape) >= 2 for x in arrays)


def larger_failure(
    op: Op, spec: Spec, example: Example, report: GradCheckReport, device: str = "cpu", seed: int = 0
) -> Example | None:
    """An example of ``op`` in ``example``'s dtype, :func:`large_enough`, at which a check that fails
    in ``report`` (the shrunk example's) fails again for the same input; None when ``example`` is
    large enough already, or when no such example turns up in :data:`DRAWS` draws."""
    failing = {(r.check, r.subject) for r in report.failures if r.check != "form"}
    if not failing or large_enough(example):
        return None

    def fails_alike(candidate: Example) -> bool:
        if not large_enough(candidate):
            return False
        try:
            again = check_example(op, spec, candidate, seed_=seed, device=device)
        except Exception:  # an input the op refuses: not one to draw
            return False
        return any((r.check, r.subject) in failing for r in again.failures)

    options: Any = settings(
        max_examples=DRAWS, database=None, derandomize=True, deadline=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    try:
        return find(examples(spec, example.dtype), fails_alike, settings=options)
    except (NoSuchExample, Unsatisfiable):
        return None
