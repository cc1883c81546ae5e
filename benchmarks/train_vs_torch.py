"""Epoch time of the same MLP in gradlab, in hand-written NumPy (the floor) and in PyTorch (CPU).

Run: python benchmarks/train_vs_torch.py [--rounds 5] [--batch-size 64]

Two problems: 64-128-10 on the scikit-learn digits (1437 training rows) and 784-256-10 on 60,000
synthetic MNIST-shaped rows. The three implementations train the same network (Linear, ReLU,
Linear, softmax cross-entropy, plain SGD at lr 0.1, float32, the same batches) from the same
initial weights; their epochs are interleaved round after round (each sample enough epochs to last
~0.2 s, the order rotating) and the median epoch time of each is printed with the ratios. The
hand-written NumPy version is the course's backward recursion, the floor a framework is measured
against. Target: gradlab <= 1.2x the NumPy epoch time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gradlab.train import nn
from gradlab.train.autograd import Tensor
from gradlab.train.optim import SGD

LR = 0.1


def batches(X: np.ndarray, y: np.ndarray, size: int, epoch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    order = np.random.default_rng(epoch).permutation(len(X))
    return [(X[order[i : i + size]], y[order[i : i + size]]) for i in range(0, len(X), size)]


def _no_mark(phase: str) -> None:
    pass


def numpy_trainer(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray) -> Callable[..., None]:
    W1, b1, W2, b2 = W1.copy(), b1.copy(), W2.copy(), b2.copy()

    def epoch(data: list[tuple[np.ndarray, np.ndarray]], mark: Callable[[str], None] = _no_mark) -> None:
        nonlocal W1, b1, W2, b2
        for xb, yb in data:
            m = len(yb)
            Z1 = xb @ W1 + b1
            A1 = np.maximum(Z1, 0)
            logits = A1 @ W2 + b2
            mark("forward")
            S = np.exp(logits - logits.max(axis=1, keepdims=True))
            S /= S.sum(axis=1, keepdims=True)
            S[np.arange(m), yb] -= 1
            G2 = S / m
            mark("loss (floor: its gradient only)")
            G1 = (G2 @ W2.T) * (Z1 > 0)
            gW2, gb2, gW1, gb1 = A1.T @ G2, G2.sum(axis=0), xb.T @ G1, G1.sum(axis=0)
            mark("backward")
            W2 = W2 - LR * gW2
            b2 = b2 - LR * gb2
            W1 = W1 - LR * gW1
            b1 = b1 - LR * gb1
            mark("step")

    return epoch


def gradlab_trainer(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray) -> Callable[[Any], None]:
    first, second = nn.Linear(*W1.shape), nn.Linear(*W2.shape)
    first.weight.data, first.bias.data, second.weight.data, second.bias.data = (
        W1.copy(),
        b1.copy(),
        W2.copy(),
        b2.copy(),
    )
    model = nn.Sequential(first, nn.ReLU(), second)
    loss_fn = nn.SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=LR)

    def epoch(data: list[tuple[np.ndarray, np.ndarray]], mark: Callable[[str], None] = _no_mark) -> None:
        for xb, yb in data:
            optimizer.zero_grad()
            logits = model(Tensor(xb))
            mark("forward")
            loss = loss_fn(logits, yb)
            mark("loss (floor: its gradient only)")
            loss.backward()
            mark("backward")
            optimizer.step()
            mark("step")

    return epoch


def phases(
    epoch: Callable[..., None],
    data: list[tuple[np.ndarray, np.ndarray]],
    repeat: int,
    merge: dict[str, str] | None = None,
) -> dict[str, float]:
    """Microseconds per step spent in each phase over ``repeat`` epochs (timestamps between
    phases); ``merge`` renames phases, adding up those given the same name."""
    spent: dict[str, float] = {}
    last = [time.perf_counter()]
    rename = merge or {}

    def mark(phase: str) -> None:
        now = time.perf_counter()
        key = rename.get(phase, phase)
        spent[key] = spent.get(key, 0.0) + now - last[0]
        last[0] = now

    for _ in range(repeat):
        last[0] = time.perf_counter()
        epoch(data, mark)
    return {phase: seconds / (len(data) * repeat) * 1e6 for phase, seconds in spent.items()}


def torch_trainer(torch: Any, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray) -> Callable[[Any], None]:
    model = torch.nn.Sequential(torch.nn.Linear(*W1.shape), torch.nn.ReLU(), torch.nn.Linear(*W2.shape))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(W1.T.copy()))
        model[0].bias.copy_(torch.from_numpy(b1))
        model[2].weight.copy_(torch.from_numpy(W2.T.copy()))
        model[2].bias.copy_(torch.from_numpy(b2))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(data: list[tuple[np.ndarray, np.ndarray]]) -> None:
        for xb, yb in data:
            optimizer.zero_grad()
            loss_fn(model(torch.from_numpy(xb)), torch.from_numpy(yb)).backward()
            optimizer.step()

    return epoch


def problems() -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    out = []
    try:
        from gradlab.train.data import load_digits

        X, y, _, _ = load_digits()
        out.append(("digits 64-128-10", X.astype(np.float32), y.astype(np.int64), 128))
    except Exception as exc:  # scikit-learn missing: say so and go on
        print(f"digits skipped: {exc}")
    rng = np.random.default_rng(0)
    X = rng.random((60_000, 784), dtype=np.float32)
    y = rng.integers(0, 10, size=60_000)
    out.append(("synthetic 60000 x 784-256-10", X, y, 256))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    try:
        import torch

        torch_note = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        torch, torch_note = None, "torch not installed: skipped"
    print(f"NumPy {np.__version__}; {torch_note}; batch {args.batch_size}; median of {args.rounds} interleaved samples")
    for name, X, y, hidden in problems():
        rng = np.random.default_rng(1)
        d, k = X.shape[1], int(y.max()) + 1
        W1 = (rng.standard_normal((d, hidden)) * np.sqrt(2 / d)).astype(np.float32)
        W2 = (rng.standard_normal((hidden, k)) * np.sqrt(1 / hidden)).astype(np.float32)
        b1, b2 = np.zeros(hidden, np.float32), np.zeros(k, np.float32)
        trainers = {"numpy": numpy_trainer(W1, b1, W2, b2), "gradlab": gradlab_trainer(W1, b1, W2, b2)}
        if torch is not None:
            trainers["torch"] = torch_trainer(torch, W1, b1, W2, b2)
        # a sample is enough epochs to last ~0.2 s (a digits epoch takes 2 ms: single epochs would
        # measure the machine's jitter); the order rotates every round, so no implementation always
        # runs right after another's (torch leaves its threads spinning for a while)
        data = batches(X, y, args.batch_size, 0)
        started = time.perf_counter()
        trainers["numpy"](data)
        repeat = max(1, round(0.2 / (time.perf_counter() - started)))
        times: dict[str, list[float]] = {key: [] for key in trainers}
        keys = list(trainers)
        for round_ in range(args.rounds):
            data = batches(X, y, args.batch_size, round_)
            for key in keys[round_ % len(keys) :] + keys[: round_ % len(keys)]:
                epoch = trainers[key]
                started = time.perf_counter()
                for _ in range(repeat):
                    epoch(data)
                times[key].append((time.perf_counter() - started) / repeat)
        median = {key: statistics.median(values) for key, values in times.items()}
        line = ", ".join(f"{key} {seconds * 1e3:.1f} ms" for key, seconds in median.items())
        ratio = median["gradlab"] / median["numpy"]
        torch_ratio = f", torch/numpy {median['torch'] / median['numpy']:.2f}" if "torch" in median else ""
        verdict = "PASS" if ratio <= 1.2 else "MISS"
        print(f"{name}: {line}; gradlab/numpy {ratio:.2f}{torch_ratio}  [{verdict} target <= 1.2]")
        steps = len(batches(X, y, args.batch_size, 0))
        extra = (median["gradlab"] - median["numpy"]) / steps * 1e6
        print(f"  gradlab - numpy: {extra:.0f} µs per step ({steps} steps per epoch); per phase, µs per step:")
        data = batches(X, y, args.batch_size, args.rounds)
        split = {key: phases(trainers[key], data, repeat) for key in ("numpy", "gradlab")}
        for phase in split["gradlab"]:
            ours, floor = split["gradlab"][phase], split["numpy"][phase]
            print(f"    {phase:<33} gradlab {ours:8.1f}  numpy {floor:8.1f}  difference {ours - floor:+8.1f}")


if __name__ == "__main__":
    main()
