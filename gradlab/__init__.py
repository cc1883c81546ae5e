"""gradlab: property-tested gradient verification for hand-written VJP and JVP rules.

The public API is what this module exports; everything else may change.
"""

from __future__ import annotations

from gradlab.assertions import assert_grad_close
from gradlab.checks import check_grads
from gradlab.errors import GradlabError
from gradlab.results import CheckResult, GradCheckReport, Mismatch
from gradlab.tolerances import Tolerance, default_tolerance

__version__ = "0.1.0"

__all__ = [
    "CheckResult",
    "GradCheckReport",
    "GradlabError",
    "Mismatch",
    "Tolerance",
    "__version__",
    "assert_grad_close",
    "check_grads",
    "default_tolerance",
]
