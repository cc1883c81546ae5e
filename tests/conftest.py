import os

from hypothesis import HealthCheck, settings

# the whole built-in registry in every test: the array ops, and the training core's layers, which
# register as ops when the training core is imported
import gradlab.train  # noqa: F401

# deterministic by default (CI); GRADLAB_HYPOTHESIS_PROFILE=thorough for heavy fuzzing
settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", deadline=None, max_examples=2000, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("GRADLAB_HYPOTHESIS_PROFILE", "ci"))
