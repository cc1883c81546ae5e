"""Data: the loader's batches and epochs, the splits, the spiral, the digits, the IDX parser on files written here."""

from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pytest

from gradlab.errors import GradlabError
from gradlab.train.data import (
    DATASETS,
    DataLoader,
    load_dataset,
    load_digits,
    load_idx,
    load_mnist,
    load_mnist_split,
    spiral,
    train_test_split,
)

# --- DataLoader ---


def pairs(n=10):
    X = np.arange(n * 2, dtype=np.float32).reshape(n, 2)  # row i is [2i, 2i + 1]
    y = np.arange(n, dtype=np.int64)
    return X, y


def epoch_rows(loader):
    return np.concatenate([yb for _, yb in loader])


@pytest.mark.parametrize(
    ("n", "bs", "drop_last", "length", "last"),
    [(10, 4, False, 3, 2), (10, 4, True, 2, 4), (8, 4, False, 2, 4), (3, 64, True, 0, None)],
)
def test_loader_len_and_batch_sizes(n, bs, drop_last, length, last):
    loader = DataLoader(*pairs(n), batch_size=bs, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(batches) == length
    assert all(len(xb) == len(yb) == bs for xb, yb in batches[:-1])
    if last is not None:
        assert len(batches[-1][0]) == last


def test_loader_without_shuffle_is_in_order():
    X, y = pairs(10)
    batches = list(DataLoader(X, y, batch_size=4, shuffle=False))
    np.testing.assert_array_equal(np.concatenate([xb for xb, _ in batches]), X)
    np.testing.assert_array_equal(batches[1][1], [4, 5, 6, 7])


def test_loader_shuffles_rows_and_labels_together_and_covers_each_row_once():
    X, y = pairs(23)
    for xb, yb in DataLoader(X, y, batch_size=5):
        assert xb.dtype == np.float32 and yb.dtype == np.int64
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)
    rows = epoch_rows(DataLoader(X, y, batch_size=5))
    assert sorted(rows.tolist()) == list(range(23))
    assert rows.tolist() != list(range(23))


def test_loader_reshuffles_each_epoch_deterministically():
    X, y = pairs(50)
    a, b = DataLoader(X, y, batch_size=8, seed=3), DataLoader(X, y, batch_size=8, seed=3)
    epochs_a = [epoch_rows(a) for _ in range(3)]
    epochs_b = [epoch_rows(b) for _ in range(3)]
    for ea, eb in zip(epochs_a, epochs_b, strict=True):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(epochs_a[0], epochs_a[1])
    assert not np.array_equal(epochs_a[0], epoch_rows(DataLoader(X, y, batch_size=8, seed=4)))


def test_loader_bad_arguments():
    X, y = pairs(10)
    with pytest.raises(GradlabError, match="X has 10 rows but y has 9"):
        DataLoader(X, y[:9])
    with pytest.raises(GradlabError, match="batch_size"):
        DataLoader(X, y, batch_size=0)


# --- splits and the spiral ---


def test_train_test_split_stratified():
    y = np.repeat(np.arange(3), [50, 30, 20])
    X = np.arange(100, dtype=np.float32)[:, None]
    X_tr, y_tr, X_te, y_te = train_test_split(X, y, test_fraction=0.2, seed=1)
    assert len(y_te) == 20 and len(y_tr) == 80
    assert np.bincount(y_te).tolist() == [10, 6, 4]
    assert sorted(np.concatenate([X_tr[:, 0], X_te[:, 0]]).tolist()) == list(range(100))
    np.testing.assert_array_equal(y[X_te[:, 0].astype(int)], y_te)
    again = train_test_split(X, y, test_fraction=0.2, seed=1)
    np.testing.assert_array_equal(again[2], X_te)
    assert not np.array_equal(train_test_split(X, y, test_fraction=0.2, seed=2)[2], X_te)


def test_train_test_split_unstratified():
    X, y = pairs(10)
    _, y_tr, _, y_te = train_test_split(X, y, test_fraction=0.3, stratify=False)
    assert (len(y_tr), len(y_te)) == (7, 3)
    assert sorted([*y_tr, *y_te]) == list(range(10))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5])
def test_train_test_split_bad_fraction(fraction):
    with pytest.raises(GradlabError, match="test_fraction"):
        train_test_split(*pairs(10), test_fraction=fraction)


def test_spiral():
    X, y = spiral(n_per_class=100, classes=3)
    assert X.shape == (300, 2) and X.dtype == np.float32
    assert y.shape == (300,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [100, 100, 100]
    assert np.all(np.hypot(X[:, 0], X[:, 1]) <= 1.0 + 1e-6)
    np.testing.assert_array_equal(spiral(seed=5)[0], spiral(seed=5)[0])
    assert not np.array_equal(spiral(seed=5)[0], spiral(seed=6)[0])


def test_spiral_without_noise_follows_the_formula():
    # arm 1, last point: r = 1, angle 4 * (1 + 1) = 8; arm 0, middle of 3 points: r = 0.5, angle 2
    X, _ = spiral(n_per_class=3, classes=2, noise=0.0)
    np.testing.assert_allclose(X[5], [np.sin(8.0), np.cos(8.0)], rtol=1e-6)
    np.testing.assert_allclose(X[1], [0.5 * np.sin(2.0), 0.5 * np.cos(2.0)], rtol=1e-6)


# --- digits (scikit-learn) ---


def test_digits():
    X_tr, y_tr, X_te, y_te = load_digits()
    assert X_tr.shape[1] == X_te.shape[1] == 64
    assert len(X_tr) + len(X_te) == 1797 and 350 <= len(X_te) <= 370
    assert X_tr.dtype == np.float32 and y_tr.dtype == np.int64 and y_te.dtype == np.int64
    assert X_tr.min() == 0.0 and X_tr.max() == 1.0
    assert set(np.unique(y_te)) == set(range(10))
    np.testing.assert_array_equal(load_digits()[3], y_te)
    np.testing.assert_array_equal(load_dataset("digits")[0], X_tr)


def test_digits_are_the_uci_test_set():
    X_tr, y_tr, X_te, y_te = load_digits()
    assert np.bincount(np.concatenate([y_tr, y_te])).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert np.isclose(np.concatenate([X_tr, X_te]).sum(dtype=np.float64) * 16, 561718.0)


# --- IDX files ---

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def test_idx_by_hand(tmp_path):
    (tmp_path / "u8").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02\xff")
    (tmp_path / "i16").write_bytes(b"\x00\x00\x0b\x02\x00\x00\x00\x01\x00\x00\x00\x02\xff\xfe\x01\x00")
    (tmp_path / "f32").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x3f\xc0\x00\x00")
    u8, i16, f32 = (load_idx(tmp_path / name) for name in ("u8", "i16", "f32"))
    assert u8.dtype == np.uint8 and u8.tolist() == [1, 2, 255]
    assert i16.dtype == np.int16 and i16.tolist() == [[-2, 256]]
    assert f32.dtype == np.float32 and f32.tolist() == [1.5]


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5)])
@pytest.mark.parametrize("storage", ["raw", "gz", "gzip-without-suffix"])
def test_idx_round_trip(tmp_path, dtype, shape, storage):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        arr = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    else:
        arr = rng.standard_normal(shape).astype(dtype)
    data = idx_bytes(arr, CODES[dtype])
    path = tmp_path / ("a.idx.gz" if storage == "gz" else "a.idx")
    path.write_bytes(data if storage == "raw" else gzip.compress(data))
    got = load_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative and got.shape == shape
    np.testing.assert_array_equal(got, arr)
    got[...] = 0  # a writable copy


GOOD = b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x03\x01\x02\x03\x04\x05\x06"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x01\x02\x08\x01\x00\x00\x00\x01\x07", "not an IDX file"),
        (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x07", "not an IDX file"),
        (b"\x00\x00\x08\x00", "not an IDX file"),
        (b"\x00\x00", "truncated IDX file"),
        (GOOD[:8], "truncated IDX file"),
        (GOOD[:-1], "truncated IDX file"),
        (GOOD + b"\x00", "over-long IDX file"),
        (b"", "truncated IDX file"),
    ],
)
def test_idx_bad_files_name_the_path(tmp_path, content, message):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(GradlabError, match=re.escape(str(path)) + ".*" + message):
        load_idx(path)


def test_idx_bad_gzip_names_the_path(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(GOOD)[:-6])  # cut inside the stream
    with pytest.raises(GradlabError, match=re.escape(str(path))):
        load_idx(path)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(GradlabError, match=re.escape(str(path)) + ".*gzip"):
        load_idx(path)
    assert load_idx(_write(tmp_path / "ok", GOOD)).tolist() == [[1, 2, 3], [4, 5, 6]]


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_idx(tmp_path / "nope")


# --- MNIST folders ---


def _write(path, data):
    path.write_bytes(data)
    return path


def fake_mnist(folder, kind, n, gz, sep="-"):
    images = np.random.default_rng(n).integers(0, 255, size=(n, 28, 28), endpoint=True, dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    suffix = ".gz" if gz else ""
    pack = gzip.compress if gz else bytes
    _write(folder / f"{kind}-images{sep}idx3-ubyte{suffix}", pack(idx_bytes(images, 0x08)))
    _write(folder / f"{kind}-labels{sep}idx1-ubyte{suffix}", pack(idx_bytes(labels, 0x08)))
    return images, labels


def test_load_mnist(tmp_path):
    images, _ = fake_mnist(tmp_path, "train", 5, gz=True)
    test_images, _ = fake_mnist(tmp_path, "t10k", 3, gz=False)
    X, y = load_mnist(tmp_path)
    assert X.shape == (5, 784) and X.dtype == np.float32
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(X, images.reshape(5, 784) / 255.0, rtol=1e-6)
    assert X.min() >= 0.0 and X.max() <= 1.0
    X_tr, _, X_te, y_te = load_mnist_split(tmp_path)
    assert X_tr.shape == (5, 784) and X_te.shape == (3, 784) and y_te.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(load_dataset(f"mnist:{tmp_path}")[2], X_te)
    np.testing.assert_allclose(X_te[2], test_images[2].ravel() / 255.0, rtol=1e-6)


def test_load_mnist_dotted_file_names(tmp_path):
    fake_mnist(tmp_path, "t10k", 4, gz=False, sep=".")
    assert load_mnist(tmp_path, kind="t10k")[0].shape == (4, 784)


def test_load_mnist_errors(tmp_path):
    with pytest.raises(GradlabError, match="kind must be 'train' or 't10k'"):
        load_mnist(tmp_path, kind="test")
    with pytest.raises(GradlabError, match="not a folder"):
        load_mnist(tmp_path / "missing")
    with pytest.raises(GradlabError, match=re.escape("no train-images-idx3-ubyte or train-images-idx3-ubyte.gz")):
        load_mnist(tmp_path)
    fake_mnist(tmp_path, "train", 5, gz=False)
    _write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(4, np.uint8), 0x08))
    with pytest.raises(GradlabError, match="5 train images but labels of shape"):
        load_mnist(tmp_path)


# --- dataset names ---


def test_load_dataset_spiral():
    X_tr, _, X_te, y_te = load_dataset("spiral")
    assert X_tr.shape == (240, 2) and X_te.shape == (60, 2)
    assert np.bincount(y_te).tolist() == [20, 20, 20]


@pytest.mark.parametrize("spec", ["cifar10", "digits:extra", "mnist:", "Digits"])
def test_load_dataset_unknown(spec):
    with pytest.raises(GradlabError, match="mnist"):
        load_dataset(spec)


def test_dataset_names():
    assert DATASETS == ("digits", "spiral", "mnist:PATH")
