"""Hypothesis' example database, with one shelf per op and dtype.

Hypothesis files the examples of a test under a key made from the test function's source. The
fuzzer's test function is the same for every op, so :class:`Shelf` puts a stable name of the op in
front of every key it passes to the user's database: the shrunk failing example of ``softmax`` in
float64 is saved under that name, and replayed first when ``softmax`` is fuzzed in float64 again.
Only Hypothesis' public database interface is used (a subclass of ``ExampleDatabase``, as
Hypothesis' own ``ReadOnlyDatabase`` wraps another database).
"""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import settings
from hypothesis.database import ExampleDatabase

__all__ = ["Shelf", "profile_database"]


def profile_database() -> ExampleDatabase | None:
    """The example database of the Hypothesis profile loaded now (``.hypothesis/examples`` in the working
    folder by default; None for a profile without one, such as ``gradlab-ci``)."""
    return settings().database


class Shelf(ExampleDatabase):
    """``database`` seen through the name ``name``: every key Hypothesis uses is prefixed with it.

    The name should stay the same from run to run (a pytest node id, an op's name and dtype): it
    is what finds the saved examples again.
    """

    def __init__(self, database: ExampleDatabase, name: str) -> None:
        super().__init__()
        self.database = database
        self.name = name
        self._prefix = b"gradlab:" + name.encode("utf-8") + b":"

    def __repr__(self) -> str:
        return f"Shelf({self.database!r}, {self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Shelf) and (self.database, self.name) == (other.database, other.name)

    def __hash__(self) -> int:
        return hash(self.name)

    def save(self, key: bytes, value: bytes) -> None:
        self.database.save(self._prefix + key, value)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        return self.database.fetch(self._prefix + key)

    def delete(self, key: bytes, value: bytes) -> None:
        self.database.delete(self._prefix + key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.database.move(self._prefix + src, self._prefix + dest, value)
