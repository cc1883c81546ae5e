"""``gradlab check`` as pytest test items: one item per op and dtype.

``pytest --gradlab-check my_ops.py`` (or the ini setting ``gradlab_check``) finds the ops that
``gradlab check my_ops.py`` finds (:func:`~gradlab.cli.session.module_targets`, or
:func:`~gradlab.cli.session.registry_targets` for the word ``registry``) and makes each op in each
dtype an item, ``my_ops.py::gradlab[softmax-float64]``, that fuzzes it with
:func:`~gradlab.fuzz.driver.fuzz_op`. pytest then selects (``-k``, ``-m gradlab``), stops (``-x``),
distributes (xdist) and reports (JUnit XML) them like any test. An item's outcome follows gradlab's
verdicts as ``gradlab check`` does:

========== ===================================== ====================================
verdict    outcome                               with ``--gradlab-strict``
========== ===================================== ====================================
pass       passed
fail       failed, with the report of the
           shrunk example
error      failed, with the cause
warning    passed, with a ``GradlabWarning``     failed
undecided  passed, with an ``UndecidedWarning``  failed
unfinished skipped, saying what is missing       failed
xfail      xfailed (the spec's ``xfail`` reason)
xpass      xpassed
========== ===================================== ====================================

The plugin (:mod:`gradlab.pytest_plugin`) imports this module only when the option is given.
"""

from __future__ import annotations

import inspect
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from gradlab.check.assertions import UndecidedWarning
from gradlab.cli import config as project_config
from gradlab.cli.session import Checked, Session, module_targets, project_specs, registry_targets
from gradlab.errors import GradlabError
from gradlab.fuzz.database import profile_database
from gradlab.fuzz.driver import EXAMPLE_TIMEOUT, fuzz_op
from gradlab.fuzz.outcome import OpOutcome, format_outcome

__all__ = ["GradlabItem", "GradlabWarning", "ItemSettings", "collectors"]

DTYPES = ("float64", "float32")  # the dtypes `gradlab check` runs, in its order
REGISTRY = "registry"


class GradlabWarning(UserWarning):
    """An op's *warning* verdict: legal but suspect (e.g. float32 inputs given float64 gradients)."""


class ItemFailure(Exception):
    """An item failed; the message is gradlab's plain-text report (no traceback is shown)."""


class OpFailed(ItemFailure):
    """A rule is wrong (what a spec's ``xfail`` expects)."""


class OpError(ItemFailure):
    """The op could not be checked, or ``--gradlab-strict`` fails a verdict."""


@dataclass(frozen=True)
class ItemSettings:
    """How the items fuzz: the session's profile and seed, and ``--gradlab-strict``."""

    examples: int
    seed: int
    profile: str
    strict: bool = False
    html: str | None = None  # --gradlab-html: the folder of the failing items' HTML reports


def collectors(
    session: pytest.Session, paths: list[tuple[str, Path, bool]], settings: ItemSettings
) -> list[pytest.Collector]:
    """One collector per ``(PATH, folder it is relative to, given on the command line)``: ``registry``, a
    module or a package folder; a path given twice is collected once."""
    found: list[pytest.Collector] = []
    seen: set[str] = set()
    for text, base, given in paths:
        arg = text if given else None  # what a reproduce line passes: nothing for a path of the ini
        if text == REGISTRY:
            key = REGISTRY
        else:
            file, _, name = text.partition("::")
            path = (base / file).resolve()
            key = f"{path}::{name}" if name else str(path)
        if key in seen:
            continue
        seen.add(key)
        if text == REGISTRY:
            found.append(
                GradlabRegistry.from_parent(session, name=REGISTRY, nodeid=REGISTRY, settings=settings, arg=arg)
            )
        elif path.is_dir():
            found.append(
                GradlabFolder.from_parent(
                    session, name=file, nodeid=_relative(path, session), arg=arg, settings=settings, path=path
                )
            )
        else:
            found.append(GradlabModule.from_parent(session, path=path, arg=arg, settings=settings, select=name or None))
    return found


class GradlabRegistry(pytest.Collector):
    """The built-in ops: items ``registry::gradlab[softmax-float64]``."""

    def __init__(self, *, arg: str | None, settings: ItemSettings, **kw: Any) -> None:
        super().__init__(**kw)
        self.arg, self.settings = arg, settings

    def collect(self) -> list[pytest.Item]:
        return _items(self, registry_targets(), self.arg, self.settings)


class GradlabModule(pytest.File):
    """A user's module: items ``my_ops.py::gradlab[softmax-float64]`` (``targets`` given by its folder)."""

    def __init__(
        self,
        *,
        arg: str | None,
        settings: ItemSettings,
        select: str | None = None,
        targets: list[Checked] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.arg, self.settings, self.select, self.targets = arg, settings, select, targets

    def collect(self) -> list[pytest.Item]:
        targets = self.targets
        if targets is None:
            shown = _shown(self.path) + (f"::{self.select}" if self.select else "")
            try:
                targets = module_targets(shown, timeout=EXAMPLE_TIMEOUT, specs=_project_specs(self))
            except GradlabError as exc:  # the whole module: a collection error, as pytest's own
                raise self.CollectError(f"gradlab: {exc}") from None
        return _items(self, targets, self.arg, self.settings)


class GradlabFolder(pytest.Collector):
    """A package folder: one :class:`GradlabModule` per module with ops, as ``gradlab check FOLDER`` finds them."""

    def __init__(self, *, arg: str | None, settings: ItemSettings, path: Path, **kw: Any) -> None:
        super().__init__(path=path, **kw)
        self.arg, self.settings = arg, settings

    def collect(self) -> list[pytest.Collector]:
        try:
            targets = module_targets(_shown(self.path), timeout=EXAMPLE_TIMEOUT, specs=_project_specs(self))
        except GradlabError as exc:
            raise self.CollectError(f"gradlab: {exc}") from None
        by_file: dict[str, list[Checked]] = {}
        for target in targets:  # a target's source is "FILE:LINE", or "FILE" for a module that did not import
            by_file.setdefault(re.sub(r":\d+$", "", target.source), []).append(target)
        return [
            GradlabModule.from_parent(
                self, path=Path(file).resolve(), arg=self.arg, settings=self.settings, targets=found
            )
            for file, found in by_file.items()
        ]


class GradlabItem(pytest.Item):
    """One op in one dtype (``dtype`` None for an op that cannot be checked in any: one item, failed or
    skipped), fuzzed as ``gradlab check`` fuzzes it."""

    def __init__(
        self, *, target: Checked, dtype: str | None, arg: str | None, settings: ItemSettings, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.target, self.dtype, self.arg, self.settings = target, dtype, arg, settings
        self.add_marker(pytest.mark.gradlab)
        if target.unfinished and not settings.strict:  # skipped at setup, at the op's line
            self.add_marker(pytest.mark.skip(reason=f"gradlab: {target.name} is unfinished: {target.unfinished}"))
        spec = target.spec
        if spec is not None and spec.xfail and dtype is not None:
            self.add_marker(pytest.mark.xfail(reason=spec.xfail, raises=OpFailed, strict=False))

    def runtest(self) -> None:
        target, strict = self.target, self.settings.strict
        if target.unfinished:  # reached with --gradlab-strict only
            raise OpError(f"gradlab: {target.name} is unfinished (--gradlab-strict): {target.unfinished}")
        if target.problem or target.op is None or self.dtype is None:
            raise OpError(f"gradlab: {target.name} cannot be checked: {target.problem}")
        outcome = fuzz_op(
            target.op, self.dtype, max_examples=self.settings.examples, seed_=self.settings.seed, spec=target.spec,
            database=profile_database(), database_key=self.nodeid,
        )  # fmt: skip
        status = outcome.status
        self.user_properties += [("gradlab_status", status), ("gradlab_examples", outcome.examples)]
        if self.settings.html and status in ("fail", "xfail", "error"):
            self.user_properties.append(("gradlab_html", str(self.write_html(outcome))))
        if status in ("fail", "xfail"):
            raise OpFailed(format_outcome(outcome, self.reproduce()))
        if status == "error":
            raise OpError(format_outcome(outcome, self.reproduce()))
        if status in ("warning", "undecided"):
            text = format_outcome(outcome)
            if strict:
                raise OpError(f"{text}\n(--gradlab-strict: a {status} fails the item)")
            self.warn(UndecidedWarning(text) if status == "undecided" else GradlabWarning(text))

    def write_html(self, outcome: OpOutcome) -> Path:
        """Write this item's HTML report into the ``--gradlab-html`` folder; its path."""
        from gradlab.cli.html_report import jacobians, to_html
        from gradlab.cli.report_files import write_atomic

        assert self.settings.html is not None and self.dtype is not None
        session = Session(
            targets=[replace(self.target, outcomes=[outcome])], dtypes=(self.dtype,), examples=self.settings.examples,
            seed=self.settings.seed, mode="auto", device="cpu", profile=self.settings.profile,
            timeout=EXAMPLE_TIMEOUT, strict=self.settings.strict,
        )  # fmt: skip
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.nodeid).strip("-") + ".html"
        path = Path(self.settings.html) / name
        write_atomic(path, to_html(session, jacobians(session, EXAMPLE_TIMEOUT), lambda t, o: self.reproduce()))
        return path

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ItemFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        where = f"{self.target.name} [{self.dtype}]" if self.dtype else self.target.name
        path, line = _where(self.target, self.path)
        return path, line - 1, f"gradlab {where}"

    def reproduce(self) -> str:
        """The pytest command that runs this item again with the same examples."""
        check = f" --gradlab-check {shlex.quote(self.arg)}" if self.arg else ""  # else the ini names it
        return (
            f"python -m pytest{check} -k {shlex.quote(self.name)}"
            f" --gradlab-profile {self.settings.profile} --gradlab-seed {self.settings.seed}"
        )


def _items(
    parent: pytest.Collector, targets: list[Checked], arg: str | None, settings: ItemSettings
) -> list[pytest.Item]:
    items: list[pytest.Item] = []
    for target in targets:
        for dtype in _dtypes(target):
            name = f"gradlab[{target.name}-{dtype}]" if dtype else f"gradlab[{target.name}]"
            items.append(
                GradlabItem.from_parent(parent, name=name, target=target, dtype=dtype, arg=arg, settings=settings)
            )
    return items


def _dtypes(target: Checked) -> Iterator[str | None]:
    """The dtypes ``gradlab check`` runs the target in; one ``None`` when it cannot run at all."""
    if target.op is None and target.spec is None:
        yield None
        return
    yield from (d for d in DTYPES if target.spec is None or d in target.spec.dtypes)


def _where(target: Checked, path: Path) -> tuple[Path, int]:
    """The file and line (1-based) of the op's definition: in ``path``, or for a built-in op its own."""
    match = re.search(r":(\d+)$", target.source)
    if match:
        return path, int(match.group(1))
    if target.style == "registry" and target.op is not None:
        try:
            return Path(inspect.getsourcefile(target.op.forward) or path), inspect.getsourcelines(target.op.forward)[1]
        except (OSError, TypeError):
            pass
    return path, 1


def _project_specs(node: pytest.Collector) -> dict[str, Any]:
    """The op specs of ``[tool.gradlab.ops]`` in the ``pyproject.toml`` nearest the rootdir, as ``gradlab
    check`` reads them (its other keys are the command line's defaults: pytest has its own options)."""
    return project_specs(project_config.load(node.config.rootpath))


def _shown(path: Path) -> str:
    """``path`` as the reports show it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _relative(path: Path, session: pytest.Session) -> str:
    try:
        return path.relative_to(session.config.rootpath).as_posix()
    except ValueError:
        return path.as_posix()
