"""The ``gradlab`` command line. Heavy modules are imported only by the command that runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

EXIT_OK, EXIT_WRONG, EXIT_USAGE = 0, 1, 2

MAIN_EPILOG = """\
examples:
  gradlab check my_layers.py                 check every op found in a module
  gradlab check my_layers.py::affine -v      check one op, with more detail
  gradlab check --registry -k softmax        check built-in ops matching a pattern
  gradlab list my_layers.py                  what gradlab finds in a module

exit codes: 0 every check passed, 1 a rule is wrong (or an op could not be checked),
2 the command could not run (usage error, missing file, import error, nothing to check)
"""

CHECK_EPILOG = """\
A PATH is a Python file, or FILE.py::NAME to pick one op. gradlab finds, without being told:
ops made with gradlab.op / defvjp / defjvp; classes with compute()/forward() and
gradient()/vjp()/backward() (and optionally jvp()); and course-style pairs
NAME_forward(...) -> (out, cache) with NAME_backward(dout, cache) -> grads, and
NAME_loss(x, y) -> (loss, dx). Shapes come from the op's spec, a FILE.toml beside the
module, or are inferred by trying the op.

examples:
  gradlab check examples/course_style.py
  gradlab check examples/buggy_layernorm.py --json report.json --junit-xml report.xml
  gradlab check --registry --profile thorough --dtype float32
  gradlab check my_ops.py::softsign --seed 3 --examples 500 --mode full
"""

TRAIN_EPILOG = """\
examples:
  gradlab train                                      MLP 64-128-10 on the scikit-learn digits
  gradlab train --model softmax                      softmax regression
  gradlab train --hidden 256,128 --norm layer --dropout 0.1 --optimizer momentum
  gradlab train --dataset mnist:~/data/mnist --hidden 256 --epochs 5 --json run.json --plot curves.png
"""

LIST_EPILOG = """\
examples:
  gradlab list                 the built-in registry
  gradlab list my_layers.py    the ops gradlab finds in a module, with their shapes
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradlab",
        description="Check hand-written VJP (reverse mode) and JVP (forward mode) rules against numerical"
        " derivatives and each other, on inputs drawn by Hypothesis.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gradlab {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="check the ops of a module (or the built-in registry)",
        description="Fuzz every op found and report, per op, whether its rules are right.",
        epilog=CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("paths", nargs="*", metavar="PATH", help="FILE.py or FILE.py::NAME")
    check.add_argument("--registry", action="store_true", help="check the built-in ops")
    check.add_argument(
        "-k", dest="pattern", metavar="PATTERN", help="only ops whose name matches this regular expression"
    )
    check.add_argument(
        "--examples", type=_positive_int, metavar="N", help="examples per op and dtype (overrides --profile)"
    )
    check.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the example generation (default 0)")
    check.add_argument("--profile", choices=("quick", "thorough"), default="quick",
                       help="quick: 100 examples per op and dtype (default); thorough: 2000")  # fmt: skip
    check.add_argument(
        "--dtype", choices=("float32", "float64", "all"), default="all", help="dtypes to check (default all)"
    )
    check.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="where the checks run (cuda needs CuPy)"
    )
    check.add_argument("--mode", choices=("auto", "full", "projected"), default="auto",
                       help="full Jacobian, random projections, or auto by input size (default)")  # fmt: skip
    check.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS",
                       help="time limit of one example before the op counts as hanging (default 20)")  # fmt: skip
    check.add_argument("--json", metavar="FILE", help="write the results as JSON")
    check.add_argument("--junit-xml", metavar="FILE", help="write the results as JUnit XML")
    _output_options(check)
    check.set_defaults(run=_run_check)

    training = commands.add_parser(
        "train",
        help="train the reference MLP / softmax regression",
        description="Train a model of the reference training core (built from the checked ops) and report"
        " loss and accuracy per epoch.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    training.add_argument("--dataset", default="digits", help="digits, spiral or mnist:PATH (default digits)")
    training.add_argument("--model", choices=("softmax", "mlp"), default="mlp")
    training.add_argument("--hidden", default="128", help="hidden sizes, comma-separated (default 128)")
    training.add_argument("--activation", choices=("relu", "sigmoid", "tanh", "gelu"), default="relu")
    training.add_argument("--norm", choices=("none", "layer", "batch"), default="none")
    training.add_argument("--dropout", type=float, default=0.0, metavar="P")
    training.add_argument("--optimizer", choices=("sgd", "momentum", "nesterov", "adam"), default="adam")
    training.add_argument("--lr", type=float, default=None, help="learning rate (default: tuned per optimizer)")
    training.add_argument("--weight-decay", type=float, default=0.0)
    training.add_argument("--epochs", type=_positive_int, default=20)
    training.add_argument("--batch-size", type=_positive_int, default=64)
    training.add_argument("--seed", type=int, default=0)
    training.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    training.add_argument("--plot", metavar="FILE.png", help="write loss and accuracy curves (needs matplotlib)")
    training.add_argument("--json", metavar="FILE", help="write the history as JSON")
    _output_options(training)
    training.set_defaults(run=_run_train)

    listing = commands.add_parser(
        "list",
        help="list the registry, or what a module exposes",
        description="List ops with their checks, input domains and shapes.",
        epilog=LIST_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("paths", nargs="*", metavar="PATH", help="FILE.py or FILE.py::NAME (default: the registry)")
    listing.add_argument("-k", dest="pattern", metavar="PATTERN", help="only ops whose name matches")
    _output_options(listing)
    listing.set_defaults(run=_run_list)
    return parser


def _output_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("-q", "--quiet", action="store_true", help="only the verdict and failures")
    sub.add_argument("-v", "--verbose", action="store_true", help="more detail")
    sub.add_argument("--no-color", action="store_true", help="plain text output")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _version() -> str:
    from gradlab import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from gradlab.errors import GradlabError

    try:
        return int(args.run(args))
    except GradlabError as exc:
        print(f"gradlab: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gradlab: interrupted", file=sys.stderr)
        return 130


# ---- check --------------------------------------------------------------------------------------


def _console(args: argparse.Namespace) -> Any:
    from rich.console import Console

    return Console(no_color=args.no_color, highlight=not args.no_color, emoji=False, soft_wrap=False)


def _targets(args: argparse.Namespace) -> list[Any]:
    from gradlab.errors import GradlabError
    from gradlab.session import Checked, select

    if not args.paths and not getattr(args, "registry", args.command == "list"):
        raise GradlabError("nothing to check: give a module (gradlab check my_ops.py) or --registry")
    targets: list[Checked] = []
    if getattr(args, "registry", False) or (args.command == "list" and not args.paths):
        from gradlab.ops import REGISTRY

        for item in REGISTRY:
            targets.append(
                Checked(
                    name=item.name, style="registry", source=f"gradlab/ops/{item.family}.py",
                    select=f"--registry -k '^{item.name}$'", op=item, spec=item.spec,
                )
            )  # fmt: skip
    if args.paths:
        from gradlab.discover import discover

        for path in args.paths:
            module = path.split("::", 1)[0]
            for found in discover(path):
                targets.append(
                    Checked(
                        name=found.name, style=found.style, source=found.source, select=f"{module}::{found.name}",
                        op=found.op, spec=found.spec, inferred=found.inferred, problem=found.problem,
                    )
                )  # fmt: skip
    chosen = select(targets, args.pattern)
    if not chosen:
        raise GradlabError(f"no op matches -k {args.pattern!r}; `gradlab list` shows the names")
    return chosen


def _run_check(args: argparse.Namespace) -> int:
    from gradlab.errors import GradlabError

    if args.device == "cuda":
        _require_cuda()
    targets = _targets(args)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from gradlab import console_report
    from gradlab.fuzz import PROFILES
    from gradlab.session import Session

    session = Session(
        targets=targets, dtypes=("float64", "float32") if args.dtype == "all" else (args.dtype,),
        examples=args.examples or PROFILES[args.profile], seed=args.seed, mode=args.mode,
        device=args.device, profile=args.profile, timeout=args.timeout or None,
    )  # fmt: skip
    console = _console(args)
    for path in (args.json, args.junit_xml):
        if path and _is_dir(path):
            raise GradlabError(f"{path} is a folder: give a file name for the report")
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, disable=args.quiet or not console.is_terminal, transient=False,
    )  # fmt: skip
    current: dict[str, Any] = {}

    def on_start(target: Any, dtype: str) -> None:
        if "task" in current:
            progress.update(current["task"], completed=session.examples)
        current["task"] = progress.add_task(f"{target.name} [{dtype}]", total=session.examples)

    def on_progress(name: str, done: int, planned: int) -> None:
        progress.update(current["task"], completed=done)

    with progress:
        session.run(on_start, on_progress)
        if "task" in current:
            progress.update(current["task"], completed=session.examples)
    if not args.quiet:
        console.print(console_report.summary_table(session))
    for panel in console_report.problems(session):
        console.print(panel)
    if args.verbose:
        for t in session.targets:
            if t.inferred:
                console.print(f"[italic]{t.name}: {t.inferred}[/]")
    console.print(console_report.verdict(session))
    from gradlab.report_files import to_json, to_junit, write_atomic

    if args.json:
        write_atomic(args.json, to_json(session))
    if args.junit_xml:
        write_atomic(args.junit_xml, to_junit(session))
    return session.exit_code


def _is_dir(path: str) -> bool:
    from pathlib import Path

    return Path(path).is_dir()


def _require_cuda() -> None:
    from gradlab.errors import GradlabError

    try:
        import cupy
    except ImportError:
        raise GradlabError("--device cuda needs CuPy: install gradlab[cupy]") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:  # CuPy raises its own CUDARuntimeError without a driver
        count = 0
    if not count:
        raise GradlabError("--device cuda: no CUDA device found")


# ---- train -------------------------------------------------------------------------------------


def _run_train(args: argparse.Namespace) -> int:
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from gradlab.errors import GradlabError
    from gradlab.train import TrainConfig, plot, train

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
            raise GradlabError(f"--plot {plot_check} needs matplotlib: pip install gradlab[plot]") from None
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
        from gradlab.report_files import write_atomic

        write_atomic(args.json, json.dumps(history.to_dict(), indent=2) + "\n")
    if args.plot:
        plot(history, args.plot)
    return EXIT_OK


# ---- list ---------------------------------------------------------------------------------------


def _run_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    targets = _targets(args)
    console = _console(args)
    table = Table(header_style="bold", title="gradlab ops", title_justify="left")
    for column in ("op", "family/style", "checks", "inputs (domain)", "shapes", "source"):
        table.add_column(column)
    for t in targets:
        if t.problem:
            table.add_row(t.name, t.style, "-", "-", "-", t.source)
            continue
        spec = t.spec
        checks = ",".join(c for c in spec.checks if c not in ("rev", "adj") or t.op.has_vjp) if spec else "-"
        inputs = ", ".join(f"{x.name} ({x.domain}{'' if x.diff else ', fixed'})" for x in spec.inputs) if spec else "-"
        family = t.op.family if t.style == "registry" else t.style
        shape = spec.shape + (" (inferred)" if t.inferred else "") if spec else "-"
        table.add_row(t.name, family, checks, inputs, shape, t.source)
    console.print(table)
    if not args.quiet:
        console.print(f"{len(targets)} ops")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
