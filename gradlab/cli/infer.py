"""Inferring the input shapes of an op without a spec, by asking its forward.

Only the forward is asked (the backward's errors are what the check reports, with its diagnosis),
within a budget of tries, each call under the per-call time limit:

1. an *elementwise* op (same-shape inputs, each output entry moved only by its own input entry)
   takes inputs of any shape, the same for every input;
2. otherwise rank tuples up to :data:`MAX_RANK` per array are tried, non-scalar arrays first and
   the lowest total rank first, with every dimension one size; on the first that runs, the
   dimensions are *split*: each one, then each pair, gets a fresh size of its own while the forward
   still runs; what cannot be split shares a label (``x (n, d), w (d, m), b (m,)``);
3. a labelling that ties a layer's batch dimension to a parameter (``x (n,)`` with ``gamma (n,)``:
   square or degenerate) is not informative; the search goes on to higher ranks. Where the forward
   accepts several (a matmul of vectors and of matrices), the first on which the reverse rule runs
   without raising is kept: only its crashes count, never the shapes it returns, so a wrong
   gradient shape is reported by the check, not avoided here.

The labels found are the symbolic signature the fuzzer draws many sizes from.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import itertools
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradlab.check.form import describe_exception
from gradlab.cli.shapes import BATCH_PROBES, Shapes
from gradlab.cli.unfinished import Unfinished
from gradlab.fuzz.driver import OpTimeout, time_limit
from gradlab.ops.registry import Op

MAX_RANK = 5
BASE = 6  # every dimension's size before the split
FRESH = (7, 4, 9, 8, 5, 10, 3, 11, 12, 13, 2, 14)  # sizes a split dimension tries (odd and even: strides)
FRESH_TRIES = 4
# the sizes of labelled dimensions (a hint's, or the batch probes'), in order of appearance: distinct, and
# falling, so a window (a kernel's k after the image's h) fits in what it slides over; a compiled backend may
# crash rather than raise on one that does not
PROBE_SIZES = (7, 6, 5, 4, 3, 8, 9, 10, 11, 12, 13, 14)
MAX_TRIES = 2000  # forward calls, not seconds: the same search on every machine
EXTRA_RANK = 3  # after a first uninformative labelling, ranks this much higher are still tried
_GRADLAB = str(Path(__file__).resolve().parents[1])
# labels by the first array's rank: cs231n's x (N, D), w (D, M); x (N, C, H, W), w (F, C, HH, WW)
LETTERS = {4: ("n", "c", "h", "w", "f", "hh", "ww", *"kpqrstuvyzabdegijlmo")}
OTHER_LETTERS = "ndmkpqrstuvxyzabcefghijlo"


def infer_shapes(
    op: Op,
    hint: str | None = None,
    max_tries: int = MAX_TRIES,
    timeout: float | None = None,
    arrays_batch: bool = False,
) -> Shapes | str:
    """The shapes ``op``'s forward accepts (see the module's docstring), or why none were found.

    ``hint`` is a signature's inputs to try first (``"(n,c,h,w),(1,c,1,1),(1,c,1,1)"``);
    ``arrays_batch``: leading batch dimensions are probed for ops of several arrays too (array ops of
    an autodiff framework; a course layer's parameters take none). Raises
    :class:`Unfinished` when the forward returns None or raises NotImplementedError.
    """
    names = tuple(op.arg_names) if op.vjp_joint is not None else tuple(required_args(op.forward))
    if not names:
        return f"{op.name} has no array argument to differentiate"
    probe = _Probe(op, len(names), max_tries, timeout)
    try:
        with quiet():
            found = (probe.hinted(hint) if hint else None) or probe.elementwise() or probe.search()
    except OpTimeout:
        return (
            f"{op.name}'s forward took more than {timeout:g} s on arrays of at most {max(FRESH)} per side while"
            " gradlab searched its input shapes (does it hang?); raise the limit with --timeout"
        )
    if found is None:
        return probe.not_found(names)
    keys, out, elementwise = found
    return _named(names, keys, out, probe.domain, probe, elementwise, arrays_batch)


class _Probe:
    """Calls of the forward on trial shapes, counted, with what went wrong last."""

    def __init__(self, op: Op, n: int, max_tries: int, timeout: float | None) -> None:
        self.op, self.n, self.max_tries, self.timeout = op, n, max_tries, timeout
        self.tries, self.last, self.depth, self.domain = 0, "", -1, "real"
        self.rng = np.random.default_rng(0)
        # the first dtype the op runs in (an op of a float32-only framework refuses float64)
        self.dtype = np.dtype((getattr(op, "dtypes", None) or ("float64",))[0])

    def draw(self, low: float, high: float, shape: tuple[int, ...]) -> np.ndarray:
        return self.rng.uniform(low, high, size=shape).astype(self.dtype)

    def failed(self, exc: BaseException) -> None:
        """Keep the error of the try that got furthest into the user's code (the deepest line): a
        forward that unpacks ``N, C, H, W = x.shape`` fails at that line for every wrong rank, and
        at its real problem for the right one."""
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if _users(f.filename)]
        depth = frames[-1].lineno or 0 if frames else 0
        if depth >= self.depth:
            self.depth, self.last = depth, describe_exception(f"{self.op.name}'s forward", exc)

    def out_of_tries(self) -> bool:
        return self.tries >= self.max_tries

    def run(self, shapes: Sequence[tuple[int, ...]], xs: list[np.ndarray] | None = None) -> np.ndarray | None:
        """The forward's output on arrays of ``shapes`` (or on ``xs``), or None when it does not run."""
        self.tries += 1
        for domain in ("real", "positive") if self.domain == "real" else ("positive",):
            low, high = (-2.0, 2.0) if domain == "real" else (0.5, 2.0)
            args = xs if xs is not None else [self.draw(low, high, s) for s in shapes]
            try:
                with time_limit(self.timeout, self.op.name):
                    out = self.op(*args)
            except NotImplementedError as exc:
                raise Unfinished(describe_exception(f"{self.op.name}'s forward", exc)) from None
            except Unfinished:
                raise
            except (Exception, SystemExit) as exc:
                self.failed(exc)
                return None
            if out is None:
                raise Unfinished(f"{self.op.name}'s forward returns None for its output")
            out = joined(out)
            if not isinstance(out, (np.ndarray, np.generic)) or out.dtype.kind != "f":
                kind = f"a {out.dtype} array" if isinstance(out, (np.ndarray, np.generic)) else type(out).__name__
                self.last = f"{self.op.name}'s forward returned {kind}, not a floating array"
                return None
            if np.all(np.isfinite(out)):
                self.domain = domain
                return np.asarray(out)
            if xs is not None:
                return None
            self.last = f"{self.op.name}'s forward gave NaN or Inf"
        return None

    def hinted(self, hint: str) -> tuple | None:
        groups = [[d.strip() for d in g.split(",") if d.strip()] for g in hint.strip("()").split("),(")]
        if len(groups) != self.n:
            return None
        letters = list(dict.fromkeys(d for g in groups for d in g if d != "1"))
        size = dict(zip(letters, PROBE_SIZES, strict=False)) | {"1": 1}
        shapes = [tuple(size[d] for d in g) for g in groups]
        out = self.run(shapes)
        if out is None:
            return None
        return tuple(tuple(g) for g in groups), _out_keys(out.shape, shapes, groups), False

    def elementwise(self) -> tuple | None:
        """Same-shape inputs, each output entry moved only by its own entry of the first input."""
        shapes = [(BASE,)] * self.n
        if self.run(shapes) is None:  # and learn the domain (a power of a negative base is NaN)
            return None
        xs = [self.draw(0.5 if self.domain == "positive" else -2.0, 2.0, s) for s in shapes]
        out = self.run(shapes, xs)
        if out is None or out.shape != (BASE,):
            return None
        for j in (1, 4):
            moved = [x.copy() for x in xs]
            moved[0][j] += 0.5
            other = self.run(shapes, moved)
            if other is None:
                return None
            changed = np.flatnonzero(other != out)
            if changed.size and not np.array_equal(changed, [j]):
                return None
        return tuple((0,) for _ in range(self.n)), (0,), True

    def search(self) -> tuple | None:
        """The first informative labelling whose backward runs on it; else the first informative one
        (the check then reports the backward's error); else the first at all."""
        found: list[tuple] = []  # (labelling, informative)
        first_total = 0
        ranks = sorted(itertools.product(range(MAX_RANK + 1), repeat=self.n), key=lambda r: (0 in r, sum(r), r))
        for rank in ranks:
            if self.out_of_tries() or (found and sum(rank) > first_total + EXTRA_RANK):
                break
            if 0 in rank and any(informative for _, informative in found):
                break  # a labelling with no scalar array exists: prefer it
            dims = [(a, j) for a, r in enumerate(rank) for j in range(r)]
            labels = {d: 0 for d in dims}
            if self.sized(rank, labels, {0: BASE}) is None:
                continue
            sizes = self.split(rank, labels)
            out = self.sized(rank, labels, sizes)
            if out is None:  # the forward is not deterministic in what it accepts
                continue
            keys, out_keys, informative, ones = self.labelled(rank, labels, sizes, out)
            if informative and self.backward_runs(rank, ones, sizes | {-1: 1}):
                return keys, out_keys, False
            first_total = first_total if found else sum(rank)
            found.append(((keys, out_keys, False), informative))
        return next((f for f, informative in found if informative), found[0][0] if found else None)

    def backward_runs(self, rank: Sequence[int], labels: dict, sizes: dict[int, int]) -> bool:
        """Whether the reverse rule returns without raising: asked only to choose between labellings
        the forward accepts alike (matmul of vectors or of matrices); what it returns is the check's
        business, so a wrong gradient shape never steers the search."""
        shapes = [tuple(sizes[labels[(a, j)]] for j in range(r)) for a, r in enumerate(rank)]
        xs = [self.draw(0.5 if self.domain == "positive" else -2.0, 2.0, s) for s in shapes]
        self.tries += 1
        try:
            with time_limit(self.timeout, self.op.name):
                out = self.op(*xs)
                self.op.vjp(ones_like(out), out, *xs)
        except NotImplementedError:
            return True  # not written yet: reported as unfinished
        except (Exception, SystemExit):
            return False
        return True

    def sized(self, rank: Sequence[int], labels: dict, sizes: dict[int, int]) -> np.ndarray | None:
        shapes = [tuple(sizes[labels[(a, j)]] for j in range(r)) for a, r in enumerate(rank)]
        return self.run(shapes)

    def split(self, rank: Sequence[int], labels: dict) -> dict[int, int]:
        """Give dimensions (one, then two together) fresh sizes of their own while the forward runs."""
        sizes = {0: BASE}
        progress = True
        while progress and not self.out_of_tries():
            progress = False
            groups: dict[int, list] = {}
            for d, label in labels.items():
                groups.setdefault(label, []).append(d)
            for members in (m for m in groups.values() if len(m) > 1):
                subsets = [s for k in (1, 2) for s in itertools.combinations(members, k) if len(s) < len(members)]
                for subset in subsets:
                    fresh = [s for s in FRESH if s not in sizes.values()][:FRESH_TRIES]
                    new = max(sizes) + 1
                    trial = {d: (new if d in subset else label) for d, label in labels.items()}
                    for size in fresh:
                        if self.out_of_tries():
                            return sizes
                        if self.uses_all(rank, trial, sizes | {new: size}):
                            labels.update(trial)
                            sizes[new] = size
                            progress = True
                            break
                    if progress:
                        break
                if progress:
                    break
        return sizes

    def uses_all(self, rank: Sequence[int], labels: dict, sizes: dict[int, int]) -> bool:
        """Whether the forward runs at these sizes and the last entry along every dimension moves its
        output: a bias the forward indexes only up to another array's size (``b[f]`` for each filter
        of ``w``) runs with any longer ``b``, and must not get a size of its own."""
        shapes = [tuple(sizes[labels[(a, j)]] for j in range(r)) for a, r in enumerate(rank)]
        low = 0.5 if self.domain == "positive" else -2.0
        xs = [self.draw(low, 2.0, s) for s in shapes]
        out = self.run(shapes, xs)
        if out is None:
            return False
        for a, j in ((a, j) for a, r in enumerate(rank) for j in range(r)):
            moved = [x.copy() for x in xs]
            moved[a][(slice(None),) * j + (-1,)] += 5.0
            other = self.run(shapes, moved)
            if other is not None and other.shape == out.shape and np.array_equal(other, out):
                return False
        return True

    def labelled(self, rank: Sequence[int], labels: dict, sizes: dict[int, int], out: np.ndarray) -> tuple:
        """(keys per array, output keys, informative, the labels with literal 1s as -1). The first
        array's first dimension is the batch: shared with another array of a different shape
        (``b (n,)`` beside ``x (n, d)``), or with any other array of a layer (an op whose output has
        the first array's shape, not elementwise), the labelling is degenerate, unless that
        dimension may be 1 there."""
        keys: list[list[Any]] = [[labels[(a, j)] for j in range(r)] for a, r in enumerate(rank)]
        shapes = [tuple(sizes[labels[(a, j)]] for j in range(r)) for a, r in enumerate(rank)]
        out_keys = _out_keys(out.shape, shapes, keys)
        if self.n == 1 or rank[0] == 0:
            return tuple(tuple(k) for k in keys), out_keys, True, labels
        layer = tuple(out.shape) == tuple(sizes[k] for k in keys[0])
        tied = [
            (a, j)
            for a in range(1, self.n)
            for j in range(rank[a])
            if keys[a][j] == keys[0][0] and (layer or keys[a] != keys[0])
        ]
        # a parameter broadcast along the batch, (1, d) beside x (n, d); not one made only of 1s
        if tied and layer and all(rank[a] > sum(1 for b, _ in tied if b == a) for a, _ in tied):
            ones = {d: (-1 if d in tied else label) for d, label in labels.items()}
            if self.sized(rank, ones, sizes | {-1: 1}) is not None:
                for a, j in tied:
                    keys[a][j] = "1"
                return tuple(tuple(k) for k in keys), out_keys, True, ones
        return tuple(tuple(k) for k in keys), out_keys, not tied, labels

    def not_found(self, names: Sequence[str]) -> str:
        """Why no shapes were found: the forward's own error where it got furthest, first."""
        args = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        limit = f", stopped at the limit of {self.max_tries}" if self.out_of_tries() else ""
        return (
            f"{self.last or self.op.name + ' never ran'}: where the furthest of {self.tries} tries to find input shapes"
            f" for {args} stopped (ranks 0-{MAX_RANK}, dimensions shared or not{limit}); gradlab runs the forward to"
            " learn them"
        )


def _users(filename: str) -> bool:
    """Whether a traceback frame is in the user's code (not gradlab's, a library's or Python's)."""
    return not (filename.startswith((_GRADLAB, "<")) or "site-packages" in filename or "dist-packages" in filename)


def _out_keys(shape: tuple[int, ...], shapes: Sequence[tuple[int, ...]], keys: Sequence) -> tuple[Any, ...] | None:
    """The output's labels when it has the shape of an input (a layer's output is its x's); else
    None (a size alone does not say which dimension it is: a convolution's output height may
    equal a filter count)."""
    same = next((i for i, s in enumerate(shapes) if tuple(s) == tuple(shape) and len(s)), None)
    return None if same is None else tuple(keys[same])


def _named(
    names: tuple[str, ...],
    keys: tuple,
    out: tuple | None,
    domain: str,
    probe: _Probe,
    elementwise: bool,
    arrays_batch: bool = False,
) -> Shapes:
    """Letters for the labels (in order of appearance: x's first dimension n, then d, m...; a hint's
    letters and literal 1s stay), and whether leading batch dimensions work too."""
    first_rank = len(keys[0]) if keys else 0
    pool = LETTERS.get(first_rank)
    letters = iter(pool or [c for c in OTHER_LETTERS if c not in names])
    letter: dict[Any, str] = {}
    for k in (k for dims in keys for k in dims):
        if k not in letter:
            letter[k] = k if isinstance(k, str) else next(letters)
    labels = tuple(tuple(letter[k] for k in dims) for dims in keys)
    out_labels = tuple(letter[k] for k in out) if out is not None and all(k in letter for k in out) else None
    # leading batch dimensions: for an elementwise op, or one of a single array (a row sum); a layer's
    # parameters take none
    batch = elementwise or ((len(names) == 1 or arrays_batch) and _takes_batch(probe, labels))
    # the first input batched alone too (a batched matmul with one matrix): batch dims broadcast
    broadcast = batch and not elementwise and len(names) > 1 and _takes_batch(probe, labels, only_first=True)
    return Shapes(names, labels, out_labels, domain, batch, elementwise, broadcast=broadcast)


def _takes_batch(probe: _Probe, labels: tuple[tuple[str, ...], ...], only_first: bool = False) -> bool:
    """Whether leading batch dimensions, the same on every input (or on the first only), work too."""
    letters = dict.fromkeys(d for dims in labels for d in dims if d != "1")
    size = dict(zip(letters, PROBE_SIZES, strict=False)) | {"1": 1}
    shapes = [tuple(size[d] for d in dims) for dims in labels]
    return all(
        probe.run([b + s if (i == 0 or not only_first) else s for i, s in enumerate(shapes)]) is not None
        for b in BATCH_PROBES
    )


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """User code runs without its prints, warnings or floating-point complaints reaching the user."""
    with warnings.catch_warnings(), np.errstate(all="ignore"), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def joined(out: Any) -> Any:
    """A tuple of arrays (needle's Split) as one flat array, for the shape search; anything else as is."""
    if isinstance(out, (tuple, list)) and out and all(isinstance(o, (np.ndarray, np.generic)) for o in out):
        return np.concatenate([np.ravel(o) for o in out])
    return out


def ones_like(out: Any) -> Any:
    """A cotangent of ones shaped like ``out``: an array, or a tuple of them."""
    return tuple(ones_like(o) for o in out) if isinstance(out, (tuple, list)) else np.ones_like(out)


def required_args(fn: Callable[..., Any]) -> list[str]:
    """Names of the positional parameters without a default."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a NumPy 1.x ufunc has no signature, but knows its arity
        return [f"x{i}" for i in range(getattr(fn, "nin", 1))]
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
