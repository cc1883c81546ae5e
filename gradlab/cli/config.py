"""``[tool.gradlab]`` in a project's ``pyproject.toml``: the defaults of ``gradlab check``.

The nearest ``pyproject.toml`` from the working directory up is read. Its keys are the flags'
names, and a flag given on the command line wins::

    [tool.gradlab]
    dtypes = ["float64"]        # --dtype (both when absent)
    examples = 300              # --examples
    profile = "thorough"        # --profile
    strict = true               # --strict
    seed = 1                    # --seed
    mode = "full"               # --mode
    timeout = 60                # --timeout
    jobs = 4                    # --jobs

    [tool.gradlab.ops.layernorm]  # an op's spec, as a [layernorm] table in a module's .toml
    shape = "(n,d),(d),(d)->(n,d)"
    inputs = [{ name = "x", domain = "real" }, { name = "gamma", domain = "real" }, { name = "beta", domain = "real" }]

An op's table in the ``.toml`` beside its module wins over ``[tool.gradlab.ops]``. This module
reads TOML only: the op tables are parsed (with :func:`gradlab.ops.spec.parse_spec`) where the ops
are found, so ``gradlab --help`` stays light.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from gradlab.errors import GradlabError

_CHOICES = {"profile": ("quick", "thorough"), "mode": ("auto", "full", "projected"), "device": ("cpu", "cuda")}


@dataclass
class Config:
    """What ``[tool.gradlab]`` sets: flag defaults (by the flags' ``dest`` names) and op spec tables."""

    path: Path | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    ops: dict[str, dict[str, Any]] = field(default_factory=dict)


def find(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` or a folder above it."""
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / "pyproject.toml").is_file():
            return folder / "pyproject.toml"
    return None


def load(start: Path) -> Config:
    """The ``[tool.gradlab]`` table of the nearest ``pyproject.toml`` (empty when there is none);
    raises :class:`GradlabError` naming the file and the key for a value gradlab cannot use."""
    path = find(start)
    if path is None:
        return Config()
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("gradlab", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GradlabError(f"{path}: not valid TOML ({exc}); fix the file or its [tool.gradlab] table") from None
    config = Config(path=path)
    for key, value in table.items():
        where = f"{path}: [tool.gradlab] {key}"
        if key == "ops":
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise GradlabError(f"{where}: expected tables [tool.gradlab.ops.NAME], one per op")
            config.ops = value
        else:
            config.defaults.update(_flag(key, value, where))
    return config


def _flag(key: str, value: Any, where: str) -> dict[str, Any]:
    if key == "dtypes":
        if not isinstance(value, list) or not value or not set(value) <= {"float32", "float64"}:
            raise GradlabError(f'{where}: expected a list of float32 and float64, e.g. dtypes = ["float64"]')
        return {"dtype": "all" if len(set(value)) == 2 else value[0]}
    if key in ("examples", "jobs", "seed"):
        if not isinstance(value, int) or isinstance(value, bool) or (key != "seed" and value < 1):
            raise GradlabError(f"{where}: expected {'an integer' if key == 'seed' else 'a positive integer'}")
        return {key: value}
    if key == "timeout":
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise GradlabError(f"{where}: expected a number of seconds > 0")
        return {key: float(value)}
    if key == "strict":
        if not isinstance(value, bool):
            raise GradlabError(f"{where}: expected true or false")
        return {key: value}
    if key in _CHOICES:
        if value not in _CHOICES[key]:
            raise GradlabError(f"{where}: expected one of {', '.join(_CHOICES[key])}")
        return {key: value}
    known = ["dtypes", "examples", "jobs", "seed", "timeout", "strict", *_CHOICES, "ops"]
    close = difflib.get_close_matches(key, known, n=1)
    meant = f" (did you mean {close[0]}?)" if close else ""
    raise GradlabError(f"{where}: unknown key{meant}; [tool.gradlab] takes {', '.join(known)}")
