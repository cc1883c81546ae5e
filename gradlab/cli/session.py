"""A checking session: the targets to check, their outcomes, and how to reproduce a failure.

The CLI builds one from its arguments; the console, JSON and JUnit renderers read it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gradlab.fuzz.driver import Sandbox, fuzz_op
from gradlab.fuzz.outcome import OpOutcome


@dataclass
class Checked:
    """One target (an op from the registry or a user module) and its outcome per dtype."""

    name: str
    style: str
    source: str
    select: str  # what `gradlab check` takes to pick this op again
    op: Any = None
    spec: Any = None
    inferred: str | None = None
    pin: str | None = None
    problem: str | None = None
    unfinished: str | None = None  # the user's code is not written yet: what is missing
    outcomes: list[OpOutcome] = field(default_factory=list)

    @property
    def status(self) -> str:
        """One of the verdicts of DESIGN.md: pass, fail, warning, undecided, unfinished, error (and xfail,
        xpass)."""
        if self.unfinished:
            return "unfinished"
        if self.problem:
            return "error"
        statuses = [o.status for o in self.outcomes]
        for worst in ("error", "fail", "xpass", "xfail", "undecided", "warning"):
            if worst in statuses:
                return worst
        return "pass" if statuses else "error"


@dataclass
class Session:
    targets: list[Checked]
    dtypes: tuple[str, ...]
    examples: int
    seed: int
    mode: str
    device: str
    profile: str
    timeout: float | None
    strict: bool = False
    jobs: int = 1  # processes the checks run on (--jobs)
    shard: str | None = None  # K/N: this run checks shard K of N (--shard)

    @property
    def exit_code(self) -> int:
        """0: every finished rule is right; 1: a rule is wrong, or an op could not be checked (and, with
        ``strict``, a warning, an op the numerics could not settle, or an unfinished function)."""
        fine = {"pass", "xfail", "xpass"} | (set() if self.strict else {"warning", "undecided", "unfinished"})
        return 0 if all(t.status in fine for t in self.targets) else 1

    def work(self) -> list[tuple[Checked, str]]:
        """The (target, dtype) pairs to fuzz, in the order of a serial run."""
        return [
            (target, dtype)
            for target in self.targets
            if not (target.problem or target.unfinished or target.op is None)
            for dtype in self.dtypes
            if target.spec is None or dtype in target.spec.dtypes
        ]

    def check(
        self,
        target: Checked,
        dtype: str,
        progress: Callable[[str, int, int], None] | None = None,
        sandbox: Sandbox | None = None,
    ) -> OpOutcome:
        """Fuzz one target in one dtype (never raises for a problem of the op); ``sandbox``: each
        example's user code in a process of its own (see :func:`~gradlab.fuzz.driver.fuzz_op`)."""
        return fuzz_op(
            target.op, dtype, max_examples=self.examples, seed_=self.seed, spec=target.spec,
            progress=progress, mode=self.mode, device=self.device, timeout=self.timeout, sandbox=sandbox,
        )  # fmt: skip

    def run(self, on_start: Callable[[Checked, str], None], progress: Callable[[str, int, int], None]) -> None:
        for target, dtype in self.work():
            on_start(target, dtype)
            target.outcomes.append(self.check(target, dtype, progress))

    def reproduce(self, target: Checked, outcome: OpOutcome) -> str:
        """The one command that runs exactly this failure again."""
        parts = ["gradlab", "check", *shlex.split(target.select)]
        parts += ["--dtype", outcome.dtype, "--seed", str(self.seed), "--examples", str(self.examples)]
        if self.mode != "auto":
            parts += ["--mode", self.mode]
        if self.device != "cpu":
            parts += ["--device", self.device]
        return " ".join(shlex.quote(p) if p not in ("--registry",) else p for p in parts)


def registry_targets() -> list[Checked]:
    """The built-in ops (the training core's layers included), as ``gradlab check --registry`` checks them."""
    import gradlab.train  # noqa: F401  (the training core's layers register as ops)
    from gradlab.ops import REGISTRY

    return [
        Checked(
            name=item.name, style="registry", source=_module_file(item.forward),
            select=f"--registry -k '^{item.name}$'", op=item, spec=item.spec,
        )
        for item in REGISTRY
    ]  # fmt: skip


def module_targets(
    path: str, timeout: float | None = None, specs: dict[str, Any] | None = None, isolated: bool = False
) -> list[Checked]:
    """The ops of a user's module or package folder (``FILE.py``, ``FILE.py::NAME``, ``FOLDER``), as
    ``gradlab check PATH`` checks them (``specs``: the project's, :func:`project_specs`); raises
    :class:`~gradlab.cli.discover.DiscoveryError` for a problem with the whole input."""
    from gradlab.cli.discover import discover

    return [
        Checked(
            name=found.name, style=found.style, source=found.source,
            select=f"{found.source.rsplit(':', 1)[0]}::{found.name}",  # the op's own file, also in a folder
            op=found.op, spec=found.spec, inferred=found.inferred, problem=found.problem,
            unfinished=found.unfinished, pin=found.pin,
        )
        for found in discover(path, timeout=timeout, specs=specs or {}, isolated=isolated)
    ]  # fmt: skip


def project_specs(config: Any) -> dict[str, Any]:
    """The op specs of ``[tool.gradlab.ops]`` (:mod:`gradlab.cli.config`), parsed."""
    from gradlab.errors import GradlabError
    from gradlab.ops.spec import SpecError, parse_spec

    specs = {}
    for name, table in (config.ops if config is not None else {}).items():
        try:
            specs[name] = parse_spec(name, table, f"{config.path} [tool.gradlab.ops.{name}]")
        except SpecError as exc:
            raise GradlabError(f"{exc}. Fix the table (the schema of specs/*.toml).") from None
    return specs


def _module_file(fn: Any) -> str:
    """Where a built-in op is defined, e.g. gradlab/ops/elementwise.py."""
    return fn.__module__.replace(".", "/") + ".py"


def select(targets: list[Checked], pattern: str | None) -> list[Checked]:
    if not pattern:
        return targets
    regex = re.compile(pattern)
    return [t for t in targets if regex.search(t.name)]
