from .ops_mathematic import *  # noqa: F403
