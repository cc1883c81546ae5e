"""A needle-like autodiff homework package, written for gradlab's tests (not a student's code)."""

from . import ops
from .autograd import Tensor, cpu
from .ops import *  # noqa: F403

__all__ = ["Tensor", "cpu", "ops"]
