"""``gradlab check``'s checks in forked child processes, ``--jobs N`` at a time, and ``--shard K/N``.

Each (op, dtype) pair is fuzzed by :meth:`Session.check` in a child process forked from the one
that found the ops (:mod:`gradlab.cli.isolate`), with the seed a serial run uses, so the outcomes
are those of ``--jobs 1``; they are stored in the serial order. A user's module is imported once,
ops that are closures need no pickling; only progress and the outcomes travel back. A child that
dies (a segfault in a course's compiled backend) is checked again with each example's user code in
a process of its own (:func:`alone`): an example whose forward crashes is outside the op's domain,
one whose rules crash fails, shrunk like any failure; a pair whose second child dies too is an error
that names the signal; the other pairs go on. Where fork is not available (Windows) or not safe (a CUDA context,
``--device cuda``), the pairs are checked in-process, one after another.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from typing import Any

from gradlab.cli import isolate
from gradlab.cli.session import Checked, Session
from gradlab.errors import GradlabError
from gradlab.fuzz.driver import Crashed
from gradlab.fuzz.outcome import OpOutcome

_SESSION: list[Session] = []  # the session the forked children check (inherited, never pickled)


def cores() -> int:
    """The cores this process may use (the default of ``--jobs``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def why_in_process(session: Session) -> str | None:
    """Why the checks run in gradlab's own process, one after another, or None when they run in
    forked children."""
    if not isolate.available():
        return "this platform cannot fork: the checks run one after another in gradlab's process"
    if session.device == "cuda":
        return "a CUDA context does not survive a fork: with --device cuda the checks run one after another"
    unsafe = isolate.unsafe()
    if unsafe is not None:
        return f"{unsafe}: the checks run one after another in gradlab's process"
    return None


def run(
    session: Session,
    on_start: Callable[[Checked, str], Any],
    on_progress: Callable[[Any, int], None],
    on_done: Callable[[Any], None],
) -> None:
    """Check every (target, dtype) pair of ``session`` in forked children, ``session.jobs`` at a time.
    ``on_start`` returns a handle for the pair, given to ``on_progress`` (examples done) and
    ``on_done``. Fork with other threads running may deadlock a child: the caller runs none (its
    progress bar refreshes on updates, without a thread)."""
    _SESSION[:] = [session]
    work = session.work()
    outcomes: dict[int, OpOutcome] = {}
    running: dict[Any, tuple[int, isolate.Child, Any]] = {}
    again: set[int] = set()  # pairs checked again, each example alone, after their child died
    todo = iter(range(len(work)))
    pending = next(todo, None)
    try:
        while pending is not None or running:
            while pending is not None and len(running) < max(session.jobs, 1):
                child = isolate.Child(_check, pending)
                running[child.conn] = (pending, child, on_start(*work[pending]))
                pending = next(todo, None)
            for conn in wait(list(running)):
                i, child, handle = running[conn]
                try:
                    kind, value = child.next()
                except isolate.Died as exc:
                    if i not in again:
                        again.add(i)
                        del running[conn]
                        child = isolate.Child(_check, i, True, daemon=False)
                        running[child.conn] = (i, child, handle)
                        continue
                    kind, value = "done", _died(*work[i], str(exc))
                except Exception as exc:  # gradlab's own failure in the child: that pair's error
                    kind, value = (
                        "done",
                        OpOutcome(op=work[i][0].name, dtype=work[i][1], error=f"{type(exc).__name__}: {exc}"),
                    )
                if kind == "progress":
                    on_progress(handle, value[0])
                    continue
                outcomes[i] = value
                del running[conn]
                on_done(handle)
    finally:  # interrupted (Ctrl-C): no child goes on checking, and none is waited for at exit
        for _, child, _ in running.values():
            child.process.kill()
    for i, (target, _) in enumerate(work):
        target.outcomes.append(outcomes[i])


def _check(i: int, each_alone: bool = False, progress: Callable[[int, int], None] | None = None) -> OpOutcome:
    session = _SESSION[0]
    target, dtype = session.work()[i]
    report = None if progress is None else (lambda name, done, planned: progress(done, planned))
    return session.check(target, dtype, report, sandbox=alone if each_alone else None)


def alone(fn: Callable[[], Any]) -> Any:
    """A :data:`~gradlab.fuzz.driver.Sandbox`: ``fn()`` in a forked child of its own."""
    try:
        return isolate.alone(fn)
    except isolate.Died as exc:
        raise Crashed(str(exc)) from None


def _died(target: Checked, dtype: str, how: str) -> OpOutcome:
    return OpOutcome(
        op=target.name,
        dtype=dtype,
        error=(
            f"the process checking {target.name} [{dtype}] died: {how}, in code its forward or rules call;"
            f" the other ops were checked. To see where: PYTHONFAULTHANDLER=1 gradlab check {target.select}"
            f" --dtype {dtype}"
        ),
    )


def shard(targets: Sequence[Any], spec: str | None) -> list[Any]:
    """Targets of shard K of N (``"K/N"``, K from 1): every N-th, starting at the K-th, so the shards
    of one list are disjoint, cover it, and are the same on every machine."""
    if spec is None:
        return list(targets)
    try:
        k, n = (int(part) for part in spec.split("/"))
    except ValueError:
        raise GradlabError(f"--shard {spec!r}: give K/N, e.g. --shard 2/4 for the second of four shards") from None
    if not 1 <= k <= n:
        raise GradlabError(f"--shard {spec}: K must be between 1 and N, e.g. --shard 1/{max(n, 1)}")
    return list(targets)[k - 1 :: n]
