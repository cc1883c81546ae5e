"""Layers, losses and modules of the reference training core, built only from registry ops.

Every layer is also registered as a gradlab op (family ``layers``, :mod:`gradlab.train.layer_ops`) whose
VJP and JVP are the autograd's, so ``gradlab check --registry`` checks each layer, composition
included, with respect to its input and each parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from gradlab import backend
from gradlab.ops.registry import REGISTRY
from gradlab.train import init as initialisers
from gradlab.train.autograd import Tensor, apply

Array = Any


_LINEAR = REGISTRY["linear"]
_XENT = REGISTRY["softmax_cross_entropy"]


class Parameter(Tensor):
    """A tensor a module trains (``requires_grad`` is on)."""

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=True, dtype=dtype)


class Module:
    """A layer or model: finds its parameters and sub-modules among its attributes."""

    training: bool = True

    def __call__(self, *args: Any) -> Tensor:
        return self.forward(*args)

    def forward(self, *args: Any) -> Tensor:
        raise NotImplementedError

    def parameters(self) -> list[Parameter]:
        found: list[Parameter] = []
        seen: set[int] = set()
        for value in self._children():
            candidates = value.parameters() if isinstance(value, Module) else [value]
            for p in candidates:
                if isinstance(p, Parameter) and id(p) not in seen:
                    seen.add(id(p))
                    found.append(p)
        return found

    def modules(self) -> Iterator[Module]:
        yield self
        for value in self._children():
            if isinstance(value, Module):
                yield from value.modules()

    def _children(self) -> Iterator[Any]:
        for value in vars(self).values():
            if isinstance(value, (list, tuple)):
                yield from value
            else:
                yield value

    def train(self) -> Module:
        for m in self.modules():
            m.training = True
        return self

    def eval(self) -> Module:
        for m in self.modules():
            m.training = False
        return self


# ---- layers -------------------------------------------------------------------------------------


class Linear(Module):
    """``x @ W + b`` with ``W`` (in, out) and the bias broadcast over the batch."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype: str = "float32", seed: int = 0,
        init: str = "kaiming_uniform",
    ) -> None:  # fmt: skip
        make = getattr(initialisers, init)
        self.weight = Parameter(make(in_features, out_features, rng=seed, dtype=dtype))
        self.bias = Parameter(np.zeros(out_features, dtype=dtype)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if self.bias is None:
            return x @ self.weight
        return apply(_LINEAR, x, self.weight, self.bias)


class _Elementwise(Module):
    op_name = ""

    def forward(self, x: Tensor) -> Tensor:
        return apply(REGISTRY[self.op_name], x)


class ReLU(_Elementwise):
    op_name = "relu"


class Sigmoid(_Elementwise):
    op_name = "sigmoid"


class Tanh(_Elementwise):
    op_name = "tanh"


class GELU(_Elementwise):
    op_name = "gelu"


ACTIVATIONS: dict[str, type[Module]] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "gelu": GELU}


class Sequential(Module):
    def __init__(self, *layers: Module) -> None:
        self.layers = list(layers)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class Residual(Module):
    """``x + fn(x)``."""

    def __init__(self, fn: Module) -> None:
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fn(x)


class Flatten(Module):
    """(N, ...) to (N, prod(...))."""

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], -1)


class LayerNorm1d(Module):
    def __init__(self, dim: int, eps: float = 1e-5, dtype: str = "float32") -> None:
        self.eps = eps
        self.weight = Parameter(np.ones(dim, dtype=dtype))
        self.bias = Parameter(np.zeros(dim, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        return apply("layer_norm", x, self.weight, self.bias, eps=self.eps)


class BatchNorm1d(Module):
    """Batch statistics while training (and running averages of them); the running ones in eval."""

    def __init__(self, dim: int, eps: float = 1e-5, momentum: float = 0.1, dtype: str = "float32") -> None:
        self.eps, self.momentum = eps, momentum
        self.weight = Parameter(np.ones(dim, dtype=dtype))
        self.bias = Parameter(np.zeros(dim, dtype=dtype))
        self.running_mean = np.zeros(dim, dtype=dtype)
        self.running_var = np.ones(dim, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        xp = backend.namespace(x.data)
        dev = backend.device(x.data)
        self.running_mean = xp.asarray(self.running_mean, dtype=x.data.dtype, device=dev)
        self.running_var = xp.asarray(self.running_var, dtype=x.data.dtype, device=dev)
        if self.training:
            m = self.momentum
            n = x.shape[0]
            mean = xp.mean(x.data, axis=0)
            var = xp.var(x.data, axis=0) * (n / max(n - 1, 1))  # the running variance is unbiased
            self.running_mean = (1 - m) * self.running_mean + m * mean
            self.running_var = (1 - m) * self.running_var + m * var
            return apply("batch_norm", x, self.weight, self.bias, eps=self.eps)
        scale = 1 / xp.sqrt(self.running_var + self.eps)
        return (x - self.running_mean) * scale * self.weight + self.bias


class Dropout(Module):
    """Zeroes each element with probability ``p`` while training (an explicit, seeded mask)."""

    def __init__(self, p: float = 0.5, seed: int = 0) -> None:
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = np.random.default_rng(seed)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        xp = backend.namespace(x.data)
        keep = xp.asarray(self.rng.random(x.shape) >= self.p, device=backend.device(x.data))
        mask = xp.astype(keep, x.data.dtype)
        return apply("dropout", x, mask, p=self.p)


# ---- losses -------------------------------------------------------------------------------------


class SoftmaxCrossEntropy(Module):
    """Mean cross-entropy of logits (N, C) against integer labels (N,)."""

    def forward(self, logits: Tensor, labels: Any) -> Tensor:
        return apply(_XENT, logits, labels.data if isinstance(labels, Tensor) else labels)


class MSE(Module):
    def forward(self, pred: Tensor, target: Any) -> Tensor:
        return apply("mse", pred, target)
