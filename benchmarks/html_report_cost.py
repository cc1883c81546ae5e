"""What ``--html`` adds to a run of the examples: the time to compute the Jacobian blocks (at each
failure's shrunk example and at a larger failing input) and to write the page, and the page's size.

It checks the NumPy modules of ``examples/`` (and any module named on the command line, e.g.
``torch_function.py``) in float64 and float32 with the default profile, seed 0, as
``gradlab check examples/... --html report.html`` does, timing each part in the same process.

Run: ``python benchmarks/html_report_cost.py [extra_module.py ...]`` from the repository root
(about a minute). Always exits with 0.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from gradlab.cli.html_report import jacobians, to_html
from gradlab.cli.session import Session, module_targets

MODULES = ["buggy_layernorm.py", "class_style.py", "course_style.py", "gradlab_style.py"]


def main() -> int:
    examples = Path(__file__).resolve().parent.parent / "examples"
    targets = [t for name in MODULES + sys.argv[1:] for t in module_targets(str(examples / name))]
    session = Session(
        targets=targets, dtypes=("float64", "float32"), examples=100, seed=0, mode="auto", device="cpu",
        profile="quick", timeout=20.0,
    )  # fmt: skip
    start = time.perf_counter()
    session.run(lambda target, dtype: None, lambda name, done, planned: None)
    run = time.perf_counter() - start
    start = time.perf_counter()
    pictures = jacobians(session, session.timeout)
    blocks = time.perf_counter() - start
    start = time.perf_counter()
    page = to_html(session, pictures)
    write = time.perf_counter() - start
    failing = sum(1 for t in session.targets for o in t.outcomes if o.failure is not None)
    larger = sum(1 for p in pictures.values() if p.larger is not None)
    print(
        f"{len(session.targets)} ops, {failing} failing (op, dtype) pairs, {larger} drawn at a larger input too\n"
        f"run {run:.1f} s; --html adds {blocks + write:.2f} s (blocks {blocks:.2f} s, page {write:.3f} s),"
        f" {(blocks + write) / run:.1%} of the run; page {len(page) / 1024:.1f} KB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
