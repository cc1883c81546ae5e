"""gradlab's pytest plugin, active wherever gradlab is installed (the ``pytest11`` entry point).

It gives a test suite

- the fixture ``gradcheck``: ``gradcheck(op)`` fuzzes a gradlab op over its spec in every dtype
  of the spec; ``gradcheck(f, strategy, vjp=..., jvp=...)`` checks a plain function's rules on
  the input tuples a Hypothesis strategy draws. A wrong rule fails the test with gradlab's
  plain-text report of the shrunk example (no colour codes, no traceback of gradlab's insides);
- test items: ``--gradlab-check PATH`` (or the ini setting ``gradlab_check``) makes each op of a
  module, a package folder or the built-in ``registry`` one item per dtype,
  ``my_ops.py::gradlab[softmax-float64]``, run as ``gradlab check`` runs it
  (:mod:`gradlab.cli.pytest_items`); ``--gradlab-strict`` fails their warnings, undecided and
  unfinished ops too; ``--gradlab-html DIR`` writes an HTML report of each failing item there
  (:mod:`gradlab.cli.html_report`);
- the options ``--gradlab-profile quick|thorough`` (examples per op and dtype, or per function)
  and ``--gradlab-seed N`` (default: ``--hypothesis-seed`` when given, else 0);
- the Hypothesis profiles ``gradlab-ci`` and ``gradlab-thorough``, for ``--hypothesis-profile``.

A failing example is saved in Hypothesis' example database (``settings.database`` of the profile
loaded, ``.hypothesis/examples`` by default) under the test, op and dtype, and replayed first on
the next run.

The module stays light: NumPy, Hypothesis and the checks are imported when the fixture or an item
runs, the items' module when ``--gradlab-check`` or ``gradlab_check`` is given.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
import zlib
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from gradlab.fuzz.profiles import PROFILES, register_hypothesis_profiles

if TYPE_CHECKING:
    from gradlab.check.results import GradCheckReport
    from gradlab.fuzz.outcome import OpOutcome

DEFAULT_PROFILE = "quick"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradlab", "gradient checks (gradlab)")
    group.addoption(
        "--gradlab-profile",
        choices=sorted(PROFILES),
        default=None,
        help=f"examples the gradcheck fixture draws: {', '.join(f'{k} {v}' for k, v in PROFILES.items())}"
        f" (default {DEFAULT_PROFILE})",
    )
    group.addoption(
        "--gradlab-seed",
        type=int,
        default=None,
        help="seed of the examples and probes of the gradcheck fixture and the gradlab items"
        " (default: --hypothesis-seed when given, else 0)",
    )
    group.addoption(
        "--gradlab-check",
        action="append",
        default=[],
        metavar="PATH",
        help="make each op of PATH one test item per dtype, checked as `gradlab check PATH` checks it:"
        " a module (FILE.py or FILE.py::NAME), a package folder, or the word registry (the built-in ops);"
        " repeatable, added to the ini setting gradlab_check",
    )
    group.addoption(
        "--gradlab-strict",
        action="store_true",
        default=False,
        help="gradlab items: a warning, an op the numerics cannot settle or an unfinished function fails"
        " the item too (as gradlab check --strict)",
    )
    group.addoption(
        "--gradlab-html",
        default=None,
        metavar="DIR",
        help="gradlab items: write a self-contained HTML report (heat maps of the failing Jacobians) of each"
        " item that fails into DIR, named after the item",
    )
    parser.addini(
        "gradlab_check",
        type="args",
        default=[],
        help="modules, package folders or the word registry whose ops become test items (paths relative to"
        " the rootdir); see --gradlab-check",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # before Hypothesis' own plugin loads the profile named by --hypothesis-profile; when Hypothesis
    # is not imported yet, its "hypothesis" entry point registers them as it is
    if "hypothesis" in sys.modules or config.getoption("hypothesis_profile", None):
        register_hypothesis_profiles()
    config.addinivalue_line("markers", "gradlab: an op checked in one dtype (--gradlab-check, gradlab_check)")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    """The session's collection gains one collector per ``--gradlab-check`` / ``gradlab_check`` path:
    pytest collects, selects (-k, -m, --lf) and distributes their items as its own."""
    outcome = yield
    if not isinstance(collector, pytest.Session):
        return
    paths = _check_paths(collector.config)
    report = outcome.get_result()
    if paths and report.passed:
        from gradlab.cli.pytest_items import ItemSettings, collectors

        checker = GradCheck(collector.config)
        strict = bool(collector.config.getoption("gradlab_strict"))
        html = collector.config.getoption("gradlab_html")
        html = str(collector.config.invocation_params.dir / html) if html else None
        settings = ItemSettings(checker.max_examples, checker.seed, checker.profile, strict, html)
        report.result.extend(collectors(collector, paths, settings))


def _check_paths(config: pytest.Config) -> list[tuple[str, Path, bool]]:
    """What to check, each with the folder it is relative to (the ini file's, then the invocation's) and
    whether the command line gave it."""
    ini_dir = config.inipath.parent if config.inipath else config.rootpath
    ini = [(str(p), ini_dir, False) for p in config.getini("gradlab_check")]
    return ini + [(p, config.invocation_params.dir, True) for p in config.getoption("gradlab_check") or ()]


def pytest_report_header(config: pytest.Config) -> str | None:
    if config.option.verbose < 1 and not _given(config):
        return None
    checker = GradCheck(config)
    return f"gradlab: profile {checker.profile} ({checker.max_examples} examples), seed {checker.seed}" + (
        " (--hypothesis-seed)" if checker.seed_from == "hypothesis" else ""
    )


def _given(config: pytest.Config) -> bool:
    options = ("gradlab_profile", "gradlab_seed", "hypothesis_seed")
    return any(config.getoption(o, None) is not None for o in options) or bool(_check_paths(config))


@pytest.fixture
def gradcheck(request: pytest.FixtureRequest) -> GradCheck:
    """Check derivative rules inside a test; a wrong rule fails the test with gradlab's report.

    ``gradcheck(op)`` fuzzes a gradlab op (or the name of a registry op) over its spec;
    ``gradcheck(f, strategy, vjp=..., jvp=...)`` checks a plain function on the input tuples that
    a Hypothesis strategy draws. See :class:`GradCheck`.
    """
    return GradCheck(request.config, request.node.nodeid)


class GradCheck:
    """The ``gradcheck`` fixture: runs gradlab's checks with the session's profile and seed.

    Attributes
    ----------
    profile
        ``"quick"`` or ``"thorough"`` (``--gradlab-profile``).
    max_examples
        Examples per op and dtype, or per function, of that profile.
    seed
        ``--gradlab-seed``, else ``--hypothesis-seed`` (a seed that is no integer is hashed to one),
        else 0: the same examples and probes on every run (after the failures the example database
        replays).
    seed_from
        Where the seed came from: ``"gradlab"``, ``"hypothesis"`` or ``"default"``.
    """

    def __init__(self, config: pytest.Config, nodeid: str = "") -> None:
        self.profile: str = config.getoption("gradlab_profile") or DEFAULT_PROFILE
        self.max_examples: int = PROFILES[self.profile]
        seed, theirs = config.getoption("gradlab_seed"), config.getoption("hypothesis_seed", None)
        self.seed_from = "gradlab" if seed is not None else "hypothesis" if theirs is not None else "default"
        self.seed: int = seed if seed is not None else _int_seed(theirs) if theirs is not None else 0
        self.nodeid = nodeid

    def __call__(self, target: Any, strategy: Any = None, **options: Any) -> Any:
        """Check ``target`` and fail the test when a rule is wrong.

        Parameters
        ----------
        target
            A gradlab ``Op`` with a spec (or a registry op's name), fuzzed with
            :func:`gradlab.fuzz.driver.fuzz_op` in each dtype of its spec; or a plain function ``f``.
        strategy
            For a plain function: a Hypothesis strategy of input tuples (a single array is taken
            as a one-input tuple); each drawn tuple is checked with :func:`gradlab.check_grads`.
        **options
            For an op: ``dtypes``, ``spec``, ``mode``, ``device``, ``timeout``, ``max_examples``.
            For a function: ``vjp`` (``vjp(g, out, *inputs)``), ``jvp`` (``jvp(tangents, out,
            *inputs)``), ``max_examples``, ``allow_nondiff`` (default true),
            ``undecided`` (``"warn"``, ``"pass"`` or ``"fail"``, as for
            :func:`gradlab.assert_grad_close`) and any other argument of :func:`gradlab.check_grads`.
            Examples the numerics cannot settle (*undecided*) never fail the test by default: an
            :class:`gradlab.UndecidedWarning` says how many there were and why.

        Returns
        -------
        list[OpOutcome] or GradCheckReport
            For an op, what fuzzing found in each dtype; for a function, the report of the last
            example checked.
        """
        __tracebackhide__ = True
        if strategy is None:
            return self.op(target, **options)
        return self.function(target, strategy, **options)

    def op(
        self,
        target: Any,
        dtypes: Iterable[str] | None = None,
        spec: Any = None,
        max_examples: int | None = None,
        **options: Any,
    ) -> list[OpOutcome]:
        """Fuzz ``target`` in each dtype; fail the test on a wrong rule, an error or a hang."""
        __tracebackhide__ = True
        from gradlab.fuzz.driver import fuzz_op
        from gradlab.fuzz.outcome import format_outcome
        from gradlab.ops.registry import Op

        if isinstance(target, str):
            import gradlab.train  # noqa: F401  (the training core's layers register as ops)
            from gradlab.ops import REGISTRY

            target = REGISTRY[target]
        if not isinstance(target, Op):
            pytest.fail(
                f"gradcheck: {target!r} is not a gradlab op; for a plain function pass a strategy of its inputs:"
                " gradcheck(f, strategy, vjp=..., jvp=...)",
                pytrace=False,
            )
        if isinstance(spec, dict):
            from gradlab.ops.spec import parse_spec

            spec = parse_spec(target.name, spec, f"<spec given to gradcheck in {self.nodeid}>")
        spec = spec or target.spec
        if spec is None:
            pytest.fail(f"gradcheck: op {target.name!r} has no spec: give one with op(spec=...)", pytrace=False)
        examples = max_examples or self.max_examples
        # a failure is saved in the example database under this test and op, and replayed first next time
        options = {"database": _database(), "database_key": f"{self.nodeid}::{target.name}"} | options
        outcomes = [
            fuzz_op(target, dtype, max_examples=examples, seed_=self.seed, spec=spec, **options)
            for dtype in (dtypes or spec.dtypes)
        ]
        bad = [o for o in outcomes if o.status in ("fail", "error")]
        if bad:
            pytest.fail("\n\n".join(format_outcome(o, self.reproduce()) for o in bad), pytrace=False)
        for o in outcomes:
            if o.status == "undecided":  # not one example could be settled: say so, never fail
                from gradlab.check.assertions import UndecidedWarning

                warnings.warn(UndecidedWarning(format_outcome(o)), stacklevel=2)
        return outcomes

    def function(
        self,
        f: Callable[..., Any],
        strategy: Any,
        *,
        vjp: Callable[..., Any] | None = None,
        jvp: Callable[..., Any] | None = None,
        max_examples: int | None = None,
        allow_nondiff: bool = True,
        undecided: str = "warn",
        **options: Any,
    ) -> GradCheckReport | None:
        """Check ``f``'s rules on every input tuple ``strategy`` draws; fail the test with the
        report of the smallest failing tuple Hypothesis finds."""
        __tracebackhide__ = True
        from hypothesis import HealthCheck, Phase, given, reject, seed, settings

        from gradlab.check.assertions import UNDECIDED_POLICIES, UndecidedWarning
        from gradlab.check.grads import check_grads
        from gradlab.fuzz.database import Shelf
        from gradlab.fuzz.outcome import Failure, OpOutcome, format_outcome
        from gradlab.fuzz.strategies import Example

        failures: list[Failure] = []
        checked: list[GradCheckReport] = []
        unsettled: list[GradCheckReport] = []
        if undecided not in UNDECIDED_POLICIES:
            pytest.fail(f"gradcheck: undecided={undecided!r}: choose one of {', '.join(UNDECIDED_POLICIES)}")
        database = _database()
        name = options.get("name") or getattr(f, "__qualname__", type(f).__qualname__)

        @settings(
            max_examples=max_examples or self.max_examples,
            deadline=None,
            database=None if database is None else Shelf(database, f"{self.nodeid}::{name}"),
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        )
        @seed(self.seed)
        @given(strategy)
        def run(inputs: Any) -> None:
            inputs = inputs if isinstance(inputs, tuple) else (inputs,)
            report = check_grads(f, *inputs, vjp=vjp, jvp=jvp, seed=self.seed, **options)
            if report.status == "invalid":
                reject()
            if not failures:  # once a failure is found, the rest is shrinking, not new examples
                checked.append(report)
            if report.status == "undecided":
                unsettled.append(report)
            if (
                report.status == "fail"
                or (report.status == "nondiff" and not allow_nondiff)
                or (report.status == "undecided" and undecided == "fail")
            ):
                failures.append(Failure(example=Example(inputs=inputs), report=report, seed=self.seed))
                raise _Failed

        with contextlib.suppress(_Failed):  # the test fails below, outside a handler: no chained traceback
            run()
        if failures:
            failure = failures[-1]  # the last one Hypothesis ran is the shrunk one
            report = failure.report
            dtypes = [report.input_dtypes[i] for i in report.wrt] or report.input_dtypes
            outcome = OpOutcome(op=report.name, dtype=",".join(sorted(set(dtypes))), examples=len(checked))
            outcome.failure = failure
            pytest.fail(format_outcome(outcome, self.reproduce()), pytrace=False)
        if unsettled and undecided == "warn":
            first = unsettled[0].undecided[0]
            warnings.warn(
                UndecidedWarning(
                    f"gradcheck({unsettled[0].name}): the numerics could not settle {len(unsettled)} of"
                    f" {len(checked)} examples; the first: {first.check}[{first.subject}]: {first.message}"
                ),
                stacklevel=2,
            )
        return checked[-1] if checked else None

    def reproduce(self) -> str:
        """The pytest command that runs this test again with the same examples."""
        command = f"python -m pytest {self.nodeid}".rstrip()
        return f"{command} --gradlab-profile {self.profile} --gradlab-seed {self.seed}"


def _int_seed(text: str) -> int:
    """``--hypothesis-seed`` as gradlab's integer seed (Hypothesis takes any string)."""
    try:
        return int(text)
    except ValueError:
        return zlib.crc32(text.encode("utf-8"))


def _database() -> Any:
    from gradlab.fuzz.database import profile_database

    return profile_database()


class _Failed(Exception):
    """A failing example: Hypothesis shrinks it; the report is kept beside."""
