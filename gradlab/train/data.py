"""Data for the training core: a seeded minibatch loader, and the datasets ``gradlab train`` knows.

Every loader returns NumPy arrays: features ``X`` as float32 of shape ``(n, d)`` scaled to about
``[0, 1]``, labels ``y`` as int64 of shape ``(n,)``. A dataset spec for :func:`load_dataset`:

- ``"digits"``: the 8x8 handwritten digits (1797 images, bundled with gradlab: no download, no dependency);
- ``"spiral"``: the synthetic three-arm spiral (no dependency);
- ``"mnist:PATH"``: MNIST or Fashion-MNIST from the IDX files in the folder ``PATH``.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gradlab.errors import GradlabError

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

DATASETS = ("digits", "spiral", "mnist:PATH")


class DataLoader:
    """Minibatches ``(X_batch, y_batch)`` over two arrays with the same first dimension.

    Each ``iter()`` is one epoch. With ``shuffle=True`` epoch ``e`` (counting from 0) visits the rows
    in the order ``numpy.random.default_rng([seed, e]).permutation(n)``: a new order each epoch, and
    the same sequence of epochs for the same seed. Batches are copies when shuffled, views otherwise.

    Parameters
    ----------
    X, y : numpy.ndarray
        Features and labels; ``len(X) == len(y)``.
    batch_size : int
        Rows per batch; the last batch is smaller unless ``drop_last``.
    shuffle : bool
        Visit the rows in a new random order each epoch.
    seed : int
        Seed of the shuffling.
    drop_last : bool
        Leave out the last batch when it has fewer than ``batch_size`` rows.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        batch_size: int = 64,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if len(X) != len(y):
            raise GradlabError(f"X has {len(X)} rows but y has {len(y)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise GradlabError(f"batch_size must be a positive int, got {batch_size!r}")
        self.X, self.y = X, y
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.X)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n, bs = len(self.X), self.batch_size
        order = np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle else None
        self.epoch += 1
        for b in range(len(self)):
            if order is None:
                rows: Any = slice(b * bs, (b + 1) * bs)
            else:
                rows = order[b * bs : (b + 1) * bs]
            yield self.X[rows], self.y[rows]


# --- splits and synthetic data ---


def train_test_split(
    X: np.ndarray, y: np.ndarray, test_fraction: float = 0.2, seed: int = 0, stratify: bool = True
) -> Split:
    """Split into a training and a test set, at random with a seed.

    Parameters
    ----------
    X, y : numpy.ndarray
        Features and (integer) labels with the same first dimension.
    test_fraction : float
        Share of the rows in the test set, in ``(0, 1)``.
    seed : int
        Seed of the split.
    stratify : bool
        Take ``round(test_fraction * n_c)`` test rows from each class ``c``, so both sets keep the class
        proportions (the test size may then differ by a few rows from ``round(test_fraction * n)``).

    Returns
    -------
    X_train, y_train, X_test, y_test : numpy.ndarray
        Each set in a random order.
    """
    if len(X) != len(y):
        raise GradlabError(f"X has {len(X)} rows but y has {len(y)}")
    if not 0 < test_fraction < 1:
        raise GradlabError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    if stratify:
        test_parts = []
        for c in np.unique(y):
            rows = rng.permutation(np.flatnonzero(y == c))
            test_parts.append(rows[: round(test_fraction * len(rows))])
        is_test = np.zeros(len(y), dtype=bool)
        is_test[np.concatenate(test_parts)] = True
        test, train = rng.permutation(np.flatnonzero(is_test)), rng.permutation(np.flatnonzero(~is_test))
    else:
        order = rng.permutation(len(y))
        n_test = round(test_fraction * len(y))
        test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]


def spiral(
    n_per_class: int = 100, classes: int = 3, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic spiral (cs231n): ``classes`` arms of ``n_per_class`` points in the plane.

    Point ``i`` of arm ``j`` has radius ``r = i / (n_per_class - 1)`` and angle
    ``t = 4 * (j + r) + noise * N(0, 1)``, at ``(r sin t, r cos t)``. Not linearly separable.

    Parameters
    ----------
    n_per_class : int
        Points per arm.
    classes : int
        Number of arms (labels ``0 .. classes - 1``).
    noise : float
        Standard deviation of the angle noise.
    seed : int
        Seed of the noise.

    Returns
    -------
    X : numpy.ndarray
        float32, shape ``(n_per_class * classes, 2)``, grouped by class.
    y : numpy.ndarray
        int64, shape ``(n_per_class * classes,)``.
    """
    if n_per_class < 1 or classes < 1 or noise < 0:
        raise GradlabError(
            f"spiral needs n_per_class >= 1, classes >= 1, noise >= 0; got {n_per_class}, {classes}, {noise}"
        )
    rng = np.random.default_rng(seed)
    r = np.tile(np.linspace(0.0, 1.0, n_per_class), classes)
    y = np.repeat(np.arange(classes, dtype=np.int64), n_per_class)
    t = np.repeat(np.arange(classes) * 4.0, n_per_class) + 4.0 * r + noise * rng.standard_normal(r.shape)
    X = np.stack([r * np.sin(t), r * np.cos(t)], axis=1).astype(np.float32)
    return X, y


# --- digits ---

# the test set of the UCI "Optical Recognition of Handwritten Digits" data (E. Alpaydin, C. Kaynak,
# 1998; CC BY 4.0; https://doi.org/10.24432/C50P49), the same 1797 images as scikit-learn's
# load_digits: uint8 pixel counts 0..16 (n, 64) and labels (n,), 45 KB
DIGITS = Path(__file__).resolve().parent / "digits.npz"


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Split:
    """The 8x8 handwritten digits (1797 images, bundled with gradlab: :data:`DIGITS`).

    Parameters
    ----------
    test_fraction : float
        Share of the images in the test set (stratified by digit).
    seed : int
        Seed of the split.

    Returns
    -------
    X_train, y_train, X_test, y_test : numpy.ndarray
        X float32 of shape ``(n, 64)`` in ``[0, 1]`` (pixel values 0..16 divided by 16), y int64.
    """
    with np.load(DIGITS) as data:
        images, labels = data["images"], data["labels"]
    X = images.astype(np.float32) / np.float32(16)
    return train_test_split(X, labels.astype(np.int64), test_fraction=test_fraction, seed=seed)


# --- IDX files (MNIST, Fashion-MNIST) ---

_IDX_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def load_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or raw.

    The file is a 4-byte magic ``00 00 TT DD`` (``TT`` the element type: ``08`` uint8, ``09`` int8,
    ``0B`` int16, ``0C`` int32, ``0D`` float32, ``0E`` float64; ``DD`` the number of dimensions), then
    ``DD`` big-endian uint32 sizes, then the elements in C order, big-endian. A file is gunzipped when
    its name ends in ``.gz`` or it starts with the gzip magic.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    numpy.ndarray
        The array with the file's shape, in the native byte order (a writable copy).

    Raises
    ------
    GradlabError
        Bad magic, unknown element type, a truncated or over-long file, or broken gzip data; the
        message names the file.
    FileNotFoundError
        No such file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if path.name.endswith(".gz") or raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise GradlabError(f"{path}: not a readable gzip file ({exc})") from None
    if len(raw) < 4:
        raise GradlabError(f"{path}: truncated IDX file ({len(raw)} bytes, shorter than the 4-byte magic)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise GradlabError(
            f"{path}: not an IDX file (magic {raw[:4].hex(' ')}; expected 00 00 TT DD with TT one of "
            f"{', '.join(f'{k:02x}' for k in _IDX_DTYPES)} and DD >= 1 dimensions)"
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise GradlabError(
            f"{path}: truncated IDX file (header of {ndim} dimensions needs {header} bytes, has {len(raw)})"
        )
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        kind = "truncated" if len(raw) < expected else "over-long"
        raise GradlabError(
            f"{path}: {kind} IDX file (shape {shape} of {dtype.name} needs {expected} bytes, has {len(raw)})"
        )
    data = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=header)
    return data.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


_MNIST_KINDS = ("train", "t10k")


def load_mnist(path: str | os.PathLike[str], kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST or Fashion-MNIST (the same format) from the standard IDX files in a folder.

    Looks for ``{kind}-images-idx3-ubyte`` and ``{kind}-labels-idx1-ubyte`` in ``path``, each raw or
    with ``.gz`` (and the ``{kind}-images.idx3-ubyte`` spelling some mirrors use).

    Parameters
    ----------
    path : str or path-like
        The folder.
    kind : str
        ``"train"`` (60000 images) or ``"t10k"`` (the 10000 test images).

    Returns
    -------
    X : numpy.ndarray
        float32 of shape ``(n, rows * cols)`` (``(n, 784)`` for MNIST), pixel values divided by 255.
    y : numpy.ndarray
        int64 of shape ``(n,)``.
    """
    if kind not in _MNIST_KINDS:
        raise GradlabError(f"kind must be 'train' or 't10k', got {kind!r}")
    folder = Path(path)
    if not folder.is_dir():
        raise GradlabError(f"{folder}: not a folder (give the folder holding the MNIST IDX files)")
    images = load_idx(_find_idx(folder, kind, "images", 3))
    labels = load_idx(_find_idx(folder, kind, "labels", 1))
    if images.dtype != np.uint8 or images.ndim < 2:
        raise GradlabError(
            f"{folder}: {kind} images should be uint8 of shape (n, rows, cols), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise GradlabError(f"{folder}: {len(images)} {kind} images but labels of shape {labels.shape}")
    X = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    return X, labels.astype(np.int64)


def load_mnist_split(path: str | os.PathLike[str]) -> Split:
    """MNIST / Fashion-MNIST's own split: ``(X_train, y_train, X_test, y_test)`` (see :func:`load_mnist`)."""
    return (*load_mnist(path, "train"), *load_mnist(path, "t10k"))


def _find_idx(folder: Path, kind: str, what: str, ndim: int) -> Path:
    names = [f"{kind}-{what}-idx{ndim}-ubyte", f"{kind}-{what}.idx{ndim}-ubyte"]
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise GradlabError(f"{folder}: no {names[0]} or {names[0]}.gz (the standard MNIST / Fashion-MNIST file names)")


# --- the names gradlab train understands ---


def load_dataset(spec: str, seed: int = 0) -> Split:
    """Load a dataset by name: ``"digits"``, ``"spiral"`` or ``"mnist:PATH"``.

    Parameters
    ----------
    spec : str
        ``"digits"`` (80/20 stratified split), ``"spiral"`` (3 arms of 100 points, 80/20 stratified
        split) or ``"mnist:PATH"`` (MNIST / Fashion-MNIST's own train/t10k split from the folder PATH).
    seed : int
        Seed of the split (and of the spiral's noise); MNIST's split is fixed.

    Returns
    -------
    X_train, y_train, X_test, y_test : numpy.ndarray
    """
    name, sep, arg = spec.partition(":")
    if name == "digits" and not sep:
        return load_digits(seed=seed)
    if name == "spiral" and not sep:
        return train_test_split(*spiral(seed=seed), seed=seed)
    if name == "mnist" and sep:
        if not arg:
            raise GradlabError("mnist needs a folder: --dataset mnist:PATH")
        return load_mnist_split(arg)
    raise GradlabError(f"unknown dataset {spec!r}: use one of {', '.join(DATASETS)}")
