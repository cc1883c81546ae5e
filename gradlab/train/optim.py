"""Optimisers for the training core: SGD, momentum, Nesterov, Adam, all with L2 weight decay.

A parameter is any object with ``.data`` (an array of the backend namespace) and ``.grad`` (an
array of the same shape, or ``None`` when no gradient reached it). ``step()`` assigns a new array
to ``p.data`` (never mutates it in place, so CuPy and array-API arrays work) and keeps its dtype;
parameters whose ``.grad`` is ``None`` are skipped and their state does not advance.

Notation, for one parameter ``theta`` at its ``t``-th update (``t = 1, 2, ...``), learning rate
``lr``, weight decay ``wd``; every optimiser first forms the L2-regularised gradient::

    g = grad + wd * theta

(coupled L2 decay, the gradient of ``loss + wd/2 * ||theta||^2``; for Adam this is *not* AdamW).
The state of every optimiser starts at zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from gradlab.backend import namespace
from gradlab.errors import GradlabError

Array = Any


class Optimizer:
    """Base class: stores the parameters, applies weight decay, skips parameters without a gradient.

    Parameters
    ----------
    params : iterable
        The parameters (objects with ``.data`` and ``.grad``); stored as a list.
    lr : float
        Learning rate, ``>= 0``.
    weight_decay : float
        L2 coefficient ``wd >= 0``; ``wd * theta`` is added to the gradient before the update.

    Subclasses implement ``_update(state, theta, g) -> new_theta``; ``state`` is that parameter's own
    dict, holding ``"t"`` (its update count, already incremented) and whatever the subclass keeps.
    """

    def __init__(self, params: Iterable[Any], lr: float, weight_decay: float = 0.0) -> None:
        self.params = list(params)
        if not self.params:
            raise GradlabError(f"{type(self).__name__} got no parameters (an exhausted generator?)")
        _check_range("lr", lr, low=0.0)
        _check_range("weight_decay", weight_decay, low=0.0)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.state: list[dict[str, Any]] = [{"t": 0} for _ in self.params]

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        decay = self.weight_decay
        for p, state in zip(self.params, self.state, strict=True):
            g = p.grad
            if g is None:
                continue
            theta = p.data
            if g.shape != theta.shape:
                raise GradlabError(f"gradient of shape {tuple(g.shape)} for a parameter of shape {tuple(theta.shape)}")
            if g.dtype != theta.dtype:
                g = namespace(theta).astype(g, theta.dtype)
            if decay:
                g = g + decay * theta
            state["t"] += 1
            new = self._update(state, theta, g)
            p.data = new if new.dtype == theta.dtype else namespace(theta).astype(new, theta.dtype)

    def zero_grad(self) -> None:
        """Forget the gradients: set every parameter's ``.grad`` to ``None``."""
        for p in self.params:
            p.grad = None

    def _update(self, state: dict[str, Any], theta: Array, g: Array) -> Array:
        raise NotImplementedError

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v}" for k, v in vars(self).items() if k not in ("params", "state"))
        return f"{type(self).__name__}({len(self.params)} params, {hyper})"


class SGD(Optimizer):
    """Plain gradient descent: ``theta <- theta - lr * g``.

    Parameters
    ----------
    params : iterable
        The parameters.
    lr : float
        Learning rate.
    weight_decay : float
        L2 coefficient (``g = grad + weight_decay * theta``).
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.1, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)

    def _update(self, state: dict[str, Any], theta: Array, g: Array) -> Array:
        return theta - self.lr * g


class Momentum(Optimizer):
    """Momentum as an exponential moving average of gradients (the deep-learning-systems course form).

    With ``beta = momentum``::

        u     <- beta * u + (1 - beta) * g
        theta <- theta - lr * u                         (bias_correction=False)
        theta <- theta - lr * u / (1 - beta**t)         (bias_correction=True)

    The bias correction undoes the pull of ``u``'s zero start towards zero in the first steps.
    Without it this is PyTorch's ``SGD(momentum=beta)`` (``v <- beta * v + g; theta <- theta - lr_torch * v``)
    with ``lr_torch = lr * (1 - beta)``: ``u`` is a weighted mean of gradients, not their sum.

    Parameters
    ----------
    params : iterable
        The parameters.
    lr : float
        Learning rate.
    momentum : float
        ``beta`` in ``[0, 1)``.
    weight_decay : float
        L2 coefficient (``g = grad + weight_decay * theta``).
    bias_correction : bool
        Divide ``u`` by ``1 - beta**t`` in the update.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        bias_correction: bool = False,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        _check_range("momentum", momentum, low=0.0, high=1.0)
        self.momentum = float(momentum)
        self.bias_correction = bool(bias_correction)

    def _velocity(self, state: dict[str, Any], g: Array) -> Array:
        """``u <- beta * u + (1 - beta) * g``, kept in ``state``."""
        beta = self.momentum
        u = state["u"] = beta * state.get("u", 0.0) + (1 - beta) * g
        return u

    def _update(self, state: dict[str, Any], theta: Array, g: Array) -> Array:
        u = self._velocity(state, g)
        if self.bias_correction:
            u = u / (1 - self.momentum ** state["t"])
        return theta - self.lr * u


class Nesterov(Momentum):
    """Nesterov momentum in the same moving-average form as :class:`Momentum`.

    With ``beta = momentum``::

        u     <- beta * u + (1 - beta) * g
        theta <- theta - lr * ((1 - beta) * g + beta * u)

    This is the "look-ahead" reformulation (Sutskever et al. 2013, as in PyTorch and Dozat's NAdam):
    the step uses the velocity that the *next* update would see, so no gradient at a shifted point is
    needed. It equals PyTorch's ``SGD(nesterov=True)`` (``v <- mu * v + g; theta <- theta - lr_torch *
    (g + mu * v)``) with ``lr_torch = lr * (1 - beta)``: the ``(1 - beta)`` scaling keeps ``lr`` meaning
    the same step size as in :class:`Momentum`, so the two can be swapped at one learning rate.

    Parameters
    ----------
    params : iterable
        The parameters.
    lr : float
        Learning rate.
    momentum : float
        ``beta`` in ``[0, 1)``.
    weight_decay : float
        L2 coefficient (``g = grad + weight_decay * theta``).
    """

    def __init__(
        self, params: Iterable[Any], lr: float = 0.1, momentum: float = 0.9, weight_decay: float = 0.0
    ) -> None:
        super().__init__(params, lr, momentum, weight_decay, bias_correction=False)

    def _update(self, state: dict[str, Any], theta: Array, g: Array) -> Array:
        beta = self.momentum
        u = self._velocity(state, g)
        return theta - self.lr * ((1 - beta) * g + beta * u)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction and coupled L2 weight decay::

        m     <- beta1 * m + (1 - beta1) * g
        v     <- beta2 * v + (1 - beta2) * g**2
        m_hat  = m / (1 - beta1**t)
        v_hat  = v / (1 - beta2**t)
        theta <- theta - lr * m_hat / (sqrt(v_hat) + eps)

    Parameters
    ----------
    params : iterable
        The parameters.
    lr : float
        Learning rate (the first step moves each entry by about ``lr``).
    beta1, beta2 : float
        Decay rates of the first and second moment estimates, in ``[0, 1)``.
    eps : float
        Added to ``sqrt(v_hat)``, ``> 0``.
    weight_decay : float
        L2 coefficient (``g = grad + weight_decay * theta``, before the moments: not AdamW).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        _check_range("beta1", beta1, low=0.0, high=1.0)
        _check_range("beta2", beta2, low=0.0, high=1.0)
        _check_range("eps", eps, low=0.0)
        if eps == 0:
            raise GradlabError("eps must be > 0 (it keeps the Adam step finite where the gradient is zero)")
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.eps = float(eps)

    def _update(self, state: dict[str, Any], theta: Array, g: Array) -> Array:
        xp = namespace(theta)
        b1, b2, t = self.beta1, self.beta2, state["t"]
        m = state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        v = state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * (g * g)
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        return theta - self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adam": Adam}


def make_optimizer(name: str, params: Iterable[Any], **kwargs: Any) -> Optimizer:
    """Build the optimiser called ``name`` (a key of :data:`OPTIMIZERS`, any case).

    Parameters
    ----------
    name : str
        ``"sgd"``, ``"momentum"``, ``"nesterov"`` or ``"adam"``.
    params : iterable
        The parameters.
    **kwargs
        Passed to the optimiser's constructor (``lr``, ``weight_decay``, ...).

    Returns
    -------
    Optimizer
    """
    cls = OPTIMIZERS.get(name.lower())
    if cls is None:
        raise GradlabError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")
    return cls(params, **kwargs)


def _check_range(name: str, value: float, low: float, high: float | None = None) -> None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    ok = math.isfinite(number) and number >= low and (high is None or number < high)
    if isinstance(value, bool) or not ok:
        where = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise GradlabError(f"{name} must be a finite number {where}, got {value!r}")
