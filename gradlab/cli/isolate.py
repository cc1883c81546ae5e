"""A user's code run in a forked child process, so that a crash in compiled code (a segfault in a
course's C++ array backend) ends that child, not gradlab: the op it was inspecting or checking is
reported as an error that names the signal, and the other ops go on.

A child is forked from the process that imported the user's modules, so nothing is imported again
and nothing but the result (and progress messages) is pickled. Fork is what makes this cheap;
where there is none (Windows), :func:`available` is False and the callers run the code in-process.
Fork with other threads running can deadlock the child, so callers fork only while theirs are
stopped (the progress bar's).
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

_FORK = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None


class Died(Exception):
    """The child ended without sending its result (a signal, or ``os._exit``)."""


def available() -> bool:
    return _FORK is not None


# frameworks that run threads of their own once they compute (JAX's XLA runtime): a child forked
# after that may deadlock, so with one of them imported the code runs in gradlab's process
_FORK_UNSAFE = {"jax": "JAX runs threads of its own that a forked process does not survive"}


def unsafe() -> str | None:
    """Why forking now could hang the child (a fork-unsafe framework is imported), or None."""
    return next((why for module, why in _FORK_UNSAFE.items() if module in sys.modules), None)


class Child:
    """``fn(*args, progress=send)`` running in a forked child; :meth:`next` reads what it sends."""

    def __init__(self, fn: Callable[..., Any], *args: Any, daemon: bool = True) -> None:
        """``daemon=False`` for a child that forks children of its own (:func:`alone`)."""
        assert _FORK is not None, "no fork on this platform: call the function in-process"
        self.conn, send = _FORK.Pipe(duplex=False)
        self.process = _FORK.Process(target=_serve, args=(send, fn, args), daemon=daemon)
        self.process.start()
        send.close()  # the child's end: EOF here when the child dies

    def next(self) -> tuple[str, Any]:
        """The next message: ``("progress", (done, planned))``, or ``("done", result)`` (the child has
        then ended); raises the child's exception, or :class:`Died`."""
        try:
            kind, value = self.conn.recv()
        except (EOFError, OSError):
            self.process.join()
            raise Died(_death(self.process.exitcode)) from None
        if kind == "progress":
            return kind, value
        self.conn.close()
        self.process.join()
        if kind == "raised":
            raise value
        return "done", value


def call(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a forked child (in-process where there is no fork, or where a fork could
    hang: :func:`unsafe`); its result, or its exception, or :class:`Died`."""
    if _FORK is None or unsafe() is not None:
        return fn(*args, progress=None)
    child = Child(fn, *args)
    while True:
        kind, value = child.next()
        if kind == "done":
            return value


def alone(fn: Callable[[], Any]) -> Any:
    """``fn()`` in a throwaway forked child: its result, or its exception, or :class:`Died`. A child
    still running when the caller stops waiting (its time limit) is killed."""
    child = Child(lambda progress=None: fn())
    try:
        while True:
            kind, value = child.next()
            if kind == "done":
                return value
    finally:
        if child.process.is_alive():
            child.process.kill()
            child.process.join()


def _serve(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    def progress(done: int, planned: int) -> None:
        conn.send(("progress", (done, planned)))

    try:
        payload: tuple[str, Any] = ("done", fn(*args, progress=progress))
    except BaseException as exc:  # the parent raises it
        payload = ("raised", exc)
    try:
        conn.send(payload)
    except Exception as exc:  # an unpicklable result or exception
        conn.send(("raised", RuntimeError(f"{type(exc).__name__} while sending a result back: {exc}")))
    conn.close()


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        crash = name in ("SIGSEGV", "SIGBUS", "SIGABRT", "SIGFPE", "SIGILL")
        return f"{name} ({'a crash in compiled code' if crash else 'killed'})"
    return f"exit code {code} without a result"
