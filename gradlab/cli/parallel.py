"""``gradlab check --jobs N``: a session's (op, dtype) checks on N processes, and ``--shard K/N``.

Each (op, dtype) pair is fuzzed by :meth:`Session.check` in a worker process, with the seed the
serial run uses, so the outcomes are those of ``--jobs 1``; they are stored in the serial order.
The workers are forked from the process that discovered the ops, so a user's module is imported
once, and ops that are closures need no pickling; only the outcomes travel back. Where fork is
not available (Windows) or not safe (a CUDA context, ``--device cuda``), the run is serial.

A worker that dies (a crash in compiled code) or an outcome that cannot travel back does not
stop the run: the pairs it did not deliver are checked again in the main process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

from gradlab.cli.session import Checked, Session
from gradlab.errors import GradlabError
from gradlab.fuzz.outcome import OpOutcome

_SESSION: list[Session] = []  # the session the forked workers check (inherited, never pickled)


def cores() -> int:
    """The cores this process may use (the default of ``--jobs``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def why_serial(session: Session, jobs: int) -> str | None:
    """Why the run is serial although ``jobs`` > 1 was asked for, or None when it can be parallel."""
    if jobs <= 1 or len(session.work()) <= 1:
        return None
    if "fork" not in multiprocessing.get_all_start_methods():
        return "--jobs: this platform cannot fork worker processes; the checks run one after another"
    if session.device == "cuda":
        return "--jobs: a CUDA context does not survive a fork; with --device cuda the checks run one after another"
    return None


def start(session: Session, jobs: int) -> dict[Future[OpOutcome], tuple[Checked, str]]:
    """Fork ``jobs`` workers and hand them every (target, dtype) pair of ``session``; to be called
    before any other thread starts (a progress bar's), since the workers are forked at once."""
    _SESSION[:] = [session]
    work = session.work()
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(work)), mp_context=multiprocessing.get_context("fork"))
    futures = {pool.submit(_check, i): pair for i, pair in enumerate(work)}
    pool.shutdown(wait=False)  # the workers finish what was submitted, then exit
    return futures


def collect(
    session: Session, futures: dict[Future[OpOutcome], tuple[Checked, str]], done: Callable[[Checked, str], None]
) -> None:
    """Wait for the workers' outcomes (``done`` after each) and store them in the serial order."""
    outcomes: dict[int, OpOutcome] = {}
    index = {future: i for i, future in enumerate(futures)}
    for future in as_completed(futures):
        target, dtype = futures[future]
        try:
            outcomes[index[future]] = future.result()
        except Exception:  # a worker died, or the outcome could not be pickled: check it here
            outcomes[index[future]] = session.check(target, dtype)
        done(target, dtype)
    for i, (target, _) in enumerate(futures.values()):
        target.outcomes.append(outcomes[i])


def _check(i: int) -> OpOutcome:
    session = _SESSION[0]
    target, dtype = session.work()[i]
    return session.check(target, dtype)


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
