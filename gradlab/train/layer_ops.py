"""The training core's layers as ops of their input and parameters (specs in ``specs/layers.toml``).

Each op's forward builds the layer, puts the arrays it is given in place of the parameters and
runs it; its VJP and JVP are the autograd's. Fuzzing them checks every layer, and the way the
registry's rules compose inside it. They register through :func:`gradlab.ops.op`, like every
built-in op, when the training core is imported (``import gradlab.train``): the registry below knows
nothing of the training core built on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradlab import backend
from gradlab.ops import Op, op
from gradlab.train import autograd, nn

FAMILY = "layers"

Array = Any


def module_op(name: str, build: Callable[[Any], Any], loss: bool = False) -> Op:
    """Register a layer as an op ``forward(x, *params)`` (a loss: ``forward(pred, target)``),
    with the autograd's VJP and JVP. ``build(nn)`` makes the layer afresh for every call (same
    seed, same mask), so the op is a pure function of its arguments."""

    def run(rest: tuple[Array, ...]) -> tuple[Any, list[Any]]:
        module = build(nn)
        params = module.parameters()
        for p, value in zip(params, rest[1:] if loss else rest, strict=True):
            p.data = value
        return module, params

    def call(module: Any, x: Any, rest: tuple[Array, ...]) -> Any:
        return module(x, rest[0]) if loss else module(x)

    def forward(x: Array, *rest: Array) -> Array:
        module, _ = run(rest)
        with autograd.no_grad():
            return call(module, autograd.Tensor(x), rest).data

    def vjp_joint(g: Array, out: Array, x: Array, *rest: Array) -> tuple[Array | None, ...]:
        module, params = run(rest)
        leaf = autograd.Tensor(x, requires_grad=True)
        adjoints = autograd.backpropagate(call(module, leaf, rest), g)
        xp = backend.namespace(x)
        grads = [adjoints.get(id(t), xp.zeros_like(t.data)) for t in (leaf, *params)]
        return (grads[0], None, *grads[1:]) if loss else tuple(grads)

    def jvp_joint(tangents: tuple[Array | None, ...], out: Array, x: Array, *rest: Array) -> Array:
        module, params = run(rest)
        xp = backend.namespace(x)
        primals = [x, *(p.data for p in params)]
        given = (tangents[0], *tangents[2 if loss else 1 :])
        directions = [t if t is not None else xp.zeros_like(a) for t, a in zip(given, primals, strict=True)]

        def f(leaf: Any, *leaves: Any) -> Any:
            # forward mode tracks the leaves it made: put them where the layer's parameters are
            _swap(module, dict(zip((id(p) for p in params), leaves, strict=True)))
            return call(module, leaf, rest)

        return autograd.jvp(f, primals, directions)[1]

    made = op(name, forward, family=FAMILY)
    made.vjp_joint, made.jvp_joint = vjp_joint, jvp_joint
    return made


def _swap(module: Any, replacements: dict[int, Any]) -> None:
    for m in module.modules():
        for key, value in vars(m).items():
            if id(value) in replacements:
                setattr(m, key, replacements[id(value)])


# sizes here do not matter: the fuzzer's arrays replace the parameters
module_op("Linear", lambda nn: nn.Linear(1, 1, dtype="float64"))
module_op("ReLU", lambda nn: nn.ReLU())
module_op("Sigmoid", lambda nn: nn.Sigmoid())
module_op("Tanh", lambda nn: nn.Tanh())
module_op("GELU", lambda nn: nn.GELU())
module_op("Flatten", lambda nn: nn.Flatten())
module_op(
    "Sequential",
    lambda nn: nn.Sequential(nn.Linear(1, 1, dtype="float64"), nn.Tanh(), nn.Linear(1, 1, dtype="float64")),
)
module_op("Residual", lambda nn: nn.Residual(nn.Sequential(nn.Linear(1, 1, dtype="float64"), nn.Tanh())))
module_op("LayerNorm1d", lambda nn: nn.LayerNorm1d(1, dtype="float64"))
module_op("BatchNorm1d", lambda nn: nn.BatchNorm1d(1, dtype="float64"))
module_op("Dropout", lambda nn: nn.Dropout(0.5, seed=0))
module_op("SoftmaxCrossEntropy", lambda nn: nn.SoftmaxCrossEntropy(), loss=True)
module_op("MSE", lambda nn: nn.MSE(), loss=True)
