"""The reference training loop: softmax regression or an MLP, on digits, spiral or MNIST."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from gradlab._version import install_hint
from gradlab.errors import GradlabError
from gradlab.train import data, nn, optim
from gradlab.train.autograd import Tensor, no_grad

MODELS = ("softmax", "mlp")
NORMS = ("none", "layer", "batch")
# learning rates that train the bundled datasets well (measured on digits, 20 epochs, seeds 0-2):
# softmax regression wants a larger step than the MLP
DEFAULT_LR = {
    ("adam", "mlp"): 1e-2, ("adam", "softmax"): 3e-2,
    ("sgd", "mlp"): 0.5, ("sgd", "softmax"): 0.5,
    ("momentum", "mlp"): 0.3, ("momentum", "softmax"): 0.5,
    ("nesterov", "mlp"): 0.3, ("nesterov", "softmax"): 0.5,
}  # fmt: skip


@dataclass
class TrainConfig:
    dataset: str = "digits"
    model: str = "mlp"
    hidden: tuple[int, ...] = (128,)
    activation: str = "relu"
    norm: str = "none"
    dropout: float = 0.0
    optimizer: str = "adam"
    lr: float | None = None
    weight_decay: float = 0.0
    epochs: int = 20
    batch_size: int = 64
    seed: int = 0
    dtype: str = "float32"

    def validate(self) -> None:
        if self.model not in MODELS:
            raise GradlabError(f"--model {self.model!r}: choose one of {', '.join(MODELS)}")
        if self.norm not in NORMS:
            raise GradlabError(f"--norm {self.norm!r}: choose one of {', '.join(NORMS)}")
        if self.activation not in nn.ACTIVATIONS:
            raise GradlabError(f"--activation {self.activation!r}: choose one of {', '.join(nn.ACTIVATIONS)}")
        if self.optimizer not in optim.OPTIMIZERS:
            raise GradlabError(f"--optimizer {self.optimizer!r}: choose one of {', '.join(optim.OPTIMIZERS)}")
        if not 0 <= self.dropout < 1:
            raise GradlabError(f"--dropout {self.dropout}: a probability in [0, 1)")
        if self.epochs < 1 or self.batch_size < 1 or any(h < 1 for h in self.hidden):
            raise GradlabError("--epochs, --batch-size and --hidden sizes must be positive")


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float


@dataclass
class History:
    config: TrainConfig
    epochs: list[EpochStats] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "epochs": [asdict(e) for e in self.epochs]}


def build_model(config: TrainConfig, in_features: int, classes: int) -> nn.Module:
    """Softmax regression (one Linear) or an MLP: [Linear, norm, activation, dropout] per hidden layer."""
    rng = np.random.default_rng(config.seed)
    seeds = iter(rng.integers(0, 2**31, size=64))
    if config.model == "softmax":
        return nn.Linear(in_features, classes, dtype=config.dtype, seed=int(next(seeds)), init="xavier_uniform")
    layers: list[nn.Module] = []
    width = in_features
    for size in config.hidden:
        layers.append(nn.Linear(width, size, dtype=config.dtype, seed=int(next(seeds))))
        if config.norm == "layer":
            layers.append(nn.LayerNorm1d(size, dtype=config.dtype))
        elif config.norm == "batch":
            layers.append(nn.BatchNorm1d(size, dtype=config.dtype))
        layers.append(nn.ACTIVATIONS[config.activation]())
        if config.dropout:
            layers.append(nn.Dropout(config.dropout, seed=int(next(seeds))))
        width = size
    layers.append(nn.Linear(width, classes, dtype=config.dtype, seed=int(next(seeds)), init="xavier_uniform"))
    return nn.Sequential(*layers)


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray, batch: int = 2048) -> float:
    model.eval()
    correct = 0
    with no_grad():
        for start in range(0, len(X), batch):
            logits = model(Tensor(X[start : start + batch])).data
            correct += int(np.sum(np.argmax(logits, axis=1) == y[start : start + batch]))
    model.train()
    return correct / max(len(X), 1)


def train(config: TrainConfig, on_epoch: Callable[[EpochStats], None] | None = None,
          on_batch: Callable[[int, int], None] | None = None) -> History:  # fmt: skip
    """Train and evaluate after every epoch; deterministic for a given seed."""
    config.validate()
    # the split is fixed (seed 0): seeds change the model and the batches, not the test set
    X_train, y_train, X_test, y_test = data.load_dataset(config.dataset, seed=0)
    X_train, X_test = X_train.astype(config.dtype), X_test.astype(config.dtype)
    classes = int(max(y_train.max(), y_test.max())) + 1
    model = build_model(config, X_train.shape[1], classes)
    loss_fn = nn.SoftmaxCrossEntropy()
    lr = config.lr if config.lr is not None else DEFAULT_LR[(config.optimizer, config.model)]
    optimizer = optim.make_optimizer(config.optimizer, model.parameters(), lr=lr, weight_decay=config.weight_decay)
    loader = data.DataLoader(X_train, y_train, batch_size=config.batch_size, shuffle=True, seed=config.seed)
    history = History(config)
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        total, seen = 0.0, 0
        for step, (xb, yb) in enumerate(loader, start=1):
            optimizer.zero_grad()
            loss = loss_fn(model(Tensor(xb)), yb)
            loss.backward()
            optimizer.step()
            total += float(loss.data) * len(yb)
            seen += len(yb)
            if on_batch is not None:
                on_batch(step, len(loader))
        seconds = time.perf_counter() - started
        stats = EpochStats(
            epoch, total / seen, accuracy(model, X_train, y_train), accuracy(model, X_test, y_test), seconds
        )
        history.epochs.append(stats)
        if on_epoch is not None:
            on_epoch(stats)
    return history


def plot(history: History, path: str) -> None:
    """Loss and accuracy curves, written with matplotlib (the ``plot`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise GradlabError(f"--plot needs matplotlib: {install_hint('plot')}") from None
    epochs = [e.epoch for e in history.epochs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [e.train_loss for e in history.epochs], marker="o")
    left.set(xlabel="epoch", ylabel="train loss", title="loss")
    right.plot(epochs, [e.train_accuracy for e in history.epochs], marker="o", label="train")
    right.plot(epochs, [e.test_accuracy for e in history.epochs], marker="o", label="test")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
