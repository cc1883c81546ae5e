"""The fuzzer: Hypothesis draws examples from an op's spec and runs every check on each.

A failure is shrunk by Hypothesis to the smallest example that still fails, re-checked in full
Jacobian mode for the report, and kept with its seed and Hypothesis' reproduction blob. One op's
failure or crash never stops the others.
"""

from __future__ import annotations

import functools
import math
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, reject, seed, settings
from hypothesis.database import ExampleDatabase
from hypothesis.errors import Unsatisfiable

from gradlab import backend
from gradlab.check.grads import check_grads
from gradlab.check.jacobian import Blocks, jacobian_blocks
from gradlab.check.results import CheckResult, GradCheckReport
from gradlab.check.task import FULL_MODE_LIMIT
from gradlab.errors import GradlabError
from gradlab.fuzz.database import Shelf
from gradlab.fuzz.outcome import Failure, OpOutcome
from gradlab.fuzz.profiles import PROFILES
from gradlab.fuzz.strategies import Example, examples
from gradlab.ops.registry import Op
from gradlab.ops.spec import Spec

# seconds one example may take before the op is reported as hanging
EXAMPLE_TIMEOUT = 20.0
DEVICES = ("cpu", "cuda")

Progress = Callable[[str, int, int], None]


class _Failed(AssertionError):
    pass


class OpTimeout(BaseException):
    """One example took longer than the per-example time limit.

    A ``BaseException``, so that no ``except Exception`` (in the user's op or in gradlab's calls
    to it) swallows it."""


def to_device(example: Example, device: str) -> tuple[Any, ...]:
    """The example's inputs on ``device`` (moved once per example).

    ``"cpu"`` keeps NumPy arrays, ``"cuda"`` moves them to CuPy, and ``"array-api-strict"`` to the
    strict reference namespace (the tests run the generic path there, without a GPU).
    """
    if device == "cpu":
        return example.inputs
    if device == "cuda":
        import cupy

        move = cupy.asarray
    elif device == "array-api-strict":
        import array_api_strict

        move = array_api_strict.asarray
    else:
        raise GradlabError(f"unknown device {device!r}: choose cpu or cuda")
    return tuple(move(x) if backend.is_array(x) else x for x in example.inputs)


def check_example(
    op: Op, spec: Spec, example: Example, mode: str = "auto", seed_: int = 0, device: str = "cpu"
) -> GradCheckReport:
    """Run every check of ``spec`` on one example of ``op``."""
    tol = spec.tolerance.get(example.dtype)
    return check_grads(
        *example_call(op, spec, example, device),
        mode=mode,
        rtol=tol.rtol if tol else None,
        atol=tol.atol if tol else None,
        checks=spec.checks,
        seed=seed_,
        name=op.name,
        **example_rules(op, spec, example),
    )


def example_jacobians(op: Op, spec: Spec, example: Example, device: str = "cpu") -> Blocks | None:
    """The whole Jacobian blocks of ``op`` at one example, as :func:`check_example` sees the op (None when
    too large to draw)."""
    return jacobian_blocks(*example_call(op, spec, example, device), **example_rules(op, spec, example))


def example_call(op: Op, spec: Spec, example: Example, device: str = "cpu") -> tuple[Any, ...]:
    """The forward of one example (its params bound) and its inputs on ``device``."""
    params = example.params

    def forward(*xs: Any) -> Any:
        return op(*xs, **params)

    return (forward, *to_device(example, device))


def example_rules(op: Op, spec: Spec, example: Example) -> dict[str, Any]:
    """The op's rules at one example (its params bound), the inputs differentiated and their names."""
    params = example.params
    # an op's own vjp(g, out, *inputs) and jvp(tangents, out, *inputs) are whole-function rules
    return {
        "vjp": functools.partial(op.vjp, **params) if op.has_vjp else None,
        "jvp": functools.partial(op.jvp, **params) if op.has_jvp else None,
        "wrt": spec.wrt,
        "names": [x.name for x in spec.inputs],
    }


def fuzz_op(
    op: Op,
    dtype: str,
    max_examples: int = PROFILES["quick"],
    seed_: int = 0,
    spec: Spec | None = None,
    progress: Progress | None = None,
    mode: str = "auto",
    device: str = "cpu",
    timeout: float | None = EXAMPLE_TIMEOUT,
    database: ExampleDatabase | None = None,
    database_key: str | None = None,
    sandbox: Sandbox | None = None,
) -> OpOutcome:
    """Fuzz one op in one dtype; never raises for a problem of the op.

    ``max_examples`` examples are drawn (deterministically for a given ``seed_``); each runs
    every check of the spec in ``mode`` on ``device``, within ``timeout`` seconds.

    With a Hypothesis ``database`` (e.g. ``hypothesis.settings().database``), the shrunk failing
    example is saved there under ``database_key`` (default: the op's name) and the dtype, and the
    examples saved under them are replayed before any new one is drawn; with an empty database the
    examples are those drawn without one. The command line keeps ``database=None``.

    With a ``sandbox`` (a function that runs a thunk in a process of its own and raises
    :class:`Crashed` when that process dies), each example's user code runs in it: an example on
    which the forward crashes is outside the op's domain, one on which the rules crash fails
    ``form``, and the crash shrinks to the smallest input that still crashes.
    """
    spec = spec or op.spec
    outcome = OpOutcome(op=op.name, dtype=dtype, xfail=spec.xfail if spec else None)
    if spec is None:
        outcome.error = f"op {op.name!r} has no spec: add a table to specs/ or an inline spec"
        return outcome
    runnable = {"rev": op.has_vjp, "fwd": op.has_jvp, "adj": op.has_vjp and op.has_jvp, "form": True}
    outcome.checks = tuple(c for c in spec.checks if runnable[c])
    if dtype not in spec.dtypes:
        outcome.error = f"dtype {dtype} is not among the spec's dtypes {list(spec.dtypes)}"
        return outcome
    last_failure: list[tuple[Example, GradCheckReport]] = []
    started = time.perf_counter()
    timed_out: list[OpTimeout] = []
    first_kinds: dict[str, set[str]] = {}
    outside: list[str] = []  # why the forward refused the examples it did (a domain_by_forward spec)

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None if database is None else Shelf(database, f"{database_key or op.name}[{dtype}]"),
        derandomize=False,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    )
    @seed(seed_)
    @given(examples(spec, dtype))
    def run(example: Example) -> None:
        if not timed_out:  # once an op hangs, every further example fails at once (fast shrinking)
            try:
                with time_limit(timeout, op.name):
                    if spec.domain_by_forward and _outside(op, example, outside, sandbox):
                        outcome.rejected += 1
                        reject()
                    report = _checked(op, spec, example, mode, seed_, device, sandbox)
            except OpTimeout as exc:
                timed_out.append(exc)
        if timed_out:
            raise timed_out[0]
        if report.status == "invalid":
            outcome.rejected += 1
            reject()
        if not last_failure:  # once a failure is found, the rest is shrinking, not new examples
            _count(outcome, report, progress, op.name, max_examples)
        # shrinking keeps the failure found first: a smaller example that fails another check
        # (a kink the shrunk values landed on) is not the same bug
        if report.status == "fail" and first_kinds.setdefault("checks", _kinds(report)) <= _kinds(report):
            last_failure.append((example, report))
            raise _Failed(report.format())

    try:
        run()
    except _Failed as exc:
        example, report = last_failure[-1]
        size = sum(int(example.inputs[i].size) for i in spec.wrt)
        if size <= FULL_MODE_LIMIT * 4:
            report = _checked(op, spec, example, "full", seed_, device, sandbox)
        outcome.failure = Failure(example=example, report=report, seed=seed_, blob=_blob(exc))
    except Unsatisfiable:
        if outside:
            outcome.error = (
                f"{op.name}: the forward refused nearly every example drawn from its spec; the last time:"
                f" {outside[-1]}. Pin the shapes with a spec"
            )
        else:
            outcome.error = (
                f"{op.name}: the forward returned NaN or Inf for every example drawn from its domain;"
                " check the forward, or narrow the domains of its spec"
            )
    except OpTimeout as exc:
        outcome.error = str(exc)
    except GradlabError as exc:
        outcome.error = str(exc)
    except Exception as exc:  # a crash inside gradlab while checking this op: report it, go on
        outcome.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        outcome.error += "\n" + "".join(traceback.format_tb(exc.__traceback__)[-3:])
    outcome.seconds = time.perf_counter() - started
    return outcome


def fuzz_ops(
    ops: Iterable[Op],
    dtypes: Iterable[str] = ("float64", "float32"),
    max_examples: int = PROFILES["quick"],
    seed_: int = 0,
    progress: Progress | None = None,
    **options: Any,
) -> list[OpOutcome]:
    """Fuzz every op in every dtype its spec allows (``options`` as for :func:`fuzz_op`)."""
    outcomes = []
    for item in ops:
        for dtype in dtypes:
            if item.spec is not None and dtype not in item.spec.dtypes:
                continue
            outcomes.append(fuzz_op(item, dtype, max_examples=max_examples, seed_=seed_, progress=progress, **options))
    return outcomes


@contextmanager
def time_limit(seconds: float | None, name: str) -> Any:
    """Raise :class:`OpTimeout` after ``seconds`` (on the main thread of a POSIX system)."""
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise OpTimeout(
            f"{name}: one example took more than {seconds:g} s (the op hangs, or is far too slow for"
            " its spec's shapes); raise the limit with --timeout or shrink the spec's max_side"
        )

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _kinds(report: GradCheckReport) -> set[str]:
    return {r.check for r in report.failures}


class Crashed(Exception):
    """The process a :data:`Sandbox` ran an example's user code in died (a crash in compiled code)."""


# runs a thunk in a throwaway process and returns its result (or raises its exception); raises Crashed
Sandbox = Callable[[Callable[[], Any]], Any]


def _outside(op: Op, example: Example, why: list[str], sandbox: Sandbox | None = None) -> bool:
    """Whether the forward raises on the example, crashes, or returns an empty output (the reason in
    ``why``)."""

    def refusal() -> str | None:
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = op(*example.inputs, **example.params)
        except Exception as exc:  # the user's forward decides its own domain here
            return f"{type(exc).__name__}: {exc}"
        if getattr(out, "size", 1) == 0:  # e.g. a filter larger than the padded input: nothing to check
            return f"the output is empty (shape {out.shape})"
        return None

    try:
        refused = refusal() if sandbox is None else sandbox(refusal)
    except Crashed as exc:  # a compiled backend that crashes rather than raise outside its domain
        refused = f"the forward crashed the process: {exc}"
    if refused is not None:
        why[:] = [refused]
    return refused is not None


def _checked(
    op: Op, spec: Spec, example: Example, mode: str, seed_: int, device: str, sandbox: Sandbox | None
) -> GradCheckReport:
    """:func:`check_example`, in the sandbox when there is one: where the forward ran (the domain
    probe) but the process dies now, the rules crashed it, and that is a ``form`` failure."""
    if sandbox is None:
        return check_example(op, spec, example, mode=mode, seed_=seed_, device=device)
    try:
        return sandbox(lambda: check_example(op, spec, example, mode=mode, seed_=seed_, device=device))
    except Crashed as exc:
        message = f"the process died while the rules ran: {exc}"
        return GradCheckReport(
            name=op.name,
            results=[CheckResult("form", "fail", "rules", message, details=[message])],
            input_shapes=[tuple(np.shape(x)) for x in example.inputs],
            input_dtypes=[str(getattr(x, "dtype", type(x).__name__)) for x in example.inputs],
            input_names=[x.name for x in spec.inputs],
            wrt=spec.wrt,
            mode=mode,
            method="central",
            seed=seed_,
        )


def _count(outcome: OpOutcome, report: GradCheckReport, progress: Progress | None, name: str, planned: int) -> None:
    outcome.examples += 1
    sizes = [math.prod(shape) for shape in report.input_shapes if shape is not None]
    outcome.largest = max(outcome.largest, max(sizes, default=0))
    if progress is not None:
        progress(name, min(outcome.examples, planned), planned)
    if report.status == "nondiff":
        outcome.nondiff += 1
    if report.status == "undecided":
        outcome.undecided += 1
        first = report.undecided[0]
        outcome.undecided_reason = outcome.undecided_reason or f"{first.check}[{first.subject}]: {first.message}"
    if report.warnings:
        outcome.warnings += 1
        outcome.warning = outcome.warning or report.warnings[0]
    for r in report.results:
        if r.status == "pass":
            outcome.worst_ratio[r.check] = max(outcome.worst_ratio.get(r.check, 0.0), r.worst_ratio)
            if r.check in ("rev", "fwd"):
                outcome.worst_rel_err = max(outcome.worst_rel_err, r.max_rel_err)


def _blob(exc: BaseException) -> str | None:
    for note in getattr(exc, "__notes__", []):
        if "reproduce_failure" in note:
            return note.strip()
    return None
