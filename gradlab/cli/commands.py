"""The commands ``gradlab check``, ``gradlab train`` and ``gradlab list``, each ``run_*(args) -> exit code``.

Heavy modules are imported only by the command that runs."""

from __future__ import annotations

import argparse
from typing import Any

from gradlab._version import install_hint

# 0: every finished rule is right; 1: a rule is wrong, or an op could not be checked (with --strict also a
# warning or an unfinished function); 2: the command could not run
EXIT_OK, EXIT_WRONG, EXIT_USAGE = 0, 1, 2


# ---- check --------------------------------------------------------------------------------------


def _console(args: argparse.Namespace) -> Any:
    from rich.console import Console

    # --no-color forces it; otherwise rich decides, reading NO_COLOR (https://no-color.org) itself
    no_color = True if args.no_color else None
    return Console(no_color=no_color, highlight=not args.no_color, emoji=False, soft_wrap=False)


def _targets(args: argparse.Namespace) -> list[Any]:
    from gradlab.cli.session import Checked, module_targets, project_specs, registry_targets, select
    from gradlab.errors import GradlabError

    if not args.paths and not getattr(args, "registry", args.command == "list"):
        raise GradlabError("nothing to check: give a module (gradlab check my_ops.py) or --registry")
    targets: list[Checked] = []
    if getattr(args, "registry", False) or (args.command == "list" and not args.paths):
        targets += registry_targets()
    specs = project_specs(getattr(args, "config", None)) if args.paths else {}
    for path in args.paths or ():
        # each op inspected in a forked child (a crash in compiled code ends the child, not gradlab),
        # except for CUDA, whose context does not survive a fork
        isolated = getattr(args, "device", "cpu") != "cuda"
        targets += module_targets(path, timeout=getattr(args, "timeout", None) or None, specs=specs, isolated=isolated)
    chosen = select(targets, args.pattern)
    if not chosen:
        raise GradlabError(f"no op matches -k {args.pattern!r}; `gradlab list` shows the names")
    return chosen


def run_check(args: argparse.Namespace) -> int:
    from gradlab.errors import GradlabError

    if args.device == "cuda":
        _require_cuda()
    console = _console(args)
    # reading a module calls its code (shapes are inferred by trying the forward): say so from the start
    try:
        if not args.quiet and console.is_terminal:  # (no spinner: its thread must not run while gradlab forks)
            console.print("finding the ops and their shapes…", style="dim")
        targets = _targets(args)
    except GradlabError as exc:  # the command cannot run: the report files say so too (exit 2)
        from gradlab.cli.report_files import unrun_json, unrun_junit, write_atomic

        if args.json and not _is_dir(args.json):
            write_atomic(args.json, unrun_json(str(exc)))
        if args.junit_xml and not _is_dir(args.junit_xml):
            write_atomic(args.junit_xml, unrun_junit(str(exc)))
        if args.html and not _is_dir(args.html):
            from gradlab.cli.html_report import unrun_html

            write_atomic(args.html, unrun_html(str(exc)))
        raise
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from gradlab.cli import console_report, parallel
    from gradlab.cli.session import Session
    from gradlab.fuzz.profiles import PROFILES

    session = Session(
        targets=parallel.shard(targets, args.shard),
        dtypes=("float64", "float32") if args.dtype == "all" else (args.dtype,),
        examples=args.examples or PROFILES[args.profile], seed=args.seed, mode=args.mode,
        device=args.device, profile=args.profile, timeout=args.timeout or None, strict=args.strict,
        jobs=args.jobs or parallel.cores(), shard=args.shard,
    )  # fmt: skip
    for path in (args.json, args.junit_xml, args.html):
        if path and _is_dir(path):
            raise GradlabError(f"{path} is a folder: give a file name for the report")
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, disable=args.quiet or not console.is_terminal, transient=False,
        auto_refresh=False,  # refreshed on each update: no thread, since the checks run in forked children
    )  # fmt: skip
    current: dict[str, Any] = {}

    def on_start(target: Any, dtype: str) -> Any:
        if "task" in current:
            progress.update(current["task"], completed=session.examples)
        current["task"] = progress.add_task(f"{target.name} [{dtype}]", total=session.examples)
        return current["task"]

    def on_progress(name: str, done: int, planned: int) -> None:
        progress.update(current["task"], completed=done, refresh=True)

    in_process = parallel.why_in_process(session)
    if in_process and session.jobs > 1 and not args.quiet:
        console.print(f"--jobs: {in_process}", style="dim")
    with progress:
        if in_process:
            session.run(on_start, on_progress)
        else:  # in forked children: a crash in compiled code ends a child, not the run
            parallel.run(
                session, on_start=lambda t, d: progress.add_task(f"{t.name} [{d}]", total=session.examples),
                on_progress=lambda task, done: progress.update(task, completed=done, refresh=True),
                on_done=lambda task: progress.update(task, completed=session.examples, refresh=True),
            )  # fmt: skip
        if "task" in current:
            progress.update(current["task"], completed=session.examples)
    if not args.quiet:
        console.print(console_report.summary_table(session))
    for panel in console_report.problems(session):
        console.print(panel)
    for line in console_report.notes(session, verbose=args.verbose):
        console.print(line)
    console.print(console_report.verdict(session))
    from gradlab.cli.report_files import to_json, to_junit, write_atomic

    if args.json:
        write_atomic(args.json, to_json(session))
    if args.junit_xml:
        write_atomic(args.junit_xml, to_junit(session))
    if args.html:
        from gradlab.cli.html_report import jacobians, to_html

        write_atomic(args.html, to_html(session, jacobians(session, session.timeout)))
    return session.exit_code


def _is_dir(path: str) -> bool:
    from pathlib import Path

    return Path(path).is_dir()


def _require_cuda() -> None:
    from gradlab.errors import GradlabError

    try:
        import cupy
    except ImportError:
        raise GradlabError(f"--device cuda needs CuPy: {install_hint('cupy')}") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # CuPy raises its own CUDARuntimeError without a driver
        count = 0
    if not count:
        raise GradlabError("--device cuda: no CUDA device found")


# ---- train -------------------------------------------------------------------------------------


def run_train(args: argparse.Namespace) -> int:
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from gradlab.errors import GradlabError
    from gradlab.train.loop import TrainConfig, plot, train

    try:
        hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
    except ValueError:
        raise GradlabError(f"--hidden {args.hidden!r}: give sizes like 128 or 256,128") from None
    config = TrainConfig(
        dataset=args.dataset, model=args.model, hidden=hidden, activation=args.activation, norm=args.norm,
        dropout=args.dropout, optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay,
        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, dtype=args.dtype,
    )  # fmt: skip
    config.validate()
    if args.plot:
        plot_check = args.plot  # fail before training when matplotlib is missing
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise GradlabError(f"--plot {plot_check} needs matplotlib: {install_hint('plot')}") from None
    console = _console(args)
    table = Table(title=f"gradlab train: {config.model} on {config.dataset}", title_justify="left", header_style="bold")
    for column in ("epoch", "train loss", "train acc", "test acc", "time"):
        table.add_column(column, justify="right")
    progress = Progress(
        TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
        console=console, disable=args.quiet or not console.is_terminal, transient=True,
    )  # fmt: skip
    task = progress.add_task("batches", total=None, epoch=1)

    def on_batch(step: int, total: int) -> None:
        progress.update(task, completed=step, total=total)

    def on_epoch(stats: Any) -> None:
        progress.update(task, completed=0, epoch=stats.epoch + 1)
        table.add_row(
            str(stats.epoch), f"{stats.train_loss:.4f}", f"{stats.train_accuracy:.2%}", f"{stats.test_accuracy:.2%}",
            f"{stats.seconds:.2f} s",
        )  # fmt: skip
        if args.verbose:
            console.print(f"epoch {stats.epoch}: loss {stats.train_loss:.4f}, test {stats.test_accuracy:.2%}")

    with progress:
        history = train(config, on_epoch=on_epoch, on_batch=on_batch)
    if not args.quiet:
        console.print(table)
    final = history.epochs[-1]
    console.print(f"test accuracy {final.test_accuracy:.2%} after {final.epoch} epochs")
    if args.json:
        from gradlab.cli.report_files import write_atomic

        write_atomic(args.json, json.dumps(history.to_dict(), indent=2) + "\n")
    if args.plot:
        plot(history, args.plot)
    return EXIT_OK


# ---- list ---------------------------------------------------------------------------------------


def run_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    targets = _targets(args)
    console = _console(args)
    table = Table(header_style="bold", title="gradlab ops", title_justify="left")
    for column in ("op", "family/style", "checks", "inputs (domain)", "shapes", "source"):
        table.add_column(column)
    for t in targets:
        if t.problem or t.op is None:
            table.add_row(t.name, t.style, "unfinished" if t.unfinished else "cannot be checked", "-", "-", t.source)
            continue
        spec = t.spec
        checks = ",".join(c for c in spec.checks if c not in ("rev", "adj") or t.op.has_vjp) if spec else "-"
        inputs = ", ".join(f"{x.name} ({x.domain}{'' if x.diff else ', fixed'})" for x in spec.inputs) if spec else "-"
        family = t.op.family if t.style == "registry" else t.style
        shape = spec.shape + (" (inferred)" if t.inferred else "") if spec else "-"
        table.add_row(t.name, family, checks, inputs, shape, t.source)
    if not console.is_terminal:  # piped or redirected: every cell whole, one row per line, no 80-column cut
        console.width = max(console.width, console.measure(table, options=console.options.update_width(1000)).maximum)
    console.print(table)
    if not args.quiet:
        console.print(f"{len(targets)} op{'' if len(targets) == 1 else 's'}")
    return EXIT_OK
