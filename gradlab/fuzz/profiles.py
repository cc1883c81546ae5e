"""How hard gradlab fuzzes: its profiles, and the Hypothesis profiles it registers.

Light on purpose (nothing is imported until a function runs): the pytest plugin reads it at
start-up, and Hypothesis calls :func:`register_hypothesis_profiles` through the ``hypothesis``
entry point every time it is imported.
"""

from __future__ import annotations

from typing import Any

# examples per op and dtype: ``quick`` is the CI default, ``thorough`` the one for a release
PROFILES = {"quick": 100, "thorough": 2000}

HYPOTHESIS_PROFILES: dict[str, dict[str, Any]] = {
    # the same examples on every run and machine, nothing remembered between runs
    "gradlab-ci": {"derandomize": True, "deadline": None, "database": None},
    "gradlab-thorough": {"max_examples": PROFILES["thorough"], "deadline": None},
}


def register_hypothesis_profiles() -> None:
    """Register ``gradlab-ci`` and ``gradlab-thorough`` with Hypothesis.

    Select one with ``pytest --hypothesis-profile gradlab-ci`` or
    ``hypothesis.settings.load_profile("gradlab-ci")``. Registering again is harmless.
    """
    from hypothesis import settings

    for name, values in HYPOTHESIS_PROFILES.items():
        settings.register_profile(name, **values)
