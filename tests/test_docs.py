"""What the documentation shows runs and says what the docs claim: every code sample of the pages,
the tutorial's op, the op catalogue, the step-error figure's numbers.

Every fenced block of README.md and docs/**/*.md that holds code runs in the default suite, a test
per block (per command for commands) named by its page and line, ``docs/registry.md:54``:

- ```python blocks. The blocks of one page share one namespace, in page order: block k runs in a
  fresh subprocess after the page's earlier Python blocks (those not marked ``not run``), as if a
  reader pasted the page's samples one after the other into one session, so a later block may use
  the names of an earlier one (pytrees.md's ``x``). Each block is compiled with its page as its file
  name and its own line numbers, so a traceback points into the Markdown (a block that is only a
  ``--8<--`` include, into the included file). The subprocess runs in a fresh temporary folder that
  holds the files the page includes (the tutorial's ``from normalize import normalize``), with the
  repository first on the path. A block that defines ``test_*`` functions is a test file: pytest
  runs its tests there (the ``gradcheck`` fixture too) with the ``gradlab-ci`` Hypothesis profile
  (no deadline, the same examples every run). A block must run without an error, its tests pass.
- ```bash and ```console blocks. Each ``gradlab ...`` command (also after ``&&``, or as
  ``.venv/bin/gradlab``; in a console block, a line after ``$ ``) runs from the repository root
  when every file it names (an argument with a ``/`` or a file suffix, ``::op`` dropped) is in the
  repository: ``gradlab check examples/buggy_layernorm.py`` and ``gradlab train`` run, ``gradlab
  check my_ops.py`` (the reader's module) does not. It must exit with 0, and in a console block
  print the last line of the output shown (the summary). A command shown twice runs once.

Marks: an HTML comment on the line right before the opening fence says what a block does instead;
its reason is required:

- ``<!-- not run: REASON -->``: an excerpt, pseudo-code, a block that needs a GPU or the reader's files;
- ``<!-- raises: NAME -->``: the Python block raises the exception NAME (or a subclass of it); the
  page's later blocks run after it;
- ``<!-- fails: REASON -->``: the block's tests fail (the tutorial's test of its buggy op);
- ``<!-- exits: N -->``: each command of the block exits with N (1: a rule is wrong).

A block that needs an optional framework says so on a line of its own right before its mark (or its
fence): ``<!-- needs: torch, jax -->``. It runs where those modules import and is skipped with the
reason elsewhere; such tests carry the ``frameworks`` marker, so ``tox -e frameworks`` runs them. A
Python block after one that needs a framework needs it too (the page's blocks run in order).

Keep them rare: a sample that fails as written is a bug of the docs; fix the sample. Samples run as
written, so a slow one is made quick in the page (fewer examples, fewer epochs), not here.
"""

import ast
import functools
import importlib.util
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from gradlab.fuzz.driver import fuzz_op
from gradlab.ops import REGISTRY, defvjp
from gradlab.ops.spec import load_specs

DOCS = Path(__file__).resolve().parent.parent / "docs"


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_tutorial_op_fails_as_the_tutorial_says_then_passes_once_fixed() -> None:
    tutorial = load(DOCS / "examples" / "normalize.py")
    outcome = fuzz_op(tutorial.normalize, "float64", max_examples=100)
    assert outcome.failure is not None
    report = outcome.failure.report
    assert sorted(r.check for r in report.failures) == ["adj", "rev"]
    assert "the error is in the VJP" in report.format()
    assert outcome.failure.example.describe(["x"]).startswith("x: float64 (1,)")  # shrunk to one element

    def fixed(g, y, x):  # the fix the tutorial shows
        return (g - y * np.sum(g * y, axis=-1, keepdims=True)) / np.linalg.norm(x, axis=-1, keepdims=True)

    defvjp(tutorial.normalize, fixed)
    for dtype in ("float64", "float32"):
        assert fuzz_op(tutorial.normalize, dtype, max_examples=100).status == "pass"


def test_the_catalogue_lists_every_op_of_the_specs() -> None:
    page = load(DOCS / "gen_catalogue.py").catalogue()
    for name in load_specs():
        assert f"| `{name}` |" in page
    assert "| `relu` | `()->()` | `x` real [-3, 3] | — | VJP, JVP | kinks at 0 |" in page
    assert len(REGISTRY) > 0


def test_the_chosen_steps_sit_near_the_minimum_of_the_error() -> None:
    plot = load(DOCS / "plot_step_error.py")
    steps = np.logspace(-15, 0, 301)
    errors = plot.errors(steps)
    for method, order in (("central", 2), ("stencil", 4)):
        chosen = abs(plot.derivative(method, plot.chosen_step(method)) - plot.EXACT)
        assert chosen < 3 * errors[method].min() or chosen < 2e-13  # near the best of the sweep
        assert chosen < plot.EPS ** (order / (order + 1))  # the error model's promise
        # truncation falls and round-off rises away from the minimum
        assert errors[method][0] > 1e3 * chosen and errors[method][-1] > 1e3 * chosen


# ---- every sample of the pages (the rules: the module's docstring) -------------------------------------

ROOT = DOCS.parent
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
MARKS = ("not run", "raises", "fails", "exits", "needs")
TIMEOUT = 120  # seconds, one subprocess: far above what any sample takes

FENCE = re.compile(r"(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*)")
MARK = re.compile(r"[ \t]*<!--\s*(?P<kind>[a-z][a-z ]*?)\s*(:\s*(?P<reason>.*?))?\s*-->[ \t]*")
MARK_LIKE = re.compile(r"<!--\s*(" + "|".join(MARKS) + r")\b")
INCLUDE = re.compile(r"""[ \t]*--8<--[ \t]+["'](?P<path>[^"']+)["'][ \t]*""")
RUNS = {"python": "python", "bash": "commands", "console": "commands"}


@dataclass(frozen=True)
class Block:
    path: Path  # the page
    line: int  # the opening fence's line, from 1
    lang: str
    code: tuple[str, ...]  # its lines, without the fence's indent
    mark: tuple[str, str] | None  # (kind, reason)
    needs: tuple[str, ...] = ()  # the optional modules it needs (a ``needs`` line before it)

    @property
    def page(self) -> str:
        return self.path.relative_to(ROOT).as_posix() if self.path.is_relative_to(ROOT) else self.path.name

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.mark is None or self.mark[0] != "not run"

    @property
    def include(self) -> Path | None:
        """The file a block shows with ``--8<-- "path"`` (from the repository), when that line is all it holds."""
        lines = [line for line in self.code if line.strip()]
        found = [m for line in lines if (m := INCLUDE.fullmatch(line))]
        assert not found or len(lines) == 1, f"{self.id}: an include among other lines"
        return ROOT / found[0]["path"] if found else None

    def source(self) -> tuple[str, str, int]:
        """(source, file name, line of its first line): the file name and line a traceback names."""
        if self.include is not None:
            return self.include.read_text(encoding="utf-8"), str(self.include), 1
        return "\n".join(self.code) + "\n", str(self.path), self.line + 1

    def tests(self) -> list[str]:
        """The names of the test functions the block defines."""
        tree = ast.parse(self.source()[0])
        return [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test")]


def blocks(page: Path) -> list[Block]:
    """The page's fenced blocks, each with the mark on the line before it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        opening = FENCE.fullmatch(lines[i])
        if opening is None:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        closing = re.compile(rf"[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*")
        end = next((j for j in range(i + 1, len(lines)) if closing.fullmatch(lines[j])), len(lines))
        marks = []  # the marks stacked on the lines right before the fence, nearest first
        while i - len(marks) > 0 and (m := MARK.fullmatch(lines[i - len(marks) - 1])) and len(marks) < 2:
            marks.append(m)
        needs = next((m for m in marks if m["kind"] == "needs"), None)
        mark = next((m for m in marks if m["kind"] != "needs"), None)
        found.append(
            Block(
                path=page,
                line=i + 1,
                lang=(opening["info"].split() or [""])[0].lstrip("{.").lower(),
                code=tuple(line[indent:] if not line[:indent].strip() else line for line in lines[i + 1 : end]),
                mark=(mark["kind"], mark["reason"] or "") if mark else None,
                needs=tuple(n.strip() for n in (needs["reason"] or "").split(",") if n.strip()) if needs else (),
            )
        )
        i = end + 1
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]
PYTHON_BLOCKS = [b for b in ALL_BLOCKS if RUNS.get(b.lang) == "python" and b.runs]


def _env() -> dict[str, str]:
    path = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path), "COLUMNS": "100"}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=_env(), capture_output=True, encoding="utf-8", timeout=TIMEOUT, check=False
    )


# runs a page's blocks, in one namespace, in the subprocess; blocks.json beside it says which
RUNNER = """
import json
import sys
import traceback
from pathlib import Path


def _is(error, name):
    return name is not None and any(cls.__name__ == name for cls in type(error).__mro__)


def run(namespace):
    blocks = json.loads(Path(__file__).with_name("blocks.json").read_text(encoding="utf-8"))
    for block in blocks:
        last = block is blocks[-1]
        try:
            exec(compile("\\n" * (block["line"] - 1) + block["source"], block["file"], "exec"), namespace)
        except BaseException as error:
            if not _is(error, block["raises"]):
                if not last:
                    print(f"an earlier block of the page failed: {block['id']}", file=sys.stderr)
                raise
            if last:
                traceback.print_exc()
                print(f"{block['id']} raises {type(error).__name__}, as the page says")
        else:
            if last and block["raises"] is not None:
                sys.exit(f"{block['id']} raises nothing, but the page says it raises {block['raises']}")


if __name__ == "__main__":
    run({"__name__": "__main__"})
"""


def run_python(block: Block, page: list[Block], folder: Path) -> tuple[bool, str]:
    """Run ``block`` after the Python blocks of ``page`` before it: (as the page says?, what it printed)."""
    folder.mkdir(parents=True, exist_ok=True)
    before = [b for b in page if RUNS.get(b.lang) == "python" and b.runs and b.line <= block.line]
    for included in {b.include for b in before if b.include is not None}:
        shutil.copy(included, folder / included.name)
    plan = []
    for b in before:
        source, file, line = b.source()
        raises = b.mark[1] if b.mark and b.mark[0] == "raises" else None
        plan.append({"id": b.id, "source": source, "file": file, "line": line, "raises": raises})
    (folder / "blocks.json").write_text(json.dumps(plan), encoding="utf-8")
    (folder / "_run_blocks.py").write_text(RUNNER, encoding="utf-8")
    tests = block.tests()
    fails = block.mark is not None and block.mark[0] == "fails"
    if tests:
        (folder / "test_page.py").write_text("from _run_blocks import run\n\nrun(globals())\n", encoding="utf-8")
        args = ["-m", "pytest", "-p", "no:cacheprovider", "--hypothesis-profile", "gradlab-ci"]
        result = _run([sys.executable, *args, *(f"test_page.py::{name}" for name in tests)], folder)
    else:
        assert not fails, f"{block.id}: marked 'fails' but defines no test"
        result = _run([sys.executable, "_run_blocks.py"], folder)
    said = f"{block.id} ({'its tests fail' if fails else 'runs'}):\n{result.stdout}\n{result.stderr}"
    return result.returncode == (1 if fails else 0), said


def _needs(block: Block) -> tuple[str, ...]:
    """What a Python block needs: its own, and what the page's Python blocks before it need."""
    if RUNS.get(block.lang) != "python":
        return block.needs
    before = [b for b in blocks(block.path) if RUNS.get(b.lang) == "python" and b.runs and b.line <= block.line]
    return tuple(sorted({n for b in before for n in b.needs}))


def _skip_without(needs: tuple[str, ...]) -> None:
    missing = [name for name in needs if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (pip install 'gradlab-check[{','.join(missing)}]'; tox -e frameworks)")


def _params(items: list[Any], needs: Callable[[Any], tuple[str, ...]]) -> list[Any]:
    return [pytest.param(item, marks=[pytest.mark.frameworks] if needs(item) else [], id=item.id) for item in items]


@pytest.mark.parametrize("block", _params(PYTHON_BLOCKS, _needs))
def test_the_python_sample_runs(block: Block, tmp_path: Path) -> None:
    _skip_without(_needs(block))
    ok, said = run_python(block, blocks(block.path), tmp_path)
    assert ok, said


def test_the_runner_holds_the_page_to_its_marks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        textwrap.dedent(
            """\
            ```python
            x = 1
            ```
            <!-- raises: ArithmeticError -->
            ```python
            x / 0
            ```
            <!-- raises: ZeroDivisionError -->
            ```python
            y = x + 1
            ```
            <!-- fails: y is 2 -->
            ```python
            def test_y():
                assert y == 3
            ```
            ```python
            def test_y():
                assert y == 2
            ```
            ```text
            not python
            ```
            ```python
            z
            ```
            """
        )
    )
    found = blocks(page)
    outcomes = [run_python(b, found, tmp_path / str(b.line)) for b in found if b.lang == "python"]
    assert [ok for ok, _ in outcomes] == [True, True, False, True, True, False]
    assert "page.md:9 raises nothing" in outcomes[2][1]  # a block that does not raise as marked
    assert f'File "{page}", line 25' in outcomes[5][1]  # the traceback names the line in the page


@dataclass(frozen=True)
class Command:
    page: str
    line: int  # the command's own line, from 1
    argv: tuple[str, ...]  # after "gradlab"
    exits: int
    shown: str | None  # a console block's last line of output
    needs: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def _path_like(arg: str) -> str | None:
    """The file an argument names (``examples/x.py::op`` names ``examples/x.py``), or None."""
    path = arg.split("::")[0]
    return path if "/" in path or re.search(r"\.[A-Za-z]\w*$", path) else None


def _in_repository(path: str) -> bool:
    target = (ROOT / path).resolve()
    return target.is_relative_to(ROOT) and target.exists()


def commands(block: Block) -> list[Command]:
    """The ``gradlab`` commands of a bash or console block, whether they run or not."""
    found = []
    exits = int(block.mark[1]) if block.mark and block.mark[0] == "exits" and block.mark[1].isdigit() else 0
    for k, line in enumerate(block.code):
        shown = None
        if block.lang == "console":
            if not line.startswith("$ "):
                continue
            output = itertools.takewhile(lambda s: not s.startswith("$ "), block.code[k + 1 :])
            last = [s.strip() for s in output if s.strip()]
            shown = last[-1] if last and last[-1] != "..." else None
            line = line[2:]
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True  # words as the shell splits them, `# comments` dropped
        words = list(lexer)
        segments = [list(g) for sep, g in itertools.groupby(words, lambda w: w in {"&&", "||", ";", "|"}) if not sep]
        for argv in segments:
            if argv and Path(argv[0]).name == "gradlab":
                found.append(Command(block.page, block.line + 1 + k, tuple(argv[1:]), exits, shown, block.needs))
    return found


def runnable(command: Command) -> bool:
    return all(_in_repository(path) for arg in command.argv if (path := _path_like(arg)))


COMMANDS = [
    command
    for block in ALL_BLOCKS
    if RUNS.get(block.lang) == "commands" and block.runs
    for command in commands(block)
    if runnable(command)
]


@functools.cache
def _gradlab(argv: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "gradlab", *argv], ROOT)


@pytest.mark.parametrize("command", _params(COMMANDS, lambda c: c.needs))
def test_the_command_runs_as_the_page_says(command: Command) -> None:
    _skip_without(command.needs)
    result = _gradlab(command.argv)
    said = f"{command.id}: gradlab {shlex.join(command.argv)}:\n{result.stdout}\n{result.stderr}"
    assert result.returncode == command.exits, said
    if command.shown is not None:
        assert command.shown in result.stdout, f"the page shows {command.shown!r} last; not printed: " + said


def test_every_mark_sits_on_a_sample_and_says_why() -> None:
    wrong = []
    for page in PAGES:
        attached = {b.line - 1 - k for b in blocks(page) for k in range((b.mark is not None) + bool(b.needs))}
        for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if MARK_LIKE.search(line) and n not in attached:
                wrong.append(f"{page.relative_to(ROOT)}:{n}: a mark not on the line right before a fence")
    for b in ALL_BLOCKS:
        if b.mark is None:
            continue
        kind, reason = b.mark
        runs = RUNS.get(b.lang)
        if kind not in MARKS:
            wrong.append(f"{b.id}: unknown mark {kind!r}")
        elif not reason:
            wrong.append(f"{b.id}: a {kind!r} mark without a reason")
        elif runs is None:
            wrong.append(f"{b.id}: a {kind!r} mark on a {b.lang or 'plain'} block, which never runs")
        elif kind == "raises" and not (runs == "python" and reason.isidentifier()):
            wrong.append(f"{b.id}: 'raises' takes an exception's name, on a python block")
        elif kind == "fails" and not (runs == "python" and b.tests()):
            wrong.append(f"{b.id}: 'fails' is for a python block that defines tests")
        elif kind == "exits" and not (runs == "commands" and reason.isdigit()):
            wrong.append(f"{b.id}: 'exits' takes an exit code, on a bash or console block")
        elif runs == "commands" and not any(runnable(c) for c in commands(b)):
            wrong.append(f"{b.id}: a {kind!r} mark on a block with no command that would run")
    assert not wrong, "\n".join(wrong)


def test_the_commands_name_files_that_exist() -> None:
    """A command naming a file under one of the repository's folders runs: a typo would silence it."""
    top = {path.name for path in ROOT.iterdir()}
    wrong = [
        f"{c.id}: {path}"
        for b in ALL_BLOCKS
        if RUNS.get(b.lang) == "commands"
        for c in commands(b)
        for arg in c.argv
        if (path := _path_like(arg)) and Path(path).parts[0] in top and not _in_repository(path)
    ]
    assert not wrong, "commands naming files the repository lacks:\n" + "\n".join(wrong)


def test_the_samples_are_found() -> None:
    assert len(PYTHON_BLOCKS) >= 15 and len(COMMANDS) >= 5
    assert ("README.md", ("check", "examples/buggy_layernorm.py"), 1) in {(c.page, c.argv, c.exits) for c in COMMANDS}
