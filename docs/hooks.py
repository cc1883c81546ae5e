"""MkDocs hooks (``hooks:`` in mkdocs.yml): pages and figures made while the site builds.

- ``reference/catalogue.md`` from ``specs/*.toml`` (docs/gen_catalogue.py);
- ``img/step_error.png``, the figure of the method page (docs/plot_step_error.py);
- ``reports/buggy_layernorm.html``, the HTML report of an example (docs/gen_html_report.py);
- docstrings written with Sphinx roles (``:func:`check_grads```) shown as plain code.

Nothing generated is written into docs/ or kept in the repository.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from mkdocs.structure.files import File, Files

HERE = Path(__file__).resolve().parent


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"gradlab_docs_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _put(files: Files, config: Any, src_uri: str, content: str | bytes) -> None:
    existing = files.get_file_from_path(src_uri)
    if existing is not None:  # e.g. a figure written by running the script by hand
        files.remove(existing)
    files.append(File.generated(config, src_uri, content=content))


def on_files(files: Files, config: Any) -> Files:
    _put(files, config, "reference/catalogue.md", _script("gen_catalogue").catalogue())
    _put(files, config, "img/step_error.png", _script("plot_step_error").figure())
    _put(files, config, "reports/buggy_layernorm.html", _script("gen_html_report").report())
    return files


# a docstring's :func:`name` arrives as :func:<code>name</code>; ``text::`` opens a literal block
_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc):(<code>)~?")
_LITERAL = re.compile(r"::(</p>)")


def on_post_page(output: str, page: Any, config: Any) -> str:
    return _LITERAL.sub(r":\1", _ROLE.sub(r"\1", output))
