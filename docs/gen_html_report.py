"""The HTML report of ``gradlab check examples/buggy_layernorm.py --html``: the page the docs link to.

    python docs/gen_html_report.py report.html     # writes the report, as the command would

The documentation build (docs/hooks.py) puts the same report into the site, as
``reports/buggy_layernorm.html``; the screenshot on docs/howto/html.md is of such a report.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gradlab.cli.html_report import jacobians, to_html
from gradlab.cli.session import Session, module_targets

ROOT = Path(__file__).resolve().parent.parent
MODULE = "examples/buggy_layernorm.py"


def report(module: str = MODULE) -> str:
    """The report of ``gradlab check MODULE --html`` with the command's defaults (seed 0, 100 examples,
    both dtypes), the module named relative to the repository as in the docs' commands."""
    here = Path.cwd()
    os.chdir(ROOT)
    try:
        session = Session(
            targets=module_targets(module), dtypes=("float64", "float32"), examples=100, seed=0, mode="auto",
            device="cpu", profile="quick", timeout=20.0,
        )  # fmt: skip
        session.run(lambda target, dtype: None, lambda name, done, planned: None)
        return to_html(session, jacobians(session, session.timeout))
    finally:
        os.chdir(here)


if __name__ == "__main__":
    Path(sys.argv[1] if len(sys.argv) > 1 else "report.html").write_text(report(), encoding="utf-8")
