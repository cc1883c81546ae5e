"""The reference training core end to end: the accuracy targets, determinism, the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

from gradlab.train import nn
from gradlab.train.autograd import Tensor
from gradlab.train.loop import TrainConfig, train


def test_mlp_on_digits_reaches_97_percent_within_20_epochs():
    accuracies = [train(TrainConfig(model="mlp", seed=s)).epochs[-1].test_accuracy for s in (0, 1, 2)]
    assert np.median(accuracies) >= 0.97, accuracies


def test_softmax_regression_on_digits_reaches_95_percent():
    accuracies = [train(TrainConfig(model="softmax", seed=s)).epochs[-1].test_accuracy for s in (0, 1, 2)]
    assert np.median(accuracies) >= 0.95, accuracies


def test_training_is_deterministic_for_a_seed():
    config = dict(epochs=3, dropout=0.2, norm="batch")
    first = train(TrainConfig(seed=4, **config)).to_dict()["epochs"]
    second = train(TrainConfig(seed=4, **config)).to_dict()["epochs"]
    for a, b in zip(first, second, strict=True):
        assert (a["train_loss"], a["test_accuracy"]) == (b["train_loss"], b["test_accuracy"])
    other = train(TrainConfig(seed=5, **config)).to_dict()["epochs"]
    assert other[0]["train_loss"] != first[0]["train_loss"]


@pytest.mark.parametrize("options", [{"norm": "layer"}, {"norm": "batch", "dropout": 0.1}, {"optimizer": "nesterov"},
                                     {"optimizer": "momentum", "weight_decay": 1e-4, "activation": "tanh"},
                                     {"dataset": "spiral", "hidden": (32, 32)}])  # fmt: skip
def test_every_option_trains(options):
    history = train(TrainConfig(epochs=4, **options))
    assert history.epochs[-1].train_loss < history.epochs[0].train_loss


def test_batchnorm_uses_running_statistics_in_eval_mode():
    layer = nn.BatchNorm1d(3, dtype="float64")
    x = Tensor(np.random.default_rng(0).normal(2.0, 3.0, size=(50, 3)))
    for _ in range(200):
        layer(x)
    layer.eval()
    out = layer(x).data
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=0.05)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=0.05)


def test_train_command_writes_the_history(tmp_path):
    out = tmp_path / "h.json"
    result = subprocess.run(
        [sys.executable, "-m", "gradlab", "train", "--epochs", "2", "--model", "softmax", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    history = json.loads(out.read_text())
    assert len(history["epochs"]) == 2 and history["config"]["model"] == "softmax"
    assert "test accuracy" in result.stdout


def test_train_command_rejects_bad_options_clearly():
    result = subprocess.run(
        [sys.executable, "-m", "gradlab", "train", "--hidden", "12,x"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "--hidden" in result.stderr
    unknown = subprocess.run(
        [sys.executable, "-m", "gradlab", "train", "--dataset", "imagenet"], capture_output=True, text=True, timeout=60
    )
    assert unknown.returncode == 2 and "unknown dataset" in unknown.stderr
