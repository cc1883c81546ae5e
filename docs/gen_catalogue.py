"""The op catalogue page, generated from specs/*.toml and the registry.

    python docs/gen_catalogue.py            # prints the Markdown page

The documentation build (docs/hooks.py) puts the same page at reference/catalogue.md; no
generated file is kept in the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

from gradlab.ops.spec import SPEC_DIR, Spec, load_specs

_TABLE = re.compile(r"^\[([A-Za-z_][\w]*)\]\s*$")


def comments(path: Path) -> tuple[str, dict[str, str]]:
    """The file's opening comment, and the comment lines right above each op's table."""
    lines = path.read_text(encoding="utf-8").splitlines()
    head: list[str] = []
    for line in lines:
        if not line.startswith("#"):
            break
        head.append(line.lstrip("# ").rstrip())
    notes: dict[str, str] = {}
    block: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("#"):
            if i >= len(head):  # not part of the opening comment
                block.append(line.lstrip("# ").rstrip())
            continue
        match = _TABLE.match(line)
        if match and block:
            notes[match.group(1)] = " ".join(block)
        if line.strip() or match:
            block = []
    return " ".join(head), notes


def _inputs(spec: Spec) -> str:
    parts = []
    for x in spec.inputs:
        text = f"`{x.name}` {x.domain}"
        if x.domain not in ("labels", "mask", "spd", "well_conditioned"):
            low, high = x.bounds
            text += f" [{low:g}, {high:g}]"
        if x.classes:
            text += f" (classes: `{x.classes}`)"
        if not x.diff:
            text += ", not differentiated"
        parts.append(text)
    return "<br>".join(parts)


def _params(spec: Spec) -> str:
    return "<br>".join(f"`{p.name}` {p.kind}" for p in spec.params) or "—"


def _rules(name: str) -> str:
    import gradlab.train  # noqa: F401  (the training core's layers register as ops)
    from gradlab.ops import REGISTRY

    if name not in REGISTRY:
        return "—"
    op = REGISTRY[name]
    rules = ["VJP"] if op.has_vjp else []
    if op.linear:
        rules.append("linear")
    elif op.has_jvp:
        rules.append("JVP")
    return ", ".join(rules)


def _notes(spec: Spec, comment: str | None) -> str:
    notes = []
    if spec.dtypes != ("float64", "float32"):
        notes.append(f"dtypes: {', '.join(spec.dtypes)}")
    if tuple(spec.checks) != ("rev", "fwd", "adj", "form"):
        notes.append(f"checks: {', '.join(spec.checks)}")
    if spec.kinks:
        notes.append(f"kinks at {', '.join(f'{k:g}' for k in spec.kinks)}")
    for dtype, tol in spec.tolerance.items():
        notes.append(f"{dtype} tolerance rtol={tol.rtol:g}, atol={tol.atol:g}")
    if not spec.batch:
        notes.append("no batch dimensions")
    elif not spec.broadcast:
        notes.append("batch dimensions not broadcast")
    if spec.xfail:
        notes.append(f"expected to fail: {spec.xfail}")
    if comment:
        notes.append(comment)
    return "<br>".join(_cell(n) for n in notes) or "—"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def catalogue() -> str:
    """The whole page, in Markdown."""
    import gradlab.train  # noqa: F401  (the training core's layers register as ops)
    from gradlab.ops import REGISTRY

    files = sorted(SPEC_DIR.glob("*.toml"))
    specs = load_specs(files)
    lines = [
        "# Op catalogue",
        "",
        f"The {len(specs)} built-in ops that `gradlab check --registry` fuzzes, one table per file of",
        "`specs/`, generated from those files when the site is built. Each op is fuzzed in every dtype",
        "it lists, with shapes drawn from its signature (batch dimensions added and broadcast) and",
        "values from each input's domain; see [Specs and the registry](../registry.md) for the schema.",
        "`gradlab list` prints the same ops in a terminal.",
        "",
    ]
    for path in files:
        head, notes = comments(path)
        family = [s for s in specs.values() if Path(s.source).name == path.name]
        lines += [f"## {path.stem}", ""]
        if head:
            lines += [_cell(head), ""]
        lines += [
            "| op | shapes | inputs | params | rules | notes |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for spec in family:
            lines.append(
                f"| `{spec.op}` | `{spec.shape}` | {_inputs(spec)} | {_params(spec)} | {_rules(spec.op)}"
                f" | {_notes(spec, notes.get(spec.op))} |"
            )
        lines.append("")
    unspecified = sorted(op.name for op in REGISTRY if op.spec is None)
    if unspecified:
        lines += ["## Ops without a spec", "", "Registered but not fuzzed: " + ", ".join(f"`{n}`" for n in unspecified)]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(catalogue())
