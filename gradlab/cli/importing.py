"""Importing a user's module the way its project does.

A file inside a package (``needle/ops/ops_mathematic.py``, with ``__init__.py`` files up to
``needle/``) is imported by its dotted name, ``needle.ops.ops_mathematic``, with the folder above the
package on ``sys.path``: its relative imports, sibling modules and compiled extensions work as in
the project. A loose file is imported on its own, with its folder on ``sys.path``. A folder stands
for the modules in it (tests and scripts left out).
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType

from gradlab._version import install_hint
from gradlab.cli.infer import quiet
from gradlab.errors import GradlabError

__all__ = ["ImportProblem", "import_file", "module_files", "package_root"]

_counter = itertools.count()
_SKIPPED = re.compile(r"(test_.*|.*_test|conftest|setup|__main__)\.py")


# the frameworks whose rules gradlab checks through their own autodiff, and the extra that installs each
FRAMEWORKS = {"torch": "torch", "jax": "jax", "autograd": "autograd"}


class ImportProblem(GradlabError):
    """A file that cannot be imported: the message names it and says how to fix it."""


def package_root(file: Path) -> Path | None:
    """The outermost folder above ``file`` that is still a package (has ``__init__.py``), or None."""
    root = None
    folder = file.resolve().parent
    while (folder / "__init__.py").is_file():
        root = folder
        folder = folder.parent
    return root


def module_files(path: Path, shown: str) -> list[Path]:
    """``path`` itself, or the modules of a folder (tests, conftest, setup and __main__ left out)."""
    if not path.exists():
        raise ImportProblem(f"{shown}: no such file. Give the path of a Python module, e.g. gradlab check layers.py")
    if path.is_dir():
        files = sorted(
            f for f in path.rglob("*.py") if not _SKIPPED.fullmatch(f.name) and "tests" not in f.relative_to(path).parts
        )
        if not files:
            raise ImportProblem(f"{shown}: a folder with no Python module in it. Give a .py file or a package folder")
        return files
    if path.suffix != ".py":
        raise ImportProblem(f"{shown}: not a Python module. gradlab reads ops from .py files (or a package folder)")
    return [path]


def import_file(file: Path, shown: str) -> ModuleType:
    """The module of ``file``, imported as its project imports it (see the module's docstring)."""
    try:
        source = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportProblem(f"{shown}: cannot read the file ({exc}). Save it as UTF-8 text.") from None
    try:
        compile(source, str(file), "exec")
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        message = getattr(exc, "msg", str(exc))
        raise ImportProblem(
            f"{shown}:{line}: syntax error: {message}. Fix it (python {shown} shows the same error) and run again."
        ) from None
    root = package_root(file)
    try:
        with quiet():
            return _in_package(file, root) if root is not None else _loose(file)
    except (Exception, SystemExit) as exc:
        raise ImportProblem(_problem(exc, file, shown, root)) from None


def _in_package(file: Path, root: Path) -> ModuleType:
    base = root.parent
    parts = list(file.resolve().relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    dotted, top = ".".join(parts), parts[0]
    if str(base) in sys.path:
        sys.path.remove(str(base))
    sys.path.insert(0, str(base))  # kept: the project's own lazy imports need it while it is checked
    loaded = sys.modules.get(top)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve().parent != root.resolve():
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]  # another package of the same name (another student's needle)
    return importlib.import_module(dotted)


def _loose(file: Path) -> ModuleType:
    name = "gradlab_user_{}_{}".format(re.sub(r"\W", "_", file.stem), next(_counter))
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    sys.path.insert(0, str(file.resolve().parent))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path[:] = saved
    return module


def _problem(exc: BaseException, file: Path, shown: str, root: Path | None) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<frozen")]
    mine = [i for i, f in enumerate(frames) if Path(f.filename).resolve() == file.resolve()]
    where = f"{shown}:{frames[mine[-1]].lineno}" if mine else shown
    deeper = frames[-1] if frames and (not mine or mine[-1] < len(frames) - 1) else None
    inside = f" (raised in {deeper.filename}:{deeper.lineno})" if deeper is not None else ""
    what = f"{type(exc).__name__}: {exc}".rstrip(": ")
    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    if missing and missing in FRAMEWORKS:  # the framework itself, not a module inside it
        framework = missing
        return (
            f"{where}: the module imports {framework}, which is not installed here:"
            f" {install_hint(FRAMEWORKS[framework])} (gradlab checks {framework}'s rules through {framework} itself)"
        )
    if root is not None:
        how = (
            f"gradlab imported it as part of the package {root.name} (with {root.parent} on sys.path), as"
            " `import` in that folder would; fix the error (or set what the package needs, e.g. an"
            " environment variable that picks its backend)"
        )
    elif "relative import" in str(exc):
        how = (
            "the module uses relative imports, but its folder has no __init__.py, so it is no package:"
            " check the package's folder, or the file where it sits in its package"
        )
    else:
        how = (
            "gradlab imports the module to find its ops, with its folder on sys.path; fix the error, or put"
            " code that should run only as a script under if __name__ == '__main__':"
        )
    return f"{where}: importing the module raised {what}{inside}. {how}"
