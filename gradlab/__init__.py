"""gradlab: property-tested gradient verification for hand-written VJP and JVP rules.

The public API is what this module exports; everything else may change. Names are imported
lazily, so ``gradlab --help`` does not pay for NumPy and Hypothesis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "assert_grad_close": "gradlab.assertions",
    "check_grads": "gradlab.checks",
    "CheckResult": "gradlab.results",
    "GradCheckReport": "gradlab.results",
    "Mismatch": "gradlab.results",
    "GradlabError": "gradlab.errors",
    "Tolerance": "gradlab.tolerances",
    "default_tolerance": "gradlab.tolerances",
    "op": "gradlab.ops.registry",
    "defvjp": "gradlab.ops.registry",
    "defjvp": "gradlab.ops.registry",
    "deflinear": "gradlab.ops.registry",
    "Op": "gradlab.ops.registry",
    "fuzz_op": "gradlab.fuzz",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:  # the names, for type checkers and IDEs
    from gradlab.assertions import assert_grad_close  # noqa: F401
    from gradlab.checks import check_grads  # noqa: F401
    from gradlab.errors import GradlabError  # noqa: F401
    from gradlab.fuzz import fuzz_op  # noqa: F401
    from gradlab.ops.registry import Op, defjvp, deflinear, defvjp, op  # noqa: F401
    from gradlab.results import CheckResult, GradCheckReport, Mismatch  # noqa: F401
    from gradlab.tolerances import Tolerance, default_tolerance  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gradlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
