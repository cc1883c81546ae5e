"""gradlab: property-tested gradient verification for hand-written VJP and JVP rules.

The public API is what this module exports; everything else may change. Names are imported
lazily, so ``gradlab --help`` does not pay for NumPy and Hypothesis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gradlab._version import __version__ as __version__

_EXPORTS = {
    "assert_grad_close": "gradlab.check.assertions",
    "UndecidedWarning": "gradlab.check.assertions",
    "check_grads": "gradlab.check.grads",
    "CheckResult": "gradlab.check.results",
    "GradCheckReport": "gradlab.check.results",
    "Mismatch": "gradlab.check.results",
    "GradlabError": "gradlab.errors",
    "Tolerance": "gradlab.check.tolerances",
    "default_tolerance": "gradlab.check.tolerances",
    "op": "gradlab.ops.registry",
    "defvjp": "gradlab.ops.registry",
    "defjvp": "gradlab.ops.registry",
    "deflinear": "gradlab.ops.registry",
    "Op": "gradlab.ops.registry",
    "fuzz_op": "gradlab.fuzz.driver",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:  # the names, for type checkers and IDEs
    from gradlab.check.assertions import UndecidedWarning, assert_grad_close  # noqa: F401
    from gradlab.check.grads import check_grads  # noqa: F401
    from gradlab.check.results import CheckResult, GradCheckReport, Mismatch  # noqa: F401
    from gradlab.check.tolerances import Tolerance, default_tolerance  # noqa: F401
    from gradlab.errors import GradlabError  # noqa: F401
    from gradlab.fuzz.driver import fuzz_op  # noqa: F401
    from gradlab.ops.registry import Op, defjvp, deflinear, defvjp, op  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gradlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
