"""What an op-by-op tape costs per training step, and how much of gradlab's overhead is its generality.

Run: python benchmarks/tape_overhead.py [--rounds 7]

The digits MLP of ``train_vs_torch.py`` (64-128-10, batch 64, float32, SGD at lr 0.1, the same
batches and weights) trained three ways, interleaved: the hand-written NumPy floor; the leanest
op-by-op tape this file can write (each op returns a node holding a closure that computes its
inputs' cotangents, backward pops a stack: no registry, no modules, no dtype or broadcast handling,
no optimiser object); and gradlab (``nn.Sequential``, ``SoftmaxCrossEntropy``, ``optim.SGD``).
The tape computes the loss value as gradlab does. It shows what part of gradlab's difference from
the floor any op-by-op framework pays in CPython (the tape's), and what part is gradlab's own
dispatch (the rest), phase by phase: forward and loss, backward, and the parameter update.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from train_vs_torch import LR, batches, gradlab_trainer, numpy_trainer, phases

from gradlab.train.data import load_digits


class Node:
    __slots__ = ("data", "grad", "parents", "pull")

    def __init__(self, data: np.ndarray, parents: tuple[Node, ...] = (), pull: Callable[..., Any] | None = None):
        self.data, self.grad, self.parents, self.pull = data, None, parents, pull


def linear(x: Node, w: Node, b: Node) -> Node:
    def pull(g: np.ndarray) -> tuple[Any, ...]:
        return (g @ w.data.T if x.pull is not None else None, x.data.T @ g, np.add.reduce(g, axis=0))

    return Node(x.data @ w.data + b.data, (x, w, b), pull)


def relu(x: Node) -> Node:
    return Node(np.maximum(x.data, 0), (x,), lambda g: (g * (x.data > 0),))


def cross_entropy(logits: Node, labels: np.ndarray) -> Node:
    z = logits.data - logits.data.max(axis=-1, keepdims=True)
    e = np.exp(z)
    total = e.sum(axis=-1, keepdims=True)
    rows = np.arange(len(labels))
    loss = (np.log(total).sum() - z[rows, labels].sum()) / len(labels)
    p = e / total

    def pull(g: np.ndarray) -> tuple[Any, ...]:
        scale = float(g) / len(labels)
        slope = p * scale
        slope[rows, labels] -= scale
        return (slope,)

    return Node(loss, (logits,), pull)


def backward(root: Node) -> None:
    """Cotangents down a chain (each node here has one consumer: a stack is a valid order)."""
    adjoint = {id(root): np.ones((), root.data.dtype)}
    stack = [root]
    while stack:
        node = stack.pop()
        for parent, cot in zip(node.parents, node.pull(adjoint[id(node)]), strict=True):  # type: ignore[misc]
            if cot is None:
                continue
            if parent.pull is None:
                parent.grad = cot if parent.grad is None else parent.grad + cot
            else:
                adjoint[id(parent)] = cot
                stack.append(parent)


def tape_trainer(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray) -> Callable[..., None]:
    params = [Node(a.copy()) for a in (W1, b1, W2, b2)]

    def _no_mark(phase: str) -> None:
        pass

    def epoch(data: list[tuple[np.ndarray, np.ndarray]], mark: Callable[[str], None] = _no_mark) -> None:
        w1, c1, w2, c2 = params
        for xb, yb in data:
            for p in params:
                p.grad = None
            loss = cross_entropy(linear(relu(linear(Node(xb), w1, c1)), w2, c2), yb)
            mark("forward and loss")
            backward(loss)
            mark("backward")
            for p in params:
                p.data = p.data - LR * p.grad
            mark("update")

    return epoch


# the floor's and gradlab's phases merged into the tape's three
MERGE = {"forward": "forward and loss", "loss (floor: its gradient only)": "forward and loss", "step": "update"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    X, y, _, _ = load_digits()
    X, y = X.astype(np.float32), y.astype(np.int64)
    rng = np.random.default_rng(1)
    W1 = (rng.standard_normal((64, 128)) * np.sqrt(2 / 64)).astype(np.float32)
    W2 = (rng.standard_normal((128, 10)) * np.sqrt(1 / 128)).astype(np.float32)
    b1, b2 = np.zeros(128, np.float32), np.zeros(10, np.float32)
    trainers = {
        "floor": numpy_trainer(W1, b1, W2, b2),
        "tape": tape_trainer(W1, b1, W2, b2),
        "gradlab": gradlab_trainer(W1, b1, W2, b2),
    }
    repeat = 50
    times: dict[str, list[float]] = {key: [] for key in trainers}
    keys = list(trainers)
    for round_ in range(args.rounds):
        data = batches(X, y, 64, round_)
        for key in keys[round_ % 3 :] + keys[: round_ % 3]:
            started = time.perf_counter()
            for _ in range(repeat):
                trainers[key](data)
            times[key].append((time.perf_counter() - started) / (repeat * len(data)) * 1e6)
    step = {key: statistics.median(values) for key, values in times.items()}
    print(f"digits 64-128-10, batch 64, float32; median of {args.rounds} interleaved samples of {repeat} epochs")
    for key, micros in step.items():
        print(f"  {key:<8} {micros:6.1f} µs per step  {micros / step['floor']:.2f}x the floor")
    split = {key: phases(trainers[key], batches(X, y, 64, 0), repeat, MERGE) for key in trainers}
    print("  per phase, µs per step:      floor     tape  gradlab   tape-floor  gradlab-tape")
    for phase in split["tape"]:
        f, t, g = (split[key][phase] for key in ("floor", "tape", "gradlab"))
        print(f"    {phase:<22} {f:8.1f} {t:8.1f} {g:8.1f}   {t - f:+10.1f}  {g - t:+12.1f}")


if __name__ == "__main__":
    main()
