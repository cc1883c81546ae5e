"""Inferring the input shapes of an op without a spec, by asking the op itself.

:func:`infer_shapes` tries small ranks (0 to 3, the lowest total first) and, for each, labellings of
the dimensions with shared sizes (the most distinct labels first, each label a distinct prime so no
size is the product of others), and keeps the first assignment on which the forward runs, returns
a finite floating array, and the backward returns one gradient of matching shape per array
argument. A course module's ``affine_forward(x, w, b)`` comes out as ``x (n, d), w (d, m), b (m,)``.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import itertools
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradlab.check.form import describe_exception
from gradlab.ops.registry import Op
from gradlab.ops.spec import Spec, parse_spec

MAX_RANK = 3
SIZES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
BATCH_PROBES = ((4,), (6, 4))
LETTERS = "ndmkpqrstuvwxyzabcefghijlo"  # labels, cs231n's (N, D), (D, M) first
MAX_CALLS = 3000
TIME_BUDGET = 2.0


# ---- inferring shapes -----------------------------------------------------------------------


@dataclass
class Shapes:
    """Labelled core shapes an op accepted, e.g. x (n, d), w (d, m), b (m,)."""

    names: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]
    out: tuple[str, ...] | None
    domain: str = "real"
    batch: bool = False

    def signature(self) -> str:
        outs = ",".join(self.out) if self.out is not None else ""
        return ",".join(f"({','.join(dims)})" for dims in self.labels) + f"->({outs})"

    def describe(self) -> str:
        same = ", the same for every input" if len(self.names) > 1 else ""
        batch = len(BATCH_PROBES[-1])
        if self.batch and not any(self.labels):
            text = f"{', '.join(self.names)} of any shape (up to {batch} dimensions){same}"
        else:
            text = ", ".join(f"{n} {_shape_text(dims)}" for n, dims in zip(self.names, self.labels, strict=True))
            text += f" plus up to {batch} leading batch dimensions{same}" if self.batch else ""
        if self.domain == "positive":
            text += "; values positive (the forward gives NaN or Inf on negative ones)"
        return text

    def spec(self, name: str, checks: Sequence[str], source: str) -> Spec:
        table = {
            "shape": self.signature(),
            "batch": self.batch,
            "broadcast": False,
            "max_dims": len(BATCH_PROBES[-1]),
            "inputs": [{"name": n, "domain": self.domain} for n in self.names],
            "checks": list(checks),
        }
        return parse_spec(name, table, f"<shapes inferred for {source}>")


def _shape_text(dims: Sequence[str]) -> str:
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


def infer_shapes(op: Op, budget: float = TIME_BUDGET, max_calls: int = MAX_CALLS) -> Shapes | str:
    """Ask ``op`` which shapes its array arguments take: the first labelling that works, or why none did.

    Searches ranks 0..3 per argument (lowest total first, balanced first), and for each rank tuple
    the labellings of the dimensions by shared sizes (most distinct labels first, each label a
    distinct prime size). A labelling works when the forward runs and returns a finite floating
    array (values drawn real, then positive if real ones give NaN) and the VJP returns one
    gradient of the matching shape per argument. Then probes whether leading batch dimensions,
    the same on every input, work too.
    """
    names = tuple(op.arg_names) if op.vjp_joint is not None else tuple(required_args(op.forward))
    if not names:
        return f"{op.name} has no array argument to differentiate"
    rng = np.random.default_rng(0)
    deadline = time.perf_counter() + budget
    calls, ran, last = 0, "", ""  # ran: the last backward problem (the forward ran), last: the last problem
    with quiet():
        for dims in _assignments(len(names)):
            if calls >= max_calls or time.perf_counter() > deadline:
                return _not_found(op, names, calls, ran or last, bool(ran), stopped=True)
            shapes = [tuple(SIZES[label] for label in d) for d in dims]
            for domain in ("real", "positive"):
                calls += 1
                verdict, out = _try(op, shapes, domain, rng)
                if verdict == "ok":
                    batch = all(_try(op, [b + s for s in shapes], domain, rng)[0] == "ok" for b in BATCH_PROBES)
                    return _shapes(names, dims, out, domain, batch)
                if verdict != "nan":
                    ran, last = (out if verdict == "backward" else ran), out
                    break
    return _not_found(op, names, calls, ran or last, bool(ran), stopped=False)


def _assignments(n: int) -> Iterator[list[tuple[int, ...]]]:
    """Labelled dimensions of n arrays: lowest total rank first, balanced ranks first, most labels first."""
    ranks = sorted(itertools.product(range(MAX_RANK + 1), repeat=n), key=lambda r: (sum(r), max(r), r))
    for rank in ranks:
        if sum(rank) > len(SIZES):
            return
        for labels in _labellings(sum(rank)):
            cuts = list(itertools.accumulate(rank, initial=0))
            yield [labels[a:b] for a, b in itertools.pairwise(cuts)]


def _shapes(names: tuple[str, ...], dims: list[tuple[int, ...]], out: Any, domain: str, batch: bool) -> Shapes:
    letter = [c for c in LETTERS if c not in names]
    by_size = {SIZES[label]: letter[label] for d in dims for label in d}
    out_dims = tuple(by_size.get(size, "") for size in out)
    labels = tuple(tuple(letter[label] for label in d) for d in dims)
    return Shapes(names, labels, None if "" in out_dims else out_dims, domain, batch)


def _labellings(n: int) -> Iterator[tuple[int, ...]]:
    """Set partitions of n dimensions as label tuples (first appearance in order), most labels first."""
    for k in range(n, 0, -1):
        yield from _exactly(n, k, ())
    if n == 0:
        yield ()


def _exactly(n: int, k: int, prefix: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    used = max(prefix, default=-1) + 1
    if len(prefix) == n:
        if used == k:
            yield prefix
        return
    if used + n - len(prefix) < k:
        return
    for label in range(min(used + 1, k)):
        yield from _exactly(n, k, (*prefix, label))


def _try(op: Op, shapes: Sequence[tuple[int, ...]], domain: str, rng: np.random.Generator) -> tuple[str, Any]:
    """("ok", output shape) | ("nan", None) | ("forward" or "backward", what went wrong)."""
    low, high = (-2.0, 2.0) if domain == "real" else (0.5, 2.0)
    xs = [rng.uniform(low, high, size=s) for s in shapes]
    try:
        out = op(*xs)
        if not isinstance(out, (np.ndarray, np.generic)) or out.dtype.kind != "f":
            kind = f"a {out.dtype} array" if isinstance(out, (np.ndarray, np.generic)) else type(out).__name__
            return "forward", f"{op.name}'s forward returned {kind}, not a floating array"
        if not np.all(np.isfinite(out)):
            return ("nan", None) if domain == "real" else ("forward", f"{op.name}'s forward gave NaN or Inf")
    except (Exception, SystemExit) as exc:
        return "forward", describe_exception(f"{op.name}'s forward", exc)
    try:
        grads = op.vjp(rng.standard_normal(out.shape), *xs, out=out)
        grads = [grads] if isinstance(grads, (np.ndarray, np.generic)) else grads
        if not isinstance(grads, (tuple, list)) or len(grads) != len(xs):
            got = f"{len(grads)} gradients" if isinstance(grads, (tuple, list)) else type(grads).__name__
            return "backward", f"{op.name}'s backward returned {got} for {len(xs)} arrays"
        for x, gx in zip(xs, grads, strict=True):
            if getattr(gx, "shape", None) != x.shape:
                got = f"shape {gx.shape}" if hasattr(gx, "shape") else type(gx).__name__
                return "backward", f"{op.name}'s backward returned a gradient of {got} for an input of shape {x.shape}"
    except (Exception, SystemExit) as exc:
        return "backward", describe_exception(f"{op.name}'s backward", exc)
    return "ok", out.shape


def _not_found(op: Op, names: Sequence[str], calls: int, last: str, ran: bool, stopped: bool) -> str:
    args = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    limit = f" (stopped at the limit of {MAX_CALLS} tries or {TIME_BUDGET:g} s)" if stopped else ""
    if not ran:
        why = f"the forward never ran on them; the last error: {last}"
    else:
        why = "the forward ran, but the backward never returned one gradient per array of its shape"
        why += f"; the last error: {last}"
    return (
        f"cannot find input shapes for {op.name}: tried {calls} combinations of ranks 0-{MAX_RANK} and shared"
        f" dimensions for {args}{limit}; {why}"
    )


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """User code runs without its prints, warnings or floating-point complaints reaching the user."""
    with warnings.catch_warnings(), np.errstate(all="ignore"), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def required_args(fn: Callable[..., Any]) -> list[str]:
    """Names of the positional parameters without a default."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a NumPy 1.x ufunc has no signature, but knows its arity
        return [f"x{i}" for i in range(getattr(fn, "nin", 1))]
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
